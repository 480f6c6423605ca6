"""APScheduler 3.11 as the trigger for database timers.

The `timer` rows are the only truth. APScheduler's `AsyncIOScheduler`, with its in-memory
job store, only wakes us at a row's due time: one date job per pending row (`timer-<id>`),
added after the commit that created the row and rebuilt from the rows at every start.
Nothing depends on a job being there: every few seconds a reconcile fires any pending row
that is overdue (`TimerRunner.run_due`), so a scheduling call that failed (it is only
logged) delays a timer by seconds, never loses it. Firing claims the row first, so a timer
fired both by its job and by the reconcile runs once.
"""

from __future__ import annotations

import asyncio
import contextlib
from datetime import UTC, datetime

import structlog
from apscheduler.jobstores.base import JobLookupError
from apscheduler.schedulers.asyncio import AsyncIOScheduler

from core.clock import SystemClock
from core.model import TimerId
from core.timers import TimerRunner

log = structlog.get_logger(__name__)
RECONCILE_EVERY = 5.0  # seconds between two reconciles
# Timers firing at once. A burst of due escalations queues here rather than for the
# database's connections (PostgreSQL's pool has 10, and 10 more when busy), so inbound
# events, such as an acknowledgement, still find a connection. Eight overlap the round
# trips of a restart's overdue timers (about 15% faster than four, `benchmarks/README.md`).
FIRING_AT_ONCE = 8


def job_id(timer_id: TimerId) -> str:
    return f"timer-{timer_id}"


class ApsTimerScheduler:
    """The `TimerScheduler` of the running bot (see `core.ports`)."""

    def __init__(self, runner: TimerRunner, *, reconcile_every: float = RECONCILE_EVERY) -> None:
        self.runner = runner
        self.clock = runner.core.clock
        self.reconcile_every = reconcile_every
        self.scheduler = AsyncIOScheduler(
            timezone=UTC, job_defaults={"misfire_grace_time": None, "coalesce": True}
        )
        self._slots = asyncio.Semaphore(FIRING_AT_ONCE)
        self._jobs: set[asyncio.Task[object]] = set()  # jobs under way, waiting or firing
        self._busy: set[TimerId] = set()  # their timers: the reconcile leaves them alone
        self._stopping = asyncio.Event()
        self._reconciler: asyncio.Task[None] | None = None

    def schedule(self, timer_id: TimerId, due_at: datetime) -> None:
        if self._stopping.is_set():
            return  # the row is pending: the next start schedules it
        try:
            self._add(timer_id, self._wall_time(due_at))
        except Exception:
            log.exception("scheduler.schedule_failed", timer_id=timer_id)  # the reconcile fires it

    def cancel(self, timer_id: TimerId) -> None:
        if self._stopping.is_set():
            return  # no job fires any more
        try:
            self._remove(timer_id)
        except Exception:  # a job left behind finds its row no longer pending
            log.exception("scheduler.cancel_failed", timer_id=timer_id)

    def _add(self, timer_id: TimerId, run_date: datetime) -> None:
        self.scheduler.add_job(
            self.fire,
            "date",
            run_date=run_date,
            args=[timer_id],
            id=job_id(timer_id),
            replace_existing=True,
        )

    def _remove(self, timer_id: TimerId) -> None:
        with contextlib.suppress(JobLookupError):  # already fired, or never scheduled
            self.scheduler.remove_job(job_id(timer_id))

    def _wall_time(self, due_at: datetime) -> datetime:
        """APScheduler waits on the wall clock. Under a test's fake clock a timer's wall
        time keeps its distance from now, so the fake clock alone decides when it is due."""
        if isinstance(self.clock, SystemClock):
            return due_at
        return datetime.now(UTC) + (due_at - self.clock.now())

    async def fire(self, timer_id: TimerId) -> None:
        """The job: fire one timer, a few at a time."""
        task = asyncio.current_task()
        assert task is not None
        self._jobs.add(task)
        self._busy.add(timer_id)
        try:
            async with self._slots:
                if self._stopping.is_set():
                    return  # the row stays pending: the next start fires it
                await self.runner.fire(timer_id)
        except Exception:  # the row stays pending: the reconcile tries it again
            log.exception("timer.failed", timer_id=timer_id)
        finally:
            self._busy.discard(timer_id)
            self._jobs.discard(task)

    async def reconcile(self) -> int:
        """Fire every pending row that is overdue and not being fired by its job; returns
        how many fired."""
        try:
            return await self.runner.run_due(
                at_once=FIRING_AT_ONCE, stopping=self._stopping.is_set, skip=self._busy.__contains__
            )
        except Exception:  # the database is away, say: the next round tries again
            log.exception("scheduler.reconcile_failed")
            return 0

    async def _reconcile_every(self) -> None:
        while not self._stopping.is_set():
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._stopping.wait(), self.reconcile_every)
            if not self._stopping.is_set():
                await self.reconcile()

    async def start(self) -> int:
        """Fire what fell due while we were down, then a job for every pending row, and the
        reconcile. Returns how many overdue timers fired."""
        fired = await self.runner.run_due(at_once=FIRING_AT_ONCE)
        async with self.runner.core.uow_factory() as uow:
            pending = await uow.timers.pending()
        for timer in pending:
            self.schedule(timer.id, timer.due_at)
        self.scheduler.start()
        self._reconciler = asyncio.create_task(self._reconcile_every(), name="timer-reconcile")
        return fired

    async def shutdown(self, grace: float | None = None) -> None:
        """Stop taking due jobs; the timers already firing finish (jobs waiting for a slot
        return without firing), or after `grace` seconds are cancelled (their transactions
        roll back). What is left pending fires at the next start."""
        self._stopping.set()
        if self.scheduler.running:
            self.scheduler.pause()
        # The reconcile round under way ends after its firings under way.
        under_way = [*self._jobs, *([self._reconciler] if self._reconciler else [])]
        if under_way:
            _, late = await asyncio.wait(under_way, timeout=grace)
            for task in late:
                task.cancel()
            await asyncio.gather(*under_way, return_exceptions=True)
        if self.scheduler.running:
            self.scheduler.shutdown(wait=False)
            await asyncio.sleep(0)  # AsyncIOScheduler shuts down in a loop callback
