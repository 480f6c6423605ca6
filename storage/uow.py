"""The SQL unit of work: one connection, one transaction, the core's repositories on top."""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import AsyncIterator, Callable, Collection
from contextlib import AbstractAsyncContextManager, asynccontextmanager, nullcontext
from datetime import datetime, timedelta
from typing import Any, Self
from zoneinfo import ZoneInfo

import structlog
from sqlalchemy import Engine, Select, Table, and_, bindparam, func, select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.exc import DBAPIError, SQLAlchemyError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine
from sqlalchemy.sql import Executable

from core.analyse.model import Analyse, AnalyseId, Copy, Editor, FieldValue, Version
from core.errors import StorageError
from core.events import clean
from core.messages import Message
from core.model import (
    AlertKind,
    Directory,
    EscalationPolicy,
    EscalationStep,
    Gemeente,
    GemeenteId,
    Incident,
    IncidentId,
    IncidentStatus,
    Language,
    Origin,
    OutboxId,
    Page,
    PageId,
    PageStatus,
    PageTarget,
    Person,
    PersonId,
    PiketFunction,
    Region,
    TargetStatus,
    Timer,
    TimerId,
)
from core.ports import (
    AuditRecord,
    LedgerEntry,
    NewIncident,
    NewMessage,
    OutboxItem,
    PartStatus,
)
from core.region.file import EscalationSpec, Settings
from storage.connection import Conn, SqliteConn, sqlite_engine
from storage.database import describe_error, is_sqlite, table
from storage.repos.inbox import INBOX, SqlInboxRepo
from storage.repos.roster import SqlCalendarFeedRepo, SqlRosterRepo
from storage.tables import (
    AnalyseCopyRow,
    AnalyseEditorRow,
    AnalyseFieldRow,
    AnalyseRow,
    AnalyseVersionRow,
    AuditRow,
    ConversationRow,
    CounterRow,
    FunctionRow,
    GemeenteRow,
    InboundEventRow,
    IncidentRow,
    LedgerRow,
    LinkAttemptRow,
    LinkCodeRow,
    OutboxRow,
    PageRow,
    PageTargetRow,
    PersonRow,
    RegionRow,
    RotationRow,
    TimerRow,
)

log = structlog.get_logger(__name__)

REGION = table(RegionRow)
PERSON = table(PersonRow)
GEMEENTE = table(GemeenteRow)
FUNCTION = table(FunctionRow)
ROTATION = table(RotationRow)
COUNTER = table(CounterRow)
INCIDENT = table(IncidentRow)
PAGE = table(PageRow)
TARGET = table(PageTargetRow)
TIMER = table(TimerRow)
OUTBOX = table(OutboxRow)
LEDGER = table(LedgerRow)

AUDIT = table(AuditRow)
CONVERSATION = table(ConversationRow)
INBOUND = table(InboundEventRow)
LINK_CODE = table(LinkCodeRow)
LINK_ATTEMPT = table(LinkAttemptRow)
ANALYSE = table(AnalyseRow)
ANALYSE_EDITOR = table(AnalyseEditorRow)
ANALYSE_FIELD = table(AnalyseFieldRow)
ANALYSE_VERSION = table(AnalyseVersionRow)
ANALYSE_COPY = table(AnalyseCopyRow)


def _pending_outbox() -> Select[Any]:
    """Due outbox rows; built once, as the delivery loop runs it after every commit."""
    now = bindparam("now", type_=OUTBOX.c.next_attempt_at.type)
    earlier = OUTBOX.alias("earlier")
    waiting = (
        select(earlier.c.id)
        .where(
            earlier.c.person_id == OUTBOX.c.person_id,
            earlier.c.status == "pending",
            earlier.c.id < OUTBOX.c.id,
            earlier.c.next_attempt_at > now,
        )
        .exists()
    )
    # Per person, first in first out: nothing overtakes a message waiting for a retry.
    return (
        select(OUTBOX)
        .where(OUTBOX.c.status == "pending", OUTBOX.c.next_attempt_at <= now, ~waiting)
        .order_by(OUTBOX.c.id)
    )


# The statements every event runs, built once: building a statement costs more than running
# it on SQLite (benchmarks/inbound_throughput.py).
_PENDING = _pending_outbox()
_PENDING_BATCHES: dict[int, Select[Any]] = {}
_LEDGER_OF = select(LEDGER).where(LEDGER.c.outbox_id.in_(bindparam("ids", expanding=True)))
# Many rows in one statement. Their ids come back in no promised order, but a statement
# numbers its rows in the order of its VALUES (SQLite's rowid, PostgreSQL's sequence), so
# the sorted ids are the rows' in order. (`sort_by_parameter_order` would make SQLAlchemy
# send one INSERT per row here.)
_ADD_OUTBOX_ROWS = OUTBOX.insert().returning(OUTBOX.c.id)
_FINISH_OUTBOX = (
    update(OUTBOX)
    .where(OUTBOX.c.id.in_(bindparam("ids", expanding=True)))
    .values(status=bindparam("new_status"), finished_at=bindparam("at"))
    # The secrets a row's message carries (NULL for almost every row): blanked next.
    .returning(OUTBOX.c.id, OUTBOX.c.payload["secrets"].label("secrets"))
)
_WAITING_PEOPLE = (
    select(OUTBOX.c.person_id)
    .where(
        OUTBOX.c.status == "pending",
        OUTBOX.c.next_attempt_at > bindparam("now", type_=OUTBOX.c.next_attempt_at.type),
    )
    .distinct()
)
_TOPIC_REFS = (
    select(LEDGER.c.ref)
    .join(OUTBOX, OUTBOX.c.id == LEDGER.c.outbox_id)
    .where(
        OUTBOX.c.person_id == bindparam("person_id"),
        OUTBOX.c.topic == bindparam("topic"),
        LEDGER.c.transport == bindparam("transport"),
        LEDGER.c.status == PartStatus.SENT.value,
        LEDGER.c.buttons,
        LEDGER.c.ref.is_not(None),
    )
    .order_by(LEDGER.c.id)
)
_PAGES_OF = (
    select(PAGE).where(PAGE.c.incident_id.in_(bindparam("ids", expanding=True))).order_by(PAGE.c.id)
)
_TARGETS_OF = (
    select(TARGET)
    .where(TARGET.c.page_id.in_(bindparam("ids", expanding=True)))
    .order_by(TARGET.c.page_id, TARGET.c.paged_at)
)
_ADD_INCIDENT = INCIDENT.insert().returning(INCIDENT.c.id)
_ADD_PAGE = PAGE.insert().returning(PAGE.c.id)
_ADD_TARGET = TARGET.insert()
_ADD_TIMER = TIMER.insert().returning(TIMER.c.id)
_UPDATE_PAGE = (
    update(PAGE)
    .where(PAGE.c.id == bindparam("page_id"))
    .values(
        status=bindparam("new_status"),
        step_index=bindparam("new_step"),
        attempt=bindparam("new_attempt"),
        acknowledged_by=bindparam("by"),
        acknowledged_at=bindparam("at", type_=PAGE.c.acknowledged_at.type),
    )
)
_CLAIM_TIMERS = (
    update(TIMER)
    .where(
        TIMER.c.id.in_(bindparam("ids", expanding=True)),
        TIMER.c.status == "pending",
        TIMER.c.due_at <= bindparam("now", type_=TIMER.c.due_at.type),
    )
    .values(status="fired", fired_at=bindparam("now", type_=TIMER.c.fired_at.type))
    .returning(TIMER.c.id, TIMER.c.kind, TIMER.c.ref, TIMER.c.due_at)
)
_CANCEL_TIMERS = (
    update(TIMER)
    .where(
        TIMER.c.kind == bindparam("timer_kind"),
        TIMER.c.ref == bindparam("timer_ref"),
        TIMER.c.status == "pending",
    )
    .values(status="cancelled")
    .returning(TIMER.c.id)
)
_INBOX_DONE = (
    update(INBOX)
    .where(
        INBOX.c.origin == bindparam("o"),
        INBOX.c.event_id == bindparam("e"),
        INBOX.c.status == "pending",
    )
    .values(status="done", handled_at=bindparam("at", type_=INBOX.c.handled_at.type))
)
_REVISION = select(REGION.c.revision).limit(1)
_REGION = select(REGION).limit(1)
_CONVERSATION = select(CONVERSATION.c.state).where(CONVERSATION.c.person_id == bindparam("pid"))
_END_CONVERSATION = CONVERSATION.delete().where(CONVERSATION.c.person_id == bindparam("pid"))


def _set_conversation(insert: Callable[[Table], Any]) -> Executable:
    """A conversation's state, new or replaced: one statement."""
    new = insert(CONVERSATION)
    return new.on_conflict_do_update(  # type: ignore[no-any-return]
        index_elements=[CONVERSATION.c.person_id],
        set_={"state": new.excluded.state, "updated_at": new.excluded.updated_at},
    )


def _next_number_upsert(insert: Callable[[Table], Any]) -> Executable:
    """The next number of a counter (created at 1): one statement."""
    new = insert(COUNTER).values(name=bindparam("name"), value=1)
    return new.on_conflict_do_update(  # type: ignore[no-any-return]
        index_elements=[COUNTER.c.name], set_={"value": COUNTER.c.value + 1}
    ).returning(COUNTER.c.value)


def _per_dialect(build: Callable[[Callable[[Table], Any]], Executable]) -> dict[str, Executable]:
    """An upsert built once for each dialect's INSERT (by `conn.dialect.name`)."""
    return {"sqlite": build(sqlite_insert), "postgresql": build(pg_insert)}


def _record_part(insert: Callable[[Table], Any]) -> Executable:
    """A part's ledger entry, new or replaced: one statement."""
    new = insert(LEDGER)
    return new.on_conflict_do_update(  # type: ignore[no-any-return]
        index_elements=[LEDGER.c.outbox_id, LEDGER.c.transport, LEDGER.c.part],
        set_={
            "status": new.excluded.status,
            "ref": new.excluded.ref,
            "buttons": new.excluded.buttons,
            "at": new.excluded.at,
        },
    )


_NEXT_NUMBER = _per_dialect(_next_number_upsert)
_RECORD_PART = _per_dialect(_record_part)
_SET_CONVERSATION = _per_dialect(_set_conversation)
_ADD_AUDIT = AUDIT.insert()


def policy_from_json(data: dict[str, Any]) -> EscalationPolicy:
    """A function's escalation as stored: read by the region file's own model."""
    spec = EscalationSpec.model_validate(data)
    return EscalationPolicy(
        steps=tuple(EscalationStep(step.target, step.value) for step in spec.steps),
        repeat_after=timedelta(minutes=spec.repeat_after_minutes),
        repeats=spec.repeats,
    )


class _DirectoryCache:
    """The loaded directory and the region revision it belongs to, shared per factory.

    Every unit of work reads the revision (one small row); whatever changes people, chats,
    functions or rosters bumps it in the same transaction, so a cached directory is used
    only while its revision is still the current one.
    """

    def __init__(self) -> None:
        self.revision: int | None = None
        self.directory: Directory | None = None


class SqlDirectoryRepo:
    def __init__(
        self,
        conn: Conn,
        cache: _DirectoryCache,
        revision: int | None,
        roster_changed: Callable[[], bool],
    ) -> None:
        self.conn = conn
        self.cache = cache
        self.changed = False  # a person changed in this unit of work
        self._revision = revision  # read as the unit of work began (the factory's probe)
        self._probed = revision is not None
        self._roster_changed = roster_changed

    async def load(self) -> Directory:
        if self._probed and not (self.changed or self._roster_changed()):
            self._probed = False  # the unit's first load, and it changed nothing yet
            revision = self._revision
        else:
            revision = (await self.conn.execute(_REVISION)).scalar_one_or_none()
        if revision is None:
            return _empty_directory()
        if self.cache.directory is not None and self.cache.revision == revision:
            return self.cache.directory
        row = (await self.conn.execute(_REGION)).mappings().one()
        tz = ZoneInfo(row["timezone"])
        region = Region(
            code=row["code"],
            name=row["name"],
            timezone=tz,
            alarm_functions=tuple(Settings.model_validate(row["settings"]).alarm_functions),
        )
        # Everyone, those no longer in the region too: existing incidents still name them.
        every = (await self.conn.execute(select(PERSON))).mappings().all()
        rows = [p for p in every if p["active"]]
        people = {PersonId(p["id"]): _person(p) for p in rows if p["chat_gemeenten"] is None}
        former = {
            PersonId(p["id"]): _person(p)
            for p in every
            if not p["active"] and p["chat_gemeenten"] is None
        }
        gemeenten = tuple(
            Gemeente(
                id=GemeenteId(g["id"]),
                key=g["key"],
                name=g["name"],
                burgemeester=g["burgemeester_id"],
                locoburgemeester=g["locoburgemeester_id"],
                loco_acting=g["loco_acting"],
                share_with=tuple(PersonId(i) for i in g["share_with"]),
            )
            for g in (
                await self.conn.execute(select(GEMEENTE).order_by(GEMEENTE.c.name))
            ).mappings()
        )
        functions = {
            f["key"]: PiketFunction(f["key"], f["name"], policy_from_json(f["escalation"]))
            for f in (await self.conn.execute(select(FUNCTION))).mappings()
        }
        chats = {
            PersonId(p["id"]): _person(p, _followed(p["chat_gemeenten"], gemeenten))
            for p in rows
            if p["chat_gemeenten"] is not None
        }
        directory = Directory(region, people, gemeenten, functions, chats, former)
        self.cache.revision, self.cache.directory = row["revision"], directory
        return directory

    async def set_unreachable(self, person_id: PersonId, transport: str, value: bool) -> bool:
        """Remember that a transport cannot reach a person (or no longer cannot); whether
        that changed anything."""
        stmt = select(PERSON.c.unreachable).where(PERSON.c.id == person_id)
        current = set((await self.conn.execute(stmt)).scalar_one_or_none() or [])
        wanted = current | {transport} if value else current - {transport}
        if wanted == current:
            return False
        await self.conn.execute(
            update(PERSON).where(PERSON.c.id == person_id).values(unreachable=sorted(wanted))
        )
        await self._changed()
        return True

    async def link(
        self,
        person_id: PersonId,
        *,
        telegram_user_id: int | None = None,
        slack_user_id: str | None = None,
    ) -> None:
        """Link a chat account to a person (taking it from anyone who had it before)."""
        if telegram_user_id is not None:
            await self.conn.execute(
                update(PERSON)
                .where(PERSON.c.telegram_user_id == telegram_user_id)
                .values(telegram_user_id=None)
            )
            await self.conn.execute(
                update(PERSON)
                .where(PERSON.c.id == person_id)
                .values(telegram_user_id=telegram_user_id)
            )
        if slack_user_id is not None:
            await self.conn.execute(
                update(PERSON)
                .where(PERSON.c.slack_user_id == slack_user_id)
                .values(slack_user_id=None)
            )
            await self.conn.execute(
                update(PERSON).where(PERSON.c.id == person_id).values(slack_user_id=slack_user_id)
            )
        await self._changed()

    async def set_language(self, person_id: PersonId, language: str) -> None:
        await self.conn.execute(
            update(PERSON).where(PERSON.c.id == person_id).values(language=language)
        )
        await self._changed()

    async def _changed(self) -> None:
        """A person changed: every cached directory is out of date."""
        await self.conn.execute(update(REGION).values(revision=REGION.c.revision + 1))
        self.changed = True


def _person(row: Any, chat_for: frozenset[GemeenteId] | None = None) -> Person:
    return Person(
        id=PersonId(row["id"]),
        key=row["key"],
        name=row["name"],
        functions=frozenset(row["functions"]),
        language=Language(row["language"]),
        telegram_user_id=row["telegram_user_id"],
        slack_user_id=row["slack_user_id"],
        unreachable=frozenset(row["unreachable"]),
        chat_for=chat_for,
        active=row["active"],
    )


def _followed(keys: list[str], gemeenten: tuple[Gemeente, ...]) -> frozenset[GemeenteId]:
    """The gemeenten a configured chat follows: those it names, or every one when it names
    none. A name that no longer resolves follows nothing (never more than asked for)."""
    return frozenset(g.id for g in gemeenten if not keys or g.key in keys)


def _empty_directory() -> Directory:
    return Directory(Region("VR", "", ZoneInfo("Europe/Amsterdam")), {}, (), {})


def _incident(row: Any) -> Incident:
    return Incident(
        id=IncidentId(row["id"]),
        public_id=row["public_id"],
        kind=AlertKind(row["kind"]),
        description=row["description"],
        location=row["location"],
        opschaling=row["opschaling"],
        gemeenten=tuple(GemeenteId(g) for g in row["gemeenten"]),
        status=IncidentStatus(row["status"]),
        created_by=PersonId(row["created_by"]),
        created_at=row["created_at"],
        closed_at=row["closed_at"],
        closed_by=row["closed_by"],
    )


class SqlIncidentRepo:
    def __init__(self, conn: Conn) -> None:
        self.conn = conn

    async def _next_number(self, prefix: str) -> int:
        stmt = _NEXT_NUMBER[self.conn.dialect.name]
        return int((await self.conn.execute(stmt, {"name": f"incident:{prefix}"})).scalar_one())

    async def add(self, new: NewIncident, prefix: str) -> Incident:
        number = await self._next_number(prefix)
        values: dict[str, Any] = {
            "public_id": f"{prefix}-{number:04d}",
            "kind": new.kind.value,
            "description": new.description,
            "location": new.location,
            "opschaling": new.opschaling,
            "gemeenten": list(new.gemeenten),
            "status": IncidentStatus.OPEN.value,
            "created_by": new.created_by,
            "created_at": new.created_at,
        }
        result = await self.conn.execute(_ADD_INCIDENT, values)
        return _incident(
            {**values, "id": result.scalar_one(), "closed_at": None, "closed_by": None}
        )

    async def get(self, incident_id: IncidentId, *, for_update: bool = False) -> Incident | None:
        stmt = select(INCIDENT).where(INCIDENT.c.id == incident_id)
        if for_update:
            stmt = stmt.with_for_update()
        row = (await self.conn.execute(stmt)).mappings().first()
        return _incident(row) if row else None

    async def by_public_id(self, public_id: str) -> Incident | None:
        stmt = select(INCIDENT).where(INCIDENT.c.public_id == public_id)
        row = (await self.conn.execute(stmt)).mappings().first()
        return _incident(row) if row else None

    async def numbered(self, number: str) -> list[Incident]:
        if not number.isascii() or not number.isdigit():
            return []  # digits only: nothing for LIKE to read as a wildcard
        stmt = select(INCIDENT).where(INCIDENT.c.public_id.like(f"%-{number}"))
        rows = await self.conn.execute(stmt.order_by(INCIDENT.c.id.desc()))
        return [_incident(r) for r in rows.mappings()]

    async def open(self) -> list[Incident]:
        stmt = select(INCIDENT).where(INCIDENT.c.status == IncidentStatus.OPEN.value)
        return [
            _incident(r) for r in (await self.conn.execute(stmt.order_by(INCIDENT.c.id))).mappings()
        ]

    async def close(self, incident_id: IncidentId, by: PersonId, at: datetime) -> None:
        await self.conn.execute(
            update(INCIDENT)
            .where(INCIDENT.c.id == incident_id)
            .values(status=IncidentStatus.CLOSED.value, closed_by=by, closed_at=at)
        )


def _page(row: Any) -> Page:
    return Page(
        id=PageId(row["id"]),
        incident_id=IncidentId(row["incident_id"]),
        function_key=row["function_key"],
        status=PageStatus(row["status"]),
        step_index=row["step_index"],
        attempt=row["attempt"],
        created_at=row["created_at"],
        acknowledged_by=row["acknowledged_by"],
        acknowledged_at=row["acknowledged_at"],
    )


class SqlPageRepo:
    def __init__(self, conn: Conn) -> None:
        self.conn = conn

    async def add(
        self, incident_id: IncidentId, function_key: str, status: PageStatus, at: datetime
    ) -> Page:
        values: dict[str, Any] = {
            "incident_id": incident_id,
            "function_key": function_key,
            "status": status.value,
            "step_index": 0,
            "attempt": 1,  # its first attempt at the first step (`Paging.start`)
            "created_at": at,
        }
        result = await self.conn.execute(_ADD_PAGE, values)
        return _page(
            {**values, "id": result.scalar_one(), "acknowledged_by": None, "acknowledged_at": None}
        )

    async def get(self, page_id: PageId, *, for_update: bool = False) -> Page | None:
        stmt = select(PAGE).where(PAGE.c.id == page_id)
        if for_update:
            stmt = stmt.with_for_update()
        row = (await self.conn.execute(stmt)).mappings().first()
        return _page(row) if row else None

    async def for_incidents(self, incident_ids: Collection[IncidentId]) -> list[Page]:
        if not incident_ids:
            return []
        result = await self.conn.execute(_PAGES_OF, {"ids": list(incident_ids)})
        return [_page(r) for r in result.mappings()]

    async def update(self, page: Page) -> None:
        row = {
            "page_id": page.id,
            "new_status": page.status.value,
            "new_step": page.step_index,
            "new_attempt": page.attempt,
            "by": page.acknowledged_by,
            "at": page.acknowledged_at,
        }
        await self.conn.execute(_UPDATE_PAGE, row)

    async def add_target(self, target: PageTarget) -> None:
        row = {
            "page_id": target.page_id,
            "person_id": target.person_id,
            "step_index": target.step_index,
            "status": target.status.value,
            "paged_at": target.paged_at,
            "answered_at": target.answered_at,
        }
        await self.conn.execute(_ADD_TARGET, row)

    async def targets(self, page_ids: Collection[PageId]) -> list[PageTarget]:
        if not page_ids:
            return []
        result = await self.conn.execute(_TARGETS_OF, {"ids": list(page_ids)})
        return [
            PageTarget(
                PageId(r["page_id"]),
                PersonId(r["person_id"]),
                r["step_index"],
                TargetStatus(r["status"]),
                r["paged_at"],
                r["answered_at"],
                r["delivered_at"],
            )
            for r in result.mappings()
        ]

    async def set_target_status(
        self, page_id: PageId, person_id: PersonId, status: TargetStatus, at: datetime
    ) -> None:
        values: dict[str, Any] = {"status": status.value}
        if status is TargetStatus.PAGED:
            values["paged_at"] = at
            values["delivered_at"] = None  # paged again: not delivered yet
        else:
            values["answered_at"] = at
        await self.conn.execute(
            update(TARGET)
            .where(and_(TARGET.c.page_id == page_id, TARGET.c.person_id == person_id))
            .values(**values)
        )

    async def set_target_delivered(
        self, page_id: PageId, person_id: PersonId, at: datetime
    ) -> None:
        await self.conn.execute(
            update(TARGET)
            .where(and_(TARGET.c.page_id == page_id, TARGET.c.person_id == person_id))
            .values(delivered_at=at)
        )


class SqlTimerRepo:
    def __init__(self, conn: Conn) -> None:
        self.conn = conn

    async def add(self, kind: str, ref: int, due_at: datetime) -> TimerId:
        row = {
            "kind": kind,
            "ref": ref,
            "due_at": due_at,
            "status": "pending",
            "created_at": datetime.now(due_at.tzinfo),
        }
        result = await self.conn.execute(_ADD_TIMER, row)
        return TimerId(result.scalar_one())

    async def cancel(self, kind: str, ref: int) -> list[TimerId]:
        result = await self.conn.execute(_CANCEL_TIMERS, {"timer_kind": kind, "timer_ref": ref})
        return [TimerId(i) for i in result.scalars()]

    async def claim(self, timer_id: TimerId, now: datetime) -> Timer | None:
        claimed = await self.claim_many([timer_id], now)
        return claimed[0] if claimed else None

    async def claim_many(self, timer_ids: list[TimerId], now: datetime) -> list[Timer]:
        if not timer_ids:
            return []
        rows = await self.conn.execute(_CLAIM_TIMERS, {"ids": timer_ids, "now": now})
        timers = [Timer(TimerId(r.id), r.kind, r.ref, r.due_at) for r in rows]
        return sorted(timers, key=lambda timer: (timer.due_at, timer.id))

    async def due(self, now: datetime, limit: int) -> list[TimerId]:
        stmt = (
            select(TIMER.c.id)
            .where(and_(TIMER.c.status == "pending", TIMER.c.due_at <= now))
            .order_by(TIMER.c.due_at, TIMER.c.id)
            .limit(limit)
        )
        return [TimerId(i) for i in (await self.conn.execute(stmt)).scalars()]

    async def pending(self) -> list[Timer]:
        stmt = select(TIMER).where(TIMER.c.status == "pending").order_by(TIMER.c.due_at)
        return [
            Timer(TimerId(r["id"]), r["kind"], r["ref"], r["due_at"])
            for r in (await self.conn.execute(stmt)).mappings()
        ]


def _storable(value: Any) -> Any:
    """JSON that every database keeps: no unpaired surrogate (PostgreSQL's JSON refuses
    one), whatever text a message was made of."""
    if isinstance(value, str):
        return clean(value)
    if isinstance(value, list):
        return [_storable(v) for v in value]
    if isinstance(value, dict):
        return {k: _storable(v) for k, v in value.items()}
    return value


def _outbox_values(row: NewMessage, at: datetime) -> dict[str, Any]:
    return {
        "person_id": row.person_id,
        "kind": row.kind,
        "topic": row.topic,
        "payload": _storable(row.message.to_json()),
        "status": "pending",
        "attempts": 0,
        "next_attempt_at": at,
        "created_at": at,
    }


def _audit_values(record: AuditRecord) -> dict[str, Any]:
    return {
        "at": record.at,
        "actor": record.actor,
        "action": record.action,
        "object": record.object,
        "result": record.result,
        "origin": record.origin.value,
        "detail": record.detail,
    }


class SqlOutboxRepo:
    def __init__(self, conn: Conn) -> None:
        self.conn = conn

    async def add_many(self, rows: list[NewMessage], at: datetime) -> list[OutboxId]:
        if not rows:
            return []
        values = [_outbox_values(row, at) for row in rows]
        result = await self.conn.execute(_ADD_OUTBOX_ROWS, values)
        return [OutboxId(i) for i in sorted(result.scalars())]

    async def pending(self, now: datetime, limit: int) -> list[OutboxItem]:
        stmt = _PENDING_BATCHES.get(limit)
        if stmt is None:
            stmt = _PENDING_BATCHES[limit] = _PENDING.limit(limit)
        rows = list((await self.conn.execute(stmt, {"now": now})).mappings())
        ledger: dict[int, list[LedgerEntry]] = {}
        if rows:  # what a crash or a retry left half done: one query for the whole batch
            result = await self.conn.execute(_LEDGER_OF, {"ids": [r["id"] for r in rows]})
            for row in result:
                ledger.setdefault(row.outbox_id, []).append(
                    LedgerEntry(
                        OutboxId(row.outbox_id),
                        row.transport,
                        row.part,
                        PartStatus(row.status),
                        row.ref,
                        row.buttons,
                    )
                )
        return [
            OutboxItem(
                OutboxId(r["id"]),
                PersonId(r["person_id"]),
                r["kind"],
                r["topic"],
                Message.from_json(r["payload"]),
                r["attempts"],
                tuple(ledger.get(r["id"], ())),
            )
            for r in rows
        ]

    async def waiting_people(self, now: datetime) -> set[PersonId]:
        rows = await self.conn.execute(_WAITING_PEOPLE, {"now": now})
        return {PersonId(person_id) for person_id in rows.scalars()}

    async def record(self, entries: list[LedgerEntry], at: datetime) -> None:
        if entries:
            rows = [
                {
                    "outbox_id": e.outbox_id,
                    "transport": e.transport,
                    "part": e.part,
                    "status": e.status.value,
                    "ref": e.ref,
                    "buttons": e.editable,
                    "at": at,
                }
                for e in entries
            ]
            await self.conn.execute(_RECORD_PART[self.conn.dialect.name], rows)

    async def refs_for_topic(self, person_id: PersonId, topic: str, transport: str) -> list[str]:
        values = {"person_id": person_id, "topic": topic, "transport": transport}
        return [r for r in (await self.conn.execute(_TOPIC_REFS, values)).scalars() if r]

    async def finish_many(self, statuses: dict[OutboxId, str], at: datetime) -> None:
        by_status: dict[str, list[OutboxId]] = {}
        for outbox_id, status in statuses.items():
            by_status.setdefault(status, []).append(outbox_id)
        secret: list[OutboxId] = []
        for status, ids in by_status.items():
            values = {"ids": ids, "new_status": status, "at": at}
            result = await self.conn.execute(_FINISH_OUTBOX, values)
            secret += [OutboxId(r["id"]) for r in result.mappings() if r["secrets"]]
        if secret:
            await self._redact(secret)

    async def _redact(self, ids: list[OutboxId]) -> None:
        """A finished row keeps no secret: its payload is stored again without them."""
        stmt = select(OUTBOX.c.id, OUTBOX.c.payload).where(OUTBOX.c.id.in_(ids))
        for row in (await self.conn.execute(stmt)).mappings().all():
            blanked = Message.from_json(row["payload"]).redacted().to_json()
            await self.conn.execute(
                update(OUTBOX).where(OUTBOX.c.id == row["id"]).values(payload=blanked)
            )

    async def retry_later(self, outbox_id: OutboxId, at: datetime, error: str) -> None:
        await self.conn.execute(
            update(OUTBOX)
            .where(OUTBOX.c.id == outbox_id)
            .values(attempts=OUTBOX.c.attempts + 1, next_attempt_at=at, last_error=error[:500])
        )

    async def count_pending(self) -> int:
        stmt = select(func.count()).select_from(OUTBOX).where(OUTBOX.c.status == "pending")
        return int((await self.conn.execute(stmt)).scalar_one())


class SqlAuditRepo:
    def __init__(self, conn: Conn) -> None:
        self.conn = conn

    async def append_many(self, records: list[AuditRecord]) -> None:
        rows = [_audit_values(record) for record in records]
        if rows:
            await self.conn.execute(_ADD_AUDIT, rows)

    async def all(self) -> list[AuditRecord]:
        rows = (await self.conn.execute(select(AUDIT).order_by(AUDIT.c.id))).mappings()
        return [
            AuditRecord(
                r["at"],
                r["actor"],
                r["action"],
                r["object"],
                r["result"],
                Origin(r["origin"]),
                r["detail"],
            )
            for r in rows
        ]


class SqlConversationRepo:
    def __init__(self, conn: Conn) -> None:
        self.conn = conn

    async def get(self, person_id: PersonId) -> dict[str, Any] | None:
        result = await self.conn.execute(_CONVERSATION, {"pid": person_id})
        state: dict[str, Any] | None = result.scalar_one_or_none()
        return state

    async def set(self, person_id: PersonId, state: dict[str, Any] | None, at: datetime) -> None:
        if state is None:
            await self.conn.execute(_END_CONVERSATION, {"pid": person_id})
            return
        row = {"person_id": person_id, "state": state, "updated_at": at}
        await self.conn.execute(_SET_CONVERSATION[self.conn.dialect.name], row)


class SqlInboundRepo:
    def __init__(self, conn: Conn) -> None:
        self.conn = conn

    async def first_time(self, origin: Origin, event_id: str, at: datetime) -> bool:
        insert = sqlite_insert if self.conn.dialect.name == "sqlite" else pg_insert
        stmt = (
            insert(INBOUND)
            .values(origin=origin.value, event_id=event_id, at=at)
            .on_conflict_do_nothing(index_elements=[INBOUND.c.origin, INBOUND.c.event_id])
        )
        first = (await self.conn.execute(stmt)).rowcount == 1
        # The inbox row of this event is handled in the same transaction: done exactly when
        # its effects commit.
        await self.conn.execute(_INBOX_DONE, {"o": origin.value, "e": event_id, "at": at})
        return first


class SqlLinkRepo:
    def __init__(self, conn: Conn) -> None:
        self.conn = conn

    async def add(
        self, code_hash: str, person_id: PersonId, at: datetime, expires_at: datetime
    ) -> None:
        await self.conn.execute(
            LINK_CODE.insert().values(
                code_hash=code_hash, person_id=person_id, created_at=at, expires_at=expires_at
            )
        )

    async def take(self, code_hash: str, now: datetime, used_by: str) -> PersonId | None:
        stmt = (
            update(LINK_CODE)
            .where(
                LINK_CODE.c.code_hash == code_hash,
                LINK_CODE.c.used_at.is_(None),
                LINK_CODE.c.expires_at > now,
            )
            .values(used_at=now, used_by=used_by)
            .returning(LINK_CODE.c.person_id)
        )
        person_id = (await self.conn.execute(stmt)).scalar_one_or_none()
        return PersonId(person_id) if person_id is not None else None

    async def record_failure(self, who: str, at: datetime) -> None:
        await self.conn.execute(LINK_ATTEMPT.insert().values(who=who, at=at))

    async def failures_since(self, who: str, since: datetime) -> int:
        stmt = (
            select(func.count())
            .select_from(LINK_ATTEMPT)
            .where(LINK_ATTEMPT.c.who == who, LINK_ATTEMPT.c.at >= since)
        )
        return int((await self.conn.execute(stmt)).scalar_one())


def _analyse(row: Any) -> Analyse:
    return Analyse(
        id=AnalyseId(row["id"]),
        incident_id=IncidentId(row["incident_id"]),
        created_by=PersonId(row["created_by"]),
        created_at=row["created_at"],
        version=row["version"],
        bt_convened_by=row["bt_convened_by"],
        bt_convened_at=row["bt_convened_at"],
    )


def _version(row: Any) -> Version:
    return Version(
        number=row["number"],
        values=row["values"],
        editors=row["editors"],
        published_by=PersonId(row["published_by"]),
        published_at=row["published_at"],
        next_update_at=row["next_update_at"],
    )


def _copy(row: Any) -> Copy:
    return Copy(
        analyse_id=AnalyseId(row["analyse_id"]),
        number=row["number"],
        person_id=PersonId(row["person_id"]),
        kind=row["kind"],
        shared_by=row["shared_by"],
        at=row["at"],
        read_at=row["read_at"],
    )


class SqlAnalyseRepo:
    def __init__(self, conn: Conn) -> None:
        self.conn = conn

    async def by_incident(self, incident_id: IncidentId) -> Analyse | None:
        stmt = select(ANALYSE).where(ANALYSE.c.incident_id == incident_id)
        row = (await self.conn.execute(stmt)).mappings().first()
        return _analyse(row) if row else None

    async def get(self, analyse_id: AnalyseId, *, for_update: bool = False) -> Analyse | None:
        stmt = select(ANALYSE).where(ANALYSE.c.id == analyse_id)
        if for_update:
            stmt = stmt.with_for_update()
        row = (await self.conn.execute(stmt)).mappings().first()
        return _analyse(row) if row else None

    async def create(self, incident_id: IncidentId, by: PersonId, at: datetime) -> Analyse:
        result = await self.conn.execute(
            ANALYSE.insert()
            .values(incident_id=incident_id, created_by=by, created_at=at, version=0)
            .returning(ANALYSE.c.id)
        )
        analyse_id = AnalyseId(result.scalar_one())
        await self.set_editor(Editor(analyse_id, by, None, True, at))
        return Analyse(analyse_id, incident_id, by, at, 0)

    async def for_editor(self, person_id: PersonId) -> list[Analyse]:
        stmt = (
            select(ANALYSE)
            .join(ANALYSE_EDITOR, ANALYSE_EDITOR.c.analyse_id == ANALYSE.c.id)
            .where(ANALYSE_EDITOR.c.person_id == person_id, ANALYSE_EDITOR.c.joined.is_(True))
            .order_by(ANALYSE.c.id.desc())
        )
        return [_analyse(r) for r in (await self.conn.execute(stmt)).mappings()]

    async def editors(self, analyse_id: AnalyseId) -> list[Editor]:
        stmt = select(ANALYSE_EDITOR).where(ANALYSE_EDITOR.c.analyse_id == analyse_id)
        return [
            Editor(
                AnalyseId(r["analyse_id"]),
                PersonId(r["person_id"]),
                r["invited_by"],
                r["joined"],
                r["at"],
            )
            for r in (await self.conn.execute(stmt.order_by(ANALYSE_EDITOR.c.at))).mappings()
        ]

    async def set_editor(self, editor: Editor) -> None:
        await self.conn.execute(
            ANALYSE_EDITOR.delete().where(
                ANALYSE_EDITOR.c.analyse_id == editor.analyse_id,
                ANALYSE_EDITOR.c.person_id == editor.person_id,
            )
        )
        await self.conn.execute(
            ANALYSE_EDITOR.insert().values(
                analyse_id=editor.analyse_id,
                person_id=editor.person_id,
                invited_by=editor.invited_by,
                joined=editor.joined,
                at=editor.at,
            )
        )

    async def fields(self, analyse_id: AnalyseId) -> dict[str, FieldValue]:
        stmt = select(ANALYSE_FIELD).where(ANALYSE_FIELD.c.analyse_id == analyse_id)
        return {
            r["key"]: FieldValue(r["value"], PersonId(r["editor_id"]), r["updated_at"])
            for r in (await self.conn.execute(stmt)).mappings()
        }

    async def set_field(
        self, analyse_id: AnalyseId, key: str, value: Any, editor: PersonId, at: datetime
    ) -> None:
        await self.clear_field(analyse_id, key)
        await self.conn.execute(
            ANALYSE_FIELD.insert().values(
                analyse_id=analyse_id, key=key, value=value, editor_id=editor, updated_at=at
            )
        )

    async def clear_field(self, analyse_id: AnalyseId, key: str) -> None:
        await self.conn.execute(
            ANALYSE_FIELD.delete().where(
                ANALYSE_FIELD.c.analyse_id == analyse_id, ANALYSE_FIELD.c.key == key
            )
        )

    async def publish(self, analyse_id: AnalyseId, version: Version) -> int:
        result = await self.conn.execute(
            ANALYSE_VERSION.insert()
            .values(
                analyse_id=analyse_id,
                number=version.number,
                values=version.values,
                editors=version.editors,
                published_by=version.published_by,
                published_at=version.published_at,
                next_update_at=version.next_update_at,
            )
            .returning(ANALYSE_VERSION.c.id)
        )
        await self.conn.execute(
            update(ANALYSE).where(ANALYSE.c.id == analyse_id).values(version=version.number)
        )
        return int(result.scalar_one())

    async def version(self, analyse_id: AnalyseId, number: int) -> Version | None:
        stmt = select(ANALYSE_VERSION).where(
            ANALYSE_VERSION.c.analyse_id == analyse_id, ANALYSE_VERSION.c.number == number
        )
        row = (await self.conn.execute(stmt)).mappings().first()
        return _version(row) if row else None

    async def version_by_row(self, row_id: int) -> tuple[AnalyseId, Version] | None:
        stmt = select(ANALYSE_VERSION).where(ANALYSE_VERSION.c.id == row_id)
        row = (await self.conn.execute(stmt)).mappings().first()
        return (AnalyseId(row["analyse_id"]), _version(row)) if row else None

    async def add_copy(self, copy: Copy) -> None:
        await self.conn.execute(
            ANALYSE_COPY.insert().values(
                analyse_id=copy.analyse_id,
                number=copy.number,
                person_id=copy.person_id,
                kind=copy.kind,
                shared_by=copy.shared_by,
                at=copy.at,
                read_at=copy.read_at,
            )
        )

    async def copies(self, analyse_id: AnalyseId) -> list[Copy]:
        stmt = select(ANALYSE_COPY).where(ANALYSE_COPY.c.analyse_id == analyse_id)
        return [
            _copy(r) for r in (await self.conn.execute(stmt.order_by(ANALYSE_COPY.c.id))).mappings()
        ]

    async def mark_read(
        self, analyse_id: AnalyseId, number: int, person_id: PersonId, at: datetime
    ) -> bool:
        stmt = (
            update(ANALYSE_COPY)
            .where(
                ANALYSE_COPY.c.analyse_id == analyse_id,
                ANALYSE_COPY.c.number == number,
                ANALYSE_COPY.c.person_id == person_id,
                ANALYSE_COPY.c.read_at.is_(None),
            )
            .values(read_at=at)
        )
        return (await self.conn.execute(stmt)).rowcount > 0

    async def convene_bt(self, analyse_id: AnalyseId, by: PersonId, at: datetime) -> None:
        await self.conn.execute(
            update(ANALYSE)
            .where(ANALYSE.c.id == analyse_id)
            .values(bt_convened_by=by, bt_convened_at=at)
        )


class SqlUnitOfWork:
    def __init__(self, conn: Conn, cache: _DirectoryCache, revision: int | None) -> None:
        self.conn = conn
        self.roster = SqlRosterRepo(conn)
        self.directory = SqlDirectoryRepo(conn, cache, revision, lambda: self.roster.changed)
        self.incidents = SqlIncidentRepo(conn)
        self.pages = SqlPageRepo(conn)
        self.timers = SqlTimerRepo(conn)
        self.outbox = SqlOutboxRepo(conn)
        self.audit = SqlAuditRepo(conn)
        self.conversations = SqlConversationRepo(conn)
        self.inbound = SqlInboundRepo(conn)
        self.links = SqlLinkRepo(conn)
        self.analyses = SqlAnalyseRepo(conn)
        self.calendar_feeds = SqlCalendarFeedRepo(conn)
        self.inbox = SqlInboxRepo(conn)

    async def commit(self) -> None:
        await self.conn.commit()


class SqlUnitOfWorkFactory:
    """Hands out units of work, each on a connection of its own from the engine's pool.

    On SQLite they take turns (one lock per process): SQLite has one writer at a time, and
    two transactions of ours that both read and then want to write would wait on each
    other until `busy_timeout` runs out. Other processes (CLI commands) write only in
    short transactions, which `busy_timeout` waits out.

    A storage failure inside a unit of work (a driver or SQLAlchemy error, the disk full,
    the connection lost) rolls back, discards the connection, so that nothing of that
    transaction can leak into the next one, and is raised as `StorageError`. The next unit
    of work gets a fresh connection and works as soon as the storage does.
    """

    def __init__(self, engine: AsyncEngine) -> None:
        self.engine = engine
        self._cache = _DirectoryCache()
        url = engine.url.render_as_string(hide_password=False)
        # SQLite: a synchronous connection on the loop (see `storage.connection`).
        self._sqlite = sqlite_engine(url) if is_sqlite(url) else None
        self._lock: AbstractAsyncContextManager[object] = (
            asyncio.Lock() if self._sqlite is not None else nullcontext()
        )

    @property
    def statement_engine(self) -> Engine:
        """The engine that runs the units of work's statements (for instrumentation)."""
        return self._sqlite if self._sqlite is not None else self.engine.sync_engine

    def close(self) -> None:
        """Close SQLite's connections; PostgreSQL's belong to the engine (`dispose()`)."""
        if self._sqlite is not None:
            self._sqlite.dispose()

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        self.close()

    async def _connect(self) -> tuple[AsyncConnection | SqliteConn, int | None]:
        """A connection in a transaction, and on PostgreSQL the region's revision read on it.

        That read is the unit of work's first statement (its directory needs it anyway),
        and it stands in for a liveness check: a PostgreSQL connection the server ended
        while it sat in the pool (a restart, `pg_terminate_backend`) fails it, SQLAlchemy
        then discards the pool's older connections, and the unit of work starts again once
        on a fresh one, before anything of it ran.
        """
        if self._sqlite is not None:  # no liveness to check: the directory reads it
            return await SqliteConn.open(self._sqlite), None
        for fresh in (False, True):
            conn = await self.engine.connect()
            try:
                return conn, await self._revision(conn)
            except DBAPIError as error:
                await _release(conn, discard=True)
                if fresh or not error.connection_invalidated:
                    raise
        raise AssertionError("unreachable")

    @staticmethod
    async def _revision(conn: AsyncConnection | SqliteConn) -> int | None:
        result = await conn.execute(_REVISION)
        revision: int | None = result.scalar_one_or_none()
        return revision

    @asynccontextmanager
    async def __call__(self) -> AsyncIterator[SqlUnitOfWork]:
        async with self._lock:
            try:
                conn, revision = await self._connect()
            except STORAGE_ERRORS as error:
                raise _storage_error(error) from error
            try:
                yield SqlUnitOfWork(conn, self._cache, revision)
            except BaseException as error:
                # What was not committed is rolled back; after a storage failure (or a
                # cancellation mid-statement) the connection is not trusted again.
                broken = isinstance(error, STORAGE_ERRORS) or not isinstance(error, Exception)
                await _release(conn, discard=broken)
                if isinstance(error, STORAGE_ERRORS) and not isinstance(error, StorageError):
                    raise _storage_error(error) from error
                raise
            else:
                failure = await _release(conn, discard=False)
                if failure is not None:
                    raise _storage_error(failure) from failure


# What a failing database raises: SQLAlchemy's errors (the drivers' own, wrapped), sqlite3's
# where it is not wrapped, and the operating system's (a lost connection, a full disk).
STORAGE_ERRORS = (StorageError, SQLAlchemyError, sqlite3.Error, OSError)


def _storage_error(error: BaseException) -> StorageError:
    described = describe_error(error)
    log.warning("storage.failed", error=described)
    return StorageError(described)


async def _release(conn: AsyncConnection | SqliteConn, *, discard: bool) -> BaseException | None:
    """Return the connection to the pool, rolling back what was not committed; `discard`
    closes it for good instead (the pool opens a new one when next asked), as does a
    failure to roll back, which is returned."""
    failure: BaseException | None = None
    if not discard:
        try:
            await conn.close()
            return None
        except STORAGE_ERRORS as error:
            failure = error
    try:
        await conn.invalidate()
        await conn.close()
    except STORAGE_ERRORS as error:
        log.warning("storage.discard_failed", error=describe_error(error))
    return failure
