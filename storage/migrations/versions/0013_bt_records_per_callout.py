"""decisions and actions belong to the call-out (and so the BT) they were recorded in

Revision ID: 0013
Revises: 0012
Create Date: 2026-12-07 09:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0013"
down_revision = "0012"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("bt_record", sa.Column("callout_id", sa.Integer(), nullable=True))
    # A record was only ever made in an active call-out of its incident: the newest one
    # convened before it, and the incident's first where none was (clock skew).
    op.execute(
        "UPDATE bt_record SET callout_id = coalesce("
        "(SELECT max(c.id) FROM bt_callout c "
        "WHERE c.incident_id = bt_record.incident_id AND c.created_at <= bt_record.at), "
        "(SELECT min(c.id) FROM bt_callout c WHERE c.incident_id = bt_record.incident_id))"
    )
    with op.batch_alter_table("bt_record", schema=None) as batch_op:
        batch_op.alter_column("callout_id", existing_type=sa.Integer(), nullable=False)
        batch_op.drop_constraint("uq_bt_record_number", type_="unique")
        batch_op.create_unique_constraint("uq_bt_record_number", ["callout_id", "kind", "number"])
        batch_op.create_foreign_key("fk_bt_record_callout_id", "bt_callout", ["callout_id"], ["id"])


def downgrade() -> None:
    with op.batch_alter_table("bt_record", schema=None) as batch_op:
        batch_op.drop_constraint("fk_bt_record_callout_id", type_="foreignkey")
        batch_op.drop_constraint("uq_bt_record_number", type_="unique")
        batch_op.create_unique_constraint("uq_bt_record_number", ["incident_id", "kind", "number"])
        batch_op.drop_column("callout_id")
