"""The outbox and its delivery ledger: messages queued in the handling transaction, each
part's outcome per transport recorded before and after it is sent."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any

from sqlalchemy import Select, Table, bindparam, func, select, update
from sqlalchemy.sql import Executable

from core.events import clean
from core.messages import Message
from core.model import (
    OutboxId,
    PersonId,
)
from core.ports import (
    LedgerEntry,
    NewMessage,
    OutboxItem,
    PartStatus,
)
from storage.connection import Conn
from storage.database import per_dialect, table
from storage.leadership import Fence
from storage.tables import (
    LedgerRow,
    OutboxRow,
)

OUTBOX = table(OutboxRow)
LEDGER = table(LedgerRow)


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


_RECORD_PART = per_dialect(_record_part)


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


class SqlOutboxRepo:
    """The outbox and its ledger. Recording a part as `sending` (its request goes out
    after this commit) and looking up the messages an edit replaces are fenced
    (`storage.leadership`): a deposed leader sends and edits nothing."""

    def __init__(self, conn: Conn, fence: Fence | None = None) -> None:
        self.conn = conn
        self.fence = fence

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
                r["created_at"],
            )
            for r in rows
        ]

    async def waiting_people(self, now: datetime) -> set[PersonId]:
        rows = await self.conn.execute(_WAITING_PEOPLE, {"now": now})
        return {PersonId(person_id) for person_id in rows.scalars()}

    async def record(self, entries: list[LedgerEntry], at: datetime) -> None:
        if entries:
            if self.fence is not None and any(e.status is PartStatus.SENDING for e in entries):
                await self.fence.check(self.conn)
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
        if self.fence is not None:
            await self.fence.check(self.conn)
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
