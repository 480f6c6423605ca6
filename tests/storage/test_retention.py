"""Retention (AVG): the nightly job removes closed incidents, ended rosters and working data
older than their periods, keeps anonymous statistics, and the audit log its own period.
Run through the real timer on SQLite and PostgreSQL, with a fake clock."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError

from core.events import Sender, parse_text
from core.model import Origin
from core.retention import RETENTION, RetentionPolicy, next_run
from tests.conftest import count
from tests.helpers import TZ, Harness

POLICY = RetentionPolicy(days=365, audit_days=400, transient_days=30)
INCIDENT_TABLES = ("incident", "page", "page_target", "analysis", "analysis_field")


async def rows(harness: Harness, sql: str) -> list[tuple[object, ...]]:
    """The rows of a query, as plain tuples."""
    async with harness.app.engine.connect() as conn:
        return [tuple(row) for row in await conn.execute(text(sql))]


async def counts(harness: Harness, *tables: str) -> dict[str, int]:
    return {name: await count(harness.app.engine, name) for name in tables}


async def run_retention_at(harness: Harness, moment: datetime) -> None:
    """Move the clock and let the due timers fire (the retention job among them)."""
    harness.clock.set(moment)
    await harness.app.settle()


async def three_incidents(harness: Harness) -> None:
    """Two closed this month (an alarm acknowledged after 2 minutes, with an analyse begun;
    an alert nobody acted on) and one alert still open."""
    await harness.raise_alarm("Soest: gaslek Kerkstraat 12, familie Jansen")
    await harness.advance(2)
    await harness.press("rol-b", "I'll take it")
    await harness.say("rol-b", "/analyse")
    await harness.say("rol-b", "Gaslek, twintig woningen ontruimd")
    await harness.say("caco", "/sluit 0001")
    await harness.press("caco", "Ja, sluiten")
    await harness.say("caco", "/alarm alertering Soest: rookmelder")
    await harness.press("caco", "Bevestigen en pagen")
    await harness.say("caco", "/sluit 0002")
    await harness.press("caco", "Ja, sluiten")
    await harness.say("caco", "/alarm alertering Soest: nog open")
    await harness.press("caco", "Bevestigen en pagen")


async def test_closed_incidents_leave_only_anonymous_statistics(harness: Harness) -> None:
    harness.app.retention.policy = POLICY
    await three_incidents(harness)
    before = await counts(harness, *INCIDENT_TABLES)
    assert before == {
        "incident": 3,
        "page": 3,
        "page_target": 3,
        "analysis": 1,
        "analysis_field": 1,
    }
    await harness.app.retention.ensure(harness.app.core)
    await harness.app.settle()  # the first run, at once: everything is young
    assert await counts(harness, *INCIDENT_TABLES) == before

    year_later = harness.clock.now() + timedelta(days=366)
    await run_retention_at(harness, year_later)

    # The open incident stays with its page; the closed ones are gone with all about them.
    assert await rows(harness, "SELECT public_id, status FROM incident") == [
        ("VRU-2026-0003", "open")
    ]
    assert await counts(harness, *INCIDENT_TABLES) == {
        "incident": 1,
        "page": 1,
        "page_target": 1,
        "analysis": 0,
        "analysis_field": 0,
    }
    statistics = await rows(
        harness,
        "SELECT month, kind, incidents, pages, acknowledged, ack_seconds, ack_seconds_max "
        "FROM statistic ORDER BY kind",
    )
    assert statistics == [
        ("2026-11", "alarmering", 1, 1, 1, 120.0, 120.0),
        ("2026-11", "alertering", 1, 1, 0, 0.0, 0.0),
    ]
    # What went is audited, and the next run is planned for 03:30 the next night.
    [(detail,)] = await rows(
        harness, "SELECT detail FROM audit WHERE action = 'retention.purged' ORDER BY id"
    )
    assert '"incidents": 2' in str(detail).replace("'", '"')
    [(due,)] = await rows(
        harness, f"SELECT due_at FROM timer WHERE kind = '{RETENTION}' AND status = 'pending'"
    )
    planned = due if isinstance(due, datetime) else datetime.fromisoformat(str(due))
    expected = next_run(year_later, TZ)
    # allowed: SQLite gives the stored UTC time back naive, PostgreSQL aware; one instant
    assert planned.replace(tzinfo=planned.tzinfo or UTC) == expected
    assert expected.astimezone(TZ).strftime("%H:%M") == "03:30"

    # Run again: nothing more goes, nothing is counted twice.
    await run_retention_at(harness, expected)
    assert await rows(harness, "SELECT incidents, pages FROM statistic ORDER BY kind") == [
        (1, 1),
        (1, 1),
    ]


async def test_working_data_goes_after_its_short_period_and_audit_after_its_own(
    harness: Harness,
) -> None:
    harness.app.retention.policy = POLICY
    await harness.raise_alarm()
    await harness.press("rol-b", "I'll take it")
    status = parse_text(Sender(Origin.CONSOLE, "caco", event_id="update-1"), "/status")
    await harness.app.inbox.accept([(status, {})])  # stored, then handled, as from a platform
    await harness.app.settle()
    working = ("outbox", "ledger", "inbox", "inbound_event", "timer")
    young = await counts(harness, *working, "audit")
    assert all(young.values()), young
    await harness.app.retention.ensure(harness.app.core)
    start = harness.clock.now()

    await run_retention_at(harness, start + timedelta(days=29))
    assert await counts(harness, "outbox", "ledger", "inbox", "inbound_event") == {
        "outbox": young["outbox"],
        "ledger": young["ledger"],
        "inbox": 1,
        "inbound_event": 1,
    }

    await run_retention_at(harness, start + timedelta(days=31))
    assert await counts(harness, "outbox", "ledger", "inbox", "inbound_event") == {
        "outbox": 0,
        "ledger": 0,
        "inbox": 0,
        "inbound_event": 0,
    }
    # Only the retention job's own timers are left: the next one pending, the last fired.
    assert await rows(harness, "SELECT DISTINCT kind FROM timer") == [(RETENTION,)]
    # The open incident is not touched, and the audit log keeps its 400 days.
    assert await count(harness.app.engine, "incident") == 1
    old_audit = await rows(harness, "SELECT count(*) FROM audit WHERE action != 'retention.purged'")
    assert old_audit == [(young["audit"],)]

    scenario = await rows(harness, "SELECT DISTINCT action FROM audit ORDER BY action")
    assert ("page.acknowledged",) in scenario and ("incident.raised",) in scenario

    await run_retention_at(harness, start + timedelta(days=401))
    # The scenario's records are past 400 days now (the region import's has the machine's
    # own time, the fake clock does not move it).
    actions = await rows(harness, "SELECT DISTINCT action FROM audit ORDER BY action")
    assert ("page.acknowledged",) not in actions and ("incident.raised",) not in actions
    assert ("retention.purged",) in actions


async def test_ended_rosters_and_stale_conversations_go_after_the_period(
    harness: Harness,
) -> None:
    harness.app.retention.policy = POLICY
    await harness.say("coord", "/dienst rol-a van 01-12-2026 08:00 tot 02-12-2026 08:00")
    await harness.press("coord", "Bevestigen")
    await harness.say("caco", "/alarm")  # a conversation left half way
    assert await counts(harness, "roster_shift", "conversation") == {
        "roster_shift": 1,
        "conversation": 1,
    }
    await harness.app.retention.ensure(harness.app.core)
    await run_retention_at(harness, datetime(2027, 11, 30, 12, tzinfo=TZ))  # < 365 days ended
    assert await count(harness.app.engine, "roster_shift") == 1
    await run_retention_at(harness, datetime(2027, 12, 3, 12, tzinfo=TZ))
    assert await counts(harness, "roster_shift", "conversation") == {
        "roster_shift": 0,
        "conversation": 0,
    }


async def test_the_audit_log_stays_append_only_for_what_retention_did_not_release(
    harness: Harness,
) -> None:
    harness.app.retention.policy = POLICY
    await harness.raise_alarm()
    await harness.app.retention.ensure(harness.app.core)
    await run_retention_at(harness, harness.clock.now() + timedelta(days=401))
    async with harness.app.engine.connect() as conn:
        young = (await conn.execute(text("SELECT max(id) FROM audit"))).scalar_one()
    for statement in (f"DELETE FROM audit WHERE id = {young}", "UPDATE audit SET actor = 'x'"):
        with pytest.raises(DBAPIError, match="audit is append-only"):
            async with harness.app.engine.begin() as conn:
                await conn.execute(text(statement))
