"""The auditor finds work that waits without a timer, creates the timer due when it would
have been due, and leaves its heartbeat; with nothing wrong it changes nothing. Time is the
harness's fake clock."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from sqlalchemy import text

from core.incidents.paging import ESCALATE
from core.roster.reminders import DAILY, NOTICE, RosterReminders
from scm_bot.auditor import HEARTBEAT, Auditor
from tests.helpers import Harness


def auditor(harness: Harness) -> Auditor:
    return Auditor(harness.app.core, harness.app.uows)


async def leading(harness: Harness) -> None:
    """What a leader's start plans: the daily roster check."""
    await RosterReminders().ensure(harness.app.core)


async def execute(harness: Harness, sql: str, **params: object) -> list[tuple[object, ...]]:
    async with harness.app.engine.begin() as conn:
        result = await conn.execute(text(sql), params)
        return [tuple(row) for row in result.all()] if result.returns_rows else []


async def test_an_open_page_without_its_escalation_timer_gets_one_and_escalates(
    harness: Harness,
) -> None:
    await leading(harness)
    await harness.raise_alarm()
    paged_at = harness.clock.now()
    assert len(harness.inbox("rol-b")) == 1
    harness.clock.advance(timedelta(minutes=2))
    # The escalation timer is lost (a bug, a hand-edited database).
    await execute(harness, "DELETE FROM timer WHERE kind = :kind", kind=ESCALATE)

    repairs = await auditor(harness).audit()

    assert [(r.kind, r.about, r.due_at) for r in repairs] == [
        (ESCALATE, "VRU-2026-0001", paged_at + timedelta(minutes=5))
    ]
    rows = await execute(
        harness,
        "SELECT status FROM timer WHERE kind = :kind AND ref = :ref",
        kind=ESCALATE,
        ref=repairs[0].ref,
    )
    assert rows == [("pending",)]
    audited = await execute(
        harness, "SELECT object, result FROM audit WHERE action = 'auditor.repaired'"
    )
    assert audited == [("VRU-2026-0001", "timer created")]
    # It fires when the page would have repeated: the ROL hears again.
    await harness.advance(3)
    assert harness.inbox("rol-b")[-1].title == "REPEAT – nobody has responded yet"
    assert await auditor(harness).audit() == [], "the escalation has its next timer"


async def test_an_acknowledged_page_needs_no_timer(harness: Harness) -> None:
    await leading(harness)
    await harness.raise_alarm()
    await harness.press("rol-b", "I'll take it")
    assert await execute(
        harness, "SELECT count(*) FROM timer WHERE kind = :k AND status = 'pending'", k=ESCALATE
    ) == [(0,)]
    assert await auditor(harness).audit() == []


async def test_roster_reminders_and_the_daily_check_without_a_timer_get_one(
    harness: Harness,
) -> None:
    # Sunday: Monday's handover is within the two days the daily check plans ahead.
    harness.clock.advance(timedelta(days=5))
    await leading(harness)
    await harness.app.runner.run_due()  # the daily check plans the next reminders
    notices = await execute(
        harness,
        "SELECT n.id, n.kind, n.at FROM roster_notice n JOIN timer t"
        " ON t.kind = :kind AND t.ref = n.id ORDER BY n.id",
        kind=NOTICE,
    )
    start = next(int(str(n[0])) for n in notices if n[1] == "start")
    await execute(
        harness, "DELETE FROM timer WHERE kind = :kind AND ref = :ref", kind=NOTICE, ref=start
    )
    await execute(harness, "DELETE FROM timer WHERE kind = :kind", kind=DAILY)

    repairs = await auditor(harness).audit()

    found = {(r.kind, r.ref): r.due_at for r in repairs}
    assert set(found) == {(NOTICE, start), (DAILY, 0)}
    # When the duty starts: Monday 30 November, 08:00 in Utrecht.
    assert found[(NOTICE, start)] == datetime(2026, 11, 30, 7, 0, tzinfo=UTC)
    assert found[(DAILY, 0)] > harness.clock.now()  # tomorrow morning's check
    assert await auditor(harness).audit() == []


async def test_every_audit_leaves_a_heartbeat(harness: Harness) -> None:
    await leading(harness)
    await auditor(harness).audit()
    harness.clock.advance(timedelta(minutes=1))
    await harness.raise_alarm()
    await auditor(harness).audit()
    async with harness.app.uows() as uow:
        beat = await uow.heartbeats.last(HEARTBEAT)
    assert beat == (harness.clock.now(), {"open_pages": 1, "repaired": 0})
