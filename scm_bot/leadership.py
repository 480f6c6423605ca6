"""Leadership among several `scm-bot run` processes on one PostgreSQL database.

Exactly one process leads: it runs the timers, Telegram long polling, the inbox and
delivery. The others stand by and serve HTTP only. The leader is whoever holds a
PostgreSQL session-level advisory lock, held on a connection of its own that does nothing
else. The server lets go of the lock when that session ends, also when its process is
SIGKILLed or its connection is cut, so a standby that asks for the lock every second finds
it free within a second or two of the leader's end.

Taking the lock starts a new term (`storage.leadership.elect`): the term in the
`leadership` row goes up, and work that acts checks it in its own transaction (the
fence), so a leader that lost its lock without noticing yet stops before it sends. The
leader looks at its lock connection every second; when that fails (the connection was
ended, the database restarted or cannot be reached), or a fence found another term, it
steps down: its leader work stops and it becomes a standby that asks for the lock again.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import socket
from collections.abc import Awaitable, Callable
from enum import StrEnum

import structlog
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, create_async_engine
from sqlalchemy.pool import NullPool

from core.clock import Clock
from storage.database import PG_KEEPALIVE, async_url, describe_error
from storage.leadership import Fence, current_term, elect

log = structlog.get_logger(__name__)

LOCK_KEY = 0x5C3B07  # the advisory lock's id: "scm-bot"
TRY_EVERY = 1.0  # seconds between a standby's tries for the lock
CHECK_EVERY = 1.0  # seconds between the leader's looks at its lock connection
CHECK_WITHIN = 3.0  # seconds a look may take before the connection counts as lost
# The lock connection's server side notices a vanished client (a machine that died, a
# network that broke without closing the connection) by TCP keepalives: after some 10 s
# rather than the system's default of hours, so a standby can take over.
KEEPALIVE = PG_KEEPALIVE

Hook = Callable[[], Awaitable[None]]


class Role(StrEnum):
    LEADER = "leader"
    STANDBY = "standby"


def holder_name() -> str:
    """How this process is named in the `leadership` row and the logs."""
    return f"{socket.gethostname()}:{os.getpid()}"


class Leadership:
    """Runs `on_elected` when this process becomes the leader and `on_deposed` when it
    stops being it (also at the end of `run`), and keeps `fence.term` to this process's
    term while it leads."""

    def __init__(
        self,
        db_url: str,
        fence: Fence,
        clock: Clock,
        *,
        on_elected: Hook,
        on_deposed: Hook,
        holder: str | None = None,
        try_every: float = TRY_EVERY,
        check_every: float = CHECK_EVERY,
    ) -> None:
        self.fence = fence
        self.clock = clock
        self.on_elected = on_elected
        self.on_deposed = on_deposed
        self.holder = holder or holder_name()
        self.try_every = try_every
        self.check_every = check_every
        self.role = Role.STANDBY
        self.changes = 0  # how often this process became the leader
        self._engine: AsyncEngine = create_async_engine(
            async_url(db_url),
            poolclass=NullPool,
            connect_args={"server_settings": KEEPALIVE, "timeout": CHECK_WITHIN},
            hide_parameters=True,
        )
        self._lost = asyncio.Event()
        self._elected = asyncio.Event()
        fence.on_lost = self._lost.set

    @property
    def term(self) -> int | None:
        return self.fence.term

    async def wait_elected(self) -> None:
        """Until this process leads (at once if it does)."""
        await self._elected.wait()

    async def run(self) -> None:
        """Stand by, lead when the lock is free, step down when it is lost; until
        cancelled (then the leader work stops and the lock is let go)."""
        try:
            while True:
                conn = await self._try_lock()
                if conn is None:
                    await asyncio.sleep(self.try_every)
                    continue
                try:
                    if await self._take_office(conn):
                        await self._hold(conn)
                finally:
                    await asyncio.shield(self._step_down(conn))
                await asyncio.sleep(self.try_every)  # let a standby have its turn
        finally:
            await self._engine.dispose()

    async def _try_lock(self) -> AsyncConnection | None:
        """A connection holding the lock, or None (someone else leads, or no database)."""
        try:
            conn = await self._engine.connect()
        except Exception as error:
            log.warning("leadership.no_database", error=describe_error(error))
            return None
        try:
            async with asyncio.timeout(CHECK_WITHIN):
                got = (
                    await conn.execute(text("SELECT pg_try_advisory_lock(:k)"), {"k": LOCK_KEY})
                ).scalar_one()
                await conn.commit()
        except Exception as error:
            log.warning("leadership.lock_failed", error=describe_error(error))
            await _close(conn)
            return None
        if not got:
            await _close(conn)
            return None
        return conn

    async def _take_office(self, conn: AsyncConnection) -> bool:
        """Start a term and the leader's work; False if that failed (the caller steps down)."""
        try:
            async with asyncio.timeout(CHECK_WITHIN * 3):  # waits for the old leader's fences
                term = await elect(conn, self.holder, self.clock.now())
                await conn.commit()
        except Exception as error:
            log.warning("leadership.elect_failed", error=describe_error(error))
            return False
        self._lost.clear()
        self.fence.term = term
        self.role = Role.LEADER
        self.changes += 1
        log.info("leadership.elected", term=term, holder=self.holder)
        try:
            await self.on_elected()
        except Exception:
            log.exception("leadership.start_failed", term=term)
            return False
        self._elected.set()
        return True

    async def _hold(self, conn: AsyncConnection) -> None:
        """Look at the lock connection every `check_every` s; return when it is lost."""
        while True:
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(self.check_every):
                    await self._lost.wait()
            if self._lost.is_set():
                log.warning("leadership.fenced_out", term=self.fence.term)
                return
            try:
                async with asyncio.timeout(CHECK_WITHIN):
                    term = await current_term(conn)
                    await conn.commit()
            except Exception as error:
                log.warning("leadership.lock_lost", error=describe_error(error))
                return
            if term != self.fence.term:
                log.warning("leadership.term_changed", mine=self.fence.term, now=term)
                return

    async def _step_down(self, conn: AsyncConnection) -> None:
        """Stop the leader's work, then let go of the lock (closing its session)."""
        was = self.fence.term
        self.fence.term = None  # from here on nothing of this process acts
        self._elected.clear()
        if self.role is Role.LEADER:
            self.role = Role.STANDBY
            try:
                await self.on_deposed()
            except Exception:
                log.exception("leadership.stop_failed", term=was)
            log.info("leadership.standby", term=was, holder=self.holder)
        await _close(conn)


async def _close(conn: AsyncConnection) -> None:
    """Close a connection; a broken one is dropped (the server ends its session)."""
    try:
        async with asyncio.timeout(CHECK_WITHIN):
            await conn.close()
    except Exception:
        with contextlib.suppress(Exception):
            await conn.invalidate()
