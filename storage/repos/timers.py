"""Timers as rows: added, cancelled, claimed once when due."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import and_, bindparam, select, update

from core.model import (
    Timer,
    TimerId,
)
from storage.connection import Conn
from storage.database import table
from storage.leadership import Fence
from storage.tables import (
    TimerRow,
)

TIMER = table(TimerRow)

_ADD_TIMER = TIMER.insert().returning(TIMER.c.id)

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


class SqlTimerRepo:
    """Timer rows; claiming them is fenced (`storage.leadership`): only the leader fires."""

    def __init__(self, conn: Conn, fence: Fence | None = None) -> None:
        self.conn = conn
        self.fence = fence

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
        if self.fence is not None:
            await self.fence.check(self.conn)
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
