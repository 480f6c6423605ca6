"""The strategische analyse through the real Slack stack, and files on Slack.

Bolt receives signed requests on loopback (the `World` of tests.bots.slack.test_bot); the transport
posts to the fake Slack, which also takes the analyse PDF through Slack's external upload
(files.getUploadURLExternal, a POST of the bytes, files.completeUploadExternal). The core
and storage are real, on SQLite and PostgreSQL.
"""

from __future__ import annotations

import itertools
from collections.abc import AsyncIterator

import pytest
from sqlalchemy.ext.asyncio import AsyncEngine

import tests.bots.slack.test_bot
from bots.slack import SlackTransport
from bots.slack.render import escape_mrkdwn
from bots.slack.transport import decode_ref
from core.errors import (
    MessageRejected,
    OutcomeUnknown,
    PlatformError,
    RateLimited,
    RecipientUnreachable,
)
from core.messages import Attachment, Button, Message
from core.model import Person, PersonId
from tests.bots.slack.test_bot import BERT, CACO, World, make_world, unpaced
from tests.helpers import send_all
from tests.helpers.fake_slack import BOT_TOKEN, FakeSlack, Posted, Uploaded

BGM_SOEST, BGM_DEBILT, GS_SOEST = "UBGMSOEST", "UBGMDBILT", "UGSSOEST1"
HEADER = "Strategische analyse VRU-2026-0001 – versie 1"
TYPED = "Gaslek <b>&*_ in de Kerkstraat"  # markup and mrkdwn characters, shown as typed
TEXT_FIELDS = (
    "feitelijk_beeld",
    "inzet",
    "onzekerheden",
    "duiding",
    "scenarios",
    "vraagstukken",
    "communicatie",
)


@pytest.fixture
async def fake() -> AsyncIterator[FakeSlack]:
    async with FakeSlack() as fake:
        yield fake


@pytest.fixture
async def world(
    engine: AsyncEngine, fake: FakeSlack, monkeypatch: pytest.MonkeyPatch
) -> AsyncIterator[World]:
    """tests.bots.slack.test_bot's world, with the burgemeesters and the secretaris on Slack too."""
    ids = {"bgm-soest": BGM_SOEST, "bgm-debilt": BGM_DEBILT, "gs-soest": GS_SOEST}
    for key, slack_id in ids.items():
        monkeypatch.setitem(tests.bots.slack.test_bot.SLACK_IDS, key, slack_id)
    async for w in make_world(engine, fake):
        yield w


class Chat:
    """Typing and clicking as people do in Slack."""

    def __init__(self, world: World) -> None:
        self.world = world
        self.fake = world.fake
        self._n = itertools.count(1)

    async def say(self, user: str, text: str) -> None:
        """A DM to the bot (a command is typed there as "/wijzig inzet" too)."""
        status, _ = await self.world.dm(user, text, f"ANALYSE{next(self._n)}")
        assert status == 200

    async def scm(self, user: str, text: str) -> None:
        """The same as the slash command `/scm <text>`."""
        assert await self.world.command(user, text) == 200

    def with_button(self, user: str, label: str) -> Posted:
        for posted in reversed(self.fake.dm(user)):
            if posted.button_value(label) is not None:
                return posted
        raise AssertionError(
            f"no button {label!r} in DM of {user}: {[p.body() for p in self.fake.dm(user)]}"
        )

    async def press(self, user: str, label: str) -> None:
        """Click the newest button called `label` in the user's DM."""
        assert await self.world.click(user, self.with_button(user, label), label) == 200

    def texts(self, user: str) -> str:
        return "\n---\n".join(p.body() for p in self.fake.dm(user))


async def _fill_required(chat: Chat) -> None:
    """Every required field, the quick way, half as DMs and half as /scm commands."""
    for n, key in enumerate(TEXT_FIELDS):
        value = TYPED if key == "feitelijk_beeld" else f"{key} tekst"
        if n % 2:
            await chat.scm(BERT, f"wijzig {key}")
        else:
            await chat.say(BERT, f"/wijzig {key}")
        await chat.say(BERT, value)
    await chat.say(BERT, "/wijzig teams")
    await chat.press(BERT, "ROT")
    await chat.press(BERT, "Done")
    await chat.scm(BERT, "wijzig families")
    await chat.press(BERT, "Safety and health")
    await chat.press(BERT, "Done")
    await chat.say(BERT, "/wijzig opschaling")
    await chat.press(BERT, "GRIP 2")
    await chat.say(BERT, "/wijzig advies")
    await chat.press(BERT, "Convene the BT now")
    await chat.say(BERT, "/wijzig volgende_update")
    await chat.say(BERT, "over 45 min")


def _analyse_message(chat: Chat, user: str) -> list[Posted]:
    """The Slack messages of the analyse in a user's DM: from its header to its buttons."""
    posted = chat.fake.dm(user)
    start = next(i for i, p in enumerate(posted) if p.blocks[0]["type"] == "header")
    end = next(i for i in range(start, len(posted)) if posted[i].buttons())
    assert posted[start].blocks[0]["text"]["text"] == HEADER
    return posted[start : end + 1]


def _the_pdf(chat: Chat, user: str, after: Posted) -> Uploaded:
    (file,) = chat.fake.uploads(user)
    assert file.filename == "analyse-VRU-2026-0001-v1.pdf"
    assert file.content.startswith(b"%PDF")
    assert float(file.ts) > float(after.ts), "the file comes after the text introducing it"
    return file


async def test_analyse_filled_published_read_and_shared_through_slack(world: World) -> None:
    chat, fake = Chat(world), world.fake
    await chat.scm(CACO, "alarm Soest: gaslek Kerkstraat")
    await chat.press(CACO, "Bevestigen en pagen")
    await chat.press(BERT, "I'll take it")
    await chat.press(BERT, "Start strategic analysis")
    fake.find(BERT, "Question 2/16: Scale-up (required)")

    await _fill_required(chat)
    await chat.scm(BERT, "voorbeeld")
    preview = fake.find(BERT, "Strategische analyse VRU-2026-0001 – versie 1")  # as sent
    (preview_pdf,) = fake.uploads(BERT)  # exactly what the burgemeester will get
    assert preview_pdf.content.startswith(b"%PDF") and float(preview_pdf.ts) > float(preview.ts)
    assert fake.dm(BGM_SOEST) == [] and fake.uploads(BGM_SOEST) == []

    await chat.say(BERT, "/deel")

    # The burgemeester of Soest: the analyse, its buttons, its PDF.
    parts = _analyse_message(chat, BGM_SOEST)
    body = "\n".join(p.body() for p in parts)
    assert "inzet tekst" in body and "communicatie tekst" in body
    assert [b["text"]["text"] for b in parts[-1].buttons()] == [
        "Gelezen",
        "Bel mij",
        "Deel met…",
        "BT bijeenroepen",
    ]
    pdf = _the_pdf(chat, BGM_SOEST, after=parts[-1])
    assert pdf.title == pdf.filename
    complete = fake.calls_of("files.completeUploadExternal")[-1]
    assert complete.params["channel_id"] == FakeSlack.dm_channel(BGM_SOEST)

    # What Bert typed is shown as typed: plain_text blocks, the fallback escaped.
    typed = [s for p in parts for s in p.section_texts() if TYPED in s]
    assert typed, body
    for part in parts:
        for block in part.blocks:
            if block["type"] in ("section", "header"):
                assert block["text"]["type"] == "plain_text"
    fallback = "\n".join(p.text for p in parts)
    assert escape_mrkdwn(TYPED) in fallback and "<b>" not in fallback

    # Only the burgemeester of the gemeente; the share list only when shared.
    assert fake.dm(BGM_DEBILT) == [] and fake.uploads(BGM_DEBILT) == []
    assert fake.dm(GS_SOEST) == [] and fake.uploads(GS_SOEST) == []
    fake.find(CACO, "versie 1 verstuurd aan Burgemeester Soest")

    await chat.press(BGM_SOEST, "Gelezen")
    fake.find(BERT, "Burgemeester Soest read version 1")
    fake.find(CACO, "Burgemeester Soest heeft versie 1 gelezen")
    fake.find(BGM_SOEST, "Versie 1 is gemarkeerd als gelezen.")

    await chat.press(BGM_SOEST, "Deel met…")
    choice = chat.with_button(BGM_SOEST, "Secretaris Soest")
    assert [b["text"]["text"] for b in choice.buttons()] == ["Secretaris Soest"]
    await chat.press(BGM_SOEST, "Secretaris Soest")
    fake.find(BGM_SOEST, "Gedeeld met Secretaris Soest.")

    copy = _analyse_message(chat, GS_SOEST)
    assert any(TYPED in s for p in copy for s in p.section_texts())
    assert [b["text"]["text"] for b in copy[-1].buttons()] == ["Gelezen"]
    shared = _the_pdf(chat, GS_SOEST, after=copy[-1])
    assert shared.content.startswith(b"%PDF")
    fake.find(GS_SOEST, "Gedeeld door Burgemeester Soest.")

    # Still nothing for De Bilt; a file only with the preview and the two copies.
    assert fake.dm(BGM_DEBILT) == []
    assert set(fake.files) == {FakeSlack.dm_channel(u) for u in (BERT, BGM_SOEST, GS_SOEST)}
    assert len(fake.calls_of("files.getUploadURLExternal")) == 3


async def test_an_export_arrives_as_a_file_in_the_dm(world: World) -> None:
    chat, fake = Chat(world), world.fake
    await chat.scm(CACO, "alarm Soest: gaslek Kerkstraat")
    await chat.press(CACO, "Bevestigen en pagen")
    await chat.press(BERT, "I'll take it")
    await chat.scm(BERT, "analyse")
    await _fill_required(chat)
    await chat.scm(BERT, "deel")
    await chat.scm(BERT, "analyse export md")
    note = fake.find(BERT, "Here is analyse-VRU-2026-0001-v1.md.")
    (md,) = fake.uploads(BERT)
    assert md.filename == "analyse-VRU-2026-0001-v1.md" and float(md.ts) > float(note.ts)
    assert md.content.startswith(b"# Strategic analysis VRU") and b"Kerkstraat" in md.content


# -- the transport's file delivery -----------------------------------------------------------


PERSON = Person(PersonId(1), "p", "P", frozenset(), slack_user_id="UPERSON01")
PDF = Attachment("verslag.pdf", "application/pdf", b"%PDF-1.4\n" + bytes(range(256)) * 40)
WITH_FILE = Message("Het verslag.", title="Verslag", buttons=(Button("Ok", "x"),), attachment=PDF)


async def test_a_file_is_uploaded_unseen_then_shared_after_its_message(fake: FakeSlack) -> None:
    transport = unpaced(fake)
    ref = await send_all(transport, PERSON, WITH_FILE)

    assert [p.editable for p in transport.parts(WITH_FILE)] == [True, False]
    assert fake.methods() == [
        "conversations.open",
        "chat.postMessage",  # the text, with the buttons: part 0
        "files.getUploadURLExternal",  # part 1, the file: nothing is visible yet
        "upload",
        "files.completeUploadExternal",  # the file appears, after the text
    ]
    (url,) = fake.calls_of("files.getUploadURLExternal")
    assert url.params["filename"] == "verslag.pdf" and int(url.params["length"]) == 10249
    assert url.token == BOT_TOKEN
    assert fake.calls_of("upload")[0].token is None  # the upload URL takes no token
    (message,) = fake.dm(PERSON.slack_user_id or "")
    (file,) = fake.uploads(PERSON.slack_user_id or "")
    assert (file.filename, file.content) == (PDF.filename, PDF.content)
    assert float(file.ts) > float(message.ts)
    assert decode_ref(ref) == (message.channel, [message.ts])  # the file is not edited

    await transport.edit(PERSON, ref, Message("Bijgewerkt."))
    assert fake.dm(PERSON.slack_user_id or "")[0].body() == "Bijgewerkt."
    assert len(fake.calls_of("files.getUploadURLExternal")) == 1


async def test_a_long_message_gets_its_file_after_the_last_part(fake: FakeSlack) -> None:
    text = "\n\n".join(f"Alinea {i}: " + "x" * 2500 for i in range(60))
    await send_all(unpaced(fake), PERSON, Message(text, attachment=PDF))
    texts = fake.dm(PERSON.slack_user_id or "")
    (file,) = fake.uploads(PERSON.slack_user_id or "")
    assert len(texts) == 2 and float(file.ts) > max(float(t.ts) for t in texts)


@pytest.mark.parametrize(
    ("method", "status", "error", "expected"),
    [
        ("files.getUploadURLExternal", 429, None, RateLimited),
        ("files.getUploadURLExternal", 503, None, PlatformError),
        ("files.getUploadURLExternal", 200, "invalid_auth", PlatformError),
        ("upload", 429, None, RateLimited),
        ("upload", 500, None, PlatformError),
        ("upload", 404, None, PlatformError),  # an expired URL: the retry gets one
        ("upload", 413, None, MessageRejected),
    ],
)
async def test_a_failed_upload_is_retried_alone_and_sent_once(
    fake: FakeSlack,
    method: str,
    status: int,
    error: str | None,
    expected: type[Exception],
) -> None:
    transport = unpaced(fake)
    await transport.send_part(PERSON, WITH_FILE, 0)  # the text went out
    fake.fail(method, status=status, error=error, retry_after=3)
    with pytest.raises(expected) as caught:
        await transport.send_part(PERSON, WITH_FILE, 1)
    assert type(caught.value) is expected
    if isinstance(caught.value, RateLimited):
        assert caught.value.retry_after == 3.0
    assert fake.files == {}, "a failed upload shows nothing"

    await transport.send_part(PERSON, WITH_FILE, 1)  # the retry resumes at the file
    assert len(fake.dm(PERSON.slack_user_id or "")) == 1
    assert len(fake.uploads(PERSON.slack_user_id or "")) == 1


async def test_sharing_errors_are_mapped_like_every_other_call(fake: FakeSlack) -> None:
    transport = unpaced(fake)
    fake.fail("files.completeUploadExternal", error="channel_not_found")
    with pytest.raises(RecipientUnreachable):
        await transport.send_part(PERSON, WITH_FILE, 1)
    opened = len(fake.calls_of("conversations.open"))
    fake.fail("files.completeUploadExternal", status=502)
    with pytest.raises(PlatformError):
        await transport.send_part(PERSON, WITH_FILE, 1)
    assert len(fake.calls_of("conversations.open")) == opened + 1  # the DM was opened afresh
    assert fake.files == {}


async def test_a_hanging_upload_times_out_as_transient(fake: FakeSlack) -> None:
    fake.hang("upload")
    slow = SlackTransport(BOT_TOKEN, base_url=fake.base_url, timeout=0.2)
    with pytest.raises(OutcomeUnknown):
        await slow.send_part(PERSON, WITH_FILE, 1)
    assert fake.calls_of("chat.postMessage") == []
