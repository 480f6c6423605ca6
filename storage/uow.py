"""The SQL unit of work: one connection, one transaction, the core's repositories on top
(one module per area in `storage.repos`)."""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import AsyncIterator
from contextlib import AbstractAsyncContextManager, asynccontextmanager, nullcontext
from typing import Self

import structlog
from sqlalchemy import Engine
from sqlalchemy.exc import DBAPIError, SQLAlchemyError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from core.errors import StorageError
from storage.connection import Conn, SqliteConn, sqlite_engine
from storage.database import describe_error, is_sqlite
from storage.leadership import Fence, NotLeader, SqlHeartbeatRepo
from storage.repos.analyses import SqlAnalyseRepo
from storage.repos.audit import SqlAuditRepo
from storage.repos.bt import SqlBtRepo
from storage.repos.conversations import SqlConversationRepo
from storage.repos.directory import REVISION, DirectoryCache, SqlDirectoryRepo
from storage.repos.inbox import SqlInboundRepo, SqlInboxRepo
from storage.repos.incidents import SqlIncidentRepo, SqlPageRepo
from storage.repos.links import SqlLinkRepo
from storage.repos.outbox import SqlOutboxRepo
from storage.repos.retention import SqlRetentionRepo
from storage.repos.roster import SqlCalendarFeedRepo, SqlRosterRepo
from storage.repos.timers import SqlTimerRepo

log = structlog.get_logger(__name__)


class SqlUnitOfWork:
    def __init__(
        self, conn: Conn, cache: DirectoryCache, revision: int | None, fence: Fence | None = None
    ) -> None:
        self.conn = conn
        self.roster = SqlRosterRepo(conn)
        self.directory = SqlDirectoryRepo(conn, cache, revision, lambda: self.roster.changed)
        self.incidents = SqlIncidentRepo(conn)
        self.pages = SqlPageRepo(conn)
        self.timers = SqlTimerRepo(conn, fence)
        self.outbox = SqlOutboxRepo(conn, fence)
        self.audit = SqlAuditRepo(conn)
        self.conversations = SqlConversationRepo(conn)
        self.inbound = SqlInboundRepo(conn)
        self.links = SqlLinkRepo(conn)
        self.analyses = SqlAnalyseRepo(conn)
        self.calendar_feeds = SqlCalendarFeedRepo(conn)
        self.bt = SqlBtRepo(conn)
        self.inbox = SqlInboxRepo(conn)
        self.heartbeats = SqlHeartbeatRepo(conn)
        self.retention = SqlRetentionRepo(conn)

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

    With a `fence` (PostgreSQL with several instances) the units of work claim timers and
    send only while this process leads (`storage.leadership`).
    """

    def __init__(self, engine: AsyncEngine, fence: Fence | None = None) -> None:
        self.engine = engine
        self.fence = fence
        self._cache = DirectoryCache()
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
        result = await conn.execute(REVISION)
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
                yield SqlUnitOfWork(conn, self._cache, revision, self.fence)
            except BaseException as error:
                # What was not committed is rolled back; after a storage failure (or a
                # cancellation mid-statement) the connection is not trusted again.
                # (A fence that refused found the connection working.)
                broken = not isinstance(error, Exception) or (
                    isinstance(error, STORAGE_ERRORS) and not isinstance(error, NotLeader)
                )
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
