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
    # A record was made in an active call-out of its incident that its recorder was part of
    # (convened it, was convened for, its burgemeester, paged for it): the newest such
    # call-out convened before it. Else the newest call-out before it, else the first.
    op.execute(
        "UPDATE bt_record SET callout_id = coalesce("
        "(SELECT c.id FROM bt_callout c LEFT JOIN gemeente g ON g.id = c.gemeente_id "
        "WHERE c.incident_id = bt_record.incident_id AND ("
        'c.convened_by = bt_record."by" OR c.on_behalf_of = bt_record."by" '
        'OR g.burgemeester_id = bt_record."by" OR EXISTS (SELECT 1 FROM bt_member m '
        "JOIN page_target t ON t.page_id = m.page_id "
        'WHERE m.callout_id = c.id AND t.person_id = bt_record."by")) '
        "AND c.created_at <= bt_record.at ORDER BY c.created_at DESC, c.id DESC LIMIT 1), "
        "(SELECT max(c.id) FROM bt_callout c "
        "WHERE c.incident_id = bt_record.incident_id AND c.created_at <= bt_record.at), "
        "(SELECT min(c.id) FROM bt_callout c WHERE c.incident_id = bt_record.incident_id))"
    )
    with op.batch_alter_table("bt_record", schema=None) as batch_op:
        batch_op.alter_column("callout_id", existing_type=sa.Integer(), nullable=False)
        batch_op.drop_constraint("uq_bt_record_number", type_="unique")
        batch_op.create_unique_constraint("uq_bt_record_number", ["callout_id", "kind", "number"])
        batch_op.create_foreign_key("fk_bt_record_callout_id", "bt_callout", ["callout_id"], ["id"])
    op.create_index("ix_bt_record_callout_id", "bt_record", ["callout_id"])


def downgrade() -> None:
    # Fails once two BTs of one incident each have a decision with the same number: the
    # numbering per incident cannot hold them.
    op.drop_index("ix_bt_record_callout_id", "bt_record")
    with op.batch_alter_table("bt_record", schema=None) as batch_op:
        batch_op.drop_constraint("fk_bt_record_callout_id", type_="foreignkey")
        batch_op.drop_constraint("uq_bt_record_number", type_="unique")
        batch_op.create_unique_constraint("uq_bt_record_number", ["incident_id", "kind", "number"])
        batch_op.drop_column("callout_id")
