"""The leadership term and the fence that keeps a deposed leader from acting.

Several `scm-bot run` processes may share one PostgreSQL database; the one holding the
leadership lock (`scm_bot.leadership`) runs the timers and delivery. Taking the lock is
followed by `elect`: the term in the one `leadership` row goes up by one, and the new
leader remembers it (`Fence.term`).

The fence is what makes a lost lock safe. Every transaction that acts (a timer's claim,
a message part's `sending` before its request goes out, the look-up before an edit) first
runs `Fence.check` on its own connection: `SELECT term ... FOR SHARE`, and refuses
(`NotLeader`) unless the term is still this process's. The share lock is the point: a new
leader's `elect` updates that row, so it waits until every such transaction of the old
leader has committed or rolled back, and a check that comes after it reads the new term.
So when the new leader starts reading the tables, whatever the old leader did is either
visible there (a `sending` part is then sent again, marked as a repeat) or will never
happen (its check fails). No clock and no timeout is involved.

On SQLite there is one process per database (a file lock), and no fence.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any

from sqlalchemy import bindparam, select
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.sql import Executable

from core.errors import StorageError
from storage.connection import Conn
from storage.database import table
from storage.tables import HeartbeatRow, LeadershipRow

LEADERSHIP = table(LeadershipRow)
HEARTBEAT = table(HeartbeatRow)
ROW = 1  # the id of the one leadership row

_TERM = select(LEADERSHIP.c.term).where(LEADERSHIP.c.id == ROW)
_TERM_FOR_SHARE = _TERM.with_for_update(read=True)


def _elect() -> Executable:
    new = pg_insert(LEADERSHIP).values(
        id=ROW, term=1, holder=bindparam("holder"), elected_at=bindparam("at")
    )
    return new.on_conflict_do_update(
        index_elements=[LEADERSHIP.c.id],
        set_={
            "term": LEADERSHIP.c.term + 1,
            "holder": new.excluded.holder,
            "elected_at": new.excluded.elected_at,
        },
    ).returning(LEADERSHIP.c.term)


_ELECT = _elect()


class NotLeader(StorageError):
    """This process is not (or no longer) the leader: the work must not act. The table is
    untouched; the leader does the work."""


async def elect(conn: Conn, holder: str, at: datetime) -> int:
    """Start a new term (the caller holds the leadership lock and commits); its number.
    Waits for every transaction of an earlier leader that passed the fence."""
    result = await conn.execute(_ELECT, {"holder": holder, "at": at})
    term: int = result.scalar_one()
    return term


async def current_term(conn: Conn) -> int | None:
    """The term in the table (None before anyone led)."""
    term: int | None = (await conn.execute(_TERM)).scalar_one_or_none()
    return term


class Fence:
    """This process's term while it leads; `check` in a transaction refuses it otherwise.

    `on_lost` is called when a check finds another term: the leadership learns at once
    that it was deposed, without waiting for its next look at its lock.
    """

    def __init__(self) -> None:
        self.term: int | None = None
        self.on_lost: Callable[[], None] = lambda: None

    async def check(self, conn: Conn) -> None:
        """Raise `NotLeader` unless this process leads in the current term; holds a share
        lock on the term until the transaction ends."""
        mine = self.term
        if mine is None:
            raise NotLeader("not the leader")
        term = (await conn.execute(_TERM_FOR_SHARE)).scalar_one_or_none()
        if term != mine:
            if self.term == mine:
                self.term = None
                self.on_lost()
            raise NotLeader(f"term {mine} is over (now {term})")


class SqlHeartbeatRepo:
    def __init__(self, conn: Conn) -> None:
        self.conn = conn

    async def beat(self, name: str, at: datetime, detail: dict[str, Any]) -> None:
        """Record that `name` ran at `at` (one row per name)."""
        updated = await self.conn.execute(
            HEARTBEAT.update().where(HEARTBEAT.c.name == name).values(at=at, detail=detail)
        )
        if updated.rowcount == 0:
            await self.conn.execute(HEARTBEAT.insert().values(name=name, at=at, detail=detail))

    async def last(self, name: str) -> tuple[datetime, dict[str, Any]] | None:
        """When `name` last ran and what it said, or None if it never did."""
        row = (
            await self.conn.execute(
                select(HEARTBEAT.c.at, HEARTBEAT.c.detail).where(HEARTBEAT.c.name == name)
            )
        ).first()
        return None if row is None else (row.at, dict(row.detail))
