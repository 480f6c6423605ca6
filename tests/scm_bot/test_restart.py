"""A crash or a failed scheduling call in the middle of an escalation loses nothing: timers
are rows, APScheduler (in memory) is rebuilt from them at start, and a reconcile every few
seconds fires any pending row that is overdue."""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import Callable
from contextlib import closing
from datetime import datetime, timedelta
from pathlib import Path
from types import SimpleNamespace

import psycopg
import pytest
from alembic import command
from sqlalchemy import text
from sqlalchemy.engine import make_url

from core.clock import FakeClock
from core.events import ButtonEvent, Sender, parse_text
from core.incidents.paging import ESCALATE
from core.model import Origin, Timer, TimerId
from core.tx import Tx
from scm_bot.app import App
from scm_bot.instance import AlreadyRunning, running
from scm_bot.scheduling import FIRING_AT_ONCE, RECONCILE_EVERY, ApsTimerScheduler
from storage.database import alembic_config, is_sqlite, make_engine
from tests.helpers import START, Harness, RecordingTransport, load_region


async def _handle(app: App, who: str, text_or_data: str, *, button: bool = False) -> None:
    sender = Sender(Origin.CONSOLE, who)
    event = ButtonEvent(sender, text_or_data) if button else parse_text(sender, text_or_data)
    await app.router.handle(event)
    await app.deliverer.deliver_pending()


def aps(app: App) -> ApsTimerScheduler:
    scheduler = app.core.scheduler
    assert isinstance(scheduler, ApsTimerScheduler)
    return scheduler


async def _pending(app: App, kind: str = ESCALATE) -> list[Timer]:
    async with app.uows() as uow:
        return [t for t in await uow.timers.pending() if t.kind == kind]


def _button(transport: RecordingTransport, who: str, label: str) -> str:
    return next(
        b.data for m in reversed(transport.inbox(who)) for b in m.buttons if b.label == label
    )


async def _raise_alarm(app: App, transport: RecordingTransport) -> None:
    await _handle(app, "caco", "/alarm Soest: gaslek Kerkstraat")
    await _handle(app, "caco", _button(transport, "caco", "Bevestigen en pagen"), button=True)


async def _region(db_url: str) -> None:
    engine = make_engine(db_url)
    await load_region(engine)
    await engine.dispose()


async def test_escalation_that_fell_due_while_down_fires_at_start(db_url: str) -> None:
    await _region(db_url)
    clock = FakeClock(START)
    transport = RecordingTransport()

    async with running(db_url, [transport], clock) as app:
        await _raise_alarm(app, transport)
        assert len(transport.inbox("rol-b")) == 1
        (first,) = await _pending(app)
        job = aps(app).scheduler.get_job(f"timer-{first.id}")
        assert job is not None and job.misfire_grace_time is None
    # The process is gone; twelve minutes pass.
    clock.advance(timedelta(minutes=12))

    async with running(db_url, [transport], clock) as app:
        await app.deliverer.deliver_pending()
        # The overdue repeat fired at start, once, and its successor is scheduled.
        assert len(transport.inbox("rol-b")) == 2
        assert transport.inbox("rol-b")[-1].title == "REPEAT – nobody has responded yet"
        assert transport.inbox("rol-c") == []
        (second,) = await _pending(app)
        assert second.due_at == clock.now() + timedelta(minutes=5)
        jobs = {job.id for job in aps(app).scheduler.get_jobs()}
        assert f"timer-{first.id}" not in jobs, "no job for the fired timer"
        assert f"timer-{second.id}" in jobs, "a job for the pending one, rebuilt from the rows"
        assert await app.runner.run_due() == 0, "a timer never fires twice"


async def test_a_failed_scheduling_call_delays_the_escalation_by_seconds(
    db_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The escalation's job cannot be added: the page still goes out, the failure is only
    logged, and the reconcile repeats the page when the escalation is due."""
    await _region(db_url)
    clock = FakeClock(START)
    transport = RecordingTransport()
    async with running(db_url, [transport], clock) as app:
        # The daily roster check planned at start is due: it fires here, not meanwhile.
        await app.runner.run_due()
        scheduler = aps(app)
        add = scheduler._add
        failures: list[TimerId] = []

        def add_fails_once(timer_id: TimerId, run_date: datetime) -> None:
            if not failures:
                failures.append(timer_id)
                raise RuntimeError("the scheduler is away")
            add(timer_id, run_date)

        await _handle(app, "caco", "/alarm Soest: gaslek Kerkstraat")
        await app.runner.run_due()  # what is due at the start (the nightly job's first run)
        monkeypatch.setattr(scheduler, "_add", add_fails_once)
        confirm = _button(transport, "caco", "Bevestigen en pagen")
        await _handle(app, "caco", confirm, button=True)  # no exception reaches the Caco
        (escalation,) = await _pending(app)
        assert failures == [escalation.id]
        assert scheduler.scheduler.get_job(f"timer-{escalation.id}") is None, "job lost"
        assert len(transport.inbox("rol-b")) == 1

        assert await scheduler.reconcile() == 0, "not due yet"
        clock.set(escalation.due_at + timedelta(seconds=1))  # at most one reconcile later
        assert await scheduler.reconcile() == 1
        await app.deliverer.deliver_pending()
        assert len(transport.inbox("rol-b")) == 2
        assert transport.inbox("rol-b")[-1].title == "REPEAT – nobody has responded yet"
        (successor,) = await _pending(app)
        assert scheduler.scheduler.get_job(f"timer-{successor.id}") is not None
    assert RECONCILE_EVERY <= 5


async def test_the_reconcile_runs_every_few_seconds_by_itself(harness: Harness) -> None:
    """Started, the scheduler reconciles on its own (here every 10 ms): a row without a job
    fires once it is due."""
    fired = asyncio.Event()

    async def handler(_tx: Tx, _timer: Timer) -> None:
        fired.set()

    harness.app.runner.handlers["test.ok"] = handler
    scheduler = ApsTimerScheduler(harness.app.runner, reconcile_every=0.01)
    await scheduler.start()
    try:
        async with harness.app.core.transaction(Origin.SYSTEM) as tx:  # no job: Manual...
            await tx.schedule("test.ok", 1, tx.now + timedelta(minutes=5))
        assert scheduler.scheduler.get_jobs() == []
        harness.clock.advance(timedelta(minutes=5))
        await asyncio.wait_for(fired.wait(), 5)
    finally:
        await scheduler.shutdown()
    assert await _pending(harness.app, "test.ok") == []


async def test_a_timer_never_fires_twice(harness: Harness) -> None:
    """Its job, a second trigger of it, the reconcile and the runner at once: the conditional
    claim lets one of them run it."""
    runs: list[int] = []

    async def handler(_tx: Tx, timer: Timer) -> None:
        runs.append(timer.ref)
        await asyncio.sleep(0)  # allowed: a yield, so the others run while this one does

    harness.app.runner.handlers["test.once"] = handler
    scheduler = ApsTimerScheduler(harness.app.runner)
    harness.app.core.scheduler = scheduler
    async with harness.app.core.transaction(Origin.SYSTEM) as tx:
        await tx.schedule("test.once", 7, tx.now)
    (timer,) = await _pending(harness.app, "test.once")
    await asyncio.gather(
        scheduler.fire(timer.id),
        scheduler.fire(timer.id),
        scheduler.reconcile(),
        harness.app.runner.fire(timer.id),
    )
    assert runs == [7]
    assert await scheduler.reconcile() == 0
    await scheduler.shutdown()


async def test_no_job_store_file_or_table(db_url: str) -> None:
    """The jobs live in memory: no `<name>.jobs.sqlite` beside the database, no
    `apscheduler_jobs` table in it."""
    await _region(db_url)
    transport = RecordingTransport()
    async with running(db_url, [transport], FakeClock(START)) as app:
        await _raise_alarm(app, transport)
        assert await _pending(app)
    if is_sqlite(db_url):
        path = make_url(db_url).database
        assert path is not None
        assert list(Path(path).parent.glob("*.jobs.sqlite")) == []
    else:
        with psycopg.connect(db_url, autocommit=True) as conn:
            row = conn.execute("SELECT to_regclass('apscheduler_jobs')").fetchone()
        assert row == (None,)


def test_the_migration_drops_the_old_job_table(db_url: str) -> None:
    config = alembic_config(db_url)
    command.stamp(config, "0008")  # as a database of the earlier version
    if is_sqlite(db_url):
        path = make_url(db_url).database
        assert path is not None
        with closing(sqlite3.connect(path)) as db, db:  # closed, after its commit
            db.execute("CREATE TABLE apscheduler_jobs (id VARCHAR(191) PRIMARY KEY)")
        command.upgrade(config, "0009")
        with closing(sqlite3.connect(path)) as db:
            names = db.execute("SELECT name FROM sqlite_master WHERE type = 'table'")
            assert "apscheduler_jobs" not in {name for (name,) in names}
    else:
        with psycopg.connect(db_url, autocommit=True) as conn:
            conn.execute("CREATE TABLE apscheduler_jobs (id VARCHAR(191) PRIMARY KEY)")
        command.upgrade(config, "0009")
        with psycopg.connect(db_url, autocommit=True) as conn:
            row = conn.execute("SELECT to_regclass('apscheduler_jobs')").fetchone()
        assert row == (None,)
    command.stamp(config, "head")


async def test_acknowledged_before_the_crash_stays_acknowledged(db_url: str) -> None:
    await _region(db_url)
    clock = FakeClock(START)
    transport = RecordingTransport()
    async with running(db_url, [transport], clock) as app:
        await _raise_alarm(app, transport)
        await _handle(app, "rol-b", _button(transport, "rol-b", "I'll take it"), button=True)
    clock.advance(timedelta(hours=1))
    async with running(db_url, [transport], clock) as app:
        await app.deliverer.deliver_pending()
        assert len(transport.inbox("rol-b")) == 2  # the page and "you took it"
        assert await _pending(app) == []
        async with app.uows() as uow:
            pending = {f"timer-{t.id}" for t in await uow.timers.pending()}
        jobs = {job.id for job in aps(app).scheduler.get_jobs()}
        assert jobs == pending, "a job for each pending row and nothing else"


async def test_undelivered_messages_go_out_after_a_restart(db_url: str) -> None:
    await _region(db_url)
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


async def test_a_second_instance_on_the_same_sqlite_database_refuses_to_start(
    sqlite_url: str,
) -> None:
    """(On PostgreSQL a second instance stands by: tests/scm_bot/test_leadership.py.)"""
    clock = FakeClock(START)
    async with running(sqlite_url, [RecordingTransport()], clock):
        with pytest.raises(AlreadyRunning):
            async with running(sqlite_url, [RecordingTransport()], clock):
                pass  # pragma: no cover


async def test_a_failing_timer_does_not_stop_the_others_or_the_start(harness: Harness) -> None:
    """Overdue timers fire in batches, one transaction each; a batch in which one fails
    is rolled back and its timers fire one by one: the good ones take effect once."""

    async def boom(_tx: Tx, _timer: Timer) -> None:
        raise RuntimeError("a bug in one handler")

    async def ok(tx: Tx, timer: Timer) -> None:
        await tx.audit("system", "test.ok", str(timer.ref), "ok")  # what a handler leaves

    harness.app.runner.handlers.update({"test.boom": boom, "test.ok": ok})
    async with harness.app.core.transaction(Origin.SYSTEM) as tx:
        await tx.schedule("test.ok", 1, tx.now)
        await tx.schedule("test.boom", 2, tx.now)
        await tx.schedule("test.ok", 3, tx.now)
    assert await harness.app.runner.run_due(at_once=FIRING_AT_ONCE) == 2
    async with harness.app.uows() as uow:
        done = [r.object for r in await uow.audit.all() if r.action == "test.ok"]
    assert sorted(done) == ["1", "3"], "each good timer took effect once"
    (left,) = await _pending(harness.app, "test.boom")
    assert left.ref == 2, "the failed one stays pending, to be tried again"


async def test_overdue_timers_fire_together_in_one_transaction(harness: Harness) -> None:
    seen: list[Tx] = []  # the transactions the handlers ran in (kept, so ids stay unique)

    async def ok(tx: Tx, _timer: Timer) -> None:
        seen.append(tx)

    harness.app.runner.handlers["test.ok"] = ok
    async with harness.app.core.transaction(Origin.SYSTEM) as tx:
        for ref in range(30):
            await tx.schedule("test.ok", ref, tx.now)
    assert await harness.app.runner.run_due() == 30
    assert len({id(tx) for tx in seen}) == 2, "30 overdue timers: a batch of 25 and one of 5"
    assert await _pending(harness.app, "test.ok") == []


class HeldRunner:
    """Stands in for the TimerRunner: each firing waits until the test releases it."""

    def __init__(self) -> None:
        self.core = SimpleNamespace(clock=FakeClock(START))
        self.running = 0
        self.most = 0
        self.fired: list[int] = []
        self.release = asyncio.Event()
        self.skipped: set[int] = set()

    async def fire(self, timer_id: int) -> bool:
        self.running += 1
        self.most = max(self.most, self.running)
        try:
            await self.release.wait()
        finally:
            self.running -= 1
        self.fired.append(timer_id)
        return True

    async def run_due(self, *, skip: Callable[[TimerId], bool], **_options: object) -> int:
        self.skipped = {i for i in range(200) if skip(TimerId(i))}
        return 0


async def _yield() -> None:
    for _ in range(10):  # allowed: yields only, so every firing runs as far as it can
        await asyncio.sleep(0)


async def test_a_burst_of_due_timers_fires_a_few_at_a_time() -> None:
    """A burst queues for a firing slot, not for the database's connections, so inbound
    events still get one; at shutdown those firing finish and those still queued stay
    pending rows for the next start."""
    runner = HeldRunner()
    scheduler = ApsTimerScheduler(runner)  # type: ignore[arg-type]
    firing = [asyncio.create_task(scheduler.fire(TimerId(i))) for i in range(20)]
    await _yield()
    assert runner.running == FIRING_AT_ONCE
    runner.release.set()
    await asyncio.gather(*firing)
    assert sorted(runner.fired) == list(range(20))
    assert runner.most == FIRING_AT_ONCE

    runner.release.clear()
    queued = [asyncio.create_task(scheduler.fire(TimerId(i))) for i in range(100, 110)]
    await _yield()
    stopping = asyncio.create_task(scheduler.shutdown())
    await _yield()
    assert not stopping.done(), "shutdown waits for the timers already firing"
    runner.release.set()
    await stopping
    await asyncio.gather(*queued)
    assert len(runner.fired) == 20 + FIRING_AT_ONCE  # only those already firing


async def test_the_reconcile_leaves_alone_the_timers_whose_job_is_under_way(
    harness: Harness,
) -> None:
    """Under a burst the reconcile does not race the jobs for the timers they are firing or
    waiting to fire (their claims would only wait for each other)."""
    fired: list[int] = []

    async def ok(_tx: Tx, timer: Timer) -> None:
        fired.append(timer.ref)

    harness.app.runner.handlers["test.ok"] = ok
    async with harness.app.core.transaction(Origin.SYSTEM) as tx:
        await tx.schedule("test.ok", 1, tx.now)
        await tx.schedule("test.ok", 2, tx.now)
    (first,) = [t for t in await _pending(harness.app, "test.ok") if t.ref == 1]
    assert await harness.app.runner.run_due(skip=lambda timer_id: timer_id == first.id) == 1
    assert fired == [2]
    assert await _pending(harness.app, "test.ok") == [first]

    runner = HeldRunner()
    scheduler = ApsTimerScheduler(runner)  # type: ignore[arg-type]
    jobs = [asyncio.create_task(scheduler.fire(TimerId(i))) for i in range(FIRING_AT_ONCE + 2)]
    await _yield()
    await scheduler.reconcile()
    # allowed: the "or" is in the text, not a second outcome
    assert runner.skipped == set(range(FIRING_AT_ONCE + 2)), "firing or waiting for a slot"
    runner.release.set()
    await asyncio.gather(*jobs)
    await scheduler.reconcile()
    assert runner.skipped == set()


async def test_jobs_follow_schedule_and_cancel_at_once_in_order(harness: Harness) -> None:
    scheduler = ApsTimerScheduler(harness.app.runner)
    await scheduler.start()
    due = START + timedelta(minutes=5)
    scheduler.schedule(TimerId(1), due)
    scheduler.schedule(TimerId(2), due)
    scheduler.schedule(TimerId(2), due + timedelta(minutes=1))  # replaces its job
    scheduler.cancel(TimerId(1))
    scheduler.cancel(TimerId(3))  # never scheduled: nothing to do
    (job,) = scheduler.scheduler.get_jobs()
    assert job.id == "timer-2"
    await scheduler.shutdown()
