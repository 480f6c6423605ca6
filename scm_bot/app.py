"""The composition root: builds storage, core, flows and transports into an `App`
(`scm_bot.instance` runs it, as the leader or a standby)."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Self

import structlog
from sqlalchemy.ext.asyncio import AsyncEngine

from core.analyse.form import Form, load_form
from core.analyse.service import AnalyseService
from core.clock import Clock
from core.errors import StorageError
from core.incidents.paging import Paging
from core.incidents.reports import report_handler
from core.incidents.service import Incidents
from core.model import Directory
from core.ports import Transport
from core.retention import RETENTION, Retention
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
from storage.leadership import Fence
from storage.uow import SqlUnitOfWorkFactory

log = structlog.get_logger(__name__)


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
    form: Form | None = None,
    *,
    monotonic: Callable[[], float] = time.monotonic,
    sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    feed_url: str | None = None,
    fence: Fence | None = None,
) -> App:
    """Assemble the bot; `monotonic` and `sleep` pace deliveries (tests pass fakes);
    `feed_url` is where the calendar server is reached (None: no subscription URLs).
    Its metrics (`App.metrics`) have a registry of their own. With a `fence` (several
    instances on PostgreSQL) timers fire and messages go out only while this process leads.
    The caller closes the app (`async with build(...) as app`, or `await app.close()`)."""
    metrics = Metrics()
    uows = SqlUnitOfWorkFactory(engine, fence)
    # Timers are fired by hand (tests, the demo) until the leader's work plans them.
    core = Core(uows, clock, ManualTimerScheduler(), on_commit=metrics.observe_audit)
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
