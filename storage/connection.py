"""The connection the repositories talk to: `execute`, `commit` and the dialect.

On PostgreSQL that is SQLAlchemy's `AsyncConnection` (asyncpg). On SQLite the units of work
use a synchronous SQLAlchemy connection behind the same awaitable calls, run inline on the
event loop: a statement on the local file takes microseconds, while SQLAlchemy's asyncio
bridge (a greenlet switch per call, plus aiosqlite's thread hand-offs) costs several times
the statement itself. `benchmarks/inbound_throughput.py` measures the difference.

Inline execution is safe because the running bot's units of work share one SQLite
connection and take turns for it (`InlineSqliteEngine`), so the loop never waits on a SQLite
lock held by one of its own coroutines. A writer in another process (a CLI command) holds
the lock only for its own short transaction, which `busy_timeout` waits out.

The write-ahead log is copied back into the database file (a checkpoint) off the loop, in a
worker thread with a connection of its own (`WalCheckpoints`). SQLite would otherwise do it
inside every thousandth page's commit, on the loop: a few milliseconds, with an fsync, in
the middle of whatever page was being raised (benchmarks/telegram_latency.py).
"""

from __future__ import annotations

import asyncio
import contextlib
import sqlite3
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any, Protocol

import structlog
from sqlalchemy import Connection, Engine, StaticPool, create_engine, event
from sqlalchemy.engine import CursorResult, Dialect, make_url
from sqlalchemy.sql import Executable

from storage.database import sqlite_pragmas, sync_url

log = structlog.get_logger(__name__)
CHECKPOINT_EVERY = 0.5  # seconds: at most this often, and only after a commit


class Conn(Protocol):
    @property
    def dialect(self) -> Dialect: ...

    async def execute(
        self, statement: Executable, parameters: Any = None, /
    ) -> CursorResult[Any]: ...

    async def commit(self) -> None: ...


class WalCheckpoints:
    """Checkpoints a SQLite database's write-ahead log in a worker thread, after commits.

    The bot's own connection has automatic checkpoints turned off; a commit calls
    `committed`, which starts a PASSIVE checkpoint (it never blocks a writer or a reader)
    on a short-lived connection of its own in the loop's default executor, once
    `CHECKPOINT_EVERY` has passed since the last and none is under way. SQLite releases
    the interpreter lock while it copies pages, so the loop runs on meanwhile.
    """

    def __init__(self, database: str, *, now: Callable[[], float] = time.monotonic) -> None:
        self.database = database
        self._now = now
        self._last = now()
        self._running: asyncio.Future[None] | None = None
        # (busy, frames in the log, frames checkpointed) and the thread of the last run.
        self.last: tuple[int, int, int] | None = None
        self.last_thread: int | None = None

    def committed(self) -> None:
        if self._running is not None and not self._running.done():
            return
        if self._now() - self._last < CHECKPOINT_EVERY:
            return
        self._last = self._now()
        self._running = asyncio.get_running_loop().run_in_executor(None, self._checkpoint)
        self._running.add_done_callback(_log_checkpoint_failure)

    async def settled(self) -> None:
        """Wait for a checkpoint under way (before the bot closes its database)."""
        if self._running is not None:
            with contextlib.suppress(Exception):  # logged by its done callback
                await asyncio.shield(self._running)

    def _checkpoint(self) -> None:
        with contextlib.closing(sqlite3.connect(self.database, timeout=10.0)) as conn:
            row = conn.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchone()
        self.last = (int(row[0]), int(row[1]), int(row[2]))
        self.last_thread = threading.get_ident()


def _log_checkpoint_failure(future: asyncio.Future[None]) -> None:
    # The log is still whole: the next commit starts another checkpoint.
    if not future.cancelled() and future.exception() is not None:
        log.warning("sqlite.checkpoint_failed", error=repr(future.exception()))


class InlineConn:
    """A synchronous connection behind the awaitable calls of `Conn`."""

    def __init__(self, conn: Connection, checkpoints: WalCheckpoints | None = None) -> None:
        self._conn = conn
        self._checkpoints = checkpoints

    @property
    def dialect(self) -> Dialect:
        return self._conn.dialect

    async def execute(self, statement: Executable, parameters: Any = None, /) -> CursorResult[Any]:
        return self._conn.execute(statement, parameters)

    async def commit(self) -> None:
        self._conn.commit()
        if self._checkpoints is not None:
            self._checkpoints.committed()

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
        database = make_url(url).database or ""
        self.checkpoints: WalCheckpoints | None = None
        if database and database != ":memory:":
            self.checkpoints = WalCheckpoints(database)
            event.listen(self._sync, "connect", _no_automatic_checkpoints)
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
            yield InlineConn(conn, self.checkpoints)
        finally:
            if conn.in_transaction():
                conn.rollback()

    def close(self) -> None:
        if self._conn is not None:
            self._conn.close()
            self._conn = None
        self._sync.dispose()


def _no_automatic_checkpoints(dbapi_connection: Any, _record: Any) -> None:
    """The bot's own connection leaves checkpoints to `WalCheckpoints`."""
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA wal_autocheckpoint=0")
    cursor.close()
