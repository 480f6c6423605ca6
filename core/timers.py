"""Firing database timers: claim the row, run its handler, all in one transaction."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Iterator
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

    async def run_due(
        self,
        limit: int = 500,
        *,
        at_once: int = 1,
        stopping: Callable[[], bool] = lambda: False,
        skip: Callable[[TimerId], bool] = lambda _timer_id: False,
    ) -> int:
        """Fire every timer that is due now, oldest first, `at_once` at a time; returns how
        many ran. Once `stopping()` is true no further timer starts; a timer for which
        `skip` is true is left alone (another task is firing it).

        A timer whose handler fails stays pending (its transaction rolled back) and is
        passed over here, so one bad timer cannot stop the others or the start of the bot;
        the next call tries it again.
        """
        fired = 0
        passed: set[TimerId] = set()  # failed or skipped

        async def fire_each(todo: Iterator[TimerId]) -> None:
            nonlocal fired
            for timer_id in todo:  # shared by the workers: each timer is taken once
                if stopping():
                    return
                try:
                    ran = await self.fire(timer_id)
                except Exception:
                    log.exception("timer.failed", timer_id=timer_id)
                    passed.add(timer_id)
                else:
                    fired += ran  # after the await: the workers share the count

        while not stopping():
            asked = limit + len(passed)
            async with self.core.uow_factory() as uow:
                due = await uow.timers.due(self.core.clock.now(), asked)
            passed.update(timer_id for timer_id in due if skip(timer_id))
            todo = [timer_id for timer_id in due if timer_id not in passed]
            if not todo:
                break
            shared = iter(todo)
            await asyncio.gather(*(fire_each(shared) for _ in range(min(at_once, len(todo)))))
            if len(due) < asked:
                break
        return fired


class ManualTimerScheduler:
    """For tests and the demo: remembers what was scheduled; `run_due` fires it."""

    def __init__(self) -> None:
        self.scheduled: dict[TimerId, datetime] = {}

    def schedule(self, timer_id: TimerId, due_at: datetime) -> None:
        self.scheduled[timer_id] = due_at

    def cancel(self, timer_id: TimerId) -> None:
        self.scheduled.pop(timer_id, None)
