"""configured chats: groups and channels from the region file that receive the meldkamer's stream

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-23 23:59:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("person", schema=None) as batch_op:
        batch_op.add_column(sa.Column("chat_gemeenten", sa.JSON(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("person", schema=None) as batch_op:
        batch_op.drop_column("chat_gemeenten")
