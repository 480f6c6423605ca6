"""the beleidsteam: call-outs, members, attendance, boards, decisions and actions

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-06 09:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None


def _when() -> sa.DateTime:
    return sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "bt_callout",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("incident_id", sa.Integer(), nullable=False),
        sa.Column("team_key", sa.String(), nullable=False),
        sa.Column("team_name", sa.String(), nullable=False),
        sa.Column("kind", sa.String(), nullable=False),
        sa.Column("convened_by", sa.Integer(), nullable=False),
        sa.Column("on_behalf_of", sa.Integer(), nullable=True),
        sa.Column("gemeente_id", sa.Integer(), nullable=True),
        sa.Column("starts_at", _when(), nullable=False),
        sa.Column("place", sa.String(), nullable=False),
        sa.Column("norm_at", _when(), nullable=False),
        sa.Column("answer_minutes", sa.Integer(), nullable=False),
        sa.Column("created_at", _when(), nullable=False),
        sa.Column("status", sa.String(), nullable=False),
        sa.Column("board_due", sa.Boolean(), nullable=False),
        sa.ForeignKeyConstraint(["incident_id"], ["incident.id"]),
        sa.ForeignKeyConstraint(["convened_by"], ["person.id"]),
        sa.ForeignKeyConstraint(["on_behalf_of"], ["person.id"]),
        sa.ForeignKeyConstraint(["gemeente_id"], ["gemeente.id"]),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_bt_callout_incident_id", "bt_callout", ["incident_id"])
    op.create_table(
        "bt_member",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("callout_id", sa.Integer(), nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("function_key", sa.String(), nullable=False),
        sa.Column("required", sa.Boolean(), nullable=False),
        sa.Column("person_key", sa.String(), nullable=True),
        sa.Column("page_id", sa.Integer(), nullable=True),
        sa.ForeignKeyConstraint(["callout_id"], ["bt_callout.id"]),
        sa.ForeignKeyConstraint(["page_id"], ["page.id"]),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("page_id"),
    )
    op.create_index("ix_bt_member_callout_id", "bt_member", ["callout_id"])
    op.create_table(
        "bt_attendance",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("callout_id", sa.Integer(), nullable=False),
        sa.Column("member_id", sa.Integer(), nullable=False),
        sa.Column("person_id", sa.Integer(), nullable=False),
        sa.Column("answer", sa.String(), nullable=False),
        sa.Column("eta", _when(), nullable=True),
        sa.Column("at", _when(), nullable=False),
        sa.ForeignKeyConstraint(["callout_id"], ["bt_callout.id"]),
        sa.ForeignKeyConstraint(["member_id"], ["bt_member.id"]),
        sa.ForeignKeyConstraint(["person_id"], ["person.id"]),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("member_id", "person_id", name="uq_bt_attendance"),
    )
    op.create_index("ix_bt_attendance_callout_id", "bt_attendance", ["callout_id"])
    op.create_table(
        "bt_viewer",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("callout_id", sa.Integer(), nullable=False),
        sa.Column("person_id", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(["callout_id"], ["bt_callout.id"]),
        sa.ForeignKeyConstraint(["person_id"], ["person.id"]),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("callout_id", "person_id", name="uq_bt_viewer"),
    )
    op.create_table(
        "bt_record",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("incident_id", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(), nullable=False),
        sa.Column("number", sa.Integer(), nullable=False),
        sa.Column("text", sa.String(), nullable=False),
        sa.Column("phase", sa.String(), nullable=False),
        sa.Column("by", sa.Integer(), nullable=False),
        sa.Column("at", _when(), nullable=False),
        sa.Column("owner", sa.Integer(), nullable=True),
        sa.Column("history", sa.JSON(), nullable=False),
        sa.ForeignKeyConstraint(["incident_id"], ["incident.id"]),
        sa.ForeignKeyConstraint(["by"], ["person.id"]),
        sa.ForeignKeyConstraint(["owner"], ["person.id"]),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("incident_id", "kind", "number", name="uq_bt_record_number"),
    )
    op.create_index("ix_bt_record_incident_id", "bt_record", ["incident_id"])


def downgrade() -> None:
    op.drop_index("ix_bt_record_incident_id", "bt_record")
    op.drop_table("bt_record")
    op.drop_table("bt_viewer")
    op.drop_index("ix_bt_attendance_callout_id", "bt_attendance")
    op.drop_table("bt_attendance")
    op.drop_index("ix_bt_member_callout_id", "bt_member")
    op.drop_table("bt_member")
    op.drop_index("ix_bt_callout_incident_id", "bt_callout")
    op.drop_table("bt_callout")
