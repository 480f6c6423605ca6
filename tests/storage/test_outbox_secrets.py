"""A secret a message carries (the token of a calendar subscription URL) is kept in the outbox
only until the message is delivered (issue 12, defect 11): once the row is finished, its
stored payload has the secret blanked out, and the audit never held it; only its hash is
kept."""

from __future__ import annotations

import hashlib
import json
import re
import traceback
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from typing import Any

import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from core.clock import FakeClock
from core.errors import StorageError
from core.messages import Button, Message
from core.model import PersonId
from core.ports import NewMessage
from scm_bot.app import build
from storage.uow import SqlUnitOfWorkFactory
from tests.helpers import START, Harness, RecordingTransport, load_region

PUBLIC = "https://piket.example.test/scm"
URL = re.compile(re.escape(PUBLIC) + r"/ical/([0-9a-f]+)\.ics")


@pytest.fixture
async def feeds(engine: AsyncEngine) -> AsyncIterator[Harness]:
    """The harness, with subscription URLs on (no calendar server is needed here)."""
    await load_region(engine)
    clock = FakeClock(START)
    transport = RecordingTransport()
    harness = Harness(build(engine, clock, [transport], feed_url=PUBLIC), clock, transport)
    yield harness
    await harness.app.close()


async def rows(engine: AsyncEngine, sql: str) -> str:
    async with engine.connect() as conn:
        return repr([tuple(r) for r in await conn.execute(text(sql))])


async def test_the_subscription_token_is_gone_from_the_outbox_once_delivered(
    feeds: Harness,
) -> None:
    engine = feeds.app.engine
    await feeds.say("rol-a", "/rooster abonneer")
    found = URL.search(feeds.last("rol-a"))
    assert found is not None, feeds.last("rol-a")  # the person got the whole URL
    token = found.group(1)
    digest = hashlib.sha256(token.encode()).hexdigest()

    outbox = await rows(engine, "SELECT payload, status FROM outbox")
    assert "'sent'" in outbox and "pending" not in outbox
    assert token not in outbox
    assert PUBLIC + "/ical/" in outbox  # the rest of the message is kept
    assert token not in await rows(engine, "SELECT * FROM audit")
    assert "roster.feed.subscribed" in await rows(engine, "SELECT action FROM audit")
    assert await rows(engine, "SELECT token_hash FROM ical_token") == repr([(digest,)])


async def test_secrets_are_blanked_when_a_row_finishes_whatever_its_status(
    engine: AsyncEngine,
) -> None:
    """The storage mechanism itself: every place a secret can sit in a payload, a row that
    failed as well as one that was sent, and rows without secrets untouched."""
    await load_region(engine)
    uows = SqlUnitOfWorkFactory(engine)
    at = datetime(2026, 11, 24, 2, 7, tzinfo=UTC)
    secret = "s3cr3t-token-0123456789"
    carrying = Message(
        text=f"Je link: https://x.test/{secret}.ics",
        title=f"Link {secret}",
        buttons=(Button(f"Open {secret}", "data"),),
        secrets=(secret,),
    )
    plain = Message(text="Niets geheims", buttons=(Button("Ok", "x"),))
    async with uows() as uow:
        ids = await uow.outbox.add_many(
            [
                NewMessage(PersonId(1), carrying, "send", None),
                NewMessage(PersonId(1), carrying, "send", None),
                NewMessage(PersonId(1), plain, "send", None),
            ],
            at,
        )
        await uow.commit()
    async with uows() as uow:
        pending = await uow.outbox.pending(at, 10)
        assert pending[0].message == carrying  # delivery still has the secret to send
        await uow.outbox.finish_many({ids[0]: "sent", ids[1]: "failed", ids[2]: "sent"}, at)
        await uow.commit()

    async with engine.connect() as conn:
        payloads = [
            r[0] for r in await conn.execute(text("SELECT payload FROM outbox ORDER BY id"))
        ]
    stored = repr(payloads)
    assert secret not in stored
    first = Message.from_json(_json(payloads[0]))
    assert first.text == "Je link: https://x.test/[…].ics"
    assert first.title == "Link […]"
    assert first.buttons == (Button("Open […]", "data"),)
    assert first.secrets == ()
    assert "Niets geheims" in stored
    uows.close()


async def test_a_failed_write_shows_no_message_text_in_its_error(engine: AsyncEngine) -> None:
    """A statement that fails (here: a message for a person who does not exist) is raised
    as a StorageError whose chain of causes, as a log line's traceback shows it, holds the
    statement but never its parameters: the message's words and its secret stay out."""
    await load_region(engine)
    uows = SqlUnitOfWorkFactory(engine)
    secret = "s3cr3t-token-0123456789"
    message = Message(text=f"Je link: https://x.test/{secret}.ics", secrets=(secret,))
    at = datetime(2026, 11, 24, 2, 7, tzinfo=UTC)

    async def write() -> None:
        async with uows() as uow:
            await uow.outbox.add_many([NewMessage(PersonId(9999), message, "send", None)], at)
            await uow.commit()

    with pytest.raises(StorageError) as failed:
        await write()
    shown = "".join(traceback.format_exception(failed.value))
    assert "INSERT INTO outbox" in shown  # the error is there, with its statement
    assert secret not in shown and "Je link" not in shown
    uows.close()


def _json(raw: object) -> dict[str, Any]:
    """A JSON column as read back: a dict (PostgreSQL) or its text (SQLite)."""
    value = json.loads(raw) if isinstance(raw, str) else raw
    assert isinstance(value, dict)
    return value
