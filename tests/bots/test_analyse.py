"""The strategische analyse through each chat platform: filled, previewed, published with its
PDF, read, shared, and exported as a file.

Every scenario runs on Telegram and on Slack (the drivers of `tests.helpers.platforms`), on
SQLite and PostgreSQL. Everyone involved is linked, the burgemeesters and the secretaris
too; delivery is unpaced; time never has to pass.
"""

from __future__ import annotations

from typing import Any

from tests.helpers.platforms import AnyDriver, File, Reply

CACO, BERT = "caco", "rol-b"
BGM_SOEST, BGM_DEBILT, GS_SOEST = "bgm-soest", "bgm-debilt", "gs-soest"
TITLE = "Strategische analyse VRU-2026-0001 – versie 1"
PDF_NAME = "analyse-VRU-2026-0001-v1.pdf"
BUTTONS = ["Gelezen", "Bel mij", "Deel met…", "BT bijeenroepen"]
TYPED = "Gaslek <b>&*_ in de Kerkstraat"  # markup characters of every platform, shown as typed
TEXT_FIELDS = (
    "feitelijk_beeld",
    "inzet",
    "onzekerheden",
    "duiding",
    "scenarios",
    "vraagstukken",
    "communicatie",
)


async def acknowledged(chat: AnyDriver) -> None:
    """An alarm for Soest, confirmed by the Caco and taken by Bert."""
    await chat.command(CACO, "/alarm Soest: gaslek Kerkstraat")
    await chat.press(CACO, "Bevestigen en pagen")
    await chat.press(BERT, "I'll take it")


async def fill_required(chat: AnyDriver) -> None:
    """Every required field, as Bert types and taps: half the /wijzig typed in the chat,
    half given as commands."""
    for n, key in enumerate(TEXT_FIELDS):
        edit = chat.command if n % 2 else chat.say
        await edit(BERT, f"/wijzig {key}")
        await chat.say(BERT, TYPED if key == "feitelijk_beeld" else f"{key} tekst")
    await chat.say(BERT, "/wijzig teams")
    await chat.press(BERT, "ROT")
    assert "✓ ROT" in chat.last(BERT).labels  # the choice is marked on the buttons
    await chat.press(BERT, "Done")
    await chat.command(BERT, "/wijzig families")
    await chat.press(BERT, "Safety and health")
    await chat.press(BERT, "Done")
    await chat.say(BERT, "/wijzig opschaling")
    await chat.press(BERT, "GRIP 2")
    await chat.say(BERT, "/wijzig advies")
    await chat.press(BERT, "Convene the BT now")
    await chat.say(BERT, "/wijzig volgende_update")
    await chat.say(BERT, "over 45 min")


def the_analyse(chat: AnyDriver, who: str) -> tuple[Reply[Any], File]:
    """The analyse in `who`'s chat: one message, titled, then its PDF right after it."""
    replies = chat.replies(who)
    [analyse] = [r for r in replies if r.title == TITLE]
    assert analyse.text.startswith(TITLE)
    assert "feitelijk_beeld" not in analyse.text  # the field's label, not its key
    chat.assert_shown_verbatim(analyse, TYPED)
    assert "inzet tekst" in analyse.text and "communicatie tekst" in analyse.text
    [pdf] = chat.files(who)
    assert pdf.filename == PDF_NAME and pdf.content.startswith(b"%PDF")
    assert pdf.order > analyse.order, "the text introduces the file"
    assert not any(analyse.order < r.order < pdf.order for r in replies)
    return analyse, pdf


async def test_analyse_filled_published_read_and_shared(chat: AnyDriver) -> None:
    await acknowledged(chat)
    await chat.press(BERT, "Start strategic analysis")
    question = chat.last(BERT)
    # Gemeenten are prefilled from the alarm: the first question is the scale-up.
    assert question.title == "Question 2/16: Scale-up (required)"
    assert question.text.startswith("Question 2/16: Scale-up (required)")
    await chat.press(BERT, "GRIP 2")
    assert chat.last(BERT).text.startswith("Question 3/16: Active teams (required)")

    await fill_required(chat)
    await chat.command(BERT, "/voorbeeld")
    # Exactly what the burgemeester will get, the PDF too; nobody else has it yet.
    preview, preview_pdf = the_analyse(chat, BERT)
    assert preview.labels == []  # to look at, not to answer
    assert chat.replies(BGM_SOEST) == [] and chat.files(BGM_SOEST) == []
    assert chat.replies(GS_SOEST) == []

    await chat.say(BERT, "/deel")

    # The burgemeester of Soest: the message with its buttons, then the PDF.
    analyse, _pdf = the_analyse(chat, BGM_SOEST)
    assert chat.replies(BGM_SOEST) == [analyse]
    assert analyse.labels == BUTTONS
    assert chat.uploads() == 2
    assert chat.replies(BGM_DEBILT) == [], "De Bilt is not affected"
    assert chat.files(BGM_DEBILT) == []
    assert chat.replies(GS_SOEST) == [], "the share list gets it only when shared"
    assert chat.files(GS_SOEST) == []
    assert "versie 1 verstuurd aan Burgemeester Soest" in chat.texts(CACO)
    chat.assert_buttons_fit()

    # Read: the ROL (in English) and the Caco get the receipt.
    await chat.press(BGM_SOEST, "Gelezen")
    assert "Burgemeester Soest read version 1" in chat.texts(BERT)
    assert "Burgemeester Soest heeft versie 1 gelezen" in chat.texts(CACO)
    assert "Versie 1 is gemarkeerd als gelezen." in chat.texts(BGM_SOEST)
    assert chat.replies(BGM_DEBILT) == [] and chat.replies(GS_SOEST) == []

    # Share: the share list as buttons, then a copy with its PDF to the secretaris.
    await chat.press(BGM_SOEST, "Deel met…")
    assert chat.last(BGM_SOEST).labels == ["Secretaris Soest"]
    await chat.press(BGM_SOEST, "Secretaris Soest")
    assert "Gedeeld met Secretaris Soest." in chat.texts(BGM_SOEST)
    copy, _shared_pdf = the_analyse(chat, GS_SOEST)
    assert copy.labels == ["Gelezen"]
    assert "Gedeeld door Burgemeester Soest." in chat.texts(GS_SOEST)
    assert analyse.order in [r.order for r in chat.replies(BGM_SOEST)]  # their own copy stays

    # Still nothing for De Bilt; a file only with the preview and the two copies.
    assert chat.replies(BGM_DEBILT) == [] and chat.files(BGM_DEBILT) == []
    assert chat.people_with_files() == {BERT, BGM_SOEST, GS_SOEST}
    assert chat.uploads() == 3
    assert preview_pdf in chat.files(BERT)


async def test_an_export_arrives_as_a_file_in_the_private_chat(chat: AnyDriver) -> None:
    await acknowledged(chat)
    await chat.command(BERT, "/analyse")
    await fill_required(chat)
    await chat.command(BERT, "/deel")
    [note] = await chat.command(BERT, "/analyse export md")
    assert note.text == "Here is analyse-VRU-2026-0001-v1.md."
    [md] = chat.files(BERT)
    assert md.filename == "analyse-VRU-2026-0001-v1.md" and md.order > note.order
    assert md.content.startswith(b"# Strategic analysis VRU") and b"Kerkstraat" in md.content
