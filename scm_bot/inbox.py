"""The durable inbox: an inbound event is stored before the platform hears it arrived.

The Telegram poller confirms an update (the next getUpdates offset) only after its event
is in the `inbox` table; the webhook and Slack answer only then. Handling runs one event
after another in the order they came: events just stored are handed over as they are, and
the table is read at the start, after a failure and at least every second. The router's
own transaction marks the event id seen (`inbound_event`), so an event handled just before
a crash is not handled twice when the table is read again. An event whose handling fails
is tried again: after a storage failure until it succeeds (the person is told at once that
it is delayed), after any other failure a few times, and then refused with an answer to
the person.
"""

from __future__ import annotations

import asyncio
from datetime import datetime, timedelta
from typing import Any, Protocol

import structlog

from core.clock import Clock
from core.errors import StorageError
from core.events import InboundEvent
from core.i18n import t
from core.log_context import log_context
from core.messages import Message
from core.model import Language, Origin
from core.ports import AnswerContext, Answerer, InboxItem
from scm_bot.loops import run_woken
from scm_bot.metrics import Metrics
from storage.uow import SqlUnitOfWorkFactory

log = structlog.get_logger(__name__)
BATCH = 200
TICK = 1.0  # seconds between two looks at the table when nothing wakes the loop
MAX_BACKOFF = timedelta(seconds=30)
ATTEMPTS = 3  # tries of an event whose handling fails other than by storage
# The table is read at least this often anyway: an event stored whose hand-over was lost
# (its commit's aftermath failed; a webhook resent it after a failed answer) waits no longer.
READ_EVERY = timedelta(seconds=TICK)
REMEMBERED = 10_000  # ids of handled events kept, against handling one twice


class Handles(Protocol):
    async def handle(self, event: InboundEvent) -> list[Message]: ...


def storage_trouble() -> Message:
    return Message(t(Language.NL, "inbox.delayed"))


def backoff(attempts: int) -> timedelta:
    return min(timedelta(seconds=2 ** min(attempts - 1, 5)), MAX_BACKOFF)


class Inbox:
    def __init__(
        self,
        uows: SqlUnitOfWorkFactory,
        router: Handles,
        clock: Clock,
        metrics: Metrics | None = None,
    ) -> None:
        self.uows = uows
        self.router = router
        self.clock = clock
        self.metrics = metrics or Metrics()
        self._answerers: dict[Origin, Answerer] = {}
        self._wake = asyncio.Event()
        self._lock = asyncio.Lock()
        # Failed tries per event (kept here: the database may be what fails).
        self._failures: dict[int, tuple[int, Any]] = {}
        self._answering: set[asyncio.Task[None]] = set()
        self._fresh: list[InboxItem] = []  # stored just now, not read from the table
        self._read_at: datetime | None = None  # the table's last reading
        # Events handled lately: one stored and also read from the table is handled once.
        self._handled: dict[int, None] = {}
        self._handling = True  # a standby only stores (`stop_handling`)

    def answer_with(self, origin: Origin, answerer: Answerer) -> None:
        self._answerers[origin] = answerer

    async def accept(self, entries: list[tuple[InboundEvent, AnswerContext]]) -> None:
        """Store events (a redelivered one is stored once); raises StorageError, and then
        the platform must not be told they arrived."""
        if entries:
            async with self.uows() as uow:
                stored = await uow.inbox.add(entries, self.clock.now())
                await uow.commit()
            if self._handling:
                self._fresh += stored
                self._wake.set()

    async def tell_delayed(self, event: InboundEvent, context: AnswerContext) -> None:
        """Tell the sender that their event could not be stored or handled yet."""
        await self.tell(event, context, storage_trouble())

    async def tell(self, event: InboundEvent, context: AnswerContext, message: Message) -> None:
        answerer = self._answerers.get(event.sender.origin)
        if answerer is not None:
            try:
                await answerer.tell(event, context, message)
            except Exception:
                log.exception("inbox.tell_failed", event_id=event.sender.event_id)

    async def run(self) -> None:
        """Handle stored events whenever some arrive, and every second for retries."""
        self._handling = True
        await run_woken(self._wake, TICK, self.drain, "inbox")

    def stop_handling(self) -> None:
        """Only store from now on (this process no longer leads, and its `run` was
        stopped): the leader handles what is stored. A later `run` reads the table first."""
        self._handling = False
        self._fresh, self._read_at, self._failures = [], None, {}

    async def drain(self) -> int:
        """Handle every stored event whose turn it is; returns how many were finished."""
        async with self._lock:
            finished = 0
            while True:
                now = self.clock.now()
                fresh = self._read_at is not None and now - self._read_at < READ_EVERY
                if fresh and not self._failures:
                    items, self._fresh = self._fresh, []
                else:  # the table: what a restart left, or retries that fell due
                    try:
                        async with self.uows() as uow:
                            items = await uow.inbox.pending(now, BATCH + len(self._failures))
                    except StorageError as error:
                        log.error("inbox.storage_failed", error=str(error))
                        return finished
                    self._read_at = now
                    self._fresh = []  # in the table too
                due = [
                    i
                    for i in items
                    if self._failures.get(i.id, (0, now))[1] <= now and i.id not in self._handled
                ]
                if not due:
                    return finished
                refused: list[int] = []
                for item in due[:BATCH]:
                    sender = item.event.sender
                    with log_context(origin=sender.origin.value, event_id=sender.event_id):
                        outcome = await self._handle(item)
                    if outcome == "refused":
                        refused.append(item.id)
                    if outcome is not None:
                        finished += 1
                        self._remember(item)
                if refused:  # a handled event was marked done by its own transaction
                    try:
                        async with self.uows() as uow:
                            await uow.inbox.finish(refused, "refused", self.clock.now())
                            await uow.commit()
                    except StorageError as error:
                        log.error("inbox.finish_failed", error=str(error))
                        return finished
                if len(due) <= BATCH and not self._fresh:  # everything whose turn it was
                    return finished

    def _remember(self, item: InboxItem) -> None:
        """A handled event: not handled again, and its wait counted (the inbox lag)."""
        if item.received_at is not None:
            lag = self.clock.now() - item.received_at
            self.metrics.inbox_lag.observe(lag.total_seconds())
        self._handled[item.id] = None
        if len(self._handled) > REMEMBERED:
            del self._handled[next(iter(self._handled))]

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
        """Wait until every answer under way went out (tests, shutdown). Finished tasks are
        dropped here too, not only by their done callback: waiting on them again would
        return at once and loop for ever (seen once on Python 3.13)."""
        while True:
            self._answering.difference_update([t for t in self._answering if t.done()])
            if not self._answering:
                return
            await asyncio.gather(*list(self._answering), return_exceptions=True)
