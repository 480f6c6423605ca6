"""The durable inbox: an update is stored before Telegram hears it arrived, and a failure
while storing or handling it loses nothing (issue 12, defect 1)."""

from __future__ import annotations

import sqlite3
from collections.abc import AsyncIterator, Iterator
from contextlib import contextmanager
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import event
from sqlalchemy.ext.asyncio import AsyncEngine

from bots.telegram.bot import SECRET_HEADER
from core.messages import Message
from scm_bot.app import App
from storage.database import make_engine
from tests.conftest import count
from tests.helpers.fake_slack import FakeSlack
from tests.helpers.fake_telegram import FakeTelegram
from tests.helpers.slack_world import CACO as SLACK_CACO
from tests.helpers.slack_world import make_world as slack_world
from tests.helpers.telegram_world import (
    BERT,
    CACO,
    CEES,
    WEBHOOK_SECRET,
    World,
    until,
    webhook_post,
    world,
)


@pytest.fixture
async def fake() -> AsyncIterator[FakeTelegram]:
    async with FakeTelegram() as server:
        yield server


DELAYED = "Door een storing in de opslag kan ik dit nu niet verwerken"
REFUSED = "Dit kon niet worden verwerkt door een fout aan onze kant"


@contextmanager
def failing_statements(app: App, fragment: str, times: int) -> Iterator[list[str]]:
    """The database refuses the next `times` statements of the app's units of work that
    contain `fragment`, as a full or locked SQLite file or a lost PostgreSQL connection
    would."""
    engine = app.uows.statement_engine
    refused: list[str] = []

    def before(_conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        if fragment in statement and len(refused) < times:
            refused.append(statement)
            raise sqlite3.OperationalError("database or disk is full")

    event.listen(engine, "before_cursor_execute", before)
    try:
        yield refused
    finally:
        event.remove(engine, "before_cursor_execute", before)


async def page_bert(w: World) -> None:
    await w.say(CACO, "/alarm Soest: gaslek")
    await w.press(CACO, "Bevestigen en pagen")
    assert "VRU-2026-0001" in w.fake.last(BERT).text


async def test_an_acknowledgement_hit_by_a_database_error_is_retried_not_lost(
    engine: AsyncEngine, fake: FakeTelegram
) -> None:
    async with world(engine, fake) as w:
        await page_bert(w)
        with failing_statements(w.app, "UPDATE page SET", times=1) as refused:
            await w.press(BERT, "I'll take it")
        assert refused, "the acknowledgement's transaction failed"
        assert DELAYED in w.fake.last(BERT).text, "Bert hears it is delayed, not lost"
        assert len(fake.calls_to("answerCallbackQuery")) == 2, "his button stopped spinning"
        w.harness.clock.advance(timedelta(seconds=1))
        await w.handle()
        assert any("opgepakt door Rol Bert" in text for text in fake.texts(CACO))
        await w.advance(60)
        assert fake.messages(CEES) == [], "no escalation: the acknowledgement counted"


async def test_an_update_that_cannot_be_stored_is_not_confirmed_to_telegram(
    engine: AsyncEngine, fake: FakeTelegram
) -> None:
    async with world(engine, fake, poll_retry=0.05) as w:
        await page_bert(w)
        with failing_statements(w.app, "INSERT INTO inbox", times=3) as refused:
            press = fake.push(fake.press_update(BERT, "I'll take it"))
            await until(lambda: len(refused) == 3, "three failed tries to store it")
            # Telegram still holds it: no getUpdates confirmed it.
            assert press["update_id"] in [u["update_id"] for u in fake.updates]
            assert await count(engine, "inbox") == 2  # the Caco's two events only
        await w.until_stored(3)
        await until(lambda: not fake.updates, "the offset to confirm it")
        await w.handle()
        assert sum(DELAYED in text for text in fake.texts(BERT)) == 1, "told once"
        assert any("opgepakt door Rol Bert" in text for text in fake.texts(CACO))


async def test_the_webhook_answers_only_once_the_update_is_stored(
    engine: AsyncEngine, fake: FakeTelegram
) -> None:
    options: dict[str, Any] = {
        "webhook_url": "https://bot.example.org/telegram/hook",
        "webhook_secret": WEBHOOK_SECRET,
    }
    async with world(engine, fake, **options) as w:
        port = w.server.port
        update = fake.text_update(CACO, "/alarm Soest: brand")
        headers = {SECRET_HEADER: WEBHOOK_SECRET}
        with failing_statements(w.app, "INSERT INTO inbox", times=1):
            assert await webhook_post(port, update, headers) == 500  # Telegram sends it again
        assert await count(engine, "inbox") == 0
        assert await webhook_post(port, update, headers) == 200
        assert await webhook_post(port, update, headers) == 200  # a resend: stored once
        assert await count(engine, "inbox") == 1
        await w.handle()
        assert "Controleer het alarm" in fake.last(CACO).text
        assert len([t for t in fake.texts(CACO) if "Controleer het alarm" in t]) == 1


class Broken:
    """A router with a bug for one kind of event."""

    def __init__(self, router: Any) -> None:
        self.router = router

    async def handle(self, event: Any) -> list[Message]:
        if getattr(event, "name", "") == "status":
            raise RuntimeError("a bug")
        result: list[Message] = await self.router.handle(event)
        return result


async def test_an_event_that_keeps_failing_is_refused_with_an_answer(
    engine: AsyncEngine, fake: FakeTelegram
) -> None:
    async with world(engine, fake) as w:
        w.app.inbox.router = Broken(w.app.inbox.router)
        await w.say(CACO, "/status")  # the first try fails
        for wait in (1, 2):  # tried again after 1 s, then after 2 s
            assert fake.messages(CACO) == []
            w.harness.clock.advance(timedelta(seconds=wait))
            await w.handle()
        assert REFUSED in fake.last(CACO).text
        assert await count(engine, "inbox WHERE status = 'refused'") == 1
        await w.say(CACO, "/help")  # the next event is handled as usual
        assert "Hallo Caco Test" in fake.last(CACO).text


async def test_a_slack_command_that_cannot_be_stored_is_answered_not_lost_silently(
    sqlite_url: str,
) -> None:
    engine = make_engine(sqlite_url)
    try:
        async with FakeSlack() as api:
            async for w in slack_world(engine, api):
                with failing_statements(w.app, "INSERT INTO inbox", times=1):
                    assert await w.command(SLACK_CACO, "alarm Soest: gaslek") == 200
                # Slack does not resend a command: the Caco is told it was not saved.
                api.find(SLACK_CACO, "Dit kon niet worden opgeslagen door een storing")
                assert await count(engine, "inbox") == 0
                assert await w.command(SLACK_CACO, "alarm Soest: gaslek") == 200
                api.find(SLACK_CACO, "Controleer het alarm")
    finally:
        await engine.dispose()
