"""The composition root: builds storage, core, flows and transports, and runs them."""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Self

import structlog
from sqlalchemy import text
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from core.analyse.form import Form, load_form
from core.analyse.service import AnalyseService
from core.clock import Clock, SystemClock
from core.errors import StorageError
from core.incidents.paging import Paging
from core.incidents.reports import report_handler
from core.incidents.service import Incidents
from core.model import Directory
from core.ports import TimerScheduler, Transport
from core.retention import RETENTION, Retention
from core.roster.reminders import RosterReminders
from core.timers import ManualTimerScheduler, TimerHandler, TimerRunner
from core.tx import Core
from flows.analyse.feature import AnalyseFeature
from flows.bt.feature import BtFeature
from flows.incidents.feature import IncidentsFeature
from flows.registry import Feature
from flows.roster.feature import RosterFeature
from flows.router import Router
from scm_bot.delivery import Deliverer
from scm_bot.inbox import Inbox
from scm_bot.metrics import Metrics
from scm_bot.scheduling import ApsTimerScheduler
from storage.database import is_sqlite, make_engine
from storage.uow import SqlUnitOfWorkFactory

log = structlog.get_logger(__name__)


class AlreadyRunning(RuntimeError):
    """Another scm-bot process holds this database (two pollers must never share one bot
    token, nor two schedulers one database's timers)."""


@dataclass
class App:
    engine: AsyncEngine
    uows: SqlUnitOfWorkFactory
    core: Core
    router: Router
    runner: TimerRunner
    deliverer: Deliverer
    inbox: Inbox
    metrics: Metrics
    retention: Retention  # its policy is the settings' (scm_bot.runtime)
    tasks: list[asyncio.Task[None]] = field(default_factory=list)

    async def directory(self) -> Directory:
        async with self.uows() as uow:
            return await uow.directory.load()

    async def scrape_metrics(self) -> tuple[bytes, str]:
        """The body and content type for `GET /metrics`, with the outbox depth read from
        the table now (left as it was when the database cannot be read)."""
        try:
            async with self.uows() as uow:
                self.metrics.outbox_depth.set(await uow.outbox.count_pending())
        except StorageError as error:
            log.warning("metrics.outbox_depth_unread", error=str(error))
        return self.metrics.exposition()

    def start_delivery(self) -> None:
        """Start the delivery loop; its first look at the table sends what is due."""
        self.tasks.append(asyncio.create_task(self.deliverer.run(), name="delivery"))
        self.deliverer.wake()

    async def close(self) -> None:
        """Stop delivery (what is left stays queued) and close the units of work's
        connections; the engine is the caller's."""
        await self.deliverer.close()
        self.uows.close()

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.close()

    async def settle(self) -> None:
        """Handle stored events, fire due timers and deliver everything queued (tests and
        the demo)."""
        await self.inbox.drain()
        await self.runner.run_due()
        await self.deliverer.deliver_pending()


def build(
    engine: AsyncEngine,
    clock: Clock,
    transports: list[Transport],
    scheduler: TimerScheduler | None = None,
    form: Form | None = None,
    *,
    monotonic: Callable[[], float] = time.monotonic,
    sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    feed_url: str | None = None,
) -> App:
    """Assemble the bot; `monotonic` and `sleep` pace deliveries (tests pass fakes);
    `feed_url` is where the calendar server is reached (None: no subscription URLs).
    Its metrics (`App.metrics`) have a registry of their own.
    The caller closes the app (`async with build(...) as app`, or `await app.close()`)."""
    metrics = Metrics()
    uows = SqlUnitOfWorkFactory(engine)
    core = Core(uows, clock, scheduler or ManualTimerScheduler(), on_commit=metrics.observe_audit)
    paging = Paging()
    form = form or load_form()
    incidents = Incidents(paging, form)
    analyse = AnalyseFeature(AnalyseService(form), incidents)
    features: list[Feature] = [
        IncidentsFeature(paging, incidents),
        analyse,
        RosterFeature(feed_url, reaches=lambda person: any(t.reaches(person) for t in transports)),
        BtFeature.wired(paging, incidents, analyse),
    ]
    router = Router(core, features)
    timers: dict[str, TimerHandler] = {}
    for feature in features:
        timers.update(feature.timer_handlers())
    retention = Retention()
    timers[RETENTION] = retention.on_daily
    runner = TimerRunner(core, timers)
    deliverer = Deliverer(
        core,
        transports,
        report_handler(core, paging),
        monotonic=monotonic,
        sleep=sleep,
        metrics=metrics,
    )
    core.on_outbox = deliverer.offer
    inbox = Inbox(uows, router, clock, metrics)
    return App(engine, uows, core, router, runner, deliverer, inbox, metrics, retention)


class InstanceLock:
    """One running bot per database: a file lock for SQLite, an advisory lock for
    PostgreSQL (held on its own connection for the life of the process)."""

    KEY = 0x5C3B07  # advisory lock id for "scm-bot"

    def __init__(self, db_url: str, engine: AsyncEngine) -> None:
        self.db_url = db_url
        self.engine = engine
        self._file: IO[str] | None = None
        self._conn: AsyncConnection | None = None

    async def acquire(self) -> None:
        if is_sqlite(self.db_url):
            path = Path(make_url(self.db_url).database or "scm-bot").with_suffix(".lock")
            handle = path.open("w")
            try:
                fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                handle.close()
                raise AlreadyRunning(str(path)) from None
            self._file = handle
            return
        conn = await self.engine.connect()
        got = (
            await conn.execute(text("SELECT pg_try_advisory_lock(:k)"), {"k": self.KEY})
        ).scalar_one()
        if not got:
            await conn.close()
            raise AlreadyRunning("PostgreSQL advisory lock")
        await conn.commit()
        self._conn = conn

    async def release(self) -> None:
        if self._file is not None:
            self._file.close()
            self._file = None
        if self._conn is not None:
            await self._conn.close()
            self._conn = None


@contextlib.asynccontextmanager
async def running(
    db_url: str,
    transports: list[Transport],
    clock: Clock | None = None,
    form: Form | None = None,
    feed_url: str | None = None,
    *,
    deliver_now: bool = True,
) -> AsyncIterator[App]:
    """Start the whole bot: lock, scheduler rebuilt from the timer rows, inbox and delivery
    loops. With `deliver_now=False` delivery waits for `App.start_delivery` (the caller
    starts its transports first: a send before that would fail and be put off)."""
    engine = make_engine(db_url)
    lock = InstanceLock(db_url, engine)
    try:
        await lock.acquire()
    except AlreadyRunning:
        await engine.dispose()
        raise
    app = build(engine, clock or SystemClock(), transports, form=form, feed_url=feed_url)
    aps = ApsTimerScheduler(app.runner)
    app.core.scheduler = aps
    try:
        if deliver_now:
            app.start_delivery()
        app.tasks.append(asyncio.create_task(app.inbox.run(), name="inbox"))
        fired = await aps.start()
        await RosterReminders().ensure(app.core)  # the daily roster check, if not planned
        await app.retention.ensure(app.core)  # and the nightly retention job
        log.info("scheduler.started", fired_overdue=fired)
        yield app
    finally:
        for task in app.tasks:
            task.cancel()
        await asyncio.gather(*app.tasks, return_exceptions=True)
        await aps.shutdown()  # timers already firing finish (and may queue messages)
        await app.close()  # then delivery stops; what is left goes out next start
        await lock.release()
        await engine.dispose()
