"""`scm-bot run`: start every configured transport in one process.

With no Telegram or Slack credentials the interactive console runs, on the demo region when
the database is empty. With a real transport configured, demo data is never loaded, and the
console only runs when asked for (SCM_CONSOLE=true): it would print every message.

On PostgreSQL several processes may run: each serves HTTP, one leads (scm_bot.instance).
"""

from __future__ import annotations

import asyncio
import contextlib
import signal

import structlog

from bots.console import ConsoleSession, ConsoleTransport
from bots.ical_feeds import IcalFeeds
from bots.slack.bot import SlackBot
from bots.slack.transport import SlackTransport
from bots.telegram.bot import TelegramBot
from bots.telegram.transport import TelegramTransport
from core.analyse.form import load_form
from core.clock import SystemClock
from core.i18n import t
from core.model import Language
from core.ports import Transport
from core.region.file import parse_region
from core.retention import RetentionPolicy
from flows.roster.feature import RosterCalendars
from scm_bot.app import App, build
from scm_bot.demo import demo_region_text
from scm_bot.http import Connected, Health, HttpServer
from scm_bot.instance import AlreadyRunning, Instance, Receiver
from scm_bot.settings import Settings
from storage.database import is_sqlite, make_engine, migrate
from storage.leadership import Fence
from storage.region import import_region, region_exists

log = structlog.get_logger(__name__)


Bot = TelegramBot | SlackBot


def _bots(settings: Settings, app: App, telegram: TelegramTransport | None) -> list[Bot]:
    bots: list[Bot] = []
    if settings.telegram_bot_token is not None:
        bots.append(
            TelegramBot(
                app.inbox,
                token=settings.telegram_bot_token,
                base_url=settings.telegram_base_url,
                webhook_url=settings.telegram_webhook_url,
                webhook_secret=settings.telegram_webhook_secret,
                transport=telegram,
            )
        )
    if settings.slack_bot_token is not None:
        bots.append(
            SlackBot(
                app.inbox,
                bot_token=settings.slack_bot_token,
                app_token=settings.slack_app_token,
                signing_secret=settings.slack_signing_secret,
                base_url=settings.slack_api_url,
                mode=settings.slack_mode,
            )
        )
    return bots


def _http_server(
    settings: Settings, app: App, instance: Instance, bots: list[Bot]
) -> HttpServer | None:
    """The instance's HTTP server, when HTTP_PORT is set: the bots' webhooks, the calendar
    feeds, /healthz and /metrics."""
    if settings.http_port is None:
        return None
    transports: dict[str, Connected] = {
        ("telegram" if isinstance(bot, TelegramBot) else "slack"): bot for bot in bots
    }
    routes = [route for bot in bots for route in bot.routes()]
    routes += IcalFeeds(RosterCalendars(app.core)).routes()
    routes += Health(instance, transports).routes()
    return HttpServer(settings.http_listen, settings.http_port, routes)


async def _until_stopped() -> None:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError):
            loop.add_signal_handler(sig, stop.set)
    await stop.wait()


async def run_bot(settings: Settings) -> int:
    migrate(settings.db_url)
    engine = make_engine(settings.db_url)
    try:
        has_region = await region_exists(engine)
        if not has_region and not settings.has_chat_transport:
            await import_region(engine, parse_region(demo_region_text()))
            print(t(Language.NL, "runtime.demo_region_loaded"))
        elif not has_region:
            print(t(Language.NL, "runtime.no_region"))
            return 1
    finally:
        await engine.dispose()
    for name in settings.deprecated_in_use:
        log.warning("settings.deprecated", setting=name, use_instead="HTTP_LISTEN, HTTP_PORT")

    with_console = (
        settings.scm_console
        if settings.scm_console is not None
        else not settings.has_chat_transport
    )
    console = ConsoleTransport(folder=settings.data_dir / "console") if with_console else None
    telegram = TelegramTransport() if settings.telegram_bot_token is not None else None
    slack = (
        SlackTransport(settings.slack_bot_token, base_url=settings.slack_api_url)
        if settings.slack_bot_token is not None
        else None
    )
    transports: list[Transport] = [t for t in (console, telegram, slack) if t is not None]
    form = load_form(settings.analyse_form) if settings.analyse_form else None
    engine = make_engine(settings.db_url)
    fence = None if is_sqlite(settings.db_url) else Fence()
    app = build(
        engine, SystemClock(), transports, form=form, feed_url=settings.ical_feed_url, fence=fence
    )
    app.retention.policy = RetentionPolicy(settings.retention_days, settings.audit_retention_days)
    bots = _bots(settings, app, telegram)
    receivers: list[Receiver] = list(bots)
    instance = Instance(app, settings.db_url, receivers)
    server = _http_server(settings, app, instance, bots)
    connected: list[Bot] = []
    try:
        await instance.open()  # SQLite: a second process stops here
        for bot in bots:
            await bot.connect()  # every instance: a standby's HTTP server stores events
            connected.append(bot)
        if server is not None:
            await server.start()
        await instance.start()
        log.info(
            "scm-bot.running",
            transports=[t.name for t in transports],
            role=instance.role.value,
        )
        if console is not None:
            await instance.leading()  # the console talks to the leader's loops
            session = ConsoleSession(
                app.router, console, app.directory, app.deliverer.deliver_pending
            )
            await session.run()
        else:
            await _until_stopped()
    except AlreadyRunning as error:
        print(t(Language.NL, "runtime.already_running", error=error))
        return 1
    finally:
        await instance.close()  # the leader's work stops; a standby takes over
        if server is not None:
            await server.stop()
        for bot in reversed(connected):
            await bot.stop()
        await app.close()
        await engine.dispose()
    return 0
