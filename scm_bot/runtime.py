"""`scm-bot run`: start every configured transport in one process.

With no Telegram or Slack credentials the interactive console runs, on the demo region when
the database is empty. With a real transport configured, demo data is never loaded, and the
console only runs when asked for (SCM_CONSOLE=true): it would print every message.
"""

from __future__ import annotations

import asyncio
import contextlib
import signal
from typing import Protocol

import structlog

from bots.console import ConsoleSession, ConsoleTransport
from bots.ical_server import IcalServer
from bots.slack.bot import SlackBot
from bots.slack.transport import SlackTransport
from bots.telegram.bot import TelegramBot
from bots.telegram.transport import TelegramTransport
from core.analyse.form import load_form
from core.i18n import t
from core.model import Language
from core.ports import Transport
from core.region.file import parse_region
from flows.roster.feature import RosterCalendars
from scm_bot.app import AlreadyRunning, App, running
from scm_bot.demo import demo_region_text
from scm_bot.settings import Settings
from storage.database import make_engine, migrate
from storage.region import import_region, region_exists

log = structlog.get_logger(__name__)


class ChatBot(Protocol):
    async def start(self) -> None: ...
    async def stop(self) -> None: ...


def _bots(settings: Settings, app: App, telegram: TelegramTransport | None) -> list[ChatBot]:
    bots: list[ChatBot] = []
    if settings.telegram_bot_token is not None:
        bots.append(
            TelegramBot(
                app.inbox,
                token=settings.telegram_bot_token,
                base_url=settings.telegram_base_url,
                webhook_url=settings.telegram_webhook_url,
                webhook_secret=settings.telegram_webhook_secret,
                webhook_listen=settings.telegram_webhook_listen,
                webhook_port=settings.telegram_webhook_port,
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
                http_listen=settings.slack_http_listen,
                http_port=settings.slack_http_port,
            )
        )
    return bots


def _ical_server(settings: Settings, app: App) -> IcalServer | None:
    """The calendar subscription server, when ICAL_HTTP_PORT is set."""
    if settings.ical_http_port is None:
        return None
    return IcalServer(
        RosterCalendars(app.core), listen=settings.ical_http_listen, port=settings.ical_http_port
    )


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
    try:
        form = load_form(settings.analyse_form) if settings.analyse_form else None
        async with running(
            settings.db_url,
            transports,
            form=form,
            feed_url=settings.ical_feed_url,
            deliver_now=False,
        ) as app:
            bots = _bots(settings, app, telegram)
            server = _ical_server(settings, app)
            if server is not None:
                bots.append(server)
            started: list[ChatBot] = []
            try:
                for bot in bots:
                    await bot.start()
                    started.append(bot)
                app.start_delivery()  # the transports can send now
                log.info("scm-bot.running", transports=[t.name for t in transports])
                if console is not None:
                    session = ConsoleSession(
                        app.router, console, app.directory, app.deliverer.deliver_pending
                    )
                    await session.run()
                else:
                    await _until_stopped()
            finally:
                for bot in reversed(started):
                    await bot.stop()
    except AlreadyRunning as error:
        print(t(Language.NL, "runtime.already_running", error=error))
        return 1
    return 0
