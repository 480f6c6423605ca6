"""APScheduler 3.11 as the trigger for database timers.

The `timer` rows are the truth; APScheduler only wakes us at their due time. Its jobs live
in a persistent SQLAlchemy job store with stable ids (`timer-<id>`) and
`misfire_grace_time=None`, so a job that fell due while the process was down still runs.
At start the job store is reconciled with the rows, and everything overdue is fired at once.
"""

from __future__ import annotations

import contextlib
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta

import structlog
from apscheduler.jobstores.base import JobLookupError
from apscheduler.jobstores.sqlalchemy import SQLAlchemyJobStore
from apscheduler.schedulers.asyncio import AsyncIOScheduler

from core.model import Timer, TimerId
from core.timers import TimerRunner

log = structlog.get_logger(__name__)
RETRY_AFTER_ERROR = timedelta(seconds=30)

# The running schedulers by instance name. APScheduler pickles a job as a reference to a
# module-level function plus arguments, so the job names its instance and looks it up here.
_INSTANCES: dict[str, ApsTimerScheduler] = {}


async def fire_timer(instance: str, timer_id: int) -> None:
    scheduler = _INSTANCES.get(instance)
    if scheduler is not None:
        await scheduler.fire(TimerId(timer_id))


def job_id(timer_id: TimerId) -> str:
    return f"timer-{timer_id}"


class ApsTimerScheduler:
    def __init__(self, sync_db_url: str, runner: TimerRunner, instance: str = "main") -> None:
        self.runner = runner
        self.instance = instance
        self.scheduler = AsyncIOScheduler(
            jobstores={
                "default": SQLAlchemyJobStore(url=sync_db_url, tablename="apscheduler_jobs")
            },
            job_defaults={"misfire_grace_time": None, "coalesce": True, "max_instances": 1},
            timezone=UTC,
        )

    def schedule(self, timer_id: TimerId, due_at: datetime) -> None:
        self.scheduler.add_job(
            fire_timer,
            "date",
            run_date=due_at,
            args=[self.instance, int(timer_id)],
            id=job_id(timer_id),
            replace_existing=True,
            misfire_grace_time=None,
        )

    def cancel(self, timer_id: TimerId) -> None:
        with contextlib.suppress(JobLookupError):  # already fired or never scheduled
            self.scheduler.remove_job(job_id(timer_id))

    async def fire(self, timer_id: TimerId) -> None:
        try:
            await self.runner.fire(timer_id)
        except Exception:
            # The row stays pending; try again rather than lose an escalation.
            log.exception("timer.failed", timer_id=timer_id)
            self.schedule(timer_id, datetime.now(UTC) + RETRY_AFTER_ERROR)

    async def start(self, load_pending: Callable[[], Awaitable[list[Timer]]]) -> int:
        """Start, reconcile the job store with the pending rows, fire what is overdue.

        Returns how many overdue timers fired.
        """
        _INSTANCES[self.instance] = self
        self.scheduler.start(paused=True)
        self._reconcile(await load_pending())
        fired = await self.runner.run_due()
        self._reconcile(await load_pending())  # drop jobs of timers that just fired
        self.scheduler.resume()
        return fired

    def _reconcile(self, pending: list[Timer]) -> None:
        wanted = {job_id(t.id): t for t in pending}
        for job in self.scheduler.get_jobs():
            if job.id not in wanted:
                job.remove()
        existing = {job.id for job in self.scheduler.get_jobs()}
        for jid, timer in wanted.items():
            if jid not in existing:
                self.schedule(timer.id, timer.due_at)

    def shutdown(self) -> None:
        if self.scheduler.running:
            self.scheduler.shutdown(wait=False)
        _INSTANCES.pop(self.instance, None)
