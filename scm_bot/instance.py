"""One `scm-bot run` process: the leader, or a standby beside it.

On PostgreSQL several processes may share the database. Exactly one leads
(`scm_bot.leadership`) and runs `LeaderWork`: the timers (APScheduler and the reconcile of
the timer rows), the inbox loop, delivery, the receivers that pull from a platform
(Telegram long polling, Slack Socket Mode) and the auditor. The others stand by: their
HTTP server stores webhooks and Slack events into the inbox table, serves the calendar
feeds and `/healthz`; they take over when the leader's lock is free, reading everything
from the tables. A leader that loses its lock stops its leader work and stands by.

On SQLite one process owns the database (a file lock next to it): a second one refuses to
start (`AlreadyRunning`), and the first leads from its start to its end.
"""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
from collections.abc import AsyncIterator, Sequence
from pathlib import Path
from typing import IO, Protocol

import structlog
from sqlalchemy.engine import make_url

from core.analyse.form import Form
from core.clock import Clock, SystemClock
from core.ports import Transport
from core.roster.reminders import RosterReminders
from scm_bot.app import App, build
from scm_bot.auditor import AUDIT_EVERY, Auditor
from scm_bot.leadership import TRY_EVERY, Leadership, Role
from scm_bot.scheduling import ApsTimerScheduler
from storage.database import is_sqlite, make_engine
from storage.leadership import Fence

log = structlog.get_logger(__name__)
STOP_GRACE = 10.0  # seconds timers already firing get to finish when the leader stops


class AlreadyRunning(RuntimeError):
    """Another scm-bot process holds this SQLite database (two pollers must never share
    one bot token, nor two schedulers one database's timers)."""


class Receiver(Protocol):
    """What pulls events from a platform, which only the leader does (TelegramBot,
    SlackBot); `connected` is what /healthz shows."""

    async def start_receiving(self) -> None: ...
    async def stop_receiving(self) -> None: ...
    async def connected(self) -> bool: ...


class LeaderWork:
    """What only the leader runs; `start` when it becomes the leader, `stop` when it stops."""

    def __init__(
        self, app: App, receivers: Sequence[Receiver] = (), *, audit_every: float = AUDIT_EVERY
    ) -> None:
        self.app = app
        self.receivers = list(receivers)
        self.audit_every = audit_every
        self._tasks: list[asyncio.Task[None]] = []
        self._aps: ApsTimerScheduler | None = None
        self._receiving: list[Receiver] = []

    async def start(self) -> None:
        """Deliver what is due, handle what is stored, fire the overdue timers and plan
        the pending ones, then receive from the platforms and audit the timers."""
        app = self.app
        app.metrics.set_leader(True)
        app.deliverer.resume()
        self._tasks += [
            asyncio.create_task(app.deliverer.run(), name="delivery"),
            asyncio.create_task(app.inbox.run(), name="inbox"),
        ]
        self._aps = ApsTimerScheduler(app.runner)
        app.core.scheduler = self._aps
        fired = await self._aps.start()
        await RosterReminders().ensure(app.core)  # the daily roster check, if not planned
        await app.retention.ensure(app.core)  # and the nightly retention job
        log.info("scheduler.started", fired_overdue=fired)
        for receiver in self.receivers:
            await receiver.start_receiving()
            self._receiving.append(receiver)
        auditor = Auditor(app.core, app.uows)
        self._tasks.append(asyncio.create_task(auditor.run(self.audit_every), name="auditor"))

    async def stop(self) -> None:
        """Stop receiving, stop the loops and the timers (those firing get `STOP_GRACE` s
        to finish) and delivery; what is left is in the tables for the next leader."""
        app = self.app
        app.metrics.set_leader(False)
        for receiver in reversed(self._receiving):
            try:
                await receiver.stop_receiving()
            except Exception:
                log.exception("leader.stop_receiving_failed")
        self._receiving = []
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        self._tasks = []
        if self._aps is not None:
            await self._aps.shutdown(grace=STOP_GRACE)  # timers firing may queue messages
            self._aps = None
        app.inbox.stop_handling()
        await app.deliverer.pause()  # then delivery stops; the next leader sends the rest


class FileLock:
    """The lock file next to a SQLite database: one process at a time."""

    def __init__(self, db_url: str) -> None:
        self.path = Path(make_url(db_url).database or "scm-bot").with_suffix(".lock")
        self._file: IO[str] | None = None

    def acquire(self) -> None:
        handle = self.path.open("w")
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            handle.close()
            raise AlreadyRunning(str(self.path)) from None
        self._file = handle

    def release(self) -> None:
        if self._file is not None:
            self._file.close()
            self._file = None


class Instance:
    """This process among the instances: `open` (SQLite: refuse a second one), `start`
    (lead at once on SQLite; stand by and take the lead when free on PostgreSQL),
    `close` (stop leading and let go)."""

    def __init__(
        self,
        app: App,
        db_url: str,
        receivers: Sequence[Receiver] = (),
        *,
        audit_every: float = AUDIT_EVERY,
        try_every: float = TRY_EVERY,
    ) -> None:
        self.app = app
        self.work = LeaderWork(app, receivers, audit_every=audit_every)
        fence = app.uows.fence
        self._file_lock = FileLock(db_url) if fence is None else None
        self.leadership: Leadership | None = None
        if fence is not None:
            self.leadership = Leadership(
                db_url,
                fence,
                app.core.clock,
                on_elected=self.work.start,
                on_deposed=self.work.stop,
                try_every=try_every,
            )
        self._leading = asyncio.Event()
        self._working = False  # SQLite: the leader work was started
        self._campaign: asyncio.Task[None] | None = None

    @property
    def role(self) -> Role:
        if self.leadership is not None:
            return self.leadership.role
        return Role.LEADER if self._leading.is_set() else Role.STANDBY

    @property
    def term(self) -> int | None:
        return self.leadership.term if self.leadership is not None else None

    async def open(self) -> None:
        """Refuse to start beside another process on SQLite (`AlreadyRunning`)."""
        if self._file_lock is not None:
            self._file_lock.acquire()

    async def start(self) -> None:
        """SQLite: lead now. PostgreSQL: stand by, and lead whenever the lock is free."""
        if self.leadership is None:
            self._working = True
            await self.work.start()
            self._leading.set()
            return
        self.app.inbox.stop_handling()
        await self.app.deliverer.pause()
        self._campaign = asyncio.create_task(self.leadership.run(), name="leadership")

    async def leading(self) -> None:
        """Until this process leads."""
        if self.leadership is not None:
            await self.leadership.wait_elected()
        else:
            await self._leading.wait()

    async def close(self) -> None:
        """Stop the leader work (if leading) and let go of the lock."""
        if self._campaign is not None:
            self._campaign.cancel()
            await asyncio.gather(self._campaign, return_exceptions=True)
            self._campaign = None
        elif self._working:
            await self.work.stop()
            self._working = False
            self._leading.clear()
        if self._file_lock is not None:
            self._file_lock.release()


@contextlib.asynccontextmanager
async def running(
    db_url: str,
    transports: list[Transport],
    clock: Clock | None = None,
    form: Form | None = None,
    feed_url: str | None = None,
) -> AsyncIterator[App]:
    """The whole bot as the leader (tests and benchmarks): on SQLite at once, or
    `AlreadyRunning`; on PostgreSQL once this process is elected."""
    engine = make_engine(db_url)
    fence = None if is_sqlite(db_url) else Fence()
    app = build(
        engine, clock or SystemClock(), transports, form=form, feed_url=feed_url, fence=fence
    )
    instance = Instance(app, db_url)
    try:
        await instance.open()
        await instance.start()
        await instance.leading()
        yield app
    finally:
        await instance.close()
        await app.close()
        await engine.dispose()
