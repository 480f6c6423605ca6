"""The durable inbox: an inbound event is stored before the platform hears it arrived.

The Telegram poller confirms an update (the next getUpdates offset) only after its event
is in the `inbox` table; the webhook and Slack answer only then. Handling runs from the
table, one event after another in the order they came: the router's own transaction marks
the event id seen (`inbound_event`), so an event handled just before a crash is not handled
twice when the table is read again. An event whose handling fails is tried again: after a
storage failure until it succeeds (the person is told at once that it is delayed), after
any other failure a few times, and then refused with an answer to the person.
"""

from __future__ import annotations

import asyncio
from datetime import timedelta
from typing import Any, Protocol

import structlog

from core.clock import Clock
from core.errors import StorageError
from core.events import InboundEvent
from core.i18n import t
from core.messages import Message
from core.model import Language, Origin
from core.ports import Answerer, InboxItem
from scm_bot.loops import run_woken
from storage.uow import SqlUnitOfWorkFactory

log = structlog.get_logger(__name__)
BATCH = 200
TICK = 1.0  # seconds between two looks at the table when nothing wakes the loop
MAX_BACKOFF = timedelta(seconds=30)
ATTEMPTS = 3  # tries of an event whose handling fails other than by storage


class Handles(Protocol):
    async def handle(self, event: InboundEvent) -> list[Message]: ...


def storage_trouble() -> Message:
    return Message(t(Language.NL, "inbox.delayed"))


def backoff(attempts: int) -> timedelta:
    return min(timedelta(seconds=2 ** min(attempts - 1, 5)), MAX_BACKOFF)


class Inbox:
    def __init__(self, uows: SqlUnitOfWorkFactory, router: Handles, clock: Clock) -> None:
        self.uows = uows
        self.router = router
        self.clock = clock
        self._answerers: dict[Origin, Answerer] = {}
        self._wake = asyncio.Event()
        self._lock = asyncio.Lock()
        # Failed tries per event (kept here: the database may be what fails).
        self._failures: dict[int, tuple[int, Any]] = {}
        self._answering: set[asyncio.Task[None]] = set()

    def answer_with(self, origin: Origin, answerer: Answerer) -> None:
        self._answerers[origin] = answerer

    async def accept(self, entries: list[tuple[InboundEvent, dict[str, Any]]]) -> None:
        """Store events (a redelivered one is stored once); raises StorageError, and then
        the platform must not be told they arrived."""
        if entries:
            async with self.uows() as uow:
                await uow.inbox.add(entries, self.clock.now())
                await uow.commit()
            self._wake.set()

    async def tell_delayed(self, event: InboundEvent, context: dict[str, Any]) -> None:
        """Tell the sender that their event could not be stored or handled yet."""
        await self.tell(event, context, storage_trouble())

    async def tell(self, event: InboundEvent, context: dict[str, Any], message: Message) -> None:
        answerer = self._answerers.get(event.sender.origin)
        if answerer is not None:
            try:
                await answerer.tell(event, context, message)
            except Exception:
                log.exception("inbox.tell_failed", event_id=event.sender.event_id)

    async def run(self) -> None:
        """Handle stored events whenever some arrive, and every second for retries."""
        await run_woken(self._wake, TICK, self.drain, "inbox")

    async def drain(self) -> int:
        """Handle every stored event whose turn it is; returns how many were finished."""
        async with self._lock:
            finished = 0
            while True:
                now = self.clock.now()
                try:
                    async with self.uows() as uow:
                        items = await uow.inbox.pending(now, BATCH + len(self._failures))
                except StorageError as error:
                    log.error("inbox.storage_failed", error=str(error))
                    return finished
                due = [i for i in items if self._failures.get(i.id, (0, now))[1] <= now]
                if not due:
                    return finished
                refused: list[int] = []
                for item in due[:BATCH]:
                    outcome = await self._handle(item)
                    if outcome == "refused":
                        refused.append(item.id)
                    if outcome is not None:
                        finished += 1
                if refused:  # a handled event was marked done by its own transaction
                    try:
                        async with self.uows() as uow:
                            await uow.inbox.finish(refused, "refused", self.clock.now())
                            await uow.commit()
                    except StorageError as error:
                        log.error("inbox.finish_failed", error=str(error))
                        return finished
                if len(due) <= BATCH:  # everything whose turn it was is handled
                    return finished

    async def _handle(self, item: InboxItem) -> str | None:
        """Handle one event: "done", "refused", or None to try again later."""
        event = item.event
        try:
            replies = await self.router.handle(event)
        except StorageError as error:
            tries = self._failed(item)
            log.error(
                "inbox.storage_failed",
                event_id=event.sender.event_id,
                tries=tries,
                error=str(error),
            )
            if tries == 1:  # told once: it is delayed, not lost
                await self.tell_delayed(event, item.context)
            return None
        except Exception:
            tries = self._failed(item)
            log.exception("inbox.handling_failed", event_id=event.sender.event_id, tries=tries)
            if tries < ATTEMPTS:
                return None
            self._failures.pop(item.id, None)
            await self.tell(event, item.context, Message(t(Language.NL, "inbox.refused")))
            return "refused"
        self._failures.pop(item.id, None)
        answerer = self._answerers.get(event.sender.origin)
        if answerer is not None:
            task = asyncio.create_task(self._answer(answerer, item, replies))
            self._answering.add(task)
            task.add_done_callback(self._answering.discard)
        return "done"

    def _failed(self, item: InboxItem) -> int:
        tries = self._failures.get(item.id, (0, None))[0] + 1
        self._failures[item.id] = (tries, self.clock.now() + backoff(tries))
        return tries

    @staticmethod
    async def _answer(answerer: Answerer, item: InboxItem, replies: list[Message]) -> None:
        try:
            await answerer.answer(item, replies)
        except Exception:
            log.exception("inbox.answer_failed", event_id=item.event.sender.event_id)

    async def answered(self) -> None:
        """Wait until every answer under way went out (tests, shutdown)."""
        while self._answering:
            await asyncio.gather(*self._answering, return_exceptions=True)
