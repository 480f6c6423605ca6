"""Delivering the outbox: the table is the queue, each part of a message goes out once.

One loop reads the due outbox rows (after every commit that queued messages, and every
second for retries) and hands them to one worker per recipient: a person's new messages keep
their order (an edit may pass them, `scm_bot.turns`), different people go side by side; people
with a page start first, and a page takes the next free sending slot first (`Pacer`).

A message is sent part by part (a long text in several messages, then its file), and each
part has its own ledger entry per transport: `sending` is committed before the request
goes out and the outcome after it, so a retry resumes at the part that did not go out and
a part whose fate is unknown (a crash or a timeout came between) is sent again marked as a
repeat, never silently twice. Errors arrive classified (core.errors): a refused message
fails on its own (a page is tried once more as plain text), an unreachable recipient fails
this message only, a failing platform is retried with back-off and a rate limit pauses that
chat only. Nothing one row does can stop the rows behind it.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from contextlib import AsyncExitStack
from dataclasses import dataclass, field
from datetime import datetime, timedelta

import structlog

from core.errors import (
    DeliveryError,
    MessageRejected,
    OutcomeUnknown,
    PlatformError,
    RateLimited,
    RecipientUnreachable,
    StorageError,
)
from core.i18n import t
from core.model import Directory, OutboxId, Person, PersonId
from core.ports import (
    DeliveryLimits,
    DeliveryReport,
    LedgerEntry,
    OutboxItem,
    Part,
    PartStatus,
    Transport,
)
from core.tx import Core
from scm_bot.loops import run_woken
from scm_bot.metrics import Metrics
from scm_bot.pacer import Pacer
from scm_bot.turns import is_page, next_row, superseded, take_place

log = structlog.get_logger(__name__)
BATCH = 500
TICK = 1.0  # seconds between two looks at the table when nothing wakes the loop
MIN_RETRY = timedelta(milliseconds=500)
MAX_BACKOFF = timedelta(minutes=2)
GIVE_UP_AFTER = 40  # attempts: with the back-off capped at 2 minutes, about an hour

ReportHandler = Callable[[DeliveryReport], Awaitable[None]]


def backoff(attempts: int) -> timedelta:
    return min(timedelta(seconds=2 ** min(attempts, 7)), MAX_BACKOFF)


@dataclass
class _Result:
    """What one transport did with one row."""

    delivered: bool = False  # it holds some part of it
    retry_in: timedelta | None = None  # not done yet: try again then
    unreachable: bool = False  # the recipient cannot be reached there
    rejected: bool = False  # a part was refused (it stays failed)
    error: str = ""


@dataclass
class _Row:
    """One row on its way: the ledger as the worker knows it."""

    item: OutboxItem
    person: Person
    ledger: dict[tuple[str, int], PartStatus] = field(default_factory=dict)
    # Outcomes known but not yet written: they go with the next write for this row (the
    # next part's "sending", or the row's retry or finish), one commit instead of two.
    unwritten: list[LedgerEntry] = field(default_factory=list)


class Deliverer:
    def __init__(
        self,
        core: Core,
        transports: list[Transport],
        on_report: ReportHandler | None = None,
        *,
        monotonic: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
        metrics: Metrics | None = None,
    ) -> None:
        self.core = core
        self.transports = transports
        self.on_report = on_report
        self.metrics = metrics or Metrics()
        self._monotonic = monotonic  # pacing time, injectable so tests need not wait
        self._sleep = sleep
        self._wake = asyncio.Event()
        self._lock = asyncio.Lock()
        self._pacers: dict[str, Pacer] = {}
        self._workers: dict[PersonId, asyncio.Task[int]] = {}
        # People whose rows are left in the table for the loop: they had a worker when a
        # commit offered more, or a row waits for a retry (so nothing may overtake it).
        self._left: set[PersonId] = set()
        self._ran: set[PersonId] = set()  # people who had a worker since a dispatch began
        self._in_work: set[OutboxId] = set()  # rows a worker holds
        self._taken: set[OutboxId] = set()  # rows a worker held since a dispatch began
        # Each worker's rows, to which later commits add while it works (`offer`).
        self._queues: dict[PersonId, list[OutboxItem]] = {}
        self._held: dict[PersonId, set[OutboxId]] = {}  # every row a worker was handed
        self._primed = False  # the first dispatch has read what a restart left
        self._paused = False  # a standby: nothing is sent (`pause`)

    def wake(self) -> None:
        """Look at the table soon (a retry fell due, a worker left rows behind)."""
        self._wake.set()

    def offer(self, items: list[OutboxItem], directory: Directory | None) -> None:
        """Called right after a commit with the rows it queued: each person's go to their
        worker (new or working) at once, unless rows of theirs wait in the table (the loop)."""
        if self._paused:
            return  # the leader delivers them
        if not self._primed or directory is None:
            self.wake()
            return
        mine: dict[PersonId, list[OutboxItem]] = {}
        for item in items:
            mine.setdefault(item.person_id, []).append(item)
        for person_id, rows in sorted(mine.items(), key=lambda pr: not any(map(is_page, pr[1]))):
            if person_id in self._left:
                self.wake()
            elif person_id in self._workers:
                self._hand(person_id, rows)
            else:
                self._start(person_id, rows, directory)

    def _pacer(self, transport: Transport) -> Pacer | None:
        limits: DeliveryLimits | None = getattr(transport, "limits", None)
        if limits is None:
            return None
        pacer = self._pacers.get(transport.name)
        if pacer is None:
            pacer = self._pacers[transport.name] = Pacer(limits, self._monotonic, self._sleep)
        return pacer

    async def run(self) -> None:
        """Deliver whenever woken, and at least every second for retries that fell due."""
        await run_woken(self._wake, TICK, self.dispatch, "delivery")

    async def dispatch(self) -> int:
        """Hand the due rows of everyone without a worker to a new worker for them; returns
        how many rows were handed over."""
        if self._paused:
            return 0
        async with self._lock:
            # A worker that runs while the query does may have sent rows it reads as due.
            self._ran = set(self._workers)
            self._taken = set(self._in_work)
            before = set(self._left)
            now = self.core.clock.now()
            async with self.core.uow_factory() as uow:
                items = await uow.outbox.pending(now, BATCH)
                directory = await uow.directory.load() if items else None
                # People with a row waiting for a retry: nothing of theirs may overtake it.
                waiting = await uow.outbox.waiting_people(now)
            self._primed = True
            if len(items) < BATCH:  # everything due is in view: the rest is done
                self._left = waiting | (self._left - before)  # and what came meanwhile
            else:
                self._left |= waiting | {item.person_id for item in items}
            mine: dict[PersonId, list[OutboxItem]] = {}
            for item in items:
                if item.id in self._taken:
                    continue  # its worker has it (or just finished it, unseen by the query)
                if item.person_id in self._workers:
                    self._left.add(item.person_id)  # its worker wakes us when it ends
                elif item.person_id in self._ran:  # its worker ended while we read: anew
                    self._left.add(item.person_id)
                    self._wake.set()
                else:
                    mine.setdefault(item.person_id, []).append(item)
            # People with a page start first: their workers ask for sending slots first.
            for person_id in sorted(mine, key=lambda p: not any(map(is_page, mine[p]))):
                assert directory is not None
                self._start(person_id, mine[person_id], directory)
            return sum(len(rows) for rows in mine.values())

    def _start(self, person_id: PersonId, items: list[OutboxItem], directory: Directory) -> None:
        self._ran.add(person_id)
        self._queues[person_id], self._held[person_id] = [], set()
        self._hand(person_id, items)
        self._workers[person_id] = asyncio.create_task(self._work(person_id, directory))

    def _hand(self, person_id: PersonId, items: list[OutboxItem]) -> None:
        """Rows for the person's worker, newer than all it holds (none wait in the table)."""
        ids = {item.id for item in items}
        self._queues[person_id].extend(items)
        self._held[person_id] |= ids
        self._in_work |= ids
        self._taken |= ids

    async def deliver_pending(self) -> int:
        """Deliver everything due now and wait until it is done (tests, the console);
        returns how many rows were finished or put off."""
        handled = 0
        while True:
            self._wake.clear()
            await self.dispatch()
            if not self._workers:
                if self._wake.is_set():  # rows were left while the table was read
                    continue
                return handled
            progress = sum(await asyncio.gather(*self._workers.values()))
            handled += progress
            if not progress:  # nothing moved (the database fails): the next tick tries
                return handled

    settle = deliver_pending

    async def quiet(self) -> None:
        """Wait until what commits handed over is delivered and nothing is left for the
        loop (no look at the table for rows nobody offered: `deliver_pending` does that)."""
        while True:
            async with self._lock:  # a dispatch under way has started its workers
                pass
            if self._workers:
                await asyncio.gather(*self._workers.values(), return_exceptions=True)
            elif self._wake.is_set() or not self._primed:
                self._wake.clear()
                await self.dispatch()
            else:
                return

    async def pause(self) -> None:
        """Stop delivering (this process no longer leads): the workers stop, what they did
        not finish stays pending for the leader, and nothing starts until `resume`."""
        self._paused = True
        await self.close()
        async with self._lock:  # a dispatch under way has ended
            pass
        self._pacers = {}
        self._left, self._ran, self._in_work, self._taken = set(), set(), set(), set()
        self._primed = False

    def resume(self) -> None:
        """Deliver again (this process leads): the first look at the table sends what is
        due, a crashed leader's rows too."""
        self._paused = False
        self.wake()

    async def close(self) -> None:
        """Stop the workers (at shutdown); what they did not finish stays pending."""
        workers = list(self._workers.values())
        for worker in workers:
            worker.cancel()
        await asyncio.gather(*workers, return_exceptions=True)
        for pacer in self._pacers.values():
            await pacer.close()

    async def _work(self, person_id: PersonId, directory: Directory) -> int:
        """One person's rows until one has to wait (the rest waits behind it); when the
        chat's turn comes, the next is picked from all queued by then (`next_row`)."""
        handled = 0
        rows = self._queues[person_id]
        # The latest request was an edit that went ahead of new messages: the oldest is next.
        went_ahead = False
        try:
            person = directory.recipient(person_id)
            while rows:
                await self._turn(person)
                at = next_row(rows, edit_first=not went_ahead, now=self.core.clock.now())
                item = rows.pop(at)
                try:
                    if superseded(item, rows):
                        await self._finish(item, "superseded")
                        handled += 1
                        take_place(rows, at, item)
                        continue
                    waits = await self._deliver(item, person)
                except StorageError as error:
                    # Nothing was sent that is not recorded: the row is read again later.
                    log.error("delivery.storage_failed", outbox_id=item.id, error=str(error))
                    break
                except Exception:
                    log.exception("delivery.row_failed", outbox_id=item.id)
                    if not await self._give_up(item):
                        break
                    waits = False
                handled += 1
                went_ahead = at > 0  # an edit went ahead of the rows before it
                if waits:
                    self._left.add(person_id)  # nothing of theirs may overtake it
                    break
            else:
                return handled
            self._left.add(person_id)  # broken off: the rest is read from the table
        finally:
            del self._workers[person_id], self._queues[person_id]
            self._in_work -= self._held.pop(person_id)
            if person_id in self._left:
                self._wake.set()  # rows of theirs wait in the table
        return handled

    async def _turn(self, person: Person | None) -> None:
        """Until the person's chat may take a request on every platform that paces it."""
        for transport in self.transports:
            pacer = self._pacer(transport)
            if pacer and person and transport.reaches(person):
                await pacer.turn(person.id)

    async def _finish(self, item: OutboxItem, status: str) -> None:
        async with self.core.uow_factory() as uow:
            await uow.outbox.finish_many({item.id: status}, self.core.clock.now())
            await uow.commit()

    async def _give_up(self, item: OutboxItem) -> bool:
        """A row broke in a way nobody foresaw: it fails alone, so the rest still goes."""
        try:
            await self._finish(item, "failed")
        except Exception:
            log.exception("delivery.give_up_failed", outbox_id=item.id)
            return False
        self._count(item, False, self.core.clock.now())
        return True

    async def _deliver(self, item: OutboxItem, person: Person | None) -> bool:
        """Deliver one row on every transport that reaches the person; True when it waits
        for a retry."""
        transports = []
        if person is not None:
            transports = [
                t
                for t in self.transports
                # A group the bot was removed from is skipped until it is heard again; a
                # person is never left out: every message tries them afresh.
                if t.reaches(person) and not (person.is_chat and t.name in person.unreachable)
            ]
        results: dict[str, _Result] = {}
        unwritten: list[LedgerEntry] = []  # what the sends noted, written with the outcome
        if person is not None:
            row = _Row(item, person, {(e.transport, e.part): e.status for e in item.ledger})
            unwritten = row.unwritten
            for transport in transports:
                if item.kind == "edit" and item.topic:
                    results[transport.name] = await self._edit(transport, row)
                else:
                    results[transport.name] = await self._send(transport, row)
        retries = [r.retry_in for r in results.values() if r.retry_in is not None]
        now = self.core.clock.now()
        if retries and item.attempts >= GIVE_UP_AFTER:
            log.error("delivery.given_up", outbox_id=item.id, attempts=item.attempts)
            retries = []  # about an hour of failures: it is finished as it stands
        if retries:
            delay = max(min(retries), MIN_RETRY)
            error = "; ".join(r.error for r in results.values() if r.error)
            log.info("delivery.retry", outbox_id=item.id, in_seconds=delay.total_seconds())
            async with self.core.uow_factory() as uow:
                await uow.outbox.record(unwritten, now)
                await uow.outbox.retry_later(item.id, now + delay, error)
                await uow.commit()
            return True
        delivered = any(r.delivered for r in results.values())
        unreachable = tuple(n for n, r in results.items() if r.unreachable)
        rejected = tuple(n for n, r in results.items() if r.rejected)
        status = "sent" if delivered else "failed" if rejected else "unreachable"
        async with self.core.uow_factory() as uow:
            await uow.outbox.record(unwritten, now)
            await uow.outbox.finish_many({item.id: status}, now)
            await uow.commit()
        self._count(item, delivered, now)
        if not delivered:
            log.warning("delivery.undelivered", outbox_id=item.id, person_id=item.person_id)
        if person is not None and self.on_report is not None:
            report = DeliveryReport(item, person, delivered, unreachable, rejected)
            try:
                await self.on_report(report)
            except Exception:  # bookkeeping must never stop delivery to everyone else
                log.exception("delivery.report_failed", outbox_id=item.id)
        return False

    def _count(self, item: OutboxItem, delivered: bool, now: datetime) -> None:
        """A row is finished: the page counters and, if it arrived, its latency."""
        page = is_page(item)
        if page:
            (self.metrics.pages_delivered if delivered else self.metrics.pages_failed).inc()
        if delivered and item.created_at is not None:
            latency = (now - item.created_at).total_seconds()
            self.metrics.delivery_seconds.labels("page" if page else "message").observe(latency)

    async def _send(self, transport: Transport, row: _Row) -> _Result:
        """Send the parts of a row that did not go out yet, in order."""
        item, person = row.item, row.person
        result = _Result(
            delivered=any(
                s is PartStatus.SENT
                for (name, _), s in row.ledger.items()
                if name == transport.name
            )
        )
        try:
            parts = transport.parts(item.message)
        except MessageRejected as error:
            log.warning(
                "delivery.rejected", outbox_id=item.id, transport=transport.name, error=str(error)
            )
            result.rejected, result.error = True, str(error)
            return result
        for part in parts:
            before = row.ledger.get((transport.name, part.index))
            if before in (PartStatus.SENT, PartStatus.FAILED):
                continue
            repeat = before in (PartStatus.SENDING, PartStatus.UNCERTAIN)
            note = t(person.language, "delivery.repeat") if repeat else None
            try:
                ref = await self._send_part(transport, row, part, note)
            except MessageRejected as error:
                log.warning(
                    "delivery.rejected",
                    outbox_id=item.id,
                    transport=transport.name,
                    part=part.index,
                    error=str(error),
                )
                await self._record(row, transport, part, PartStatus.FAILED)
                result.rejected, result.error = True, str(error)
                continue
            except RecipientUnreachable as error:
                log.info(
                    "delivery.unreachable",
                    outbox_id=item.id,
                    transport=transport.name,
                    error=str(error),
                )
                await self._record(row, transport, part, PartStatus.FAILED)
                result.unreachable, result.error = True, str(error)
                return result
            except RateLimited as error:
                self.metrics.rate_limited.labels(transport.name).inc()
                pacer = self._pacer(transport)
                if pacer is not None:
                    pacer.pause(person.id, error.retry_after)
                await self._record(row, transport, part, before or PartStatus.NOT_SENT)
                result.retry_in = max(timedelta(seconds=error.retry_after), MIN_RETRY)
                result.error = str(error)
                return result
            except OutcomeUnknown as error:
                log.warning(
                    "delivery.uncertain",
                    outbox_id=item.id,
                    transport=transport.name,
                    error=str(error),
                )
                await self._record(row, transport, part, PartStatus.UNCERTAIN)
                result.retry_in, result.error = backoff(item.attempts), str(error)
                return result
            except PlatformError as error:
                log.error(
                    "delivery.platform_failing",
                    outbox_id=item.id,
                    transport=transport.name,
                    error=str(error),
                )
                await self._record(
                    row, transport, part, PartStatus.UNCERTAIN if repeat else PartStatus.NOT_SENT
                )
                result.retry_in, result.error = backoff(item.attempts), str(error)
                return result
            await self._record(row, transport, part, PartStatus.SENT, ref)
            result.delivered = True
        return result

    async def _send_part(
        self, transport: Transport, row: _Row, part: Part, note: str | None
    ) -> str | None:
        """One part, recorded as being sent first; a refused page is tried as plain text."""
        item, person = row.item, row.person
        pacer = self._pacer(transport)
        if pacer is not None:
            await pacer.wait(person.id, group=person.is_chat, urgent=is_page(item))
        await self._record(row, transport, part, PartStatus.SENDING, write=True)
        async with AsyncExitStack() as stack:
            if pacer is not None and is_page(item):
                await stack.enter_async_context(pacer.page())
            try:
                return await self._paced(
                    pacer, person, transport.send_part(person, item.message, part.index, note=note)
                )
            except MessageRejected:
                if not is_page(item):
                    raise
                log.warning(
                    "delivery.page_as_plain_text", outbox_id=item.id, transport=transport.name
                )
            if pacer is not None:
                await pacer.wait(person.id, group=person.is_chat, urgent=True)
            return await self._paced(
                pacer,
                person,
                transport.send_part(person, item.message, part.index, note=note, plain=True),
            )

    @classmethod
    async def _paced(
        cls, pacer: Pacer | None, person: Person, request: Awaitable[str | None]
    ) -> str | None:
        """One request to the person's chat; its next turn counts from the answer."""
        try:
            return await cls._guarded(request)
        finally:
            if pacer is not None:
                pacer.answered(person.id, group=person.is_chat)

    @staticmethod
    async def _guarded(send: Awaitable[str | None]) -> str | None:
        """A send whose failure was not foreseen by the transport counts as a bad message."""
        try:
            return await send
        except DeliveryError:
            raise
        except (ValueError, UnicodeError, TypeError) as error:
            raise MessageRejected(f"{type(error).__name__}: {error}") from error

    async def _edit(self, transport: Transport, row: _Row) -> _Result:
        """Replace every copy of the topic the person holds; nothing to edit: send it."""
        item, person = row.item, row.person
        assert item.topic is not None
        async with self.core.uow_factory() as uow:
            refs = await uow.outbox.refs_for_topic(person.id, item.topic, transport.name)
        if not refs:
            return await self._send(transport, row)
        pacer = self._pacer(transport)
        for ref in refs:
            if pacer is not None:
                await pacer.wait(person.id, group=person.is_chat)
            try:
                await self._paced(pacer, person, self._edit_one(transport, person, ref, item))
            except (MessageRejected, RecipientUnreachable) as error:
                # The message is gone or can no longer change (its reader deleted it):
                # they still have what was sent.
                log.info(
                    "delivery.edit_refused",
                    outbox_id=item.id,
                    transport=transport.name,
                    error=str(error),
                )
            except RateLimited as error:
                self.metrics.rate_limited.labels(transport.name).inc()
                if pacer is not None:
                    pacer.pause(person.id, error.retry_after)
                return _Result(
                    retry_in=max(timedelta(seconds=error.retry_after), MIN_RETRY), error=str(error)
                )
            except PlatformError as error:
                log.error(
                    "delivery.platform_failing",
                    outbox_id=item.id,
                    transport=transport.name,
                    error=str(error),
                )
                return _Result(retry_in=backoff(item.attempts), error=str(error))
        return _Result(delivered=True)

    @staticmethod
    async def _edit_one(transport: Transport, person: Person, ref: str, item: OutboxItem) -> None:
        await transport.edit(person, ref, item.message)
        return None

    async def _record(
        self,
        row: _Row,
        transport: Transport,
        part: Part,
        status: PartStatus,
        ref: str | None = None,
        *,
        write: bool = False,
    ) -> None:
        """Note a part's status; `write` commits it (with what was noted before) now."""
        row.ledger[(transport.name, part.index)] = status
        entry = LedgerEntry(row.item.id, transport.name, part.index, status, ref, part.editable)
        row.unwritten.append(entry)
        if write:
            async with self.core.uow_factory() as uow:
                await uow.outbox.record(row.unwritten, self.core.clock.now())
                await uow.commit()
            row.unwritten.clear()
