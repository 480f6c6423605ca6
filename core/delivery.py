"""Delivering the outbox after commit: paced, retried, and idempotent per transport.

Every outbox row is delivered to each transport that reaches the person. What each transport
did is recorded per (message, transport), with the row's new state, right after the sends, so
a retry after an error only repeats what did not go out: a page is never sent twice. The
outcomes of rows that finish at the same moment share one unit of work (`_commit`). A worker
sends its person's next row while the last outcome commits, except an edit, which waits for
the commits before it (it looks up the messages it edits); a worker ends only once all its
outcomes are committed.

Each person has a worker: their messages go out in order (later ones wait while an earlier
one waits for a retry), different people are served concurrently, and the workers of people
with a page start first; other messages wait while a page is being sent (`after_pages`),
and so may other work that can wait (answering the button that raised the page, writing
its escalation to the job store). A commit hands its rows to the workers at
once (`offer`); the delivery loop's `dispatch` reads the table for everything else (retries
that fell due, rows from before a restart or from another process). Each transport's limits
are kept per chat and overall; a rate limit (429) pauses only that chat.
"""

from __future__ import annotations

import asyncio
import time
from collections import deque
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import timedelta

import structlog

from core.errors import PermanentDeliveryError, RateLimited, TransientDeliveryError
from core.model import Directory, OutboxId, Person, PersonId
from core.ports import DeliveryLimits, DeliveryRecord, OutboxItem, Transport
from core.tx import Core

log = structlog.get_logger(__name__)
MAX_BACKOFF = timedelta(minutes=2)
MIN_RETRY = timedelta(milliseconds=500)
BATCH = 500
CONCURRENCY = 64
PAGES_FIRST_AT_MOST = 0.5  # seconds other work waits for pages being sent

# Called when a transport refused a person for good (they blocked the bot), or no transport
# reaches them at all (transport ""); `reached` tells whether another transport delivered
# the item. Unless it did, the paging moves on instead of waiting out the timeout.
UnreachableHandler = Callable[[OutboxItem, Person, str, bool], Awaitable[None]]


def is_page(item: OutboxItem) -> bool:
    return item.kind == "send" and (item.topic or "").startswith("page:")


def _log_crash(worker: asyncio.Task[int]) -> None:
    if not worker.cancelled() and worker.exception() is not None:
        log.error("delivery.worker_failed", error=repr(worker.exception()))


def _retrieved(future: asyncio.Future[None]) -> None:
    """Nobody waits for this commit any more; a failure is logged where it happened."""
    if not future.cancelled():
        future.exception()


class Pacer:
    """Spaces sends per chat and overall, on a monotonic clock.

    A send first waits for its own chat's turn, and only then takes the next overall slot:
    a chat that is paced or paused (a 429) never holds up the others. Each chat's messages
    go out one at a time (one worker per person), so its own turn needs no reservation.
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
        self._next_global = 0.0
        self._next_chat: dict[int, float] = {}

    def paused_for(self, chat: int) -> float:
        return max(0.0, self._next_chat.get(chat, 0.0) - self.now())

    def pause(self, chat: int, seconds: float) -> None:
        self._next_chat[chat] = max(self._next_chat.get(chat, 0.0), self.now() + seconds)

    async def wait(self, chat: int, *, group: bool = False) -> None:
        while (own := self.paused_for(chat)) > 0:  # a 429 may extend it meanwhile
            await self.sleep(own)
        now = self.now()
        slot = max(now, self._next_global)  # reserved before sleeping: never shared
        self._next_global = slot + 1.0 / self.limits.per_second
        interval = self.limits.per_chat_interval
        if group and self.limits.per_group_interval is not None:
            interval = max(interval, self.limits.per_group_interval)
        self._next_chat[chat] = slot + interval
        if slot > now:
            await self.sleep(slot - now)


@dataclass(frozen=True, slots=True)
class _Outcome:
    """What became of one row: the transports' records, and a retry or the end."""

    item: OutboxItem
    records: list[DeliveryRecord]
    retry_at: timedelta | None  # None: finished
    error: str
    delivered: bool  # some transport holds it


class Deliverer:
    def __init__(
        self,
        core: Core,
        transports: list[Transport],
        on_unreachable: UnreachableHandler | None = None,
        *,
        monotonic: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    ) -> None:
        self.core = core
        self.transports = transports
        self.on_unreachable = on_unreachable
        self._monotonic = monotonic  # pacing time, injectable so tests need not wait
        self._sleep = sleep
        self._wake = asyncio.Event()
        self._lock = asyncio.Lock()
        self._pacers: dict[str, Pacer] = {}
        self._woken = 0  # commits that queued messages, so far
        self._dispatched = -1  # the value of _woken when the last dispatch began
        # For `offer`: rows waiting for a retry (read at the first dispatch, then kept up to
        # date here), and the people who may have rows in the table that are not under way.
        self._primed = False
        self._closed = False
        self._waiting: dict[OutboxId, PersonId] = {}
        self._behind: set[PersonId] = set()
        self._inflight: set[OutboxId] = set()  # handed to a worker, not finished yet
        self._settling: set[OutboxId] = set()  # left a worker since the last dispatch began
        self._queues: dict[PersonId, deque[tuple[OutboxItem, Person | None]]] = {}
        self._workers: dict[PersonId, asyncio.Task[int]] = {}
        self._gate = asyncio.Semaphore(CONCURRENCY)  # sends under way at once
        self._paging = 0  # pages being sent right now (`_page_out`)
        self._pages_out = asyncio.Event()
        self._pages_out.set()
        # Outcomes waiting to be committed, and the task that commits them (`_commit`).
        self._ledger: list[tuple[_Outcome, asyncio.Future[None]]] = []
        self._writer: asyncio.Task[None] | None = None

    def wake(self) -> None:
        """Called after a commit that queued messages."""
        self._woken += 1
        self._wake.set()

    def _pacer(self, transport: Transport) -> Pacer | None:
        limits = getattr(transport, "limits", None)
        if limits is None:
            return None
        pacer = self._pacers.get(transport.name)
        if pacer is None:
            pacer = self._pacers[transport.name] = Pacer(limits, self._monotonic, self._sleep)
        return pacer

    async def deliver_pending(self) -> int:
        """Deliver everything due now and wait until it is done; returns how many outbox
        rows were finished. (The delivery loop only dispatches and does not wait.)"""
        finished = 0
        while True:
            woken = self._woken
            started = await self.dispatch()
            if not started and not self._workers:
                return finished
            finished += sum(await asyncio.gather(*self._workers.values()))
            if self._woken == woken and started < BATCH:
                return finished

    async def dispatch(self) -> int:
        """Hand every due row that is not under way yet to its person's worker; returns how
        many were handed over. A slow person (paced, or waiting out a 429) never holds up
        anyone else's messages."""
        async with self._lock:
            self._dispatched = self._woken  # every commit up to here is visible below
            self._settling.clear()  # settled before this query: it reads them as they are
            async with self.core.uow_factory() as uow:
                items = await uow.outbox.pending(self.core.clock.now(), BATCH)
                fresh = [
                    item
                    for item in items
                    if item.id not in self._inflight and item.id not in self._settling
                ]
                directory = await uow.directory.load() if fresh else None
                waiting: dict[OutboxId, PersonId] = {}
                if not self._primed:  # rows waiting for a retry since before a restart
                    waiting = await uow.outbox.waiting(self.core.clock.now())
            if not self._primed:
                self._waiting.update(waiting)
                self._behind.update(waiting.values())
                self._primed = True
            if len(items) < BATCH:  # everything due is in view: who has nothing left over
                due = {item.person_id for item in items}
                still = set(self._waiting.values())
                self._behind = {p for p in self._behind if p in due or p in still}
            if directory is not None:
                self._hand_over(fresh, directory)
            return len(fresh)

    def offer(self, items: list[OutboxItem], directory: Directory | None) -> None:
        """Called right after a commit with the rows it queued: they go to their people's
        workers at once, without waiting for a dispatch to read them back. Someone with
        rows that wait in the table (for a retry, or not handed out yet) keeps first in,
        first out: their new rows are left to the dispatch, which is woken for them."""
        if not items or self._closed:
            return
        if not self._primed or directory is None:
            self.wake()
            return
        ready = [item for item in items if item.person_id not in self._behind]
        self._hand_over(ready, directory)
        if len(ready) < len(items):
            self.wake()

    def _hand_over(self, items: list[OutboxItem], directory: Directory) -> None:
        for item in items:
            self._inflight.add(item.id)
            person = directory.recipient(item.person_id)
            self._queues.setdefault(item.person_id, deque()).append((item, person))
        # Pages first: the workers of people with a page to send start (and send) before
        # the others, while each person's own messages keep their order.
        starting = {i.person_id for i in items if i.person_id not in self._workers}
        for person_id in sorted(starting, key=lambda p: not self._has_page(p)):
            worker = asyncio.create_task(self._work(person_id))
            worker.add_done_callback(_log_crash)
            self._workers[person_id] = worker

    def _has_page(self, person_id: PersonId) -> bool:
        return any(is_page(item) for item, _ in self._queues[person_id])

    async def _work(self, person_id: PersonId) -> int:
        """One person's messages, in order; stops at the first that has to wait.

        A row's outcome is committed by the ledger (`_commit`) while the next row goes out;
        an edit waits for the commits before it, since it looks up the messages it edits.
        Rows handed over while the worker waits for its last commits are still its own.
        """
        queue = self._queues[person_id]
        done = 0
        sent: list[tuple[OutboxItem, asyncio.Future[None]]] = []  # outcome not committed yet
        waiting = False  # a row waits for a retry: the rest is left to the dispatch
        try:
            while queue and not waiting:
                while queue:
                    item, person = queue[0]
                    if item.kind == "edit" and sent:
                        await self._committed(sent)
                    try:
                        async with self._gate:
                            finished, committed = await self._deliver(item, person)
                    except BaseException:
                        self._behind.add(person_id)  # the row stays in the table
                        queue.popleft()
                        self._settled(item)
                        raise
                    queue.popleft()
                    sent.append((item, committed))
                    if not finished:
                        # The rest waits behind it; the pending query hands it out again.
                        self._waiting[item.id] = person_id
                        self._behind.add(person_id)
                        while queue:
                            self._settled(queue.popleft()[0])
                        waiting = True
                        break
                    self._waiting.pop(item.id, None)
                    done += 1
                await self._committed(sent)
        except BaseException:
            self._behind.add(person_id)  # what did not commit is read from the table again
            raise
        finally:
            del self._workers[person_id]
            del self._queues[person_id]
            if queue:  # broken off: the rest is handed out again later
                self._behind.add(person_id)
            for item, _ in queue:
                self._settled(item)
            for item, committed in sent:  # broken off before the commit: the ledger writes it
                committed.add_done_callback(_retrieved)
                self._settled(item)
        return done

    async def _committed(self, sent: list[tuple[OutboxItem, asyncio.Future[None]]]) -> None:
        """Wait until the outcomes of `sent` are committed."""
        try:
            for _, committed in sent:
                await committed
        finally:
            for item, committed in sent:
                committed.add_done_callback(_retrieved)  # a failure is logged by the ledger
                self._settled(item)
            sent.clear()

    def _settled(self, item: OutboxItem) -> None:
        # Its new state is committed. A dispatch whose query began before that commit may
        # still read it as pending: `_settling` keeps it from being handed out twice.
        self._inflight.discard(item.id)
        self._settling.add(item.id)

    async def settle(self) -> int:
        """Wait until what was committed so far is delivered, as far as it is due. Reads the
        table only if a commit left rows to the dispatch (see `offer`)."""
        finished = 0
        while True:
            if self._woken != self._dispatched:
                await self.dispatch()
            if not self._workers:
                return finished
            finished += sum(await asyncio.gather(*self._workers.values()))

    async def close(self) -> None:
        """Stop the workers (at shutdown); what they did not finish stays pending."""
        self._closed = True  # rows committed from now on wait for the next start
        workers = list(self._workers.values())
        for worker in workers:
            worker.cancel()
        await asyncio.gather(*workers, return_exceptions=True)
        if self._writer is not None:  # what went out is recorded before we stop
            await asyncio.gather(self._writer, return_exceptions=True)

    async def _deliver(
        self, item: OutboxItem, person: Person | None
    ) -> tuple[bool, asyncio.Future[None]]:
        """Deliver one row to every transport that reaches the person. Returns whether the
        row is finished (not waiting for a retry), and the commit of its outcome.

        What each transport did is committed in one unit of work with the row's new state;
        should something unexpected break off the row, what already went out is still
        recorded, so a retry never sends it twice.
        """
        transports = [
            t
            for t in self.transports
            if person is not None and t.reaches(person) and t.name not in person.unreachable
        ]
        records: list[DeliveryRecord] = []
        blocked: list[str] = []  # transports that refused the person for good
        retry_at: timedelta | None = None
        last_error = ""
        try:
            for transport in transports:
                if transport.name in item.done:
                    continue
                assert person is not None
                try:
                    ref = await self._send(transport, person, item)
                except RateLimited as error:
                    pacer = self._pacer(transport)
                    if pacer is not None:
                        pacer.pause(person.id, error.retry_after)
                    delay = max(timedelta(seconds=error.retry_after), MIN_RETRY)
                    retry_at, last_error = min(retry_at or delay, delay), str(error)
                    continue
                except TransientDeliveryError as error:
                    delay = min(timedelta(seconds=2 ** min(item.attempts, 7)), MAX_BACKOFF)
                    retry_at, last_error = min(retry_at or delay, delay), str(error)
                    continue
                except PermanentDeliveryError as error:
                    log.warning(
                        "delivery.permanent_failure",
                        outbox_id=item.id,
                        transport=transport.name,
                        error=str(error),
                    )
                    records.append(DeliveryRecord(item.id, transport.name, None, failed=True))
                    blocked.append(transport.name)
                    continue
                records.append(DeliveryRecord(item.id, transport.name, ref))
        except BaseException:
            if records:  # what went out before the break is recorded all the same
                async with self.core.uow_factory() as uow:
                    await uow.outbox.record_deliveries(records, self.core.clock.now())
                    await uow.commit()
            raise
        delivered = item.delivered or any(not r.failed for r in records)
        if retry_at is not None:
            log.info(
                "delivery.retry",
                outbox_id=item.id,
                in_seconds=retry_at.total_seconds(),
                error=last_error,
            )
        committed = self._commit(_Outcome(item, records, retry_at, last_error, delivered))
        if blocked or not delivered:  # the handlers below read the committed outcome
            await committed
        for transport_name in blocked:
            assert person is not None
            await self._unreachable(item, person, transport_name, reached=delivered)
        if retry_at is not None:
            return False, committed
        if not delivered:
            log.warning("delivery.unreachable", outbox_id=item.id, person_id=item.person_id)
            if person is not None and not transports:
                await self._unreachable(item, person, "", reached=False)
        return True, committed

    async def _send(self, transport: Transport, person: Person, item: OutboxItem) -> str | None:
        pacer = self._pacer(transport)
        refs: list[str] = []
        if item.kind == "edit" and item.topic:
            async with self.core.uow_factory() as uow:
                refs = await uow.outbox.refs_for_topic(person.id, item.topic, transport.name)
        if not refs:  # nothing to edit (never delivered there): send it as a new message
            if pacer is not None:
                await pacer.wait(person.id, group=person.is_chat)
            if is_page(item):
                return await self._page_out(transport.send(person, item.message))
            await self.after_pages()
            return await transport.send(person, item.message)
        for ref in refs:
            if pacer is not None:
                await pacer.wait(person.id, group=person.is_chat)
            await self.after_pages()
            try:
                await transport.edit(person, ref, item.message)
            except PermanentDeliveryError as error:
                # The message is gone or can no longer change (its reader deleted it, say).
                # They still have what was sent and stay reachable: only a send that fails
                # for good means the person cannot be reached.
                log.info(
                    "delivery.edit_refused",
                    outbox_id=item.id,
                    transport=transport.name,
                    error=str(error),
                )
        return None

    async def _page_out(self, send: Awaitable[str | None]) -> str | None:
        """A page being sent: other work waits for it (`after_pages`)."""
        self._paging += 1
        self._pages_out.clear()
        try:
            return await send
        finally:
            self._paging -= 1
            if not self._paging:
                self._pages_out.set()

    async def after_pages(self) -> None:
        """Wait while pages are being sent, a short while at most: on a busy loop and a
        shared connection a page then goes out first, not beside chatter or bookkeeping
        that can wait a moment. A commit's workers start before anything the commit's
        caller does next, so a page it queued is being sent by then (unless it waits for
        its chat's turn or a send slot, when it holds nothing up)."""
        if self._paging:
            out = asyncio.ensure_future(self._pages_out.wait())
            try:  # not wait_for, for the reason given in `run`
                await asyncio.wait([out], timeout=PAGES_FIRST_AT_MOST)
            finally:
                out.cancel()

    def _commit(self, outcome: _Outcome) -> asyncio.Future[None]:
        """Queue what became of a row for the ledger, which commits it together with the
        outcomes of other rows that finish meanwhile: one unit of work for all of them.
        The future is done once it is committed."""
        done: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._ledger.append((outcome, done))
        if self._writer is None or self._writer.done():
            self._writer = asyncio.create_task(self._write_ledger())
        return done

    async def _write_ledger(self) -> None:
        while self._ledger:
            batch, self._ledger = self._ledger, []
            try:
                async with self.core.uow_factory() as uow:
                    now = self.core.clock.now()
                    outbox = uow.outbox
                    await outbox.record_deliveries([r for o, _ in batch for r in o.records], now)
                    for outcome, _ in batch:
                        if outcome.retry_at is not None:
                            at = now + outcome.retry_at
                            await outbox.retry_later(outcome.item.id, at, outcome.error)
                    finished = {
                        o.item.id: "sent" if o.delivered else "unreachable"
                        for o, _ in batch
                        if o.retry_at is None
                    }
                    await outbox.finish_many(finished, now)
                    await uow.commit()
            except BaseException as error:
                log.error("delivery.ledger_failed", error=f"{type(error).__name__}: {error}")
                for _, done in batch:
                    if not done.done():
                        done.set_exception(error)
                if not isinstance(error, Exception):
                    raise
            else:
                for _, done in batch:
                    if not done.done():
                        done.set_result(None)

    async def _unreachable(
        self, item: OutboxItem, person: Person, transport: str, *, reached: bool
    ) -> None:
        if self.on_unreachable is None:
            return
        try:
            await self.on_unreachable(item, person, transport, reached)
        except Exception:  # never let bookkeeping stop delivery to everyone else
            log.exception("delivery.unreachable_handler_failed", outbox_id=item.id)

    async def run(self) -> None:
        """Deliver whenever woken, and at least every second for retries that fell due."""
        loop = asyncio.get_running_loop()
        while True:
            ticked: list[bool] = []

            def tick(ticked: list[bool] = ticked) -> None:
                ticked.append(True)
                self._wake.set()

            # Not asyncio.wait_for: on Python 3.11 it can swallow a cancellation that
            # arrives as its timeout fires, and the loop would never stop.
            timer = loop.call_later(1.0, tick)
            try:
                await self._wake.wait()
            finally:
                timer.cancel()
            self._wake.clear()
            if not ticked and self._woken == self._dispatched:
                continue  # someone dispatched since that commit (deliver_pending)
            try:
                await self.dispatch()
            except Exception:  # keep delivering: one bad row must not stop every page
                log.exception("delivery.loop_error")
