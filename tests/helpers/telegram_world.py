"""The Telegram world: the real python-telegram-bot `Application` (a `TelegramBot`) against
the fake Bot API on loopback (`tests.helpers.fake_telegram`), with the real app, core and
storage. Tests of the Telegram bot and the Telegram platform driver build on it."""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from typing import Any

import aiohttp
from sqlalchemy.ext.asyncio import AsyncEngine
from telegram import Update

from bots.telegram import TelegramBot, TelegramTransport
from core.clock import FakeClock
from core.events import InboundEvent
from core.messages import Message
from flows.router import Router
from scm_bot.app import App, build
from scm_bot.http import HttpServer
from tests.conftest import count
from tests.helpers import REGION_FILE, START, Harness, RecordingTransport, load_region
from tests.helpers.fake_telegram import TOKEN, FakeTelegram

IDS = {"caco": 1001, "rol-a": 1002, "rol-b": 1003, "rol-c": 1004, "coord": 1006}
CACO, BERT, CEES, COORD = IDS["caco"], IDS["rol-b"], IDS["rol-c"], IDS["coord"]
STRANGER = 999
WEBHOOK_SECRET = "webhook-secret-0123456789"


def region_with_telegram_ids(ids: dict[str, int] | None = None) -> str:
    """The test region with these people's Telegram ids (default: `IDS`)."""
    text = REGION_FILE.read_text("utf-8")
    for key, user_id in (IDS if ids is None else ids).items():
        text = text.replace(f"{{key: {key}, ", f"{{key: {key}, telegram_user_id: {user_id}, ")
    return text


async def until(condition: Callable[[], bool], what: str) -> None:
    """Wait for I/O (an update travelling through HTTP), bounded; never for timers."""
    for _ in range(3000):  # 30 s: generous for a loaded CI machine
        if condition():
            return
        await asyncio.sleep(0.01)  # allowed: polls HTTP I/O between PTB and the fake, no timer
    raise AssertionError(f"timed out waiting for {what}")


async def page_reaches(fake: FakeTelegram, chat_id: int) -> None:
    """Until a sendMessage to `chat_id` is at the fake (answered or held)."""
    await until(
        lambda: any(c.params.get("chat_id") == chat_id for c in fake.calls_to("sendMessage")),
        "the page to reach Telegram",
    )


class CountingRouter:
    """The router, counting handled events so a test knows an update is done."""

    def __init__(self, router: Router) -> None:
        self.router = router
        self.count = 0

    async def handle(self, event: InboundEvent) -> list[Message]:
        try:
            return await self.router.handle(event)
        finally:
            self.count += 1


@dataclass
class World:
    fake: FakeTelegram
    app: App
    tg: TelegramBot
    transport: TelegramTransport
    harness: Harness
    router: CountingRouter
    server: HttpServer  # the instance's HTTP server, with the webhook's route

    async def feed(self, update: dict[str, Any]) -> None:
        """Receive one update as the poller does (into the inbox), handle it, answer it,
        then deliver the outbox."""
        await self.tg.receive([Update.de_json(update, self.tg.application.bot)])
        await self.handle()

    async def until_stored(self, events: int) -> None:
        """Until the poller has stored this many events in the inbox (HTTP I/O)."""
        for _ in range(3000):
            if await count(self.app.engine, "inbox") >= events:
                return
            await asyncio.sleep(0.01)  # allowed: polls HTTP I/O, no timer
        raise AssertionError(f"timed out waiting for {events} stored events")

    async def handle(self) -> None:
        """Handle what the inbox holds, answer it, deliver the outbox."""
        await self.app.inbox.drain()
        await self.app.inbox.answered()
        await self.app.deliverer.deliver_pending()

    async def say(self, user_id: int, text: str) -> None:
        await self.feed(self.fake.text_update(user_id, text))

    async def press(self, user_id: int, label: str) -> None:
        await self.feed(self.fake.press_update(user_id, label))

    async def advance(self, minutes: float) -> None:
        await self.harness.advance(minutes)


@contextlib.asynccontextmanager
async def world(
    engine: AsyncEngine,
    fake: FakeTelegram,
    *,
    region: str | None = None,
    feed_url: str | None = None,
    **bot_options: Any,
) -> AsyncIterator[World]:
    """The test region with Telegram ids, the real app with the Telegram transport, and a
    started TelegramBot (polling unless webhook options are given); `feed_url` as
    `scm-bot run` passes it when the calendar server is on."""
    await load_region(engine, region or region_with_telegram_ids())
    clock = FakeClock(START)
    transport = TelegramTransport(per_chat_interval=0.0, per_second=1000.0)
    app = build(engine, clock, [transport], feed_url=feed_url)
    router = CountingRouter(app.router)
    app.inbox.router = router
    options: dict[str, Any] = {"poll_timeout": 5.0, **bot_options}
    tg = TelegramBot(app.inbox, token=TOKEN, base_url=fake.base_url, transport=transport, **options)
    server = HttpServer("127.0.0.1", 0, tg.routes())
    await server.start()
    await tg.start()
    try:
        harness = Harness(app, clock, RecordingTransport())
        yield World(fake, app, tg, transport, harness, router, server)
    finally:
        await tg.stop()
        await server.stop()
        await app.close()


async def webhook_post(
    port: int, body: dict[str, Any] | str, headers: dict[str, str] | None = None
) -> int:
    data = body if isinstance(body, str) else json.dumps(body)
    async with aiohttp.ClientSession() as session:
        async with session.post(
            f"http://127.0.0.1:{port}/telegram/hook",
            data=data,
            headers={"Content-Type": "application/json", **(headers or {})},
        ) as response:
            return response.status
