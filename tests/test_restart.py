"""A crash in the middle of an escalation loses nothing: timers are rows, the APScheduler
job store is persistent, and overdue escalations fire at once after a restart."""

from __future__ import annotations

import asyncio
from datetime import timedelta
from pathlib import Path
from types import SimpleNamespace

import pytest
from sqlalchemy import text

from core.clock import FakeClock
from core.events import ButtonEvent, Sender, parse_text
from core.model import Origin, Timer, TimerId
from core.paging import ESCALATE
from core.tx import Tx
from scm_bot.app import AlreadyRunning, running
from scm_bot.scheduling import FIRING_AT_ONCE, ApsTimerScheduler
from storage.database import make_engine
from tests.helpers import START, Harness, RecordingTransport, load_region


async def _handle(app, who: str, text_or_data: str, *, button: bool = False) -> None:
    sender = Sender(Origin.CONSOLE, who)
    event = ButtonEvent(sender, text_or_data) if button else parse_text(sender, text_or_data)
    await app.router.handle(event)
    await app.deliverer.deliver_pending()


async def _jobs_and_escalations(app) -> tuple[set[str], set[str]]:
    """The scheduler's job ids, and the job ids the pending escalation rows should have."""
    async with app.uows() as uow:
        pending = await uow.timers.pending()
    await app.core.scheduler.settled()  # the job store is written off the event loop
    jobs = {job.id for job in app.core.scheduler.scheduler.get_jobs()}
    assert jobs == {f"timer-{t.id}" for t in pending}, "the job store mirrors the rows"
    return jobs, {f"timer-{t.id}" for t in pending if t.kind == ESCALATE}


def _button(transport: RecordingTransport, who: str, label: str) -> str:
    return next(
        b.data for m in reversed(transport.inbox(who)) for b in m.buttons if b.label == label
    )


async def test_escalation_that_fell_due_while_down_fires_at_start(db_url: str) -> None:
    engine = make_engine(db_url)
    await load_region(engine)
    await engine.dispose()
    clock = FakeClock(START)
    transport = RecordingTransport()

    async with running(db_url, [transport], clock) as app:
        await _handle(app, "caco", "/alarm Soest: gaslek Kerkstraat")
        await _handle(app, "caco", _button(transport, "caco", "Bevestigen en pagen"), button=True)
        assert len(transport.inbox("rol-b")) == 1
        _, escalations = await _jobs_and_escalations(app)
        (first,) = escalations
        job = app.core.scheduler.scheduler.get_job(first)  # type: ignore[attr-defined]
        assert job.misfire_grace_time is None
    # The process is gone; twelve minutes pass.
    clock.advance(timedelta(minutes=12))

    async with running(db_url, [transport], clock) as app:
        await app.deliverer.deliver_pending()
        # The overdue repeat fired at start, once, and its successor is scheduled.
        assert len(transport.inbox("rol-b")) == 2
        assert transport.inbox("rol-b")[-1].title == "REPEAT – nobody has responded yet"
        assert transport.inbox("rol-c") == []
        jobs, escalations = await _jobs_and_escalations(app)
        assert first not in jobs, "the fired timer's job is gone"
        (second,) = escalations
        async with app.uows() as uow:
            pending = {f"timer-{t.id}": t for t in await uow.timers.pending()}
        assert pending[second].due_at == clock.now() + timedelta(minutes=5)
        fired_again = await app.runner.run_due()
        assert fired_again == 0, "a timer never fires twice"


async def test_acknowledged_before_the_crash_stays_acknowledged(db_url: str) -> None:
    engine = make_engine(db_url)
    await load_region(engine)
    await engine.dispose()
    clock = FakeClock(START)
    transport = RecordingTransport()
    async with running(db_url, [transport], clock) as app:
        await _handle(app, "caco", "/alarm Soest: gaslek")
        await _handle(app, "caco", _button(transport, "caco", "Bevestigen en pagen"), button=True)
        await _handle(app, "rol-b", _button(transport, "rol-b", "I'll take it"), button=True)
    clock.advance(timedelta(hours=1))
    async with running(db_url, [transport], clock) as app:
        await app.deliverer.deliver_pending()
        assert len(transport.inbox("rol-b")) == 2  # the page and "you took it"
        _, escalations = await _jobs_and_escalations(app)
        assert escalations == set()


async def test_undelivered_messages_go_out_after_a_restart(db_url: str) -> None:
    engine = make_engine(db_url)
    await load_region(engine)
    await engine.dispose()
    clock = FakeClock(START)
    silent = RecordingTransport()
    silent.unreachable = {"rol-b", "caco"}
    async with running(db_url, [silent], clock) as app:
        await _handle(app, "caco", "/alarm Soest: gaslek")
    # Crash before the page went out: the outbox row is committed, delivery was not.
    engine = make_engine(db_url)
    async with engine.connect() as conn:
        await conn.execute(text("UPDATE outbox SET status = 'pending'"))
        await conn.commit()
    await engine.dispose()
    transport = RecordingTransport()
    async with running(db_url, [transport], clock) as app:
        await app.deliverer.deliver_pending()
    assert "Controleer het alarm" in transport.inbox("caco")[-1].text


async def test_a_second_instance_on_the_same_database_refuses_to_start(db_url: str) -> None:
    clock = FakeClock(START)
    async with running(db_url, [RecordingTransport()], clock):
        with pytest.raises(AlreadyRunning):
            async with running(db_url, [RecordingTransport()], clock):
                pass  # pragma: no cover


async def test_a_failing_timer_does_not_stop_the_others_or_the_start(harness: Harness) -> None:
    fired: list[int] = []

    async def boom(_tx: Tx, _timer: Timer) -> None:
        raise RuntimeError("a bug in one handler")

    async def ok(_tx: Tx, timer: Timer) -> None:
        fired.append(timer.ref)

    harness.app.runner.handlers.update({"test.boom": boom, "test.ok": ok})
    async with harness.app.core.transaction(Origin.SYSTEM) as tx:
        await tx.schedule("test.ok", 1, tx.now)
        await tx.schedule("test.boom", 2, tx.now)
        await tx.schedule("test.ok", 3, tx.now)
    assert await harness.app.runner.run_due() == 2
    assert fired == [1, 3]
    async with harness.app.uows() as uow:
        (left,) = await uow.timers.pending()
    assert left.kind == "test.boom", "the failed one stays pending, to be tried again"


class HeldRunner:
    """Stands in for the TimerRunner: each firing waits until the test releases it."""

    def __init__(self) -> None:
        self.core = SimpleNamespace(clock=FakeClock(START))
        self.running = 0
        self.most = 0
        self.fired: list[int] = []
        self.release = asyncio.Event()

    async def fire(self, timer_id: int) -> bool:
        self.running += 1
        self.most = max(self.most, self.running)
        try:
            await self.release.wait()
        finally:
            self.running -= 1
        self.fired.append(timer_id)
        return True


async def test_a_burst_of_due_timers_fires_a_few_at_a_time(tmp_path: Path) -> None:
    """A burst queues for a firing slot, not for the database's connections, so inbound
    events still get one; none is lost, and those still queued at shutdown stay pending
    rows for the next start."""
    runner = HeldRunner()
    aps = ApsTimerScheduler(f"sqlite:///{tmp_path / 'jobs.sqlite'}", runner)  # type: ignore[arg-type]
    try:
        firing = [asyncio.create_task(aps.fire(TimerId(i))) for i in range(20)]
        for _ in range(10):  # allowed: yields only, so every firing runs as far as it can
            await asyncio.sleep(0)
        assert runner.running == FIRING_AT_ONCE
        runner.release.set()
        await asyncio.gather(*firing)
        assert sorted(runner.fired) == list(range(20))
        assert runner.most == FIRING_AT_ONCE

        runner.release.clear()
        queued = [asyncio.create_task(aps.fire(TimerId(i))) for i in range(100, 110)]
        for _ in range(10):  # allowed: yields only
            await asyncio.sleep(0)
        aps._closing = True  # what shutdown_async sets first
        runner.release.set()
        await asyncio.gather(*queued)
        assert len(runner.fired) == 20 + FIRING_AT_ONCE  # only those already firing
    finally:
        aps.shutdown()


async def test_job_store_writes_wait_for_pages_and_keep_their_order(tmp_path: Path) -> None:
    """On SQLite the job store is written on the event loop, after the pages on their way
    out (`after`): an escalation's page goes out before its job is written. The adds and
    removes then reach the store in the order they were asked for."""
    pages_out = asyncio.Event()

    async def after_pages() -> None:
        await pages_out.wait()

    aps = ApsTimerScheduler(
        f"sqlite:///{tmp_path / 'jobs.sqlite'}",
        HeldRunner(),  # type: ignore[arg-type]
        after=after_pages,
    )
    try:
        due = START + timedelta(minutes=5)
        aps.schedule(TimerId(1), due)
        aps.schedule(TimerId(2), due)
        aps.cancel(TimerId(1))
        for _ in range(10):  # allowed: yields only, so the writer runs as far as it can
            await asyncio.sleep(0)
        assert aps.scheduler.get_jobs() == [], "nothing written while a page is going out"
        pages_out.set()
        await aps.settled()
        assert [job.id for job in aps.scheduler.get_jobs()] == ["timer-2"]
    finally:
        aps.shutdown()
