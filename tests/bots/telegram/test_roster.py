"""Rosters through the real Telegram stack: /wie, /rooster (text and the PNG grid), /mijnpiket,
a coordinator's /vervang confirmed by button, and a /ruil accepted by button.

The real python-telegram-bot `Application` against the fake Bot API on loopback (the `World`
of tests.bots.telegram.test_bot), with the real router, core and storage on SQLite and PostgreSQL.
Caco, Anna, Bert (who reads English), Cees and the coordinator have Telegram ids (from the
region file). The ROL rotation has Bert on duty at the start, Tue 24 Nov 2026 03:07, with
Cees as backup, until Mon 30 Nov 08:00.
"""

from __future__ import annotations

import functools
import io
import re
from collections.abc import AsyncIterator
from datetime import datetime

import pytest
from PIL import Image
from sqlalchemy.ext.asyncio import AsyncEngine

from flows.roster.feature import RosterCalendars
from scm_bot.app import build
from tests.bots.telegram import test_bot as test_telegram
from tests.bots.telegram.test_bot import (
    BERT,
    CACO,
    CEES,
    COORD,
    IDS,
    STRANGER,
    World,
    region_with_telegram_ids,
    world,
)
from tests.conftest import count
from tests.helpers import TZ, load_region
from tests.helpers.fake_telegram import FakeTelegram, Sent

ANNA = IDS["rol-a"]
REPLACE = "/vervang Bert door Anna van morgen 08:00 tot do 18:00"
GROUP = -4242


@pytest.fixture
async def fake() -> AsyncIterator[FakeTelegram]:
    async with FakeTelegram() as server:
        yield server


@pytest.fixture
async def w(engine: AsyncEngine, fake: FakeTelegram) -> AsyncIterator[World]:
    async with world(engine, fake) as it:
        yield it


async def answer(w: World, chat: int, text: str) -> list[Sent]:
    """What `chat` sees after typing `text`: every bot message that arrived."""
    before = len(w.fake.messages(chat))
    await w.say(chat, text)
    return w.fake.messages(chat)[before:]


def buttons_fit(w: World) -> None:
    for call in w.fake.calls_to("sendMessage"):
        for row in (call.params.get("reply_markup") or {}).get("inline_keyboard", []):
            for button in row:
                assert len(button["callback_data"].encode()) <= 64


async def test_wie_and_mijnpiket_in_each_persons_language(w: World) -> None:
    [who] = await answer(w, CACO, "/wie")
    assert who.text == (
        "Piket nu (di 24 nov 03:07):\nROL (regio): Rol Bert · backup Rol Cees, tot ma 30 nov 08:00"
    )
    assert who.buttons == []
    [who] = await answer(w, BERT, "/who rol")
    assert who.text == (
        "On duty now (Tue 24 Nov 03:07):\n"
        "ROL (region): Rol Bert · backup Rol Cees, until Mon 30 Nov 08:00"
    )

    [mine] = await answer(w, BERT, "/myduty")
    assert mine.text.startswith(
        "Your duties (next 60 days):\n"
        "ROL (region): Mon 23 Nov 08:00 – Mon 30 Nov 08:00\n"
        "ROL (region): Mon 7 Dec 08:00 – Mon 14 Dec 08:00 (backup)\n"
        "ROL (region): Mon 14 Dec 08:00 – Mon 21 Dec 08:00\n"
    )
    [mine] = await answer(w, CEES, "/mijnpiket")
    assert mine.text.startswith(
        "Jouw piket (komende 60 dagen):\n"
        "ROL (regio): ma 23 nov 08:00 – ma 30 nov 08:00 (backup)\n"
        "ROL (regio): ma 30 nov 08:00 – ma 7 dec 08:00\n"
    )
    assert [m.text for m in await answer(w, CACO, "/mijnpiket")] == [
        "Je hebt de komende 60 dagen geen piket."
    ]

    # Nobody outside the region, and no group, learns who is on duty.
    [stranger] = await answer(w, STRANGER, "/wie")
    assert "niet geregistreerd" in stranger.text and "Rol Bert" not in stranger.text
    await w.feed(w.fake.text_update(CACO, "/wie", chat_id=GROUP, chat_type="group"))
    [group] = w.fake.messages(GROUP)
    assert "privégesprek" in group.text and "Rol Bert" not in group.text


async def test_rooster_is_a_text_table_then_the_png_grid(w: World) -> None:
    table, caption, picture = await answer(w, CACO, "/rooster")
    assert table.text == (
        "Piketrooster di 24 nov 00:00 – di 1 dec 00:00\n\n"
        "ROL (regio)\n"
        "di 24 nov 00:00 – ma 30 nov 08:00: Rol Bert · backup Rol Cees\n"
        "ma 30 nov 08:00 – di 1 dec 00:00: Rol Cees · backup Rol Anna"
    )
    assert caption.text == "Het rooster als plaatje."
    # Telegram's transport sends an attachment as a document, after the text introducing it.
    assert picture.document == "rooster.png" and picture.message_id > caption.message_id
    assert picture.document_content is not None
    with Image.open(io.BytesIO(picture.document_content)) as image:
        assert image.format == "PNG" and image.width > 200 and image.height > 50
    [upload] = w.fake.calls_to("sendDocument")
    assert upload.params["chat_id"] == CACO and upload.status == 200

    table, caption, picture = await answer(w, BERT, "/roster week")
    assert table.text.startswith("Piket roster Tue 24 Nov 00:00 – Tue 1 Dec 00:00\n\nROL (region)")
    assert caption.text == "The roster as a picture." and picture.document == "rooster.png"

    text, calendar = await answer(w, CACO, "/rooster ical")
    assert text.text.startswith("Het rooster van di 24 nov 00:00 tot ")
    assert calendar.document == "rooster.ics" and calendar.document_content is not None
    assert calendar.document_content.startswith(b"BEGIN:VCALENDAR\r\n")
    assert b"SUMMARY:ROL: Rol Bert\r\n" in calendar.document_content


async def test_a_coordinator_replaces_someone_by_confirm_button(w: World) -> None:
    [preview] = await answer(w, COORD, REPLACE)
    assert preview.text.startswith(
        "Voorbeeld – ROL (regio), wo 25 nov 2026 08:00 – do 26 nov 2026 18:00\n"
        "Nu:\nwo 25 nov 08:00 – do 26 nov 18:00: Rol Bert · backup Rol Cees\n"
        "Na de wijziging:\n"
        "wo 25 nov 08:00 – do 26 nov 18:00: Rol Anna (i.p.v. Rol Bert) · backup Rol Cees"
    )
    assert preview.labels == ["Bevestigen", "Annuleren"]
    buttons_fit(w)
    assert w.fake.messages(ANNA) == [] and w.fake.messages(BERT) == []  # not before confirming
    assert await count(w.app.engine, "roster_override") == 0

    await w.press(COORD, "Bevestigen")
    assert w.fake.last(COORD).text == (
        "Het rooster is gewijzigd. De betrokkenen zijn op de hoogte gebracht."
    )
    assert w.fake.last(ANNA).text == (
        "Het piketrooster ROL (regio) is gewijzigd door Coord Cor "
        "(wo 25 nov 2026 08:00 – do 26 nov 2026 18:00):\n"
        "wo 25 nov 08:00 – do 26 nov 18:00: Rol Anna (i.p.v. Rol Bert) · backup Rol Cees"
    )
    assert w.fake.last(BERT).text.startswith("The roster ROL (region) was changed by Coord Cor")
    assert w.fake.messages(CACO) == []  # not affected, not told
    assert await count(w.app.engine, "roster_override") == 1

    await w.press(COORD, "Bevestigen")  # the same button again changes nothing
    assert w.fake.last(COORD).text == "Dit verzoek is al afgehandeld."
    assert await count(w.app.engine, "roster_override") == 1

    [mine] = await answer(w, ANNA, "/mijnpiket")
    assert "ROL (regio): wo 25 nov 08:00 – do 26 nov 18:00\n" in mine.text
    w.harness.clock.set(datetime(2026, 11, 25, 9, 0, tzinfo=TZ))
    [who] = await answer(w, CACO, "/wie")
    assert "ROL (regio): Rol Anna (i.p.v. Rol Bert) · backup Rol Cees, tot do 26 nov 18:00" in (
        who.text
    )

    # Only a coordinator changes rosters.
    [refused] = await answer(w, ANNA, REPLACE)
    assert refused.text.startswith("Alleen een piketcoördinator kan het rooster wijzigen.")
    assert refused.buttons == []


async def test_a_swap_is_accepted_by_button(w: World) -> None:
    [asked] = await answer(w, BERT, "/ruil Cees van vr 08:00 tot za 08:00")
    assert asked.text == (
        "I asked Rol Cees to take over your duty from Fri 27 Nov 2026 08:00 until "
        "Sat 28 Nov 2026 08:00. You will hear the answer."
    )
    ask = w.fake.last(CEES)
    assert ask.text == (
        "Rol Bert vraagt of jij de piket ROL (regio) wilt overnemen van vr 27 nov 2026 08:00 "
        "tot za 28 nov 2026 08:00. Het rooster wordt dan:\n"
        "vr 27 nov 08:00 – za 28 nov 08:00: Rol Cees (i.p.v. Rol Bert)\n"
        "⚠ Niemand is backup van vr 27 nov 08:00 tot za 28 nov 08:00."
    )
    assert ask.labels == ["Ja, ik neem het over", "Nee"]
    buttons_fit(w)

    # Cees's button, pressed by Anna: refused, nothing changes.
    data = dict(ask.buttons)["Ja, ik neem het over"]
    await w.feed(w.fake.callback_update(ANNA, data))
    assert w.fake.last(ANNA).text == "Deze knop is niet voor jou."
    assert await count(w.app.engine, "roster_override") == 0

    await w.press(CEES, "Ja, ik neem het over")
    assert w.fake.last(CEES).text == (
        "De ruil staat in het rooster: Rol Cees heeft piket ROL (regio) in plaats van Rol Bert, "
        "van vr 27 nov 2026 08:00 tot za 28 nov 2026 08:00:\n"
        "vr 27 nov 08:00 – za 28 nov 08:00: Rol Cees (i.p.v. Rol Bert)\n"
        "⚠ Niemand is backup van vr 27 nov 08:00 tot za 28 nov 08:00."
    )
    assert w.fake.last(BERT).text == (
        "The swap is in the roster: Rol Cees is on duty ROL (region) instead of Rol Bert, "
        "from Fri 27 Nov 2026 08:00 until Sat 28 Nov 2026 08:00:\n"
        "Fri 27 Nov 08:00 – Sat 28 Nov 08:00: Rol Cees (instead of Rol Bert)\n"
        "⚠ Nobody is backup from Fri 27 Nov 08:00 until Sat 28 Nov 08:00."
    )
    assert w.fake.last(COORD).text.startswith("Ter info: Rol Cees neemt de piket ROL (regio)")
    assert await count(w.app.engine, "roster_override") == 1

    [mine] = await answer(w, CEES, "/mijnpiket")
    assert "ROL (regio): vr 27 nov 08:00 – za 28 nov 08:00\n" in mine.text
    w.harness.clock.set(datetime(2026, 11, 27, 12, 0, tzinfo=TZ))
    [who] = await answer(w, CACO, "/wie")
    # Cees was Bert's backup: while he stands in, he is not his own backup.
    assert who.text == (
        "Piket nu (vr 27 nov 12:00):\nROL (regio): Rol Cees (i.p.v. Rol Bert), tot za 28 nov 08:00"
    )


async def test_a_coordinator_sets_a_shift_by_confirm_button(w: World) -> None:
    [preview] = await answer(w, COORD, "/dienst Anna van morgen 08:00 tot morgen 20:00")
    assert preview.text == (
        "Voorbeeld – losse dienst ROL (regio), wo 25 nov 2026 08:00 – wo 25 nov 2026 20:00\n"
        "Nu:\nwo 25 nov 08:00 – wo 25 nov 20:00: Rol Bert · backup Rol Cees\n"
        "Na de wijziging:\nwo 25 nov 08:00 – wo 25 nov 20:00: Rol Anna\n"
        "⚠ Niemand is backup van wo 25 nov 08:00 tot wo 25 nov 20:00.\n\nBevestigen?"
    )
    assert preview.labels == ["Bevestigen", "Annuleren"]
    buttons_fit(w)
    assert w.fake.messages(ANNA) == [] and w.fake.messages(CEES) == []

    await w.press(COORD, "Bevestigen")
    assert await count(w.app.engine, "roster_shift") == 1
    assert w.fake.last(COORD).text == (
        "Het rooster is gewijzigd. De betrokkenen zijn op de hoogte gebracht."
    )
    changed = (
        "Het piketrooster ROL (regio) is gewijzigd door Coord Cor "
        "(wo 25 nov 2026 08:00 – wo 25 nov 2026 20:00):\n"
        "wo 25 nov 08:00 – wo 25 nov 20:00: Rol Anna\n"
        "⚠ Niemand is backup van wo 25 nov 08:00 tot wo 25 nov 20:00."
    )
    assert w.fake.last(ANNA).text == changed
    assert w.fake.last(CEES).text == changed  # no longer backup in those hours
    assert w.fake.last(BERT).text.startswith("The roster ROL (region) was changed by Coord Cor")
    assert w.fake.messages(CACO) == []

    w.harness.clock.set(datetime(2026, 11, 25, 9, 0, tzinfo=TZ))
    [who] = await answer(w, CACO, "/wie")
    assert who.text.endswith("\nROL (regio): Rol Anna, tot wo 25 nov 20:00")  # no backup


async def test_a_coordinator_changes_the_rotation_by_confirm_button(w: World) -> None:
    [shown] = await answer(w, COORD, "/rotatie rol")
    assert shown.text == (
        "Rotatie ROL (regio): diensten van 7 dagen, overdracht om 08:00.\n"
        "1. Rol Anna\n2. Rol Bert\n3. Rol Cees\nNu: Rol Bert · backup Rol Cees"
    )
    [preview] = await answer(w, COORD, "/rotatie rol verwijderen Anna")
    assert preview.text.startswith(
        "Voorbeeld – rotatie ROL (regio): Rol Anna, met ingang van ma 30 nov 2026 08:00\n"
    )
    assert "Na de wijziging:\nma 30 nov 08:00 – ma 7 dec 08:00: Rol Cees · backup Rol Bert\n" in (
        preview.text
    )
    assert preview.labels == ["Bevestigen", "Annuleren"]
    assert w.fake.messages(BERT) == [] and w.fake.messages(CEES) == []

    await w.press(COORD, "Bevestigen")
    # Anna is out, and Bert's and Cees's turns move: all three are told.
    assert w.fake.last(ANNA).text.startswith("Het piketrooster ROL (regio) is gewijzigd")
    assert "Rol Anna" not in w.fake.last(ANNA).text.split(":\n", 1)[1]
    assert w.fake.last(CEES).text.startswith("Het piketrooster ROL (regio) is gewijzigd")
    assert "Mon 7 Dec 08:00 – Mon 14 Dec 08:00: Rol Bert · backup Rol Cees" in (
        w.fake.last(BERT).text
    )
    assert w.fake.last(COORD).text.startswith("Het rooster is gewijzigd.")
    assert w.fake.messages(CACO) == []
    [shown] = await answer(w, COORD, "/rotation rol")
    assert "\n1. Rol Cees\n2. Rol Bert\nNu: Rol Bert · backup Rol Cees" in shown.text

    [refused] = await answer(w, ANNA, "/rotatie rol toevoegen Anna")
    assert refused.text.startswith("Alleen een piketcoördinator kan het rooster wijzigen.")


PUBLIC = "https://piket.example.test/scm"
FEED_URL = re.compile(re.escape(PUBLIC) + r"/ical/([0-9a-f]{40})\.ics")


@pytest.fixture
async def wf(
    engine: AsyncEngine, fake: FakeTelegram, monkeypatch: pytest.MonkeyPatch
) -> AsyncIterator[World]:
    """The Telegram world, its app built with a public calendar URL (as `scm-bot run` does
    when the calendar server is on)."""
    monkeypatch.setattr(test_telegram, "build", functools.partial(build, feed_url=PUBLIC))
    async with world(engine, fake) as it:
        yield it


async def calendar(w: World, token: str) -> bytes | None:
    """What the calendar server would serve for `token`."""
    return await RosterCalendars(w.app.core).calendar(token)


async def test_a_calendar_subscription_arrives_whole_and_can_be_stopped(wf: World) -> None:
    [url] = await answer(wf, ANNA, "/rooster abonneer")
    assert url.text.startswith("Je agenda-abonnement op je eigen piketdiensten:\n" + PUBLIC)
    assert "/rooster opzeggen zet hem uit." in url.text
    found = FEED_URL.search(url.text)
    assert found is not None and found.group(0) in url.html  # the link, intact in the HTML
    token = found.group(1)
    ics = await calendar(wf, token)
    assert ics is not None and b"X-WR-CALNAME:Piket Rol Anna\r\n" in ics

    [url] = await answer(wf, BERT, "/roster subscribe rol")
    assert url.text.startswith("Your calendar subscription to ROL (all rosters):\n" + PUBLIC)
    [listed] = await answer(wf, BERT, "/roster subscriptions")
    assert listed.text.startswith("Your calendar subscriptions:\n• ROL (all rosters) (since ")

    [stopped] = await answer(wf, ANNA, "/rooster opzeggen")
    assert stopped.text == (
        "Je agenda-abonnement op je eigen piketdiensten is opgezegd: de link werkt niet meer."
    )
    assert await calendar(wf, token) is None
    [again] = await answer(wf, ANNA, "/rooster opzeggen")
    assert again.text.startswith("Je hebt geen agenda-abonnement op je eigen piketdiensten.")

    [unknown] = await answer(wf, CACO, "/rooster abonneer brandweer")
    assert "'brandweer' ken ik niet als functie of gemeente" in unknown.text
    assert FEED_URL.search(unknown.text) is None


async def with_swap_approval(w: World) -> None:
    """The region decides that a coordinator must approve every swap (a region import)."""
    await load_region(
        w.app.engine,
        region_with_telegram_ids().replace(
            "settings:\n  alarm_functions: [rol]",
            "settings:\n  alarm_functions: [rol]\n  swap_approval: true",
        ),
    )


async def test_a_coordinator_approves_or_rejects_a_swap_by_button(w: World) -> None:
    await with_swap_approval(w)
    await answer(w, BERT, "/ruil Cees van vr 08:00 tot za 08:00")
    await w.press(CEES, "Ja, ik neem het over")
    waiting = (
        "De ruil (Rol Cees neemt de piket ROL (regio) van Rol Bert over, "
        "vr 27 nov 2026 08:00 – za 28 nov 2026 08:00) wacht op goedkeuring van de "
        "piketcoördinator."
    )
    assert w.fake.last(CEES).text == waiting
    assert w.fake.last(BERT).text.startswith("The swap (Rol Cees takes over Rol Bert's duty")
    approve = w.fake.last(COORD)
    assert approve.text == (
        "Rol Bert en Rol Cees willen ruilen: Rol Cees neemt de piket ROL (regio) over van "
        "vr 27 nov 2026 08:00 tot za 28 nov 2026 08:00. Het rooster wordt dan:\n"
        "vr 27 nov 08:00 – za 28 nov 08:00: Rol Cees (i.p.v. Rol Bert)\n"
        "⚠ Niemand is backup van vr 27 nov 08:00 tot za 28 nov 08:00.\n\nGoedkeuren?"
    )
    assert approve.labels == ["Goedkeuren", "Afwijzen"]
    buttons_fit(w)
    assert await count(w.app.engine, "roster_override") == 0

    # The coordinator's button, pressed by Cees: refused, nothing changes.
    await w.feed(w.fake.callback_update(CEES, dict(approve.buttons)["Goedkeuren"]))
    assert w.fake.last(CEES).text == "Deze knop is niet voor jou."
    assert await count(w.app.engine, "roster_override") == 0

    await w.press(COORD, "Goedkeuren")
    assert await count(w.app.engine, "roster_override") == 1
    assert w.fake.last(CEES).text.startswith("De ruil staat in het rooster: Rol Cees heeft piket")
    assert w.fake.last(BERT).text.startswith("The swap is in the roster: Rol Cees is on duty")
    await w.press(COORD, "Afwijzen")  # too late: it is done
    assert w.fake.last(COORD).text == "Dit verzoek is al afgehandeld."

    # A second swap, rejected: both are told, and the roster stays as it was.
    await answer(w, BERT, "/ruil Anna van zo 08:00 tot zo 20:00")
    await w.press(ANNA, "Ja, ik neem het over")
    assert "wacht op goedkeuring" in w.fake.last(ANNA).text
    await w.press(COORD, "Afwijzen")
    assert w.fake.last(COORD).text == (
        "Je hebt de ruil afgewezen: Rol Anna neemt de piket ROL (regio) van Rol Bert niet over "
        "(zo 29 nov 2026 08:00 – zo 29 nov 2026 20:00). Het rooster blijft zoals het was; "
        "beiden weten het."
    )
    assert w.fake.last(ANNA).text.startswith("Coord Cor heeft de ruil afgewezen: Rol Anna neemt")
    assert w.fake.last(BERT).text.startswith("Coord Cor rejected the swap: Rol Anna does not")
    assert await count(w.app.engine, "roster_override") == 1
    w.harness.clock.set(datetime(2026, 11, 29, 12, 0, tzinfo=TZ))
    [who] = await answer(w, CACO, "/wie")
    assert "ROL (regio): Rol Bert · backup Rol Cees" in who.text
