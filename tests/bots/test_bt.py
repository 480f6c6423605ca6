"""The beleidsteam through Telegram and Slack together, each the real library against its
fake on loopback: convene, attend, the aandachtskaart, decide, the logbook as a file; and
a restart in the middle of a call-out, after which the escalation to a backup still fires.

The burgemeester, the Caco and two members are on Telegram; the ROL and the other members
on Slack. Time moves only with the fake clock.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any

import aiohttp
import yaml
from sqlalchemy.ext.asyncio import AsyncEngine
from telegram import Update

from bots.slack import SlackBot
from bots.telegram import TelegramBot, TelegramTransport
from core.clock import FakeClock
from scm_bot.app import App, build
from scm_bot.http import HttpServer
from tests.helpers import START, Harness, RecordingTransport, load_region
from tests.helpers.bt import REGION
from tests.helpers.fake_slack import FakeSlack, Posted
from tests.helpers.fake_telegram import TOKEN, FakeTelegram
from tests.helpers.slack_world import World as SlackWorld
from tests.helpers.slack_world import http_bot, unpaced

TELEGRAM = {"caco": 2001, "bgm-soest": 2002, "comm-kees": 2003, "gs-soest": 2004, "im": 2005}
SLACK = {
    "rol-b": "UROLB0002",
    "tv-tom": "UTVTOM002",
    "tv-tineke": "UTVTIN002",
    "comm-karin": "UCOMMK002",
}
CACO, BGM, KEES, GS = (TELEGRAM[k] for k in ("caco", "bgm-soest", "comm-kees", "gs-soest"))
BERT, TOM, TINEKE, KARIN = (SLACK[k] for k in ("rol-b", "tv-tom", "tv-tineke", "comm-karin"))


def region() -> str:
    data = yaml.safe_load(REGION)
    for person in data["people"]:
        if person["key"] in TELEGRAM:
            person["telegram_user_id"] = TELEGRAM[person["key"]]
        if person["key"] in SLACK:
            person["slack_user_id"] = SLACK[person["key"]]
    return yaml.safe_dump(data, sort_keys=False, allow_unicode=True)


@dataclass
class Both:
    app: App
    tg: TelegramBot
    telegram: FakeTelegram
    slack: SlackWorld

    async def say(self, user_id: int, text: str) -> None:
        await self.feed(self.telegram.text_update(user_id, text))

    async def press(self, user_id: int, label: str) -> None:
        await self.feed(self.telegram.press_update(user_id, label))

    async def feed(self, update: dict[str, Any]) -> None:
        await self.tg.receive([Update.de_json(update, self.tg.application.bot)])
        await self.slack.settle()

    async def click(self, user: str, text: str, label: str) -> None:
        """`user` presses `label` on their newest Slack message that says `text`."""
        assert await self.slack.click(user, self.slack.fake.find(user, text), label) == 200

    def posted(self, user: str, text: str) -> Posted:
        return self.slack.fake.find(user, text)


@asynccontextmanager
async def running(
    engine: AsyncEngine, telegram: FakeTelegram, slack_api: FakeSlack, clock: FakeClock
) -> AsyncIterator[Both]:
    """One process of the bot: the app with both transports and both listeners."""
    tg_transport = TelegramTransport(per_chat_interval=0.0, per_second=1000.0)
    app = build(engine, clock, [tg_transport, unpaced(slack_api)])
    tg = TelegramBot(app.inbox, token=TOKEN, base_url=telegram.base_url, transport=tg_transport)
    slack_bot: SlackBot = http_bot(app.inbox, slack_api)
    await tg.start()
    await slack_bot.start()
    server = HttpServer("127.0.0.1", 0, slack_bot.routes())
    await server.start()
    http = aiohttp.ClientSession()
    try:
        harness = Harness(app, clock, RecordingTransport())
        slack = SlackWorld(slack_api, app, slack_bot, app.router, harness, http, server)  # type: ignore[arg-type]
        yield Both(app, tg, telegram, slack)
    finally:
        await http.close()
        await server.stop()
        await slack_bot.stop()
        await tg.stop()
        await app.close()


@asynccontextmanager
async def fakes(engine: AsyncEngine) -> AsyncIterator[tuple[FakeTelegram, FakeSlack]]:
    await load_region(engine, region())
    async with FakeTelegram() as telegram, FakeSlack() as slack_api:
        yield telegram, slack_api


async def _convene(b: Both) -> None:
    await b.say(CACO, "/alarm Soest: gaslek Kerkstraat")
    await b.press(CACO, "Bevestigen en pagen")
    await b.click(BERT, "VRU-2026-0001", "I'll take it")
    await b.say(BGM, "/bt bijeenroepen")
    await b.press(BGM, "Norm")
    await b.say(BGM, "Gemeentehuis Soest")
    confirm = b.telegram.last(BGM)
    assert "Technisch voorzitter *: Voorzitter Tom (backup Voorzitter Tineke)" in confirm.text
    await b.press(BGM, "Bevestigen en oproepen")


async def test_convene_attend_decide_and_export_through_telegram_and_slack(
    engine: AsyncEngine,
) -> None:
    async with fakes(engine) as (telegram, slack_api):
        clock = FakeClock(START)
        async with running(engine, telegram, slack_api, clock) as b:
            await _convene(b)
            # The pages: on Telegram with the answer buttons, on Slack as blocks.
            page = telegram.with_button(KEES, "Ik kom niet")
            assert page.text.startswith("Oproep GBT")
            assert page.labels == [
                "Ik kom (binnen 15 min)",
                "Ik kom (binnen 30 min)",
                "Ik kom (binnen 60 min)",
                "Ik kom later",
                "Ik kom niet",
            ]
            tom_page = b.posted(TOM, "Oproep GBT")
            assert tom_page.button_value("Ik kom (binnen 15 min)") is not None
            # The burgemeester's board: one message on Telegram.
            boards = [m for m in telegram.messages(BGM) if m.text.startswith("Aanwezigheid GBT")]
            assert len(boards) == 1

            await b.click(TOM, "Oproep GBT", "Ik kom (binnen 15 min)")
            await b.press(KEES, "Ik kom niet")
            # "Ik kom niet" pages the backup on Slack at once.
            assert b.posted(KARIN, "Oproep GBT").button_value("Ik kom niet") is not None
            await b.slack.advance(1 / 60)  # the coalesced board refresh

            # The board was edited in place, never sent again.
            boards = [m for m in telegram.messages(BGM) if m.text.startswith("Aanwezigheid GBT")]
            assert len(boards) == 1 and boards[0].edits >= 1
            assert "komt: Voorzitter Tom ±03:22" in boards[0].text
            assert "komt niet: Comm Kees" in boards[0].text
            assert "opgeroepen, nog geen antwoord: Comm Karin" in boards[0].text
            # Tom's page on Slack says he comes, and keeps one button for changing his mind.
            tom_page = b.posted(TOM, "Voorzitter Tom komt")
            assert [x["text"]["text"] for x in tom_page.buttons()] == ["Ik kom toch niet"]
            # The aandachtskaart: a message and its PDF on Slack.
            b.posted(TOM, "Strategische aandachtskaart")
            [card] = [u for u in slack_api.uploads(TOM) if u.filename.startswith("aandachtskaart")]
            assert card.filename == "aandachtskaart-VRU-2026-0001-gbt.pdf"
            assert card.content.startswith(b"%PDF")

            # A decision on Slack reaches the burgemeester on Telegram.
            assert await b.slack.command(TOM, "besluit Scholen in Soest blijven dicht") == 200
            assert any(
                "besluit 1" in t and "Scholen in Soest blijven dicht" in t
                for t in telegram.texts(BGM)
            )
            # Someone paged who has not answered is not told.
            assert not any("Scholen in Soest" in t for t in telegram.texts(GS))

            # The logbook as a file, on Telegram.
            await b.say(CACO, "/logboek 0001 pdf")
            document = telegram.last(CACO)
            assert document.document == "logboek-VRU-2026-0001.pdf"
            assert document.document_content is not None
            assert document.document_content.startswith(b"%PDF")
            assert b"pdfaid:part>3<" in document.document_content


async def test_a_restart_in_the_middle_of_a_call_out_still_pages_the_backup(
    engine: AsyncEngine,
) -> None:
    async with fakes(engine) as (telegram, slack_api):
        clock = FakeClock(START)
        async with running(engine, telegram, slack_api, clock) as b:
            await _convene(b)
            await b.click(BERT, "Call-out GBT", "Coming (within 15 min)")
            assert slack_api.dm(TINEKE) == []
        # The process is gone; a new one starts on the same database.
        async with running(engine, telegram, slack_api, clock) as again:
            await again.slack.advance(10)
            # Tom did not answer within 10 minutes: his backup is paged, on Slack.
            page = again.posted(TINEKE, "Oproep GBT")
            assert page.button_value("Ik kom (binnen 30 min)") is not None
            await again.click(TINEKE, "Oproep GBT", "Ik kom (binnen 30 min)")
            await again.slack.advance(1 / 60)
            board = next(m for m in telegram.messages(BGM) if m.text.startswith("Aanwezigheid GBT"))
            assert "komt: Voorzitter Tineke" in board.text
            assert "komt: Rol Bert" in board.text
            # The same board message, edited by the new process.
            assert len([m for m in telegram.messages(BGM) if "Aanwezigheid" in m.text]) == 1
