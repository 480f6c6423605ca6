"""Firing database timers: claim the row, run its handler, all in one transaction."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Iterator
from datetime import datetime

import structlog

from core.log_context import log_context
from core.model import Origin, Timer, TimerId
from core.tx import Core, Tx

TimerHandler = Callable[[Tx, Timer], Awaitable[None]]
TOGETHER = 25  # overdue timers fired in one transaction by `run_due`
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
        with log_context(timer_id=timer_id):
            async with self.core.transaction(Origin.SYSTEM) as tx:
                timer = await tx.uow.timers.claim(timer_id, tx.now)
                if timer is None:
                    return False
                await self._run(tx, timer)
        return True

    async def fire_together(self, timer_ids: list[TimerId]) -> int | None:
        """Run several timers in one transaction (those still pending and due); returns how
        many ran, or None when one of them failed: then none of them ran."""
        try:
            with log_context():
                async with self.core.transaction(Origin.SYSTEM) as tx:
                    timers = await tx.uow.timers.claim_many(timer_ids, tx.now)
                    for timer in timers:
                        await self._run(tx, timer)
        except Exception:
            log.warning("timer.batch_failed", timers=len(timer_ids), exc_info=True)
            return None
        return len(timers)

    async def _run(self, tx: Tx, timer: Timer) -> None:
        handler = self.handlers.get(timer.kind)
        if handler is None:
            log.error("timer.unknown_kind", timer_id=timer.id, kind=timer.kind)
            await tx.audit("system", "timer.unknown_kind", str(timer.id), "skipped")
            return
        await handler(tx, timer)

    async def run_due(
        self,
        limit: int = 500,
        *,
        at_once: int = 1,
        stopping: Callable[[], bool] = lambda: False,
        skip: Callable[[TimerId], bool] = lambda _timer_id: False,
    ) -> int:
        """Fire every timer that is due now, oldest first, `at_once` batches at a time;
        returns how many ran. Once `stopping()` is true no further timer starts; a timer for
        which `skip` is true is left alone (another task is firing it).

        Timers go in batches of `TOGETHER`, one transaction each (after a restart thousands
        may be overdue: one commit per timer would keep the escalations waiting). A batch
        in which one timer fails is rolled back and its timers run one by one, each in its
        own transaction: a timer whose handler fails stays pending and is passed over here,
        so one bad timer cannot stop the others or the start of the bot; the next call
        tries it again.
        """
        fired = 0
        passed: set[TimerId] = set()  # failed or skipped

        async def fire_each(batches: Iterator[list[TimerId]]) -> None:
            nonlocal fired
            for batch in batches:  # shared by the workers: each batch is taken once
                if stopping():
                    return
                ran = await self.fire_together(batch) if len(batch) > 1 else None
                if ran is not None:
                    fired += ran  # after the await: the workers share the count
                    continue
                for timer_id in batch:
                    if stopping():
                        return
                    try:
                        fired += await self.fire(timer_id)
                    except Exception:
                        log.exception("timer.failed", timer_id=timer_id)
                        passed.add(timer_id)

        while not stopping():
            asked = limit + len(passed)
            async with self.core.uow_factory() as uow:
                due = await uow.timers.due(self.core.clock.now(), asked)
            passed.update(timer_id for timer_id in due if skip(timer_id))
            todo = [timer_id for timer_id in due if timer_id not in passed]
            if not todo:
                break
            batches = [todo[i : i + TOGETHER] for i in range(0, len(todo), TOGETHER)]
            shared = iter(batches)
            await asyncio.gather(*(fire_each(shared) for _ in range(min(at_once, len(batches)))))
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
