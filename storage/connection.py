"""The connection the repositories talk to: `execute`, `commit` and the dialect.

On PostgreSQL that is SQLAlchemy's `AsyncConnection` (asyncpg). On SQLite the units of work
use a synchronous SQLAlchemy connection behind the same awaitable calls, run inline on the
event loop: a statement on the local file takes microseconds, while SQLAlchemy's asyncio
bridge (a greenlet switch per call, plus aiosqlite's thread hand-offs) costs several times
the statement itself. `benchmarks/inbound_throughput.py` measures the difference.

Inline execution is safe because the running bot's units of work share one SQLite
connection and take turns for it (`InlineSqliteEngine`), so the loop never waits on a SQLite
lock held by one of its own coroutines. A writer in another process (a CLI command) holds
the lock only for its own short transaction, which `busy_timeout` waits out; the scheduler's
job store has a file of its own (`storage.database.job_store_url`).
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any, Protocol

from sqlalchemy import Connection, Engine, StaticPool, create_engine, event
from sqlalchemy.engine import CursorResult, Dialect
from sqlalchemy.sql import Executable

from storage.database import sqlite_pragmas, sync_url


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

    def data_version(self) -> int:
        """SQLite's `PRAGMA data_version`: changes when another connection commits. Read
        from the driver directly: through SQLAlchemy it would cost thirty times more."""
        raw = self._conn.connection.driver_connection
        assert raw is not None
        row = raw.execute("PRAGMA data_version").fetchone()
        return int(row[0])


class InlineSqliteEngine:
    """The units of work's own SQLite connection, kept open and used inline on the loop.

    Units of work take turns for it (`SqlUnitOfWorkFactory` holds a lock around each), so
    a statement never waits for a SQLite lock held by another coroutine of this process:
    while the bot runs, its units of work are the only writer of the file in this process.
    The async engine still serves what runs before the bot starts (migrations, the demo
    import) and other processes (CLI commands) write only in short transactions that
    `busy_timeout` waits out. Keeping the connection open saves a pool checkout and return
    (with its rollback) per unit of work: about 0.1 ms each, several per inbound event.
    """

    def __init__(self, url: str) -> None:
        self._sync = create_engine(sync_url(url), poolclass=StaticPool)
        event.listen(self._sync, "connect", sqlite_pragmas)
        self._conn: Connection | None = None

    @property
    def engine(self) -> Engine:
        """The synchronous engine the statements go through (for instrumentation)."""
        return self._sync

    @contextmanager
    def connect(self) -> Iterator[InlineConn]:
        """The connection for one unit of work; what it did not commit is rolled back."""
        if self._conn is None or self._conn.closed or self._conn.invalidated:
            self._conn = self._sync.connect()
        conn = self._conn
        try:
            yield InlineConn(conn)
        finally:
            if conn.in_transaction():
                conn.rollback()

    def close(self) -> None:
        if self._conn is not None:
            self._conn.close()
            self._conn = None
        self._sync.dispose()
