"""APScheduler 3.11 as the trigger for database timers.

The `timer` rows are the truth; APScheduler only wakes us at their due time. Its jobs live
in a persistent SQLAlchemy job store with stable ids (`timer-<id>`) and
`misfire_grace_time=None`, so a job that fell due while the process was down still runs.
At start everything overdue is fired straight from the rows, then the job store is
reconciled with the rows that are still pending.

The job store talks to the database synchronously. The scheduler runs in its own thread
(`BackgroundScheduler`) and a job that falls due hands its timer back to the loop. Jobs are
added and removed in the order the loop asked: on PostgreSQL by one worker thread, on SQLite
on the loop itself (see `ApsTimerScheduler.__init__`). On SQLite the job store has a file of
its own (`storage.database.job_store_url`), so it never holds the lock the bot's units of
work need.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import pickle
from collections import deque
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import structlog
from apscheduler.executors.pool import ThreadPoolExecutor
from apscheduler.job import Job
from apscheduler.jobstores.base import ConflictingIdError, JobLookupError
from apscheduler.jobstores.sqlalchemy import SQLAlchemyJobStore
from apscheduler.schedulers.background import BackgroundScheduler
from apscheduler.schedulers.base import STATE_STOPPED
from apscheduler.util import datetime_to_utc_timestamp
from sqlalchemy import bindparam, create_engine, event
from sqlalchemy.exc import IntegrityError

from core.clock import SystemClock
from core.model import Timer, TimerId
from core.timers import TimerRunner
from storage.database import sqlite_pragmas

log = structlog.get_logger(__name__)
RETRY_AFTER_ERROR = timedelta(seconds=30)
# Timers firing at once. A burst of due escalations queues here rather than for the
# database's connections (PostgreSQL's pool has 10), so inbound events, such as an
# acknowledgement, still find a connection; and none waits out the pool's timeout.
FIRING_AT_ONCE = 4

# The running schedulers by instance name. APScheduler pickles a job as a reference to a
# module-level function plus arguments, so the job names its instance and looks it up here.
_INSTANCES: dict[str, ApsTimerScheduler] = {}


def fire_timer(instance: str, timer_id: int) -> None:
    """The job: runs in APScheduler's thread and hands the timer to the event loop."""
    scheduler = _INSTANCES.get(instance)
    if scheduler is not None:
        scheduler.fire_from_thread(TimerId(timer_id))


class _Scheduler(BackgroundScheduler):  # type: ignore[misc]
    """APScheduler's background scheduler, woken only when a new job needs it.

    APScheduler wakes its thread after every added job for a round of job-store queries.
    Escalations are added minutes ahead of the thread's next planned round, so most of
    those rounds find nothing to do; here a job that falls due after the planned round
    does not wake the thread (that round will see the job). The planned time and the job
    store's contents are read and changed under the scheduler's job-store lock.
    """

    def __init__(self, **options: Any) -> None:
        super().__init__(**options)
        self._planned: datetime | None = None  # the thread's next round; None: not planned
        self._adding: datetime | None = None  # run time of the job being added

    def _process_jobs(self) -> float | None:
        # BackgroundScheduler's thread runs one more round after shutdown; a job due then
        # would go to the stopped executor and be lost to the job store. Leave it there:
        # the row is still pending and fires at the next start.
        if self.state == STATE_STOPPED:
            return None
        with self._jobstores_lock:
            wait: float | None = super()._process_jobs()
            self._planned = None if wait is None else datetime.now(UTC) + timedelta(seconds=wait)
        return wait

    def _real_add_job(self, job: Any, jobstore_alias: str, replace_existing: bool) -> None:
        # Called with the job-store lock held (by add_job and at start).
        # A new job has no run time yet; APScheduler takes it from the trigger, as here.
        self._adding = getattr(job, "next_run_time", None) or job.trigger.get_next_fire_time(
            None, datetime.now(UTC)
        )
        try:
            super()._real_add_job(job, jobstore_alias, replace_existing)
        finally:
            self._adding = None

    def wakeup(self) -> None:
        adding, planned = self._adding, self._planned
        if adding is not None and planned is not None and adding >= planned:
            return  # the planned round comes first and will see the new job
        super().wakeup()


class _JobStore(SQLAlchemyJobStore):  # type: ignore[misc]
    """APScheduler's SQLAlchemy job store, adding and removing with statements built once.

    Every escalation adds a job and every answer removes one. The stock store builds its
    INSERT and DELETE anew each time, which costs more than running them (on SQLite on the
    event loop itself; on PostgreSQL in a worker thread that competes with it).
    """

    def __init__(self, **options: Any) -> None:
        super().__init__(**options)
        self._insert = self.jobs_t.insert()
        self._delete = self.jobs_t.delete().where(self.jobs_t.c.id == bindparam("job_id"))

    def add_job(self, job: Job) -> None:
        row = {
            "id": job.id,
            "next_run_time": datetime_to_utc_timestamp(job.next_run_time),
            "job_state": pickle.dumps(job.__getstate__(), self.pickle_protocol),
        }
        with self.engine.begin() as connection:
            try:
                connection.execute(self._insert, row)
            except IntegrityError:
                raise ConflictingIdError(job.id) from None

    def remove_job(self, job_id: str) -> None:
        with self.engine.begin() as connection:
            if connection.execute(self._delete, {"job_id": job_id}).rowcount == 0:
                raise JobLookupError(job_id)


def job_id(timer_id: TimerId) -> str:
    return f"timer-{timer_id}"


class ApsTimerScheduler:
    def __init__(
        self,
        sync_db_url: str,
        runner: TimerRunner,
        instance: str = "main",
        *,
        after: Callable[[], Awaitable[None]] | None = None,
    ) -> None:
        """`after` is awaited before job-store writes on the loop (the deliverer's
        `after_pages`: the page of an escalation goes out before its job is written)."""
        self.runner = runner
        self.clock = runner.core.clock
        self.instance = instance
        engine = create_engine(sync_db_url)
        if engine.dialect.name == "sqlite":  # its own file: WAL, no fsync per job
            event.listen(engine, "connect", sqlite_pragmas)
        self.scheduler = _Scheduler(
            jobstores={"default": _JobStore(engine=engine, tablename="apscheduler_jobs")},
            # A job only hands its timer to the loop: one thread is plenty.
            executors={"default": ThreadPoolExecutor(max_workers=1)},
            job_defaults={"misfire_grace_time": None, "coalesce": True, "max_instances": 1},
            timezone=UTC,
        )
        # Adds and removes, in the order the loop asked for them. On SQLite they run on the
        # loop: a job store write on the local file costs less than handing it to a thread,
        # whose competition for the interpreter lock slowed every event by a fifth
        # (benchmarks/inbound_throughput.py). On PostgreSQL each is a network round trip,
        # so they run off the loop, in one worker thread.
        self._inline = engine.dialect.name == "sqlite"
        self._after = after
        self._queued: deque[tuple[Callable[..., None], tuple[Any, ...]]] = deque()
        self._writing: asyncio.Task[None] | None = None
        self._io = concurrent.futures.ThreadPoolExecutor(1, thread_name_prefix="scm-jobstore")
        self._loop: asyncio.AbstractEventLoop | None = None
        self._firing: set[asyncio.Task[None]] = set()
        self._firing_slots = asyncio.Semaphore(FIRING_AT_ONCE)
        self._closing = False

    def schedule(self, timer_id: TimerId, due_at: datetime) -> None:
        self._submit(self._add_job, timer_id, self._wall_time(due_at))

    def cancel(self, timer_id: TimerId) -> None:
        self._submit(self._remove_job, timer_id)

    def _wall_time(self, due_at: datetime) -> datetime:
        """APScheduler waits on the wall clock. Under a test's fake clock a timer's wall
        time keeps its distance from now, so the fake clock alone decides when it is due."""
        if isinstance(self.clock, SystemClock):
            return due_at
        return datetime.now(UTC) + (due_at - self.clock.now())

    async def settled(self) -> None:
        """Wait until every add and remove asked for so far reached the job store."""
        while self._writing is not None and not self._writing.done():
            await asyncio.shield(self._writing)  # the inline ones asked for so far
        await asyncio.get_running_loop().run_in_executor(self._io, lambda: None)

    def _submit(self, fn: Callable[..., None], *args: Any) -> None:
        if self._closing:
            return  # the rows are the truth: the next start schedules what is pending
        if self._inline:
            # Soon, not now: the messages of the same commit (a page) go out first.
            self._queued.append((fn, args))
            if self._writing is None or self._writing.done():
                self._writing = asyncio.get_running_loop().create_task(self._write_inline())
            return
        self._io.submit(fn, *args).add_done_callback(_log_failure)

    async def _write_inline(self) -> None:
        """The queued adds and removes, in order, on the loop, once pages are out."""
        if self._after is not None:
            await self._after()
        else:
            await asyncio.sleep(0)
        while self._queued:
            fn, args = self._queued.popleft()
            if self._closing:
                continue  # shutting down: the rows are the truth, the next start has them
            try:
                fn(*args)
            except Exception as error:  # the row is still the truth, as in _log_failure
                _log_error(error)

    def _add_job(self, timer_id: TimerId, due_at: datetime) -> None:
        self.scheduler.add_job(
            fire_timer,
            "date",
            run_date=due_at,
            args=[self.instance, int(timer_id)],
            id=job_id(timer_id),
            replace_existing=True,
            misfire_grace_time=None,
        )

    def _remove_job(self, timer_id: TimerId) -> None:
        with contextlib.suppress(JobLookupError):  # already fired or never scheduled
            self.scheduler.remove_job(job_id(timer_id))

    def fire_from_thread(self, timer_id: TimerId) -> None:
        loop = self._loop
        if self._closing or loop is None or loop.is_closed():
            return  # shutting down: the row stays pending and fires at the next start
        loop.call_soon_threadsafe(self._start_firing, timer_id)

    def _start_firing(self, timer_id: TimerId) -> None:
        if self._closing:  # handed over just before shutdown began: the next start fires it
            return
        task = asyncio.get_running_loop().create_task(self.fire(timer_id))
        self._firing.add(task)
        task.add_done_callback(self._firing.discard)

    async def fire(self, timer_id: TimerId) -> None:
        try:
            async with self._firing_slots:
                if self._closing:  # queued when shutdown began: the next start fires it
                    return
                await self.runner.fire(timer_id)
        except Exception:
            # The row stays pending; try again rather than lose an escalation.
            log.exception("timer.failed", timer_id=timer_id)
            if not self._closing:
                self.schedule(timer_id, self.clock.now() + RETRY_AFTER_ERROR)

    async def start(self, load_pending: Callable[[], Awaitable[list[Timer]]]) -> int:
        """Fire what fell due while we were down, then start the scheduler with a job for
        every pending row (and none for anything else). Returns how many overdue fired."""
        self._loop = asyncio.get_running_loop()
        _INSTANCES[self.instance] = self
        fired = await self.runner.run_due()
        pending = await load_pending()
        await self._loop.run_in_executor(self._io, self._start_reconciled, pending)
        return fired

    def _start_reconciled(self, pending: list[Timer]) -> None:
        self.scheduler.start(paused=True)
        wanted = {job_id(t.id): t for t in pending}
        store = self.scheduler._lookup_jobstore("default")
        existing = set()
        for job in store.get_all_jobs():
            if job.id in wanted:
                existing.add(job.id)
            else:
                store.remove_job(job.id)
        for jid, timer in wanted.items():
            if jid not in existing:
                self._add_job(timer.id, self._wall_time(timer.due_at))
        self.scheduler.resume()

    async def shutdown_async(self) -> None:
        """Stop taking due jobs, let the timers already firing finish, then stop."""
        self._closing = True
        if self._writing is not None:  # drops what it has left: the rows are the truth
            await asyncio.gather(self._writing, return_exceptions=True)
        loop = asyncio.get_running_loop()
        await loop.run_in_executor(None, self._pause)
        await asyncio.gather(*self._firing, return_exceptions=True)
        await loop.run_in_executor(None, self.shutdown)

    def _pause(self) -> None:
        if self.scheduler.running:
            self.scheduler.pause()
            # Wait out a round of job processing that is under way: APScheduler marks itself
            # stopped before it takes this lock, and a round that then removes a fired job
            # looks for it among the not-yet-started jobs and fails.
            with self.scheduler._jobstores_lock:
                pass

    def shutdown(self) -> None:
        self._closing = True
        self._io.shutdown(wait=True)
        self._pause()
        if self.scheduler.running:
            self.scheduler.shutdown(wait=False)
        # Its thread may have taken a connection while the store was being shut down.
        self.scheduler._lookup_jobstore("default").engine.dispose()
        _INSTANCES.pop(self.instance, None)
        self._loop = None


def _log_failure(future: concurrent.futures.Future[None]) -> None:
    error = future.exception()
    if error is not None:
        _log_error(error)


def _log_error(error: BaseException) -> None:
    # The row is still the truth: the next start schedules it again.
    log.error("scheduler.job_store_failed", error=f"{type(error).__name__}: {error}")
