"""The Slack transport and adapter against a fake Slack on loopback.

The real bolt `AsyncApp` receives signed requests through the bot's HTTP server (or Socket
Mode); its web client and the transport talk to `tests.helpers.fake_slack`. The core and storage
are real; time moves only through the fake clock.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
import uuid
from collections.abc import AsyncIterator

import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st
from sqlalchemy.ext.asyncio import AsyncEngine

from bots.slack import SlackBot, SlackTransport
from bots.slack.bot import action_event, command_event, message_event
from bots.slack.render import (
    MAX_BLOCKS,
    MAX_HEADER_TEXT,
    MAX_SECTION_TEXT,
    from_slack_text,
    render_message,
    size,
    split_text,
)
from bots.slack.transport import decode_ref
from core.clock import FakeClock
from core.errors import PlatformError, RateLimited, RecipientUnreachable
from core.events import ButtonEvent, CommandEvent, InboundEvent, TextEvent
from core.messages import Button, Message
from core.model import Person, PersonId
from core.ports import DeliveryLimits
from scm_bot.app import build
from storage.database import make_engine
from tests.conftest import count
from tests.helpers import (
    REGION_FILE,
    START,
    dispose,
    load_region,
    send_all,
)
from tests.helpers.fake_slack import APP_TOKEN, BOT_TOKEN, BOT_USER_ID, FakeSlack
from tests.helpers.slack_world import (
    BERT,
    CACO,
    FORM,
    SIGNING_SECRET,
    SLACK_IDS,
    STRANGER,
    World,
    event_body,
    make_world,
    region_with_slack_ids,
    sign,
    unpaced,
)


@pytest.fixture
async def fake() -> AsyncIterator[FakeSlack]:
    async with FakeSlack() as fake:
        yield fake


@pytest.fixture
async def world(engine: AsyncEngine, fake: FakeSlack) -> AsyncIterator[World]:
    """On SQLite and PostgreSQL."""
    async for w in make_world(engine, fake):
        yield w


@pytest.fixture
async def lite(sqlite_url: str, fake: FakeSlack) -> AsyncIterator[World]:
    """On SQLite only, for tests whose point is not the database."""
    engine = make_engine(sqlite_url)
    try:
        async for w in make_world(engine, fake):
            yield w
    finally:
        await dispose(engine)


async def test_a_configured_channel_follows_the_alarm_without_a_dm(
    sqlite_url: str, fake: FakeSlack
) -> None:
    channel = "C0MELDKAMER"
    region = region_with_slack_ids() + (
        f"chats:\n  - {{key: meldkamer, name: Meldkamer, slack_channel_id: {channel}}}\n"
    )
    engine = make_engine(sqlite_url)
    try:
        async for world in make_world(engine, fake, region):
            await world.command(CACO, "alarm Soest: gaslek <Kerkstraat> & *co*")
            await world.click(CACO, fake.find(CACO, "Controleer"), "Bevestigen en pagen")
            await world.click(BERT, fake.find(BERT, "VRU-2026-0001"), "I'll take it")
            posted = fake.channels[channel]
            assert posted[0].body().startswith("Nieuw incident:")
            assert "gaslek <Kerkstraat> & *co*" in posted[0].body()
            assert any("opgepakt door Rol Bert" in p.body() for p in posted)
            assert all(p.buttons() == [] for p in posted)
            # Posted straight to the channel: no DM was opened for it.
            opened = {c.params["users"] for c in fake.calls_of("conversations.open")}
            assert channel not in opened and opened <= set(SLACK_IDS.values())
            # A command in that channel is refused with a pointer, nothing more.
            before = len(posted)
            await world.command(CACO, "status", channel=channel)
            assert len(fake.channels[channel]) == before
            assert "Commando's werken in een privégesprek" in fake.ephemeral[-1].body()
    finally:
        await dispose(engine)


# -- request verification --------------------------------------------------------------------


@pytest.mark.parametrize(
    "forgery",
    ["bad signature", "signed with another secret", "stale timestamp", "no timestamp"],
)
async def test_unsigned_or_stale_requests_get_401_and_change_nothing(
    lite: World, forgery: str
) -> None:
    body = lite.command_body(CACO, "alarm Soest: gaslek")
    now = int(time.time())
    calls_before = len(lite.fake.calls)
    if forgery == "bad signature":
        status, _ = await lite.post(body, FORM, signature="v0=" + "0" * 64)
    elif forgery == "signed with another secret":
        status, _ = await lite.post(body, FORM, signature=sign(body, now, "other-secret"))
    elif forgery == "stale timestamp":
        stale = now - 5 * 60 - 10  # correctly signed, but replayed after more than 5 minutes
        status, _ = await lite.post(body, FORM, timestamp=stale, signature=sign(body, stale))
    else:
        async with lite.http.post(lite.url, data=body, headers={"Content-Type": FORM}) as r:
            status = r.status
    await lite.settle()

    assert status == 401
    assert lite.router.events == []
    assert len(lite.fake.calls) == calls_before
    for table in ("inbox", "inbound_event", "outbox", "conversation", "incident"):
        assert await count(lite.app.engine, table) == 0, table
    assert await count(lite.app.engine, "audit") == 1, "only the region import's record"


async def test_the_ack_follows_the_store_and_the_work_follows_the_ack(lite: World) -> None:
    body = lite.command_body(CACO, "alarm Soest: gaslek")
    status, text = await lite.post(body, FORM)
    assert status == 200 and text == ""
    # Acknowledged once stored: nothing handled yet, nothing lost if we crash now.
    assert await count(lite.app.engine, "inbox") == 1
    assert lite.router.events == [] and lite.fake.calls_of("chat.postMessage") == []
    await lite.settle()
    lite.fake.find(CACO, "Controleer het alarm")


# -- Events API retries ----------------------------------------------------------------------


async def test_a_retried_event_has_exactly_one_effect(world: World) -> None:
    await world.command(CACO, "alarm")
    world.fake.find(CACO, "Welke gemeente")
    before = len(world.fake.dm(CACO))

    first = await world.dm(CACO, "Soest", "SOEST")
    retry = await world.dm(CACO, "Soest", "SOEST", retry=1)
    again = await world.dm(CACO, "Soest", "SOEST", retry=2)

    assert first[0] == retry[0] == again[0] == 200  # acknowledged, so Slack stops retrying
    assert len(world.fake.dm(CACO)) == before + 1
    assert len(world.router.events) == 2  # the command, and the DM once: stored once
    seen = f"inbound_event WHERE event_id = 'event:{world.event_id('SOEST')}'"
    assert await count(world.app.engine, seen) == 1
    stored = f"inbox WHERE event_id = 'event:{world.event_id('SOEST')}'"
    assert await count(world.app.engine, stored) == 1


async def test_a_retry_whose_original_never_arrived_is_handled(lite: World) -> None:
    await lite.command(CACO, "alarm")
    before = len(lite.fake.dm(CACO))
    status, _ = await lite.dm(CACO, "Soest", "LOSTFIRST", retry=1)
    assert status == 200
    assert len(lite.fake.dm(CACO)) == before + 1


async def test_bot_messages_edits_and_channel_messages_are_ignored(lite: World) -> None:
    await lite.dm(CACO, "hallo", "BOT", bot_id="B0OTHER")
    await lite.dm(CACO, "hallo", "EDIT", subtype="message_changed")
    await lite.dm(CACO, "hallo", "CHAN", channel_type="channel", channel="C0CRISIS")
    await lite.dm(BOT_USER_ID, "hallo", "SELF")  # our own message
    assert lite.router.events == []
    assert lite.fake.calls_of("chat.postMessage") == []


# -- what people see -------------------------------------------------------------------------


async def test_a_long_message_is_split_within_slack_limits(lite: World) -> None:
    paragraphs = [f"Alinea {i}: " + "x" * 2500 for i in range(120)]
    message = Message("\n\n".join(paragraphs), title="T" * 400, buttons=(Button("Ok", "cl:1:yes"),))
    transport = SlackTransport(BOT_TOKEN, base_url=lite.fake.base_url)
    person = Person(PersonId(99), "lang", "Lang", frozenset(), slack_user_id="ULONG0001")

    ref = await send_all(transport, person, message)
    assert ref is not None
    channel, timestamps = decode_ref(ref)
    assert channel == FakeSlack.dm_channel("ULONG0001")
    posted = lite.fake.dm("ULONG0001")
    assert len(transport.parts(message)) == len(posted) == 3  # 120 sections over 50 blocks
    assert timestamps == [posted[-1].ts]  # edits reach the part with the buttons
    for part in posted:
        assert len(part.blocks) <= MAX_BLOCKS
        assert all(size(t) <= MAX_SECTION_TEXT for t in part.section_texts())
    assert posted[0].blocks[0]["type"] == "header"
    assert size(posted[0].blocks[0]["text"]["text"]) <= MAX_HEADER_TEXT
    assert [bool(p.buttons()) for p in posted] == [False, False, True]
    assert "".join(posted[i].body() for i in range(3)).count("Alinea") == 120

    await transport.edit(person, ref, Message("Kort nu."))
    first, _, last = lite.fake.dm("ULONG0001")
    assert "Alinea 0" in first.body() and last.body() == "Kort nu." and not last.buttons()


async def test_an_unregistered_user_gets_one_short_reply_and_nothing_else(lite: World) -> None:
    methods_before = len(lite.fake.calls)
    await lite.command(STRANGER, "alarm Soest: gaslek", channel="C0CRISIS")
    new = [m for m in lite.fake.methods()[methods_before:] if m != "auth.test"]  # bolt's
    assert new == []  # in a channel: silence, not even an ephemeral answer

    methods_before = len(lite.fake.calls)
    await lite.dm(STRANGER, "hallo?", "STRANGER")
    assert [m for m in lite.fake.methods()[methods_before:] if m.startswith("chat.")] == [
        "chat.postMessage"
    ]
    (reply,) = lite.fake.dm(STRANGER)
    assert "niet geregistreerd" in reply.body() and len(reply.body()) < 200
    assert await count(lite.app.engine, "outbox") == 0
    assert await count(lite.app.engine, "incident") == 0


async def test_a_reply_in_a_channel_without_the_bot_goes_to_the_dm(lite: World) -> None:
    lite.fake.fail("chat.postEphemeral", error="not_in_channel")
    await lite.command(CACO, "status", channel="C0ELSEWHERE")
    (reply,) = lite.fake.dm(CACO)
    assert "privégesprek" in reply.body()


async def test_bare_command_is_help_and_a_channel_is_not_private(lite: World) -> None:
    await lite.command(CACO, "")
    help_event = lite.router.events[-1]
    assert isinstance(help_event, CommandEvent) and help_event.name == "help"
    assert help_event.sender.private and help_event.sender.chat_id == FakeSlack.dm_channel(CACO)
    lite.fake.find(CACO, "Caco Test")

    sent_before = len(lite.fake.dm(CACO))
    await lite.command(CACO, "status", channel="C0CRISIS")
    assert lite.router.events[-1].sender.private is False
    # Incident data never goes to a channel: only an ephemeral pointer to the DM.
    (reply,) = lite.fake.ephemeral
    assert reply.channel == "C0CRISIS" and reply.user == CACO
    assert "privégesprek" in reply.body()
    assert len(lite.fake.dm(CACO)) == sent_before


async def test_http_mode_answers_slacks_url_verification(lite: World) -> None:
    body = json.dumps({"token": "x", "challenge": "c4ll3ng3", "type": "url_verification"})
    status, text = await lite.post(body, "application/json")
    assert status == 200 and "c4ll3ng3" in text
    assert lite.router.events == []


def test_the_manifest_declares_what_the_bot_uses() -> None:
    manifest = yaml.safe_load((REGION_FILE.parents[2] / "slack-manifest.yaml").read_text("utf-8"))
    features, settings_ = manifest["features"], manifest["settings"]
    assert [c["command"] for c in features["slash_commands"]] == ["/scm"]
    assert features["bot_user"]["display_name"]
    assert features["app_home"]["messages_tab_enabled"] is True
    assert settings_["socket_mode_enabled"] is True
    assert settings_["interactivity"]["is_enabled"] is True
    assert settings_["event_subscriptions"]["bot_events"] == ["message.im"]
    assert set(manifest["oauth_config"]["scopes"]["bot"]) == {
        "chat:write",
        "im:write",
        "im:history",
        "commands",
        "files:write",
    }


# -- delivery errors -------------------------------------------------------------------------


PERSON = Person(PersonId(1), "p", "P", frozenset(), slack_user_id="UPERSON01")


async def test_http_429_is_rate_limited_with_retry_after(fake: FakeSlack) -> None:
    transport = SlackTransport(BOT_TOKEN, base_url=fake.base_url)
    fake.fail("chat.postMessage", status=429, retry_after=7)
    with pytest.raises(RateLimited) as caught:
        await send_all(transport, PERSON, Message("x"))
    assert caught.value.retry_after == 7.0


async def test_account_inactive_is_permanent(fake: FakeSlack) -> None:
    transport = SlackTransport(BOT_TOKEN, base_url=fake.base_url)
    fake.fail("chat.postMessage", error="account_inactive")
    with pytest.raises(RecipientUnreachable):
        await send_all(transport, PERSON, Message("x"))
    fake.fail("conversations.open", error="cannot_dm_bot")
    with pytest.raises(RecipientUnreachable):
        await send_all(transport, PERSON, Message("x"))  # the DM was forgotten: opened again


@pytest.mark.parametrize("status", [500, 502, 503])
async def test_server_errors_are_transient(fake: FakeSlack, status: int) -> None:
    transport = SlackTransport(BOT_TOKEN, base_url=fake.base_url)
    fake.fail("chat.postMessage", status=status)
    with pytest.raises(PlatformError) as caught:
        await send_all(transport, PERSON, Message("x"))
    assert not isinstance(caught.value, RateLimited)
    ref = await send_all(transport, PERSON, Message("x"))  # the next try goes through
    fake.fail("chat.update", status=status)
    with pytest.raises(PlatformError):
        await transport.edit(PERSON, ref, Message("y"))


async def test_timeouts_and_refused_connections_are_transient(fake: FakeSlack) -> None:
    fake.hang("conversations.open")
    slow = SlackTransport(BOT_TOKEN, base_url=fake.base_url, timeout=0.2)
    with pytest.raises(PlatformError):
        await send_all(slow, PERSON, Message("x"))

    await fake.close()  # nothing listens on its port any more
    gone = SlackTransport(BOT_TOKEN, base_url=fake.base_url)
    with pytest.raises(PlatformError):
        await send_all(gone, PERSON, Message("x"))


async def test_unknown_errors_are_retried_not_dropped(fake: FakeSlack) -> None:
    transport = SlackTransport(BOT_TOKEN, base_url=fake.base_url)
    fake.fail("chat.postMessage", error="invalid_auth")  # fixable by an operator
    with pytest.raises(PlatformError):
        await send_all(transport, PERSON, Message("x"))


def test_transport_basics() -> None:
    transport = SlackTransport(BOT_TOKEN, per_chat_interval=0.0, per_second=1000.0)
    assert transport.name == "slack"
    assert transport.limits == DeliveryLimits(per_chat_interval=0.0, per_second=1000.0)
    assert SlackTransport(BOT_TOKEN).limits == DeliveryLimits(1.0, 20.0)
    assert transport.reaches(PERSON)
    assert not transport.reaches(Person(PersonId(2), "q", "Q", frozenset()))
    assert BOT_TOKEN not in repr(transport)


# -- Socket Mode -----------------------------------------------------------------------------


async def test_socket_mode_acknowledges_and_handles_commands_and_events(
    sqlite_url: str, fake: FakeSlack
) -> None:
    engine = make_engine(sqlite_url)
    await load_region(engine, region_with_slack_ids())
    app = build(engine, FakeClock(START), [unpaced(fake)])
    bot = SlackBot(app.inbox, bot_token=BOT_TOKEN, app_token=APP_TOKEN, base_url=fake.base_url)
    try:
        await bot.start()
        assert fake.calls_of("apps.connections.open")[0].token == APP_TOKEN
        command = {
            "team_id": "T0SCMTEST",
            "channel_id": FakeSlack.dm_channel(CACO),
            "user_id": CACO,
            "command": "/scm",
            "text": "alarm",
            "api_app_id": "A0SCMBOT",
            "trigger_id": f"1.{uuid.uuid4().hex}.trigger",
        }
        envelope = await fake.push("slash_commands", command)
        assert (await asyncio.wait_for(fake.ack(envelope), 5))["envelope_id"] == envelope
        await app.settle()
        fake.find(CACO, "Welke gemeente")

        event = event_body(CACO, "Soest", f"Ev0SOCKET{uuid.uuid4().hex}")
        for retry in (0, 1):  # Socket Mode retries carry the same event_id
            envelope = await fake.push("events_api", event, retry=retry)
            await asyncio.wait_for(fake.ack(envelope), 5)
        await app.settle()
        fake.find(CACO, "Alarmering")
        assert await count(engine, "inbound_event") == 2
    finally:
        await bot.stop()
        await app.close()
        await engine.dispose()


async def test_socket_mode_needs_an_app_token() -> None:
    with pytest.raises(ValueError, match="app-level token"):
        SlackBot(object(), bot_token=BOT_TOKEN)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="signing secret"):
        SlackBot(object(), bot_token=BOT_TOKEN, mode="http")  # type: ignore[arg-type]


async def test_no_secret_is_logged(
    sqlite_url: str,
    fake: FakeSlack,
    caplog: pytest.LogCaptureFixture,
    capsys: pytest.CaptureFixture[str],
) -> None:
    caplog.set_level(logging.WARNING, logger="aiosqlite")  # a line per statement, no secrets
    caplog.set_level(logging.DEBUG)
    engine = make_engine(sqlite_url)
    try:
        async for w in make_world(engine, fake):
            await w.command(CACO, "alarm Soest: gaslek")
            await w.click(CACO, w.fake.find(CACO, "Controleer"), "Bevestigen en pagen")
            fake.fail("chat.postMessage", error="invalid_auth")
            await w.command(CACO, "status")
            assert BOT_TOKEN not in repr(w.bot)
    finally:
        await engine.dispose()
    output = caplog.text + "".join(capsys.readouterr())
    assert "invalid_auth" in output  # the refused send was logged (so the logs were read)
    for value in (BOT_TOKEN, APP_TOKEN, SIGNING_SECRET):
        assert value not in output


# -- pure parts ------------------------------------------------------------------------------


def test_slash_command_text_becomes_a_core_command() -> None:
    def parse(text: str, channel: str = "D0CACO") -> InboundEvent:
        body = {"user_id": CACO, "channel_id": channel, "text": text, "trigger_id": "7.8.9"}
        return command_event(body)

    alarm = parse("alarm Soest: gaslek")
    assert alarm == CommandEvent(alarm.sender, "alarm", "Soest: gaslek")
    assert alarm.sender.event_id == "command:7.8.9" and alarm.sender.private
    koppel = parse("koppel AB12CD")
    assert koppel == CommandEvent(koppel.sender, "koppel", "AB12CD")
    bare = parse("   ")
    assert bare == CommandEvent(bare.sender, "help")
    assert parse("/status") == CommandEvent(parse("status").sender, "status")
    assert parse("status", channel="C0CRISIS").sender.private is False
    assert parse("status", channel="G0GROUP").sender.private is False


def test_block_action_and_message_payloads_become_core_events() -> None:
    body = {
        "type": "block_actions",
        "user": {"id": BERT},
        "channel": {"id": "D0BERT"},
        "trigger_id": "1.2.3",
        "actions": [{"action_id": "scm:0", "value": "pg:7:ack", "action_ts": "1.1"}],
    }
    click = action_event(body)
    assert click == ButtonEvent(click.sender, "pg:7:ack")
    assert click.sender.event_id == "action:1.2.3" and click.sender.private
    assert click.sender.user_id == BERT and click.sender.chat_id == "D0BERT"

    event = {"type": "message", "user": CACO, "channel": "D0C", "channel_type": "im"}
    text = message_event({"event_id": "Ev1", "event": {**event, "text": "de &amp; &lt;b&gt;"}})
    assert isinstance(text, TextEvent) and text.text == "de & <b>"
    assert text.sender.event_id == "event:Ev1"
    cmd = message_event({"event_id": "Ev2", "event": {**event, "text": "/status"}})
    assert isinstance(cmd, CommandEvent) and cmd.name == "status"
    assert message_event({"event": {**event, "subtype": "message_deleted"}}) is None


def test_from_slack_text_shows_what_was_typed() -> None:
    assert from_slack_text("&lt;b&gt;&amp;*_") == "<b>&*_"
    assert from_slack_text("&amp;lt;") == "&lt;"
    assert (
        from_slack_text("zie <https://vru.nl|vru.nl> en <https://x.nl>")
        == "zie vru.nl en https://x.nl"
    )
    assert from_slack_text("<@U123> in <#C1|crisis> <!here>") == "@U123 in #crisis @here"


def test_render_escapes_only_the_fallback_and_numbers_buttons() -> None:
    (part,) = render_message(
        Message("a <b>&*_", title="Titel", buttons=(Button("Ja", "pg:1:ack"), Button("Nee", "x")))
    )
    assert part.text == "Titel\na &lt;b&gt;&amp;*_"
    header, section, actions = part.blocks
    assert header == {"type": "header", "text": {"type": "plain_text", "text": "Titel"}}
    assert section["text"] == {"type": "plain_text", "text": "a <b>&*_", "emoji": False}
    assert [(e["action_id"], e["value"]) for e in actions["elements"]] == [
        ("scm:0", "pg:1:ack"),
        ("scm:1", "x"),
    ]
    assert actions["elements"][0]["style"] == "primary"


def test_split_prefers_paragraphs_then_lines_then_a_hard_cut() -> None:
    assert split_text("a\n\nb", limit=10) == ["a\n\nb"]
    assert split_text("aaaa\n\nbbbb", limit=6) == ["aaaa", "bbbb"]
    assert split_text("aa\nbb\ncc", limit=5) == ["aa\nbb", "cc"]
    assert split_text("abcdefg", limit=3) == ["abc", "def", "g"]
    assert split_text("🚨🚨🚨", limit=4) == ["🚨🚨", "🚨"]  # an emoji counts as 2 for Slack
    assert split_text("\n\n  \n\n") == []


def test_many_buttons_and_sections_stay_within_fifty_blocks() -> None:
    message = Message(
        "\n\n".join("p" * 3000 for _ in range(49)),
        title="t",
        buttons=tuple(Button(str(i), f"al:x:{i}") for i in range(60)),
    )
    parts = render_message(message)
    assert all(len(p.blocks) <= MAX_BLOCKS for p in parts)
    assert sum(1 for p in parts for b in p.blocks if b["type"] == "section") == 49
    ids = [
        e["action_id"]
        for p in parts
        for b in p.blocks
        if b["type"] == "actions"
        for e in b["elements"]
    ]
    assert len(ids) == 60 == len(set(ids))
    assert all(b["type"] != "actions" for p in parts[:-1] for b in p.blocks)
    assert parts[-1].blocks[0]["type"] == "section"  # the buttons never stand alone


@settings(max_examples=200, deadline=None)
@given(
    text=st.text(alphabet=st.sampled_from(list("ab \n&<>*_🚨")), max_size=400),
    limit=st.integers(min_value=2, max_value=40),
)
def test_split_keeps_every_character_within_the_limit(text: str, limit: int) -> None:
    chunks = split_text(text, limit)
    assert all(0 < size(c) <= limit and c.strip() for c in chunks)
    assert "".join(chunks).replace("\n", "").replace(" ", "") == text.replace("\n", "").replace(
        " ", ""
    )


@settings(max_examples=100, deadline=None)
@given(
    text=st.text(max_size=20_000),
    title=st.none() | st.text(max_size=300),
    buttons=st.integers(min_value=0, max_value=30),
)
def test_render_always_within_slack_limits(text: str, title: str | None, buttons: int) -> None:
    parts = render_message(
        Message(text, title=title, buttons=tuple(Button("b", f"al:{i}:x") for i in range(buttons)))
    )
    assert parts
    for part in parts:
        assert 0 < len(part.blocks) <= MAX_BLOCKS and 0 < size(part.text) <= 3000
        for block in part.blocks:
            if block["type"] == "section":
                assert 0 < size(block["text"]["text"]) <= MAX_SECTION_TEXT
            if block["type"] == "header":
                assert 0 < size(block["text"]["text"]) <= MAX_HEADER_TEXT
