"""The Telegram transport and bot: the real python-telegram-bot `Application` against a fake
Bot API server on loopback, with the real router, core and storage.

Updates are fed with `Application.process_update` where receiving is not under test; the
polling and webhook tests receive them for real. Time is moved by the harness's FakeClock.
"""

from __future__ import annotations

import html
import logging
import socket
import sys
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from sqlalchemy.ext.asyncio import AsyncEngine
from telegram import Bot
from telegram import error as tg_error
from telegram.request import HTTPXRequest

from bots.telegram import DeliveryLimits, TelegramBot, TelegramTransport
from bots.telegram.bot import SECRET_HEADER, RedactToken, file_url_for
from bots.telegram.render import MAX_TEXT, keyboard, render, split_text, units
from bots.telegram.transport import make_ref, map_error, parse_ref
from core.errors import (
    MessageRejected,
    OutcomeUnknown,
    PlatformError,
    RateLimited,
    RecipientUnreachable,
)
from core.i18n import t
from core.messages import Attachment, Button, Message
from core.model import Language, Person, PersonId
from storage.database import make_engine
from tests.conftest import count
from tests.helpers import (
    dispose,
    send_all,
)
from tests.helpers.fake_telegram import TOKEN, FakeTelegram
from tests.helpers.telegram_world import (
    BERT,
    CACO,
    CEES,
    STRANGER,
    WEBHOOK_SECRET,
    World,
    region_with_telegram_ids,
    until,
    webhook_post,
    world,
)


@pytest.fixture
async def fake() -> AsyncIterator[FakeTelegram]:
    async with FakeTelegram() as server:
        yield server


@pytest.fixture
async def sqlite_engine(sqlite_url: str) -> AsyncIterator[AsyncEngine]:
    engine = make_engine(sqlite_url)
    yield engine
    await dispose(engine)


@pytest.fixture
async def w(sqlite_engine: AsyncEngine, fake: FakeTelegram) -> AsyncIterator[World]:
    async with world(sqlite_engine, fake) as it:
        yield it


async def test_a_redelivered_update_has_exactly_one_effect(w: World) -> None:
    update = w.fake.text_update(CACO, "/alarm Soest: gaslek")
    await w.feed(update)
    await w.feed(update)  # Telegram resends after a timeout: same update_id
    assert len(w.fake.messages(CACO)) == 1

    press = w.fake.press_update(CACO, "Bevestigen en pagen")
    await w.feed(press)
    await w.feed(press)
    assert len(w.fake.messages(BERT)) == 1
    async with w.app.uows() as uow:
        assert len(await uow.incidents.open()) == 1


async def test_an_unregistered_user_gets_one_short_reply_and_nothing_else(w: World) -> None:
    await w.say(STRANGER, "/help")
    await w.feed(w.fake.callback_update(STRANGER, "pg:1:ack"))
    replies = w.fake.messages(STRANGER)
    assert [m.text for m in replies] == [t(Language.NL, "access.not_registered")] * 2
    assert all(len(m.text) < 200 and m.buttons == [] for m in replies)
    await w.say(STRANGER, "/start ABC123")  # an unknown link code: still one short reply
    assert len(w.fake.messages(STRANGER)) == 3 and len(w.fake.last(STRANGER).text) < 200
    assert {c.params["chat_id"] for c in w.fake.calls_to("sendMessage")} == {STRANGER}
    assert await count(w.app.engine, "incident") == 0

    w.fake.calls.clear()
    await w.say(STRANGER, "hallo")
    assert [c.method for c in w.fake.calls] == ["sendMessage"]


async def test_a_strangers_reply_goes_to_the_chat_it_came_from(w: World) -> None:
    # A stranger in a group gets silence, except for a link code: that is answered in the
    # group (use a private chat), never in private.
    await w.feed(w.fake.text_update(STRANGER, "/alarm x", chat_id=-100500, chat_type="group"))
    assert w.fake.messages(-100500) == []
    await w.feed(w.fake.text_update(STRANGER, "/start ABCDEF", chat_id=-100500, chat_type="group"))
    assert len(w.fake.messages(-100500)) == 1
    assert w.fake.messages(STRANGER) == []


# Rendering ----------------------------------------------------------------------------------


def test_render_escapes_every_piece_of_text() -> None:
    [chunk] = render(Message("a <b>&*_ c", title="T<i>&", buttons=(Button("<x>", "d"),)))
    assert chunk.html == "<b>T&lt;i&gt;&amp;</b>\na &lt;b&gt;&amp;*_ c"
    assert chunk.markup is not None
    assert chunk.markup.inline_keyboard[0][0].text == "<x>"  # labels are never parsed


def test_long_text_is_split_on_paragraphs_with_buttons_on_the_last_chunk() -> None:
    paragraphs = [f"Alinea {i}: " + "x" * 1500 for i in range(6)]
    message = Message("\n\n".join(paragraphs), title="Lang", buttons=(Button("OK", "al:1:ok"),))
    chunks = render(message)
    assert len(chunks) > 1
    assert all(c.markup is None for c in chunks[:-1]) and chunks[-1].markup is not None
    texts = [c.html.removeprefix("<b>Lang</b>\n") for c in chunks]
    assert all(units(c.html.replace("<b>", "").replace("</b>", "")) <= MAX_TEXT for c in chunks)
    for text in texts:  # every chunk is whole paragraphs
        assert all(part in paragraphs for part in text.split("\n\n"))
    assert "\n\n".join(texts) == message.text


def test_split_falls_back_to_lines_then_a_hard_cut() -> None:
    lines = "\n".join("y" * 30 for _ in range(10))
    assert split_text(lines, limit=100) == ["\n".join(["y" * 30] * 3)] * 3 + ["y" * 30]
    assert split_text("z" * 250, limit=100) == ["z" * 100, "z" * 100, "z" * 50]
    emoji = "🚨" * 60  # 2 UTF-16 units each, as Telegram counts
    assert [units(p) for p in split_text(emoji, limit=100)] == [100, 20]


@settings(max_examples=300, deadline=None)
@given(
    text=st.text(st.sampled_from("ab <&é🚨\n"), max_size=400),
    limit=st.integers(8, 60),
    title=st.sampled_from(["", "T", "<&"]),
)
def test_any_text_renders_into_chunks_that_fit_and_lose_nothing(
    text: str, limit: int, title: str
) -> None:
    chunks = render(Message(text, title=title or None, buttons=(Button("OK", "x:1:y"),)), limit)
    shown = [html.unescape(c.html.replace("<b>", "").replace("</b>", "")) for c in chunks]
    assert all(units(s) <= limit and s.strip() for s in shown)
    assert [c.markup is not None for c in chunks] == [False] * (len(chunks) - 1) + [True]
    # Only whitespace at the cuts (line breaks, blank lines) is dropped.
    expected = "".join((title + text).split()) or "…"
    assert "".join("".join(shown).split()) == expected


def test_keyboard_layout_and_the_64_byte_limit() -> None:
    short = keyboard([Button("Ja", "a:1:y"), Button("Nee", "a:1:n"), Button("Later", "a:1:l")])
    assert short is not None and [len(r) for r in short.inline_keyboard] == [2, 1]
    long = keyboard([Button("Bevestigen en pagen naar iedereen", "a:1:y"), Button("Nee", "n")])
    assert long is not None and [len(r) for r in long.inline_keyboard] == [1, 1]
    assert keyboard([]) is None
    keyboard([Button("ok", "x" * 64)])
    with pytest.raises(ValueError, match="64 bytes"):
        keyboard([Button("ok", "é" * 33)])  # 66 bytes


def test_refs_round_trip() -> None:
    assert parse_ref(make_ref(42, [7, 8])) == (42, [7, 8])
    assert parse_ref(make_ref(-100, [1])) == (-100, [1])
    for bad in ("", "42", "42:", "x:1"):
        with pytest.raises(ValueError, match=r"reference|invalid literal"):
            parse_ref(bad)


def test_file_url_follows_the_base_url() -> None:
    assert file_url_for("https://api.telegram.org/bot") == "https://api.telegram.org/file/bot"
    assert file_url_for("http://127.0.0.1:8081/bot") == "http://127.0.0.1:8081/file/bot"


# The transport against the fake -------------------------------------------------------------


@pytest.fixture
async def bot(fake: FakeTelegram) -> AsyncIterator[Bot]:
    async with Bot(TOKEN, base_url=fake.base_url) as it:
        yield it


def person(user_id: int | None = BERT) -> Person:
    return Person(PersonId(3), "rol-b", "Rol Bert", frozenset({"rol"}), telegram_user_id=user_id)


async def test_transport_reaches_only_people_with_a_telegram_id(bot: Bot) -> None:
    transport = TelegramTransport(bot)
    assert transport.name == "telegram"
    assert transport.reaches(person()) and not transport.reaches(person(None))
    assert transport.limits == DeliveryLimits(
        per_chat_interval=1.0, per_second=29.0, per_group_interval=3.0
    )
    assert TelegramTransport(per_chat_interval=0.1, per_second=5).limits.per_second == 5


async def test_send_splits_long_messages_and_edit_reaches_the_button_message(
    fake: FakeTelegram, bot: Bot
) -> None:
    transport = TelegramTransport(bot)
    text = "\n\n".join(f"{i}: " + "w" * 2500 for i in range(3))
    message = Message(text, buttons=(Button("OK", "pg:1:ack"),))
    parts = transport.parts(message)
    assert [p.editable for p in parts] == [False, False, True], "the buttons go last"
    refs = [await transport.send_part(person(), message, p.index) for p in parts]
    sent = fake.messages(BERT)
    assert [parse_ref(ref) for ref in refs] == [(BERT, [m.message_id]) for m in sent]
    assert [m.labels for m in sent] == [[], [], ["OK"]]
    assert all(len(m.text) <= MAX_TEXT for m in sent)

    done = Message("Taken by Rol Cees")
    await transport.edit(person(), refs[-1], done)
    await transport.edit(person(), refs[-1], done)  # "message is not modified" is no error
    first, second, last = fake.messages(BERT)
    assert first.text.startswith("0: ") and second.text.startswith("1: ")
    assert last.text == "Taken by Rol Cees" and last.buttons == []


async def test_an_edit_never_adds_messages(fake: FakeTelegram, bot: Bot) -> None:
    transport = TelegramTransport(bot)
    ref = await send_all(transport, person(), Message("kort", buttons=(Button("OK", "pg:1:ack"),)))
    await transport.edit(person(), ref, Message("\n\n".join(["v" * 3000] * 2)))
    [message] = fake.messages(BERT)
    assert message.text.endswith("\n…") and len(message.text) <= MAX_TEXT


async def test_the_fake_edits_buttons_alone_as_telegram_does(fake: FakeTelegram, bot: Bot) -> None:
    """editMessageReplyMarkup on the fake (scm-bot itself edits text and buttons together,
    with editMessageText): the buttons change, the text stays, a no-op edit is refused."""
    ref = await send_all(
        TelegramTransport(bot), person(), Message("ALARM", buttons=(Button("OK", "pg:1:ack"),))
    )
    assert ref is not None
    _, [message_id] = parse_ref(ref)
    await bot.edit_message_reply_markup(BERT, message_id, reply_markup=None)
    [sent] = fake.messages(BERT)
    assert sent.text == "ALARM" and sent.buttons == [] and sent.edits == 1
    with pytest.raises(tg_error.BadRequest, match="not modified"):
        await bot.edit_message_reply_markup(BERT, message_id, reply_markup=None)


async def test_429_maps_to_rate_limited_with_retry_after(fake: FakeTelegram, bot: Bot) -> None:
    transport = TelegramTransport(bot)
    fake.rate_limit(7, chat_id=BERT)
    with pytest.raises(RateLimited) as caught:
        await send_all(transport, person(), Message("hoi"))
    assert caught.value.retry_after == 7.0
    assert fake.calls_to("sendMessage")[-1].status == 429
    await send_all(transport, person(), Message("hoi"))  # only the next call failed
    assert fake.texts(BERT) == ["hoi"]


@pytest.mark.parametrize(
    ("status", "expected"),
    [
        (403, RecipientUnreachable),
        (400, RecipientUnreachable),  # the fake's 400 is "chat not found"
        (500, PlatformError),
        (502, PlatformError),
        (503, PlatformError),
    ],
)
async def test_errors_map_into_the_core_tree(
    fake: FakeTelegram, bot: Bot, status: int, expected: type[Exception]
) -> None:
    transport = TelegramTransport(bot)
    ref = await send_all(transport, person(), Message("eerst"))
    for attempt in (
        send_all(transport, person(), Message("x")),
        transport.edit(person(), ref, Message("y")),
    ):
        fake.fail(status, chat_id=BERT)
        with pytest.raises(expected) as caught:
            await attempt
        assert not isinstance(caught.value, RateLimited)
        assert TOKEN not in str(caught.value) and caught.value.__cause__ is None
    if status == 403:
        assert "blocked" in str(caught.value)


async def test_network_errors_are_transient_and_never_show_the_token() -> None:
    with socket.socket() as probe:  # a port nobody listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    request = HTTPXRequest()  # owned here: the bot cannot initialize (getMe) without a server
    try:
        dead = Bot(TOKEN, base_url=f"http://127.0.0.1:{port}/bot", request=request)
        with pytest.raises(PlatformError) as caught:
            await send_all(TelegramTransport(dead), person(), Message("x"))
    finally:
        await request.shutdown()
    assert TOKEN not in str(caught.value) and caught.value.__cause__ is None


@pytest.mark.parametrize(
    ("error", "expected"),
    [
        (tg_error.RetryAfter(5), RateLimited),
        (tg_error.Forbidden("Forbidden: bot was blocked by the user"), RecipientUnreachable),
        (tg_error.BadRequest("Bad Request: chat not found"), RecipientUnreachable),
        (tg_error.BadRequest("Bad Request: can't parse entities"), MessageRejected),
        (tg_error.ChatMigrated(-1001), RecipientUnreachable),
        (tg_error.InvalidToken(), PlatformError),
        (tg_error.TimedOut(), OutcomeUnknown),
        (tg_error.NetworkError("Bad Gateway"), PlatformError),
        (tg_error.TelegramError("Invalid server response"), PlatformError),
    ],
)
def test_every_telegram_error_has_its_place_in_the_tree(
    error: tg_error.TelegramError, expected: type[Exception]
) -> None:
    mapped = map_error(error, TOKEN)
    assert type(mapped) is expected
    if isinstance(mapped, RateLimited):
        assert mapped.retry_after == 5.0


async def test_the_token_is_scrubbed_from_error_messages() -> None:
    error = map_error(tg_error.NetworkError(f"bad url http://x/bot{TOKEN}/sendMessage"), TOKEN)
    assert TOKEN not in str(error) and "<token>" in str(error)


async def test_too_long_callback_data_is_a_refused_message(bot: Bot) -> None:
    transport = TelegramTransport(bot)
    with pytest.raises(MessageRejected):
        await send_all(transport, person(), Message("x", buttons=(Button("ok", "x" * 65),)))


async def test_a_rate_limited_page_is_delivered_after_retry_after(w: World) -> None:
    w.fake.rate_limit(1, chat_id=BERT)
    await w.say(CACO, "/alarm Soest: gaslek")
    await w.press(CACO, "Bevestigen en pagen")
    assert w.fake.messages(BERT) == []
    to_bert = [c for c in w.fake.calls_to("sendMessage") if c.params["chat_id"] == BERT]
    assert [c.status for c in to_bert] == [429]
    await w.advance(0.5 / 60)  # half a second: not yet
    assert w.fake.messages(BERT) == []
    await w.advance(0.6 / 60)
    assert "VRU-2026-0001" in w.fake.last(BERT).text
    assert len(w.fake.messages(BERT)) == 1


async def test_a_429_on_one_chat_leaves_the_others_flowing(w: World) -> None:
    w.fake.rate_limit(30, chat_id=BERT)
    await w.say(CACO, "/alarm Soest: gaslek")
    await w.press(CACO, "Bevestigen en pagen")
    assert w.fake.messages(BERT) == []  # Bert's chat waits out its 30 s
    # Meanwhile the Caco's chat goes on as usual: the page report, then a status list.
    assert any("ROL gepaged – Rol Bert" in text for text in w.fake.texts(CACO))
    await w.say(CACO, "/status")
    assert "Open incidenten (1)" in w.fake.last(CACO).text
    assert w.fake.messages(BERT) == []


async def test_a_person_who_blocked_the_bot_is_skipped_at_once_for_that_page_only(
    w: World,
) -> None:
    w.fake.block(chat_id=BERT, times=1)
    await w.say(CACO, "/alarm Soest: gaslek")
    await w.press(CACO, "Bevestigen en pagen")
    # Telegram answered 403 for Bert (on duty): Cees (backup) is paged without waiting.
    assert "VRU-2026-0001" in w.fake.last(CEES).text
    told = [text for text in w.fake.texts(CACO) if "onbereikbaar" in text]
    assert told == [told[0]] and "Rol Bert is onbereikbaar (telegram) als ROL" in told[0]
    # Never excluded for good: the next alarm pages Bert again, and it reaches him.
    await w.say(CACO, "/alarm Soest: tweede melding")
    await w.press(CACO, "Bevestigen en pagen")
    assert "VRU-2026-0002" in w.fake.last(BERT).text


async def test_an_attachment_follows_its_text_as_a_document(fake: FakeTelegram, bot: Bot) -> None:
    transport = TelegramTransport(bot)
    pdf = Attachment("analyse.pdf", "application/pdf", b"%PDF-1.4 fake")
    ref = await send_all(transport, person(), Message("De analyse", attachment=pdf))
    text, document = fake.messages(BERT)
    assert text.text == "De analyse" and document.document == "analyse.pdf"
    assert parse_ref(ref) == (BERT, [text.message_id])  # edits reach the text only


async def test_a_file_alone_is_one_document(fake: FakeTelegram, bot: Bot) -> None:
    """The aandachtskaart's PDF follows the card as a message of its own: one request."""
    transport = TelegramTransport(bot)
    pdf = Attachment("kaart.pdf", "application/pdf", b"%PDF-1.4 fake")
    alone = Message("", attachment=pdf)
    assert [p.editable for p in transport.parts(alone)] == [False]
    await transport.send_part(person(), alone, 0)
    (document,) = fake.messages(BERT)
    assert document.document == "kaart.pdf" and not document.text


async def test_a_registered_person_in_a_group_is_answered_there_only(w: World) -> None:
    await w.feed(w.fake.text_update(CACO, "/status", chat_id=-100500, chat_type="group"))
    assert len(w.fake.messages(-100500)) == 1
    assert w.fake.messages(CACO) == []


async def test_a_configured_group_follows_the_alarm_and_nothing_else_does(
    sqlite_engine: AsyncEngine, fake: FakeTelegram
) -> None:
    group, other = -1001000000001, -1001000000099
    region = region_with_telegram_ids() + (
        f"chats:\n  - {{key: meldkamer-groep, name: Meldkamer <VRU>, telegram_chat_id: {group}}}\n"
    )
    async with world(sqlite_engine, fake, region=region) as w:
        await w.say(CACO, "/alarm Soest: gaslek <Kerkstraat> & *co*")
        await w.press(CACO, "Bevestigen en pagen")
        await w.press(BERT, "I'll take it")
        texts = [m.text for m in fake.messages(group)]
        assert texts[0].startswith("Nieuw incident:")
        assert "gaslek <Kerkstraat> & *co*" in texts[0]  # escaped on the way, shown as typed
        assert any("ROL gepaged – Rol Bert" in t for t in texts)
        assert any("opgepakt door Rol Bert" in t for t in texts)
        assert all(m.buttons == [] for m in fake.messages(group))
        # A command typed in the group is answered there with a pointer, nothing more.
        before = len(fake.messages(group))
        await w.feed(fake.text_update(CACO, "/status", chat_id=group, chat_type="supergroup"))
        assert len(fake.messages(group)) == before + 1
        assert "Commando's werken in een privégesprek" in fake.last(group).text
        assert fake.messages(other) == []


# Receiving: polling and webhook -------------------------------------------------------------


async def test_polling_receives_updates_through_get_updates(
    sqlite_engine: AsyncEngine, fake: FakeTelegram, caplog: pytest.LogCaptureFixture
) -> None:
    # Everything at DEBUG, even httpx (whose request URLs carry the token), but aiosqlite:
    # its line per statement says nothing about tokens and slows this test to a crawl.
    caplog.set_level(logging.WARNING, logger="aiosqlite")
    caplog.set_level(logging.DEBUG, logger="httpx")  # `scm-bot run` may have quieted it before
    caplog.set_level(logging.DEBUG)
    async with world(sqlite_engine, fake) as w:
        assert fake.calls_to("deleteWebhook")  # polling clears any webhook first
        await until(lambda: bool(fake.calls_to("getUpdates")), "the first long poll")
        assert await w.tg.bot_username() == "scm_test_bot"
        update = fake.push_text(CACO, "/alarm Soest: brand")
        await until(lambda: bool(fake.delivered_update_ids), "the update to be fetched")
        await w.until_stored(1)
        await w.handle()
        assert "Controleer het alarm" in fake.last(CACO).text

        fake.push(fake.press_update(CACO, "Bevestigen en pagen"))
        await w.until_stored(2)
        await w.handle()
        assert "VRU-2026-0001" in fake.last(BERT).text
    # Stopping confirmed what was fetched: Telegram will not serve it again.
    assert fake.updates == []
    assert fake.calls_to("getUpdates")[-1].params["offset"] > update["update_id"]
    assert fake.delivered_update_ids.count(update["update_id"]) == 1
    # PTB logs its API URL and httpx every request URL: the token is redacted from both.
    assert any(r.name == "httpx" for r in caplog.records)
    assert TOKEN not in caplog.text and "<token>" in caplog.text


async def test_webhook_mode_accepts_only_the_right_secret(
    sqlite_engine: AsyncEngine, fake: FakeTelegram
) -> None:
    options: dict[str, Any] = {
        "webhook_url": "https://bot.example.org/telegram/hook",
        "webhook_secret": WEBHOOK_SECRET,
    }
    async with world(sqlite_engine, fake, **options) as w:
        assert fake.webhook is not None
        assert fake.webhook["url"] == "https://bot.example.org/telegram/hook"
        assert fake.webhook["secret_token"] == WEBHOOK_SECRET
        assert not fake.calls_to("getUpdates")  # no polling in webhook mode
        port = w.server.port

        update = fake.text_update(CACO, "/alarm Soest: brand")
        assert await webhook_post(port, update) == 403
        assert await webhook_post(port, update, {SECRET_HEADER: "wrong"}) == 403
        assert await webhook_post(port, update, {SECRET_HEADER: WEBHOOK_SECRET + "x"}) == 403
        await w.handle()
        assert w.router.count == 0 and await count(w.app.engine, "inbox") == 0
        assert fake.calls_to("sendMessage") == []
        assert await count(w.app.engine, "inbound_event") == 0

        assert await webhook_post(port, "{not json", {SECRET_HEADER: WEBHOOK_SECRET}) == 400
        async with aiohttp.ClientSession() as session:
            async with session.get(f"http://127.0.0.1:{port}/telegram/hook") as response:
                assert response.status == 405
        assert await webhook_post(port, update, {SECRET_HEADER: WEBHOOK_SECRET}) == 200
        assert await count(w.app.engine, "inbox") == 1, "stored before the 200"
        await w.handle()
        assert w.router.count == 1
        assert "Controleer het alarm" in fake.last(CACO).text


class Nobody:
    """No router: for bots that are never started."""

    async def handle(self, _event: object) -> list[Message]:
        return []


def test_webhook_mode_needs_a_valid_secret() -> None:
    url = "https://x.example.org/hook"
    with pytest.raises(ValueError, match="secret"):
        TelegramBot(Nobody(), token=TOKEN, webhook_url=url)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="secret"):
        TelegramBot(Nobody(), token=TOKEN, webhook_url=url, webhook_secret="a b")  # type: ignore[arg-type]


def test_log_records_are_scrubbed_of_the_token() -> None:
    redact = RedactToken(TOKEN)
    record = logging.LogRecord("httpx", logging.INFO, __file__, 1, "GET /bot%s/x", (TOKEN,), None)
    try:
        raise RuntimeError(f"url /bot{TOKEN}/getMe")
    except RuntimeError:
        failing = logging.LogRecord(
            "telegram", logging.ERROR, __file__, 1, "boom", (), sys.exc_info()
        )
    assert redact.filter(record) and redact.filter(failing)
    assert record.getMessage() == "GET /bot<token>/x"
    formatted = logging.Formatter().format(failing)
    assert TOKEN not in formatted and "<token>" in formatted
