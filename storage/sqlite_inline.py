"""aiosqlite's connection API, run on the event loop's own thread.

aiosqlite sends every call (cursor, execute, fetch, close) to a worker thread and back:
four thread hand-offs per statement, which cost far more than the statement itself on a
small local database. The embedded default runs SQLite statements inline instead: a
statement on this database takes microseconds, and in WAL mode with `synchronous=NORMAL` a
commit does not wait for the disk.

Because a statement now blocks the loop while it runs, SQLite must never wait for a lock
held by another coroutine of the same loop: `make_engine` gives SQLite exactly one pooled
connection, used for what runs before the bot starts (the demo import) and by the CLI; the
running bot's units of work have a connection of their own and take turns for it
(`storage.connection.InlineSqliteEngine`). A writer in another process (a CLI command) holds
the lock only for its own short transaction, which `busy_timeout` waits out; the
scheduler's job store keeps a file of its own.
"""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import Callable, Generator
from typing import Any

import aiosqlite


class _InlineQueue:
    """Stands in for aiosqlite's queue to its worker thread: runs the call at once.

    SQLAlchemy's isolation-level setter puts `(future, function)` on that queue directly.
    """

    def put_nowait(self, item: tuple[asyncio.Future[Any] | None, Callable[[], Any]]) -> None:
        future, function = item
        try:
            result = function()
        except BaseException as error:  # handed to the waiter, as the worker thread does
            if future is not None and not future.done():
                future.set_exception(error)
            return
        if future is not None and not future.done():
            future.set_result(result)


class InlineConnection(aiosqlite.Connection):
    """An `aiosqlite.Connection` that runs every call on the caller's thread."""

    def __init__(self, connector: Callable[[], sqlite3.Connection]) -> None:
        super().__init__(connector, iter_chunk_size=64)
        self._tx = _InlineQueue()  # type: ignore[assignment]

    @property
    def sqlite3_connection(self) -> sqlite3.Connection:
        return self._conn

    async def _execute(self, fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        if not self._running or not self._connection:
            raise ValueError("Connection closed")
        return fn(*args, **kwargs)

    async def _connect(self) -> InlineConnection:
        if self._connection is None:
            self._connection = self._connector()
        return self

    def __await__(self) -> Generator[Any, None, InlineConnection]:
        return self._connect().__await__()

    def stop(self) -> asyncio.Future[Any] | None:
        self._running = False
        if self._connection is not None:
            self._connection.close()
            self._connection = None
        return None


def inline_creator(database: str) -> Callable[[], Any]:
    """An `async_creator` for `create_async_engine`: a new inline connection to `database`."""

    async def create() -> InlineConnection:
        # check_same_thread=False: SQLAlchemy may close a connection from the garbage
        # collector's thread; every statement still runs on the loop's thread.
        connector = lambda: sqlite3.connect(database, check_same_thread=False)  # noqa: E731
        return await InlineConnection(connector)

    return create
