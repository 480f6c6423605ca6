"""The connection the repositories talk to: `execute`, `commit` and the dialect.

On PostgreSQL that is SQLAlchemy's `AsyncConnection` (asyncpg). On SQLite it is
`SqliteConn`: SQLAlchemy's ordinary synchronous connection (Python's `sqlite3`), called on
the event loop's thread. The units of work hand it out (`storage.uow.SqlUnitOfWorkFactory`);
the protocol keeps the repositories to the part they use.

Why SQLite runs on the loop: through aiosqlite every statement is three or four hand-offs
to a worker thread and back, about 0.4 ms of CPU each on these machines, against some 30 µs
for the statement itself; an event costs some 30 of them, which kept the inbound and
Telegram latency targets out of reach (`benchmarks/README.md` gives the figures). A
statement on this small local database takes microseconds, and with WAL and
`synchronous=NORMAL` a commit does not wait for the disk, so the loop is not held up.

What could hold it up is a lock held by another process (a CLI command writing to the
same file): the bot's own connection never waits for one (`timeout=0`). Each unit of work
takes the write lock first (`BEGIN IMMEDIATE`) and, while another process holds it, tries
again after a short pause without blocking the loop; inside the unit nothing can be locked
out any more. Readers never block in WAL mode.
"""

from __future__ import annotations

import asyncio
import sqlite3
import time
from typing import Any, Protocol

from sqlalchemy import Connection, Engine, create_engine, event
from sqlalchemy.engine import CursorResult, Dialect, make_url
from sqlalchemy.sql import Executable

LOCKED_FOR = 10.0  # seconds a unit of work waits for another process's write lock
PAUSE = 0.01  # seconds between tries, doubling up to 0.1


class Conn(Protocol):
    @property
    def dialect(self) -> Dialect: ...

    async def execute(
        self, statement: Executable, parameters: Any = None, /
    ) -> CursorResult[Any]: ...

    async def commit(self) -> None: ...


def sqlite_engine(url: str) -> Engine:
    """A synchronous engine on the SQLite file of `url` for the units of work: the file
    settings of `storage.database`, no busy wait, and every transaction `BEGIN IMMEDIATE`
    (SQLAlchemy's documented recipe for SQLite transactions)."""
    parsed = make_url(url).set(drivername="sqlite")
    engine = create_engine(
        parsed,
        connect_args={"timeout": 0, "isolation_level": None},
        hide_parameters=True,  # an error's text never shows a message's words
    )

    @event.listens_for(engine, "connect")
    def _settings(dbapi_connection: sqlite3.Connection, _record: Any) -> None:
        dbapi_connection.execute("PRAGMA journal_mode=WAL")
        dbapi_connection.execute("PRAGMA synchronous=NORMAL")
        dbapi_connection.execute("PRAGMA foreign_keys=ON")

    @event.listens_for(engine, "begin")
    def _begin(conn: Connection) -> None:
        conn.exec_driver_sql("BEGIN IMMEDIATE")

    return engine


class SqliteConn:
    """A synchronous SQLAlchemy connection behind the repositories' async protocol."""

    def __init__(self, conn: Connection) -> None:
        self.sync = conn

    @classmethod
    async def open(cls, engine: Engine) -> SqliteConn:
        """A connection in a transaction that holds the write lock; while another process
        holds it, wait without blocking the loop (up to `LOCKED_FOR`, then the error)."""
        deadline = time.monotonic() + LOCKED_FOR
        pause = PAUSE
        while True:
            conn = engine.connect()
            try:
                conn.begin()
                return cls(conn)
            except Exception as error:
                conn.close()
                if not _locked(error) or time.monotonic() > deadline:
                    raise
            await asyncio.sleep(pause)
            pause = min(pause * 2, 0.1)

    @property
    def dialect(self) -> Dialect:
        return self.sync.dialect

    async def execute(self, statement: Executable, parameters: Any = None, /) -> CursorResult[Any]:
        return self.sync.execute(statement, parameters)

    async def commit(self) -> None:
        self.sync.commit()

    async def close(self) -> None:
        self.sync.close()

    async def invalidate(self) -> None:
        self.sync.invalidate()


def _locked(error: BaseException) -> bool:
    origin = getattr(error, "orig", error)
    return isinstance(origin, sqlite3.OperationalError) and "locked" in str(origin)
