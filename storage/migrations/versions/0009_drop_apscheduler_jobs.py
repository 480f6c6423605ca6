"""drop APScheduler's job table: the timer rows are the only truth, its jobs live in memory

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-03 12:00:00
"""

from __future__ import annotations

from alembic import op

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # Left by the persistent job store of earlier versions (on PostgreSQL; on SQLite it
    # had a file of its own, `<name>.jobs.sqlite`, which nothing reads any more).
    op.execute("DROP TABLE IF EXISTS apscheduler_jobs")


def downgrade() -> None:
    pass  # an earlier version's job store creates its table itself, and fills it from the rows
