"""The connection the repositories talk to: `execute`, `commit` and the dialect.

On PostgreSQL that is SQLAlchemy's `AsyncConnection` (asyncpg). On SQLite the units of work
use a synchronous SQLAlchemy connection behind the same awaitable calls, run inline on the
event loop: a statement on the local file takes microseconds, while SQLAlchemy's asyncio
bridge (a greenlet switch per call, plus aiosqlite's thread hand-offs) costs several times
the statement itself. `benchmarks/inbound_throughput.py` measures the difference.

Inline execution is safe because the process has one SQLite connection (see `make_engine`):
whoever uses the database takes turns for it, so the loop never waits on a SQLite lock held
by one of its own coroutines. A writer in another process (a CLI command) holds the lock only
for its own short transaction, which `busy_timeout` waits out; the scheduler's job store has
a file of its own (`storage.database.job_store_url`).
"""

from __future__ import annotations

import sqlite3
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any, Protocol

from sqlalchemy import Connection, Engine, StaticPool, create_engine
from sqlalchemy.engine import CursorResult, Dialect
from sqlalchemy.ext.asyncio import AsyncEngine
from sqlalchemy.sql import Executable

from storage.sqlite_inline import InlineConnection


class Conn(Protocol):
    @property
    def dialect(self) -> Dialect: ...

    async def execute(
        self, statement: Executable, parameters: Any = None, /
    ) -> CursorResult[Any]: ...

    async def commit(self) -> None: ...


class InlineConn:
    """A synchronous connection behind the awaitable calls of `Conn`."""

    def __init__(self, conn: Connection) -> None:
        self._conn = conn

    @property
    def dialect(self) -> Dialect:
        return self._conn.dialect

    async def execute(self, statement: Executable, parameters: Any = None, /) -> CursorResult[Any]:
        return self._conn.execute(statement, parameters)

    async def commit(self) -> None:
        self._conn.commit()


class InlineSqliteEngine:
    """Synchronous connections on the one pooled SQLite connection of `engine`.

    A unit of work checks the connection out of the async engine's pool (one connection: so
    it waits for its turn with everyone else who uses the engine) and talks to the same
    sqlite3 connection through a synchronous SQLAlchemy engine.
    """

    def __init__(self, engine: AsyncEngine) -> None:
        self._engine = engine
        self._sync: Engine | None = None
        self._raw: sqlite3.Connection | None = None

    @property
    def engine(self) -> Engine | None:
        """The synchronous engine the statements go through (None before the first use)."""
        return self._sync

    @asynccontextmanager
    async def connect(self) -> AsyncIterator[InlineConn]:
        async with self._engine.connect() as pooled:
            driver = (await pooled.get_raw_connection()).driver_connection
            assert isinstance(driver, InlineConnection), "make_engine builds SQLite engines"
            raw = driver.sqlite3_connection
            if self._sync is None or raw is not self._raw:  # first use, or a new connection
                self._raw = raw
                self._sync = create_engine("sqlite://", poolclass=StaticPool, creator=lambda: raw)
            with self._sync.connect() as conn:
                yield InlineConn(conn)
