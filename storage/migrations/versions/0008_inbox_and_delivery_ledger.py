"""durable inbox; the delivery ledger per part, with the outcome of each send

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-03 06:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "inbox",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("origin", sa.String(), nullable=False),
        sa.Column("event_id", sa.String(), nullable=False),
        sa.Column("event", sa.JSON(), nullable=False),
        sa.Column("context", sa.JSON(), nullable=False),
        sa.Column("status", sa.String(), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("next_attempt_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("received_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("handled_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("last_error", sa.String(), nullable=True),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("origin", "event_id", name="uq_inbox_origin_event"),
    )
    op.create_index("ix_inbox_status_next", "inbox", ["status", "next_attempt_at"])
    # One ledger row per part of a message (a long text in several messages, then its
    # file) and transport, with what became of it: sending (begun, outcome not known yet),
    # sent, uncertain (it may have arrived) or failed.
    op.create_table(
        "ledger",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("outbox_id", sa.Integer(), nullable=False),
        sa.Column("transport", sa.String(), nullable=False),
        sa.Column("part", sa.Integer(), nullable=False),
        sa.Column("status", sa.String(), nullable=False),
        sa.Column("ref", sa.String(), nullable=True),
        sa.Column("buttons", sa.Boolean(), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["outbox_id"], ["outbox.id"]),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("outbox_id", "transport", "part", name="uq_ledger_part"),
    )
    op.create_index("ix_ledger_outbox_id", "ledger", ["outbox_id"])
    op.execute(
        "INSERT INTO ledger (outbox_id, transport, part, status, ref, buttons, at) "
        "SELECT outbox_id, transport, 0, CASE WHEN failed THEN 'failed' ELSE 'sent' END, "
        "ref, ref IS NOT NULL, at FROM delivery"
    )
    op.drop_index("ix_delivery_outbox_id", table_name="delivery")
    op.drop_table("delivery")
    with op.batch_alter_table("page_target", schema=None) as batch_op:
        batch_op.add_column(sa.Column("delivered_at", sa.DateTime(timezone=True), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("page_target", schema=None) as batch_op:
        batch_op.drop_column("delivered_at")
    op.create_table(
        "delivery",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("outbox_id", sa.Integer(), nullable=False),
        sa.Column("transport", sa.String(), nullable=False),
        sa.Column("ref", sa.String(), nullable=True),
        sa.Column("failed", sa.Boolean(), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["outbox_id"], ["outbox.id"]),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("outbox_id", "transport"),
    )
    op.create_index("ix_delivery_outbox_id", "delivery", ["outbox_id"])
    op.execute(
        "INSERT INTO delivery (outbox_id, transport, ref, failed, at) "
        "SELECT outbox_id, transport, ref, status = 'failed', at FROM ledger WHERE part = 0"
    )
    op.drop_index("ix_ledger_outbox_id", table_name="ledger")
    op.drop_table("ledger")
    op.drop_index("ix_inbox_status_next", table_name="inbox")
    op.drop_table("inbox")
