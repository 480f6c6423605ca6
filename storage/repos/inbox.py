"""The inbox table: inbound events, stored before the platform is told they arrived; and the
ids of the events handled (`inbound_event`), recorded in the handling transaction."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any

from sqlalchemy import Table, bindparam, func, select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.sql import Executable

from core.events import InboundEvent, event_from_json, event_to_json
from core.model import Origin
from core.ports import AnswerContext, InboxItem
from storage.connection import Conn
from storage.database import per_dialect, table
from storage.tables import InboundEventRow, InboxRow

INBOX = table(InboxRow)
INBOUND = table(InboundEventRow)


class SqlInboxRepo:
    def __init__(self, conn: Conn) -> None:
        self.conn = conn

    async def add(
        self, entries: list[tuple[InboundEvent, AnswerContext]], at: datetime
    ) -> list[InboxItem]:
        """Store events; one seen before (a redelivery) is left as it is. Returns the
        events stored now."""
        if not entries:
            return []
        rows = [
            {
                "origin": event.sender.origin.value,
                "event_id": event.sender.event_id,
                "event": event_to_json(event),
                "context": context,
                "status": "pending",
                "attempts": 0,
                "next_attempt_at": at,
                "received_at": at,
            }
            for event, context in entries
        ]
        insert = pg_insert if self.conn.dialect.name == "postgresql" else sqlite_insert
        statement = (
            insert(INBOX)
            .on_conflict_do_nothing(index_elements=["origin", "event_id"])
            .returning(INBOX.c.id, INBOX.c.origin, INBOX.c.event_id)
        )
        stored = {(r.origin, r.event_id): r.id for r in await self.conn.execute(statement, rows)}
        items: dict[int, InboxItem] = {}
        for event, context in entries:
            inbox_id = stored.get((event.sender.origin.value, event.sender.event_id))
            if inbox_id is not None and inbox_id not in items:  # twice in one batch: once
                items[inbox_id] = InboxItem(inbox_id, event, context, 0, at)
        return list(items.values())

    async def pending(self, now: datetime, limit: int) -> list[InboxItem]:
        """Events not handled yet whose turn it is, in the order they arrived."""
        rows = await self.conn.execute(
            select(
                INBOX.c.id, INBOX.c.event, INBOX.c.context, INBOX.c.attempts, INBOX.c.received_at
            )
            .where(INBOX.c.status == "pending", INBOX.c.next_attempt_at <= now)
            .order_by(INBOX.c.id)
            .limit(limit)
        )
        return [
            InboxItem(r.id, event_from_json(r.event), r.context, r.attempts, r.received_at)
            for r in rows
        ]

    async def finish(self, ids: list[int], status: str, at: datetime, error: str = "") -> None:
        if ids:
            await self.conn.execute(
                update(INBOX)
                .where(INBOX.c.id.in_(ids))
                .values(status=status, handled_at=at, last_error=error[:500] or None)
            )

    async def retry_later(self, inbox_id: int, at: datetime, error: str) -> None:
        await self.conn.execute(
            update(INBOX)
            .where(INBOX.c.id == inbox_id)
            .values(attempts=INBOX.c.attempts + 1, next_attempt_at=at, last_error=error[:500])
        )

    async def count_pending(self) -> int:
        statement = select(func.count()).select_from(INBOX).where(INBOX.c.status == "pending")
        return int((await self.conn.execute(statement)).scalar_one())


_INBOX_DONE = (
    update(INBOX)
    .where(
        INBOX.c.origin == bindparam("o"),
        INBOX.c.event_id == bindparam("e"),
        INBOX.c.status == "pending",
    )
    .values(status="done", handled_at=bindparam("at", type_=INBOX.c.handled_at.type))
)


def _first_time(insert: Callable[[Table], Any]) -> Executable:
    """An inbound event's id, recorded unless it was seen before: one statement."""
    return insert(INBOUND).on_conflict_do_nothing(  # type: ignore[no-any-return]
        index_elements=[INBOUND.c.origin, INBOUND.c.event_id]
    )


_FIRST_TIME = per_dialect(_first_time)


class SqlInboundRepo:
    def __init__(self, conn: Conn) -> None:
        self.conn = conn

    async def first_time(self, origin: Origin, event_id: str, at: datetime) -> bool:
        row = {"origin": origin.value, "event_id": event_id, "at": at}
        first = (await self.conn.execute(_FIRST_TIME[self.conn.dialect.name], row)).rowcount == 1
        # The inbox row of this event is handled in the same transaction: done exactly when
        # its effects commit.
        await self.conn.execute(_INBOX_DONE, {"o": origin.value, "e": event_id, "at": at})
        return first
