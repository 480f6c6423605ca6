"""Keeping a platform's limits while delivering (`scm_bot.delivery`): a chat waits for its
own turn, then for an overall sending slot; pages get the slots first, and while a page's
request is on its way no other message on that platform is prepared."""

from __future__ import annotations

import asyncio
import heapq
import itertools
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager

from core.ports import DeliveryLimits


class Pacer:
    """Keeps a platform's limits: a chat waits for its own turn, then for an overall slot.

    Overall slots go to urgent sends (pages) first, then in the order asked. A chat that
    is paced or paused (a 429) never holds up the others: it waits for its own turn before
    it queues for a slot. Each chat has one worker, so its own turn needs no queue.
    """

    def __init__(
        self,
        limits: DeliveryLimits,
        now: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    ) -> None:
        self.limits = limits
        self.now = now
        self.sleep = sleep
        self._next_slot = 0.0
        self._next_chat: dict[int, float] = {}
        self._queue: list[tuple[int, int, asyncio.Future[None]]] = []
        self._order = itertools.count()
        self._granting: asyncio.Task[None] | None = None
        self._pages_out = 0  # pages whose request is on its way
        self._no_pages = asyncio.Event()
        self._no_pages.set()

    def paused_for(self, chat: int) -> float:
        return max(0.0, self._next_chat.get(chat, 0.0) - self.now())

    def pause(self, chat: int, seconds: float) -> None:
        self._next_chat[chat] = max(self._next_chat.get(chat, 0.0), self.now() + seconds)

    def answered(self, chat: int, *, group: bool = False) -> None:
        """A request to `chat` was answered: its next turn is a whole interval from now.
        Counting from the slot alone is not enough: a request can take longer on its way
        (the ledger's commit before it, the network) than the next one, and the two then
        reach the platform closer together than its per-chat limit allows."""
        later = self.now() + self._interval(group)
        self._next_chat[chat] = max(self._next_chat.get(chat, 0.0), later)

    def _interval(self, group: bool) -> float:
        interval = self.limits.per_chat_interval
        if group and self.limits.per_group_interval is not None:
            interval = max(interval, self.limits.per_group_interval)
        return interval

    async def turn(self, chat: int) -> None:
        """Until the chat's own turn: its interval after its last request, or a pause."""
        while (own := self.paused_for(chat)) > 0:  # a 429 may extend it meanwhile
            await self.sleep(own)

    async def wait(self, chat: int, *, group: bool = False, urgent: bool = False) -> None:
        if not urgent:  # a page on its way goes out before anything else is prepared
            await self._no_pages.wait()
        await self.turn(chat)
        interval = self._interval(group)
        self._next_chat[chat] = self.now() + interval  # the chat's next turn, at the latest
        if urgent and not self._queue and self._next_slot <= self.now():
            self._take_slot()  # a page, a free slot, nobody waiting: it goes at once
            return
        slot: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        heapq.heappush(self._queue, (0 if urgent else 1, next(self._order), slot))
        if self._granting is None or self._granting.done():
            self._granting = asyncio.create_task(self._grant())
        await slot
        self._next_chat[chat] = max(self._next_chat[chat], self.now() + interval)

    async def _grant(self) -> None:
        while self._queue:
            wait = self._next_slot - self.now()
            if wait > 0:
                await self.sleep(wait)
            _, _, slot = heapq.heappop(self._queue)
            if slot.done():  # its sender was cancelled
                continue
            slot.set_result(None)
            self._take_slot()

    @asynccontextmanager
    async def page(self) -> AsyncIterator[None]:
        """A page's request is on its way: other messages wait until it is answered."""
        self._pages_out += 1
        self._no_pages.clear()
        try:
            yield
        finally:
            self._pages_out -= 1
            if not self._pages_out:
                self._no_pages.set()

    def _take_slot(self) -> None:
        # Slots keep their grid: a grant that came late (the loop was busy) does not push
        # every later slot back, or a long fan-out falls behind the rate; after an idle
        # spell the grid starts afresh.
        interval = 1.0 / self.limits.per_second
        self._next_slot = max(self._next_slot + interval, self.now())

    async def close(self) -> None:
        if self._granting is not None:
            self._granting.cancel()
            await asyncio.gather(self._granting, return_exceptions=True)
