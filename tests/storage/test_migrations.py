"""Migrations form one line and match the tables the code declares."""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import create_engine, text

from storage.database import alembic_config
from storage.tables import metadata


def test_one_head() -> None:
    script = ScriptDirectory.from_config(alembic_config("sqlite://"))
    assert len(script.get_heads()) == 1


def test_the_migrated_schema_matches_the_models(sqlite_url: str) -> None:
    engine = create_engine(sqlite_url.replace("sqlite+aiosqlite", "sqlite"))
    try:
        with engine.connect() as conn:
            diff = compare_metadata(MigrationContext.configure(conn), metadata)
    finally:
        engine.dispose()
    assert diff == []


def test_decisions_recorded_before_0013_join_the_call_out_they_were_made_in(
    tmp_path: Path,
) -> None:
    """0013 gives every existing decision and action the call-out (and so the BT) it was
    recorded in: the newest call-out of its incident before it that its recorder was part
    of, not simply the newest (another gemeente may have convened in between)."""
    url = f"sqlite:///{tmp_path / 'old.sqlite'}"
    command.upgrade(alembic_config(url), "0012")
    engine = create_engine(url)
    callout = (
        "INSERT INTO bt_callout (id, incident_id, team_key, team_name, kind, convened_by, "
        "starts_at, place, norm_at, answer_minutes, created_at, status, board_due) "
        "VALUES (:id, 1, 'gbt', 'GBT', 'alarmering', :by, :at, 'x', :at, 10, :at, 'active', 0)"
    )
    record = (
        "INSERT INTO bt_record (id, incident_id, kind, number, text, phase, by, at, history) "
        "VALUES (:id, 1, 'besluit', :id, 'x', '', :by, :at, '[]')"
    )
    try:
        with engine.begin() as conn:
            for n, by, at in ((1, 1, "10:00"), (2, 1, "11:00"), (3, 2, "11:15")):
                conn.execute(text(callout), {"id": n, "by": by, "at": f"2026-12-01 {at}:00"})
            for n, by, at in ((1, 1, "10:30"), (2, 1, "11:30"), (3, 2, "11:35"), (4, 3, "11:40")):
                conn.execute(text(record), {"id": n, "by": by, "at": f"2026-12-01 {at}:00"})
        command.upgrade(alembic_config(url), "head")
        with engine.connect() as conn:
            rows = conn.execute(text("SELECT id, callout_id FROM bt_record ORDER BY id")).all()
    finally:
        engine.dispose()
    # Record 4's recorder was in none of them: the newest call-out before it.
    assert [tuple(r) for r in rows] == [(1, 1), (2, 2), (3, 3), (4, 3)]
