"""retention: anonymous statistics of removed incidents; audit records deletable only
once retention released them

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-06 09:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0012"
down_revision = "0011"
branch_labels = None
depends_on = None

REFUSE = "SELECT RAISE(ABORT, 'audit is append-only')"


def upgrade() -> None:
    op.create_table(
        "statistic",
        sa.Column("month", sa.String(), nullable=False),
        sa.Column("kind", sa.String(), nullable=False),
        sa.Column("incidents", sa.Integer(), nullable=False),
        sa.Column("pages", sa.Integer(), nullable=False),
        sa.Column("acknowledged", sa.Integer(), nullable=False),
        sa.Column("ack_seconds", sa.Float(), nullable=False),
        sa.Column("ack_seconds_max", sa.Float(), nullable=False),
        sa.PrimaryKeyConstraint("month", "kind"),
    )
    op.create_table(
        "audit_horizon",
        sa.Column("id", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("before", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    # The audit log stays append-only: no UPDATE ever, and a DELETE only of records older
    # than the horizon the retention job sets (a missing horizon allows nothing).
    if op.get_bind().dialect.name == "sqlite":
        op.execute("DROP TRIGGER audit_no_delete")
        op.execute(
            "CREATE TRIGGER audit_no_delete BEFORE DELETE ON audit "
            "WHEN NOT coalesce(OLD.at < (SELECT before FROM audit_horizon WHERE id = 1), 0) "
            f"BEGIN {REFUSE}; END"
        )
    else:
        op.execute(
            "CREATE OR REPLACE FUNCTION audit_append_only() RETURNS trigger LANGUAGE plpgsql "
            "AS $$ BEGIN "
            "IF TG_OP = 'DELETE' AND OLD.at < (SELECT before FROM audit_horizon WHERE id = 1) "
            "THEN RETURN OLD; END IF; "
            "RAISE EXCEPTION 'audit is append-only'; END $$"
        )


def downgrade() -> None:
    if op.get_bind().dialect.name == "sqlite":
        op.execute("DROP TRIGGER audit_no_delete")
        op.execute(f"CREATE TRIGGER audit_no_delete BEFORE DELETE ON audit BEGIN {REFUSE}; END")
    else:
        op.execute(
            "CREATE OR REPLACE FUNCTION audit_append_only() RETURNS trigger LANGUAGE plpgsql "
            "AS $$ BEGIN RAISE EXCEPTION 'audit is append-only'; END $$"
        )
    op.drop_table("audit_horizon")
    op.drop_table("statistic")
