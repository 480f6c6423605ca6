"""The Slack world: the real bolt `AsyncApp` (a `SlackBot` in HTTP mode) receiving signed
requests on loopback, its web client and the transport talking to the fake Slack
(`tests.helpers.fake_slack`), with the real app, core and storage. Tests of the Slack bot and
the Slack platform driver build on it."""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import itertools
import json
import time
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlencode

import aiohttp
import yaml
from sqlalchemy.ext.asyncio import AsyncEngine

from bots.slack import SlackBot, SlackTransport
from bots.slack.render import escape_mrkdwn
from core.clock import FakeClock
from core.events import InboundEvent
from core.messages import Message
from core.ports import Inbox
from scm_bot.app import App, build
from scm_bot.http import HttpServer
from tests.helpers import REGION_FILE, START, Harness, RecordingTransport, load_region
from tests.helpers.fake_slack import BOT_TOKEN, BOT_USER_ID, FakeSlack, Posted

SIGNING_SECRET = "test-signing-secret-not-real"
SLACK_IDS = {
    "caco": "UCACO0001",
    "rol-a": "UROLA0001",
    "rol-b": "UROLB0001",
    "rol-c": "UROLC0001",
    "coord": "UCOORD001",
}
CACO, BERT, CEES, COORD = (SLACK_IDS[k] for k in ("caco", "rol-b", "rol-c", "coord"))
STRANGER = "USTRANGER"


def region_with_slack_ids(ids: dict[str, str] | None = None) -> str:
    """The test region with these people's Slack ids (default: `SLACK_IDS`)."""
    ids = SLACK_IDS if ids is None else ids
    data = yaml.safe_load(REGION_FILE.read_text("utf-8"))
    for person in data["people"]:
        if person["key"] in ids:
            person["slack_user_id"] = ids[person["key"]]
    return yaml.safe_dump(data, allow_unicode=True, sort_keys=False)


def sign(body: str, timestamp: int, secret: str = SIGNING_SECRET) -> str:
    base = f"v0:{timestamp}:{body}".encode()
    return "v0=" + hmac.new(secret.encode(), base, hashlib.sha256).hexdigest()


def slack_escape(text: str) -> str:
    """What Slack sends for typed text: `&`, `<` and `>` as entities."""
    return escape_mrkdwn(text)


FORM = "application/x-www-form-urlencoded"


def event_body(user: str, text: str, event_id: str, **event: Any) -> dict[str, Any]:
    """An Events API `message.im` callback, as Slack sends it."""
    return {
        "token": "legacy-verification-token",
        "team_id": "T0SCMTEST",
        "api_app_id": "A0SCMBOT",
        "event": {
            "type": "message",
            "channel": FakeSlack.dm_channel(user),
            "user": user,
            "text": slack_escape(text),
            "ts": "1790000000.000200",
            "event_ts": "1790000000.000200",
            "channel_type": "im",
            **event,
        },
        "type": "event_callback",
        "event_id": event_id,
        "event_time": 1790000000,
        "authorizations": [{"team_id": "T0SCMTEST", "user_id": BOT_USER_ID}],
    }


class SpyRouter:
    """The real router, recording what reaches it; a gate can hold it to prove the ack
    does not wait for the work."""

    def __init__(self, inner: Any) -> None:
        self.inner = inner
        self.events: list[InboundEvent] = []
        self.gate: asyncio.Event | None = None
        self.entered = asyncio.Event()

    async def handle(self, event: InboundEvent) -> list[Message]:
        self.events.append(event)
        self.entered.set()
        if self.gate is not None:
            await self.gate.wait()
        result: list[Message] = await self.inner.handle(event)
        return result


@dataclass
class World:
    fake: FakeSlack
    app: App
    bot: SlackBot
    router: SpyRouter
    harness: Harness  # only to move time; deliveries go to Slack
    http: aiohttp.ClientSession
    server: HttpServer  # the instance's HTTP server, with Slack's route
    _ids: itertools.count[int] = field(default_factory=lambda: itertools.count(1))
    # Unique per test: PostgreSQL keeps seen event ids for the whole session.
    run: str = field(default_factory=lambda: uuid.uuid4().hex[:10])

    def event_id(self, name: str) -> str:
        return f"Ev{name}{self.run}"

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.port}/slack/events"

    async def post(
        self,
        body: str,
        content_type: str,
        *,
        timestamp: int | None = None,
        signature: str | None = None,
        headers: dict[str, str] | None = None,
    ) -> tuple[int, str]:
        ts = int(time.time()) if timestamp is None else timestamp
        all_headers = {
            "Content-Type": content_type,
            "X-Slack-Request-Timestamp": str(ts),
            "X-Slack-Signature": signature or sign(body, ts),
            **(headers or {}),
        }
        async with self.http.post(self.url, data=body.encode(), headers=all_headers) as response:
            return response.status, await response.text()

    def command_body(self, user: str, text: str, channel: str | None = None) -> str:
        channel = channel or FakeSlack.dm_channel(user)
        return urlencode(
            {
                "token": "legacy-verification-token",
                "team_id": "T0SCMTEST",
                "team_domain": "scm-test",
                "channel_id": channel,
                "channel_name": "directmessage" if channel.startswith("D") else "crisis",
                "user_id": user,
                "user_name": user.lower(),
                "command": "/scm",
                "text": slack_escape(text),
                "api_app_id": "A0SCMBOT",
                "response_url": f"{self.fake.base_url}response",
                "trigger_id": f"{next(self._ids)}.{self.run}.trigger",
            }
        )

    async def command(self, user: str, text: str, channel: str | None = None) -> int:
        status, _ = await self.post(
            self.command_body(user, text, channel), "application/x-www-form-urlencoded"
        )
        await self.settle()
        return status

    async def click(self, user: str, posted: Posted, label: str) -> int:
        value = posted.button_value(label)
        assert value is not None, f"no button {label!r} on {posted.body()!r}"
        n = next(self._ids)
        payload = {
            "type": "block_actions",
            "user": {"id": user, "username": user.lower(), "team_id": "T0SCMTEST"},
            "api_app_id": "A0SCMBOT",
            "token": "legacy-verification-token",
            "container": {
                "type": "message",
                "message_ts": posted.ts,
                "channel_id": posted.channel,
                "is_ephemeral": False,
            },
            "trigger_id": f"{n}.{self.run}.click",
            "team": {"id": "T0SCMTEST", "domain": "scm-test"},
            "channel": {"id": posted.channel, "name": "directmessage"},
            "message": {"type": "message", "ts": posted.ts, "text": posted.text},
            "response_url": f"{self.fake.base_url}response",
            "actions": [
                {
                    "action_id": next(
                        e["action_id"] for e in posted.buttons() if e["text"]["text"] == label
                    ),
                    "block_id": "b1",
                    "text": {"type": "plain_text", "text": label},
                    "value": value,
                    "type": "button",
                    "action_ts": f"1790000{n}.000100",
                }
            ],
        }
        body = urlencode({"payload": json.dumps(payload)})
        status, _ = await self.post(body, "application/x-www-form-urlencoded")
        await self.settle()
        return status

    async def dm(
        self, user: str, text: str, name: str, retry: int = 0, **event: Any
    ) -> tuple[int, str]:
        """A DM from `user`; `name` makes the event id (the same name: a redelivery)."""
        headers = {"X-Slack-Retry-Num": str(retry), "X-Slack-Retry-Reason": "http_timeout"}
        result = await self.post(
            json.dumps(event_body(user, text, self.event_id(name), **event)),
            "application/json",
            headers=headers if retry else None,
        )
        await self.settle()
        return result

    async def settle(self) -> None:
        await self.app.settle()
        await self.app.inbox.answered()

    async def advance(self, minutes: float) -> None:
        await self.harness.advance(minutes)


def unpaced(fake: FakeSlack) -> SlackTransport:
    """A transport without Slack's pacing: the deliverer's pacer runs on real time."""
    return SlackTransport(
        BOT_TOKEN, base_url=fake.base_url, per_chat_interval=0.0, per_second=float("inf")
    )


def http_bot(inbox: Inbox, fake: FakeSlack) -> SlackBot:
    """The real bolt app in HTTP mode on a free port, its client pointed at the fake."""
    return SlackBot(
        inbox,
        bot_token=BOT_TOKEN,
        signing_secret=SIGNING_SECRET,
        base_url=fake.base_url,
        mode="http",
    )


async def make_world(
    engine: AsyncEngine, fake: FakeSlack, region: str | None = None, feed_url: str | None = None
) -> AsyncIterator[World]:
    """The test region with Slack ids, the real app with the Slack transport, and the bolt
    app in HTTP mode; `feed_url` as `scm-bot run` passes it when the calendar server is on."""
    await load_region(engine, region or region_with_slack_ids())
    clock = FakeClock(START)
    transport = unpaced(fake)
    app = build(engine, clock, [transport], feed_url=feed_url)
    router = SpyRouter(app.router)
    app.inbox.router = router
    bot = http_bot(app.inbox, fake)
    await bot.start()
    server = HttpServer("127.0.0.1", 0, bot.routes())
    await server.start()
    http = aiohttp.ClientSession()
    try:
        harness = Harness(app, clock, RecordingTransport())
        yield World(fake, app, bot, router, harness, http, server)
    finally:
        await http.close()
        await server.stop()
        await bot.stop()
        await app.close()
