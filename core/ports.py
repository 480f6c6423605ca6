"""The ports the core owns. Storage and the transports implement them; the core uses them."""

from __future__ import annotations

from collections.abc import Collection
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Any, Protocol

from core.analyse.model import Analyse, AnalyseId, Answer, Copy, Editor, FieldValue, Version
from core.bt.model import BtRepo
from core.events import InboundEvent
from core.messages import Message
from core.model import (
    AlertKind,
    Directory,
    Incident,
    IncidentId,
    Origin,
    OutboxId,
    Page,
    PageId,
    PageStatus,
    PageTarget,
    Person,
    PersonId,
    TargetStatus,
    Timer,
    TimerId,
)
from core.roster.model import RosterRepo


@dataclass(frozen=True, slots=True)
class AuditRecord:
    at: datetime
    actor: str  # a person key, "system" or "cli"
    action: str
    object: str
    result: str
    origin: Origin
    detail: dict[str, Any]


class PartStatus(StrEnum):
    """What became of one part of a message on one transport (the delivery ledger)."""

    SENDING = "sending"  # the send began; a crash leaves it so: it may have arrived
    SENT = "sent"
    UNCERTAIN = "uncertain"  # the platform may or may not have it (a timeout)
    FAILED = "failed"  # refused for good (the message is bad, or the person unreachable)
    NOT_SENT = "not_sent"  # the send failed before the platform had it (a 429, no network)


@dataclass(frozen=True, slots=True)
class LedgerEntry:
    """One part of one outbox row on one transport: its status and its message id there."""

    outbox_id: OutboxId
    transport: str
    part: int
    status: PartStatus
    ref: str | None = None
    editable: bool = False  # the part later edits of the same topic replace


@dataclass(frozen=True, slots=True)
class OutboxItem:
    id: OutboxId
    person_id: PersonId
    kind: str  # "send" or "edit"
    topic: str | None  # edits replace every earlier message with the same topic
    message: Message
    attempts: int
    # What earlier attempts did (a crash or a retry came between): a retry resumes at the
    # first part that did not go out.
    ledger: tuple[LedgerEntry, ...] = ()
    created_at: datetime | None = None  # when it was queued (the delivery latency metric)

    def part_status(self, transport: str, part: int) -> PartStatus | None:
        for entry in self.ledger:
            if entry.transport == transport and entry.part == part:
                return entry.status
        return None


@dataclass(frozen=True, slots=True)
class DeliveryReport:
    """What became of an outbox row, once it is finished: did it reach the person, and if
    not, which transports could not reach them and which refused the message."""

    item: OutboxItem
    person: Person
    delivered: bool
    unreachable: tuple[str, ...] = ()
    rejected: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class Part:
    """One separately sent piece of a message on a transport (a text chunk, the file)."""

    index: int
    editable: bool  # edits of the same topic replace this one (the text with the buttons)


@dataclass(frozen=True, slots=True)
class NewMessage:
    """An outbox row to be: for whom, what, and how (see `Tx.send_message`)."""

    person_id: PersonId
    message: Message
    kind: str
    topic: str | None


@dataclass(frozen=True, slots=True)
class NewIncident:
    kind: AlertKind
    description: str
    location: str
    opschaling: str
    gemeenten: tuple[int, ...]
    created_by: PersonId
    created_at: datetime


class DirectoryRepo(Protocol):
    changed: bool  # a person changed in this unit of work (the loaded directory is stale)

    async def load(self) -> Directory: ...
    async def set_language(self, person_id: PersonId, language: str) -> None: ...
    async def set_unreachable(self, person_id: PersonId, transport: str, value: bool) -> bool:
        """Whether this changed anything."""
        ...

    async def link(
        self,
        person_id: PersonId,
        *,
        telegram_user_id: int | None = None,
        slack_user_id: str | None = None,
    ) -> None: ...


class IncidentRepo(Protocol):
    async def add(self, new: NewIncident, prefix: str) -> Incident:
        """Store a new incident numbered `prefix-0001`, `prefix-0002`, ... (per prefix)."""
        ...

    async def get(
        self, incident_id: IncidentId, *, for_update: bool = False
    ) -> Incident | None: ...
    async def by_public_id(self, public_id: str) -> Incident | None: ...
    async def numbered(self, number: str) -> list[Incident]:
        """Every incident, open or closed, whose id ends in "-<number>", newest first."""
        ...

    async def open(self) -> list[Incident]: ...
    async def close(self, incident_id: IncidentId, by: PersonId, at: datetime) -> None: ...


class PageRepo(Protocol):
    async def add(
        self, incident_id: IncidentId, function_key: str, status: PageStatus, at: datetime
    ) -> Page: ...
    async def get(self, page_id: PageId, *, for_update: bool = False) -> Page | None: ...
    async def for_incidents(self, incident_ids: Collection[IncidentId]) -> list[Page]:
        """The pages of these incidents, oldest first."""
        ...

    async def update(self, page: Page) -> None: ...
    async def add_target(self, target: PageTarget) -> None: ...
    async def targets(self, page_ids: Collection[PageId]) -> list[PageTarget]:
        """The people these pages went to, per page in the order they were paged."""
        ...

    async def set_target_status(
        self, page_id: PageId, person_id: PersonId, status: TargetStatus, at: datetime
    ) -> None: ...

    async def set_target_delivered(
        self, page_id: PageId, person_id: PersonId, at: datetime
    ) -> None: ...


class TimerRepo(Protocol):
    async def add(self, kind: str, ref: int, due_at: datetime) -> TimerId: ...
    async def cancel(self, kind: str, ref: int) -> list[TimerId]: ...
    async def claim(self, timer_id: TimerId, now: datetime) -> Timer | None:
        """Mark a pending, due timer fired and return it; None if it is not (any longer)."""
        ...

    async def claim_many(self, timer_ids: list[TimerId], now: datetime) -> list[Timer]:
        """`claim` for several: the timers among them still pending and due, in due order."""
        ...

    async def due(self, now: datetime, limit: int) -> list[TimerId]: ...
    async def pending(self) -> list[Timer]: ...


class OutboxRepo(Protocol):
    async def add_many(self, rows: list[NewMessage], at: datetime) -> list[OutboxId]:
        """Queue several messages at once, in this order; returns their ids in that order."""
        ...

    async def pending(self, now: datetime, limit: int) -> list[OutboxItem]:
        """Due rows, oldest first, none behind an earlier row of the same person that waits
        for a retry; each with its ledger."""
        ...

    async def waiting_people(self, now: datetime) -> set[PersonId]:
        """The people with a pending row that waits for a retry (due later than `now`)."""
        ...

    async def record(self, entries: list[LedgerEntry], at: datetime) -> None:
        """Write these ledger entries, replacing earlier ones of the same part."""
        ...

    async def refs_for_topic(self, person_id: PersonId, topic: str, transport: str) -> list[str]:
        """The sent, editable parts of this person's messages under `topic`."""
        ...

    async def finish_many(self, statuses: dict[OutboxId, str], at: datetime) -> None:
        """Finish rows: each gets its status ("sent", "unreachable" or "failed")."""
        ...

    async def retry_later(self, outbox_id: OutboxId, at: datetime, error: str) -> None: ...


class AuditRepo(Protocol):
    async def append_many(self, records: list[AuditRecord]) -> None: ...
    async def all(self) -> list[AuditRecord]: ...


class ConversationRepo(Protocol):
    async def get(self, person_id: PersonId) -> dict[str, Any] | None: ...
    async def set(
        self, person_id: PersonId, state: dict[str, Any] | None, at: datetime
    ) -> None: ...


class InboundRepo(Protocol):
    async def first_time(self, origin: Origin, event_id: str, at: datetime) -> bool:
        """Record an inbound event id; False if it was recorded before (a redelivery)."""
        ...


class LinkRepo(Protocol):
    async def add(
        self, code_hash: str, person_id: PersonId, at: datetime, expires_at: datetime
    ) -> None: ...
    async def take(self, code_hash: str, now: datetime, used_by: str) -> PersonId | None:
        """Use a code: the person it links, if it exists, is unused and has not expired."""
        ...

    async def record_failure(self, who: str, at: datetime) -> None: ...
    async def failures_since(self, who: str, since: datetime) -> int: ...


class AnalyseRepo(Protocol):
    async def by_incident(self, incident_id: IncidentId) -> Analyse | None: ...
    async def get(self, analyse_id: AnalyseId, *, for_update: bool = False) -> Analyse | None: ...
    async def create(self, incident_id: IncidentId, by: PersonId, at: datetime) -> Analyse: ...
    async def for_editor(self, person_id: PersonId) -> list[Analyse]: ...
    async def editors(self, analyse_id: AnalyseId) -> list[Editor]: ...
    async def set_editor(self, editor: Editor) -> None: ...
    async def fields(self, analyse_id: AnalyseId) -> dict[str, FieldValue]: ...
    async def set_field(
        self, analyse_id: AnalyseId, key: str, value: Answer, editor: PersonId, at: datetime
    ) -> None: ...
    async def clear_field(self, analyse_id: AnalyseId, key: str) -> None: ...
    async def publish(self, analyse_id: AnalyseId, version: Version) -> int:
        """Store a version; returns its row id (for timers)."""
        ...

    async def version(self, analyse_id: AnalyseId, number: int) -> Version | None: ...
    async def version_by_row(self, row_id: int) -> tuple[AnalyseId, Version] | None: ...
    async def add_copy(self, copy: Copy) -> None: ...
    async def copies(self, analyse_id: AnalyseId) -> list[Copy]: ...
    async def mark_read(
        self, analyse_id: AnalyseId, number: int, person_id: PersonId, at: datetime
    ) -> bool:
        """Record "Gelezen"; False if it was recorded before."""
        ...

    async def convene_bt(self, analyse_id: AnalyseId, by: PersonId, at: datetime) -> None: ...


@dataclass(frozen=True, slots=True)
class CalendarFeed:
    """A calendar subscription (core.roster.feeds): a person's own duties (kind "person"), or
    a roster as /rooster selects it (kind "roster": function and scope, "" for all)."""

    person_id: PersonId
    kind: str
    function_key: str
    scope: str
    created_at: datetime


class CalendarFeedRepo(Protocol):
    """Calendar subscriptions, found by the sha256 of their token (the token is not kept)."""

    async def put(self, feed: CalendarFeed, token_hash: str) -> bool:
        """Give the feed this token, replacing any earlier one; True if there was one."""
        ...

    async def by_token(self, token_hash: str) -> CalendarFeed | None: ...
    async def of_person(self, person_id: PersonId) -> list[CalendarFeed]: ...
    async def remove(self, person_id: PersonId, kind: str, function_key: str, scope: str) -> bool:
        """Stop a subscription; False if there was none."""
        ...


@dataclass(frozen=True, slots=True)
class RetentionCutoffs:
    """What retention removes: everything it concerns from before these moments."""

    personal: datetime  # closed incidents' content, ended rosters, stale conversations
    audit: datetime  # audit records
    transient: datetime  # handled inbox rows, delivered outbox rows, seen event ids, used codes


class RetentionRepo(Protocol):
    async def purge(self, cutoffs: RetentionCutoffs) -> dict[str, int]:
        """Remove what is older than the cutoffs, keeping anonymous statistics of the
        incidents removed; how many rows of each kind went."""
        ...


class UnitOfWork(Protocol):
    """One database transaction. Leaving the context without `commit` rolls back."""

    # Read-only members, so an implementation may hold more specific repositories.
    @property
    def directory(self) -> DirectoryRepo: ...
    @property
    def incidents(self) -> IncidentRepo: ...
    @property
    def pages(self) -> PageRepo: ...
    @property
    def timers(self) -> TimerRepo: ...
    @property
    def outbox(self) -> OutboxRepo: ...
    @property
    def audit(self) -> AuditRepo: ...
    @property
    def conversations(self) -> ConversationRepo: ...
    @property
    def inbound(self) -> InboundRepo: ...
    @property
    def links(self) -> LinkRepo: ...
    @property
    def analyses(self) -> AnalyseRepo: ...
    @property
    def roster(self) -> RosterRepo: ...
    @property
    def calendar_feeds(self) -> CalendarFeedRepo: ...
    @property
    def bt(self) -> BtRepo: ...
    @property
    def retention(self) -> RetentionRepo: ...

    async def commit(self) -> None: ...


class UnitOfWorkFactory(Protocol):
    def __call__(self) -> AbstractAsyncContextManager[UnitOfWork]: ...


class TimerScheduler(Protocol):
    """Triggers timers at their due time. The rows in the database stay the truth."""

    def schedule(self, timer_id: TimerId, due_at: datetime) -> None: ...
    def cancel(self, timer_id: TimerId) -> None: ...


@dataclass(frozen=True, slots=True)
class DeliveryLimits:
    """A platform's sending limits, kept by the deliverer's pacer."""

    per_chat_interval: float  # seconds between two messages to one chat
    per_second: float  # messages per second over all chats
    per_group_interval: float | None = None  # a group's own spacing, if stricter than a chat's


class Transport(Protocol):
    """Delivers render-neutral messages to people on one platform, part by part.

    A transport may declare `limits: DeliveryLimits`; without it nothing is paced. Every
    failure is raised as a `core.errors.DeliveryError` of the kind it is.
    """

    name: str

    def reaches(self, person: Person) -> bool: ...

    def parts(self, message: Message) -> list[Part]:
        """How the message is sent here: the same message always gives the same parts."""
        ...

    async def send_part(
        self,
        person: Person,
        message: Message,
        part: int,
        *,
        note: str | None = None,
        plain: bool = False,
    ) -> str | None:
        """Send one part, `note` as a line in front (it marks a repeat); `plain` without
        any markup (the fallback for a page the platform refused). Returns the platform's
        reference for later edits."""
        ...

    async def edit(self, person: Person, ref: str, message: Message) -> None: ...


# What an adapter needs to answer an event it stored (Telegram: the pressed button's
# callback query id); kept with the event in the inbox.
AnswerContext = dict[str, str]


class Inbox(Protocol):
    """The durable inbox, as an adapter sees it: events are stored before the platform is
    told they arrived, and handled from there (scm_bot.inbox)."""

    async def accept(self, entries: list[tuple[InboundEvent, AnswerContext]]) -> None:
        """Store events with what answering them needs; raises StorageError."""
        ...

    async def tell_delayed(self, event: InboundEvent, context: AnswerContext) -> None:
        """Tell the sender that storing failed and it will be tried again."""
        ...

    def answer_with(self, origin: Origin, answerer: Answerer) -> None: ...


class Answerer(Protocol):
    """An adapter's way back to the sender of an event, outside the outbox."""

    async def answer(self, item: InboxItem, replies: list[Message]) -> None:
        """The event was handled: send the direct replies (to a stranger) and whatever the
        platform expects (a pressed button stops spinning)."""
        ...

    async def tell(self, event: InboundEvent, context: AnswerContext, message: Message) -> None:
        """Say something straight to the sender, best effort (storage is failing)."""
        ...


@dataclass(frozen=True, slots=True)
class InboxItem:
    """A stored inbound event, and what the adapter needs to answer it."""

    id: int
    event: InboundEvent
    context: AnswerContext
    attempts: int
    received_at: datetime | None = None  # when it was stored (the inbox lag metric)
