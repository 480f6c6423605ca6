"""Firing database timers: claim the row, run its handler, all in one transaction."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import datetime

import structlog

from core.model import Origin, Timer, TimerId
from core.tx import Core, Tx

TimerHandler = Callable[[Tx, Timer], Awaitable[None]]
log = structlog.get_logger(__name__)


class TimerRunner:
    def __init__(self, core: Core, handlers: dict[str, TimerHandler]) -> None:
        self.core = core
        self.handlers = handlers

    async def fire(self, timer_id: TimerId) -> bool:
        """Run one timer if it is still pending and due; False if there was nothing to do.

        The conditional claim makes firing idempotent: a timer triggered twice (by the
        scheduler and by the restart sweep) runs once.
        """
        async with self.core.transaction(Origin.SYSTEM) as tx:
            timer = await tx.uow.timers.claim(timer_id, tx.now)
            if timer is None:
                return False
            handler = self.handlers.get(timer.kind)
            if handler is None:
                log.error("timer.unknown_kind", timer_id=timer_id, kind=timer.kind)
                await tx.audit("system", "timer.unknown_kind", str(timer_id), "skipped")
                return True
            await handler(tx, timer)
        return True

    async def run_due(self, limit: int = 500) -> int:
        """Fire every timer that is due now, oldest first; returns how many ran.

        A timer whose handler fails stays pending (its transaction rolled back) and is
        passed over here, so one bad timer cannot stop the others or the start of the bot;
        the scheduler tries it again.
        """
        fired = 0
        failed: set[TimerId] = set()
        while True:
            async with self.core.uow_factory() as uow:
                due = await uow.timers.due(self.core.clock.now(), limit + len(failed))
            todo = [timer_id for timer_id in due if timer_id not in failed]
            if not todo:
                return fired
            for timer_id in todo:
                try:
                    fired += await self.fire(timer_id)
                except Exception:
                    log.exception("timer.failed", timer_id=timer_id)
                    failed.add(timer_id)
            if len(due) < limit + len(failed):
                return fired


class ManualTimerScheduler:
    """For tests and the demo: remembers what was scheduled; `run_due` fires it."""

    def __init__(self) -> None:
        self.scheduled: dict[TimerId, datetime] = {}

    def schedule(self, timer_id: TimerId, due_at: datetime) -> None:
        self.scheduled[timer_id] = due_at

    def cancel(self, timer_id: TimerId) -> None:
        self.scheduled.pop(timer_id, None)
