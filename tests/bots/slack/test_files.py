"""Files on Slack: the transport sends an attachment (the analyse PDF, the roster picture,
an export) through Slack's external upload (files.getUploadURLExternal, a POST of the
bytes, files.completeUploadExternal) to the fake Slack, after the text introducing it.

The analyse and roster scenarios that deliver files through the whole stack run on every
platform in tests/bots/test_analyse.py and tests/bots/test_roster.py.
"""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from bots.slack import SlackTransport
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
from tests.helpers import send_all
from tests.helpers.fake_slack import BOT_TOKEN, FakeSlack
from tests.helpers.slack_world import unpaced


@pytest.fixture
async def fake() -> AsyncIterator[FakeSlack]:
    async with FakeSlack() as fake:
        yield fake


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


async def test_a_file_alone_is_shared_without_a_text(fake: FakeSlack) -> None:
    """The aandachtskaart's PDF follows the card as a message of its own: one share."""
    transport = unpaced(fake)
    alone = Message("", attachment=PDF)
    assert [p.editable for p in transport.parts(alone)] == [False]
    assert await transport.send_part(PERSON, alone, 0) is None  # nothing to edit
    assert "chat.postMessage" not in fake.methods()
    assert fake.dm(PERSON.slack_user_id or "") == []
    (file,) = fake.uploads(PERSON.slack_user_id or "")
    assert (file.filename, file.content) == (PDF.filename, PDF.content)


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
