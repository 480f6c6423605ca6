"""Telegram and Slack in one app, each the real library against its fake on loopback: a
person linked on both is paged on both, and an answer on one updates the other."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import pytest
import yaml
from sqlalchemy.ext.asyncio import AsyncEngine
from telegram import Update

from bots.telegram import TelegramBot, TelegramTransport
from core.clock import FakeClock
from scm_bot.app import build
from scm_bot.http import HttpServer
from tests.helpers import REGION_FILE, START, Harness, RecordingTransport, load_region
from tests.helpers.fake_slack import FakeSlack
from tests.helpers.fake_telegram import TOKEN, FakeTelegram
from tests.helpers.slack_world import SLACK_IDS, http_bot, unpaced
from tests.helpers.slack_world import World as SlackWorld
from tests.helpers.telegram_world import IDS

BERT_TG, BERT_SLACK, CACO_TG = IDS["rol-b"], SLACK_IDS["rol-b"], IDS["caco"]


def region_on_both() -> str:
    data = yaml.safe_load(REGION_FILE.read_text("utf-8"))
    for person in data["people"]:
        if person["key"] in IDS:
            person["telegram_user_id"] = IDS[person["key"]]
        if person["key"] in SLACK_IDS:
            person["slack_user_id"] = SLACK_IDS[person["key"]]
    return yaml.safe_dump(data, sort_keys=False, allow_unicode=True)


class Both:
    def __init__(self, tg: TelegramBot, telegram: FakeTelegram, slack: SlackWorld) -> None:
        self.tg, self.telegram, self.slack = tg, telegram, slack

    async def feed(self, update: dict[str, Any]) -> None:
        await self.tg.receive([Update.de_json(update, self.tg.application.bot)])
        await self.slack.settle()


@pytest.fixture
async def both(engine: AsyncEngine) -> AsyncIterator[Both]:
    await load_region(engine, region_on_both())
    async with FakeTelegram() as telegram, FakeSlack() as slack_api:
        clock = FakeClock(START)
        tg_transport = TelegramTransport(per_chat_interval=0.0, per_second=1000.0)
        app = build(engine, clock, [tg_transport, unpaced(slack_api)])
        tg = TelegramBot(app.inbox, token=TOKEN, base_url=telegram.base_url, transport=tg_transport)
        slack_bot = http_bot(app.inbox, slack_api)
        await tg.start()
        await slack_bot.start()
        server = HttpServer("127.0.0.1", 0, [*tg.routes(), *slack_bot.routes()])
        await server.start()
        http = aiohttp.ClientSession()
        try:
            harness = Harness(app, clock, RecordingTransport())
            slack = SlackWorld(slack_api, app, slack_bot, app.router, harness, http, server)  # type: ignore[arg-type]
            yield Both(tg, telegram, slack)
        finally:
            await http.close()
            await server.stop()
            await slack_bot.stop()
            await tg.stop()
            await app.close()


async def test_paged_on_both_and_taken_on_slack_updates_telegram(both: Both) -> None:
    telegram, slack = both.telegram, both.slack.fake
    await both.feed(telegram.text_update(CACO_TG, "/alarm Soest: gaslek Kerkstraat"))
    await both.feed(telegram.press_update(CACO_TG, "Bevestigen en pagen"))
    # Bert is linked on both platforms: the page reaches him on both.
    assert telegram.last(BERT_TG).labels == ["I'll take it", "Can't"]
    on_slack = slack.find(BERT_SLACK, "VRU-2026-0001")
    assert [b["text"]["text"] for b in on_slack.buttons()] == ["I'll take it", "Can't"]

    assert await both.slack.click(BERT_SLACK, on_slack, "I'll take it") == 200
    # The Telegram copy now says who took it, and where; its buttons are gone.
    (page,) = telegram.messages(BERT_TG)[:1]
    assert "Taken by Rol Bert via Slack" in page.text
    assert page.buttons == [] and page.edits >= 1
    # The Caco raised it on Telegram and hears the answer there.
    assert any("opgepakt door Rol Bert" in text for text in telegram.texts(CACO_TG))
    # One acknowledgement, recorded once, whichever platform it came from.
    async with both.slack.app.uows() as uow:
        acknowledged = [r for r in await uow.audit.all() if r.action == "page.acknowledged"]
    assert len(acknowledged) == 1
