"""The strategische analyse through the real Telegram stack: filled, published, read, shared.

The real python-telegram-bot `Application` against the fake Bot API on loopback (the `World`
of tests.bots.telegram.test_bot), with the real router, core and storage on SQLite and PostgreSQL.
Every person involved has a Telegram id; delivery is unpaced; time never has to pass.
"""

from __future__ import annotations

import html
from collections.abc import AsyncIterator

import pytest
from sqlalchemy.ext.asyncio import AsyncEngine

import tests.bots.telegram.test_bot
from tests.bots.telegram.test_bot import BERT, CACO, World, world
from tests.helpers.fake_telegram import FakeTelegram, Sent

BGM_SOEST, BGM_DEBILT, GS_SOEST = 1007, 1008, 1009
TITLE = "Strategische analyse VRU-2026-0001 – versie 1"
PDF_NAME = "analyse-VRU-2026-0001-v1.pdf"
BUTTONS = ["Gelezen", "Bel mij", "Deel met…", "BT bijeenroepen"]
TYPED = "Gaslek <b>&*_ in de Kerkstraat"  # HTML and Markdown characters, shown as typed
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
async def fake() -> AsyncIterator[FakeTelegram]:
    async with FakeTelegram() as server:
        yield server


@pytest.fixture
async def w(
    engine: AsyncEngine, fake: FakeTelegram, monkeypatch: pytest.MonkeyPatch
) -> AsyncIterator[World]:
    """The world of tests.bots.telegram.test_bot, with the burgemeesters and the secretaris."""
    ids = {"bgm-soest": BGM_SOEST, "bgm-debilt": BGM_DEBILT, "gs-soest": GS_SOEST}
    for key, user_id in ids.items():
        monkeypatch.setitem(tests.bots.telegram.test_bot.IDS, key, user_id)
    async with world(engine, fake) as it:
        yield it


def texts(w: World, chat: int) -> str:
    return "\n---\n".join(w.fake.texts(chat))


async def fill_required(w: World) -> None:
    """Every required field but the first (asked at the start), as Bert types and taps."""
    for key in TEXT_FIELDS:
        await w.say(BERT, f"/wijzig {key}")
        await w.say(BERT, TYPED if key == "feitelijk_beeld" else f"{key} tekst")
    await w.say(BERT, "/wijzig teams")
    await w.press(BERT, "ROT")
    assert "✓ ROT" in w.fake.last(BERT).labels  # the choice is marked on the keyboard
    await w.press(BERT, "Done")
    await w.say(BERT, "/wijzig families")
    await w.press(BERT, "Safety and health")
    await w.press(BERT, "Done")
    await w.say(BERT, "/wijzig advies")
    await w.press(BERT, "Convene the BT now")
    await w.say(BERT, "/wijzig volgende_update")
    await w.say(BERT, "over 45 min")


def the_analyse(w: World, chat: int) -> tuple[Sent, Sent]:
    """The analyse in a chat: one text message with the buttons, then its PDF."""
    text, document = w.fake.messages(chat)[-2:]
    assert text.html.startswith(f"<b>{TITLE}</b>\n"), text.html[:200]
    assert text.text.startswith(TITLE)
    assert text.labels == BUTTONS
    assert "feitelijk_beeld" not in text.text  # the field's label, not its key
    assert TYPED in text.text  # shown verbatim
    assert html.escape(TYPED, quote=False) in text.html  # because it was escaped
    assert "inzet tekst" in text.text and "communicatie tekst" in text.text
    assert document.document == PDF_NAME and document.buttons == []
    assert document.document_content is not None
    assert document.document_content.startswith(b"%PDF")
    assert document.message_id > text.message_id, "the text introduces the file"
    return text, document


async def test_analyse_filled_published_read_and_shared_through_telegram(w: World) -> None:
    fake = w.fake
    await w.say(CACO, "/alarm Soest: gaslek Kerkstraat")
    await w.press(CACO, "Bevestigen en pagen")
    await w.press(BERT, "I'll take it")
    await w.press(BERT, "Start strategic analysis")
    question = fake.last(BERT)
    # Gemeenten are prefilled from the alarm: the first question is the scale-up.
    assert question.html.startswith("<b>Question 2/16: Scale-up (required)</b>")
    await w.press(BERT, "GRIP 2")
    assert fake.last(BERT).text.startswith("Question 3/16: Active teams (required)")

    await fill_required(w)
    sent_before = len(fake.calls_to("sendDocument"))
    assert fake.messages(BGM_SOEST) == [] and fake.messages(GS_SOEST) == []

    await w.say(BERT, "/deel")

    # The burgemeester of Soest: the message with its buttons, then the PDF.
    assert len(fake.messages(BGM_SOEST)) == 2
    text, _pdf = the_analyse(w, BGM_SOEST)
    [upload] = [
        c for c in fake.calls_to("sendDocument")[sent_before:] if c.params["chat_id"] == BGM_SOEST
    ]
    assert upload.params["document"] == PDF_NAME and upload.status == 200
    assert fake.messages(BGM_DEBILT) == [], "De Bilt is not affected"
    assert fake.messages(GS_SOEST) == [], "the share list gets it only when shared"
    assert "versie 1 verstuurd aan Burgemeester Soest" in texts(w, CACO)
    for call in fake.calls_to("sendMessage") + fake.calls_to("editMessageText"):
        for row in (call.params.get("reply_markup") or {}).get("inline_keyboard", []):
            for button in row:
                assert len(button["callback_data"].encode()) <= 64

    # Read: the ROL (in English) and the Caco get the receipt.
    await w.press(BGM_SOEST, "Gelezen")
    assert "Burgemeester Soest read version 1" in texts(w, BERT)
    assert "Burgemeester Soest heeft versie 1 gelezen" in texts(w, CACO)
    assert fake.messages(BGM_DEBILT) == [] and fake.messages(GS_SOEST) == []

    # Share: the share list as buttons, then a copy with its PDF to the secretaris.
    await w.press(BGM_SOEST, "Deel met…")
    assert fake.last(BGM_SOEST).labels == ["Secretaris Soest"]
    await w.press(BGM_SOEST, "Secretaris Soest")
    received = fake.messages(GS_SOEST)
    [at] = [i for i, m in enumerate(received) if m.text.startswith(TITLE)]
    copy, shared_pdf = received[at : at + 2]
    assert copy.html.startswith(f"<b>{TITLE}</b>\n")
    assert TYPED in copy.text and html.escape(TYPED, quote=False) in copy.html
    assert shared_pdf.document == PDF_NAME and shared_pdf.document_content is not None
    assert shared_pdf.document_content.startswith(b"%PDF")
    assert "Gedeeld door Burgemeester Soest" in texts(w, GS_SOEST)
    assert len([m for m in received if m.document is not None]) == 1
    assert fake.messages(BGM_DEBILT) == []
    assert text in fake.messages(BGM_SOEST)  # the burgemeester's own copy stays
