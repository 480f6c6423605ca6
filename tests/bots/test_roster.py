"""Rosters through each chat platform: /wie, /rooster (text and the PNG grid, the .ics),
/mijnpiket, a coordinator's /vervang, /dienst and /rotatie confirmed by button, a /ruil
accepted by button, with and without the coordinator's approval, and calendar subscriptions.

Every scenario runs on Telegram and on Slack (the drivers of `tests.helpers.platforms`), on
SQLite and PostgreSQL. Caco, Anna, Bert (who reads English), Cees and the coordinator are
linked. The ROL rotation has Bert on duty at the start, Tue 24 Nov 2026 03:07, with Cees as
backup, until Mon 30 Nov 08:00.
"""

from __future__ import annotations

import io
import re
from collections.abc import AsyncIterator
from datetime import datetime

import pytest
import yaml
from PIL import Image
from sqlalchemy.ext.asyncio import AsyncEngine

from flows.roster.feature import RosterCalendars
from tests.conftest import count
from tests.helpers import TZ, load_region
from tests.helpers.platforms import STRANGER, AnyDriver, File, platform

CACO, ANNA, BERT, CEES, COORD = "caco", "rol-a", "rol-b", "rol-c", "coord"
REPLACE = "/vervang Bert door Anna van morgen 08:00 tot do 18:00"
CHANGED = "Het piketrooster ROL (regio) is gewijzigd door Coord Cor"
DONE = "Het rooster is gewijzigd. De betrokkenen zijn op de hoogte gebracht."


def png_size(file: File) -> tuple[int, int]:
    with Image.open(io.BytesIO(file.content)) as image:
        assert image.format == "PNG"
        return image.size


async def test_wie_and_mijnpiket_in_each_persons_language(chat: AnyDriver) -> None:
    [who] = await chat.command(CACO, "/wie")
    assert who.text == (
        "Piket nu (di 24 nov 03:07):\nROL (regio): Rol Bert · backup Rol Cees, tot ma 30 nov 08:00"
    )
    assert who.labels == []
    [who] = await chat.say(BERT, "/who rol")
    assert who.text == (
        "On duty now (Tue 24 Nov 03:07):\n"
        "ROL (region): Rol Bert · backup Rol Cees, until Mon 30 Nov 08:00"
    )

    [mine] = await chat.command(BERT, "/myduty")
    assert mine.text.startswith(
        "Your duties (next 60 days):\n"
        "ROL (region): Mon 23 Nov 08:00 – Mon 30 Nov 08:00\n"
        "ROL (region): Mon 7 Dec 08:00 – Mon 14 Dec 08:00 (backup)\n"
        "ROL (region): Mon 14 Dec 08:00 – Mon 21 Dec 08:00\n"
    )
    [mine] = await chat.say(CEES, "/mijnpiket")
    assert mine.text.startswith(
        "Jouw piket (komende 60 dagen):\n"
        "ROL (regio): ma 23 nov 08:00 – ma 30 nov 08:00 (backup)\n"
        "ROL (regio): ma 30 nov 08:00 – ma 7 dec 08:00\n"
    )
    assert [r.text for r in await chat.command(CACO, "/mijnpiket")] == [
        "Je hebt de komende 60 dagen geen piket."
    ]

    # Nobody outside the region, and no group or channel, learns who is on duty.
    [stranger] = await chat.say(STRANGER, "/wie")
    assert "niet geregistreerd" in stranger.text and "Rol Bert" not in stranger.text
    [pointer] = await chat.say_in_group(CACO, "/wie")
    assert "privégesprek" in pointer.text and "Rol Bert" not in pointer.text


async def test_rooster_is_a_text_table_then_the_png_grid(chat: AnyDriver) -> None:
    table, caption = await chat.command(CACO, "/rooster")
    assert table.text == (
        "Piketrooster di 24 nov 00:00 – di 1 dec 00:00\n\n"
        "ROL (regio)\n"
        "di 24 nov 00:00 – ma 30 nov 08:00: Rol Bert · backup Rol Cees\n"
        "ma 30 nov 08:00 – di 1 dec 00:00: Rol Cees · backup Rol Anna"
    )
    assert caption.text == "Het rooster als plaatje."
    [picture] = chat.files(CACO)
    assert picture.filename == "rooster.png"
    assert picture.order > caption.order, "the file follows the text introducing it"
    width, height = png_size(picture)
    assert width > 200 and height > 50
    assert chat.uploads() == 1 and chat.people_with_files() == {CACO}

    table, caption = await chat.say(BERT, "/roster week")
    assert table.text.startswith("Piket roster Tue 24 Nov 00:00 – Tue 1 Dec 00:00\n\nROL (region)")
    assert caption.text == "The roster as a picture."
    [picture] = chat.files(BERT)
    assert picture.filename == "rooster.png" and picture.order > caption.order

    table, caption = await chat.command(BERT, "/roster month")
    assert table.text.startswith("Piket roster Tue 24 Nov 00:00 – Thu 24 Dec 00:00\n\nROL")
    assert "Mon 30 Nov 08:00 – Mon 7 Dec 08:00: Rol Cees · backup Rol Anna" in table.text
    assert caption.text == "The roster as a picture."
    picture = chat.files(BERT)[-1]
    assert picture.filename == "rooster.png" and png_size(picture)[0] > 200

    [text] = await chat.command(CACO, "/rooster ical")
    assert text.text.startswith("Het rooster van di 24 nov 00:00 tot ")
    calendar = chat.files(CACO)[-1]
    assert calendar.filename == "rooster.ics" and calendar.order > text.order
    assert calendar.content.startswith(b"BEGIN:VCALENDAR\r\n")
    assert b"SUMMARY:ROL: Rol Bert\r\n" in calendar.content


async def test_a_coordinator_replaces_someone_by_confirm_button(chat: AnyDriver) -> None:
    [preview] = await chat.command(COORD, REPLACE)
    assert preview.text.startswith(
        "Voorbeeld – ROL (regio), wo 25 nov 2026 08:00 – do 26 nov 2026 18:00\n"
        "Nu:\nwo 25 nov 08:00 – do 26 nov 18:00: Rol Bert · backup Rol Cees\n"
        "Na de wijziging:\n"
        "wo 25 nov 08:00 – do 26 nov 18:00: Rol Anna (i.p.v. Rol Bert) · backup Rol Cees"
    )
    assert preview.labels == ["Bevestigen", "Annuleren"]
    chat.assert_buttons_fit()
    assert chat.replies(ANNA) == [] and chat.replies(BERT) == []  # not before confirming
    assert await count(chat.app.engine, "roster_override") == 0

    await chat.press(ANNA, "Bevestigen", on=COORD)  # the coordinator's button, not Anna's
    assert chat.last(ANNA).text.startswith("Deze knop hoort bij iets wat niet meer bestaat")
    assert await count(chat.app.engine, "roster_override") == 0
    assert chat.replies(BERT) == []

    await chat.press(COORD, "Bevestigen")
    assert chat.last(COORD).text == DONE
    assert chat.last(ANNA).text == (
        f"{CHANGED} (wo 25 nov 2026 08:00 – do 26 nov 2026 18:00):\n"
        "wo 25 nov 08:00 – do 26 nov 18:00: Rol Anna (i.p.v. Rol Bert) · backup Rol Cees"
    )
    assert chat.last(BERT).text.startswith("The roster ROL (region) was changed by Coord Cor")
    assert chat.replies(CACO) == []  # not affected, not told
    assert await count(chat.app.engine, "roster_override") == 1

    await chat.press(COORD, "Bevestigen")  # the same button again changes nothing
    assert chat.last(COORD).text == "Dit verzoek is al afgehandeld."
    assert await count(chat.app.engine, "roster_override") == 1

    [mine] = await chat.say(ANNA, "/mijnpiket")
    assert "ROL (regio): wo 25 nov 08:00 – do 26 nov 18:00\n" in mine.text
    chat.clock.set(datetime(2026, 11, 25, 9, 0, tzinfo=TZ))
    [who] = await chat.command(CACO, "/wie")
    assert who.text == (
        "Piket nu (wo 25 nov 09:00):\n"
        "ROL (regio): Rol Anna (i.p.v. Rol Bert) · backup Rol Cees, tot do 26 nov 18:00"
    )

    [refused] = await chat.command(ANNA, REPLACE)  # only a coordinator changes rosters
    assert refused.text.startswith("Alleen een piketcoördinator kan het rooster wijzigen.")
    assert refused.labels == []


ASKED = (
    "I asked Rol Cees to take over your duty from Fri 27 Nov 2026 08:00 until "
    "Sat 28 Nov 2026 08:00. You will hear the answer."
)


async def test_a_swap_is_accepted_by_button(chat: AnyDriver) -> None:
    [asked] = await chat.say(BERT, "/ruil Cees van vr 08:00 tot za 08:00")
    assert asked.text == ASKED
    [ask] = chat.replies(CEES)
    assert ask.text == (
        "Rol Bert vraagt of jij de piket ROL (regio) wilt overnemen van vr 27 nov 2026 08:00 "
        "tot za 28 nov 2026 08:00. Het rooster wordt dan:\n"
        "vr 27 nov 08:00 – za 28 nov 08:00: Rol Cees (i.p.v. Rol Bert)\n"
        "⚠ Niemand is backup van vr 27 nov 08:00 tot za 28 nov 08:00."
    )
    assert ask.labels == ["Ja, ik neem het over", "Nee"]
    chat.assert_buttons_fit()

    await chat.press(ANNA, "Ja, ik neem het over", on=CEES)  # Cees's button, pressed by Anna
    assert chat.last(ANNA).text == "Deze knop is niet voor jou."
    assert await count(chat.app.engine, "roster_override") == 0

    await chat.press(CEES, "Ja, ik neem het over")
    assert chat.last(CEES).text == (
        "De ruil staat in het rooster: Rol Cees heeft piket ROL (regio) in plaats van Rol Bert, "
        "van vr 27 nov 2026 08:00 tot za 28 nov 2026 08:00:\n"
        "vr 27 nov 08:00 – za 28 nov 08:00: Rol Cees (i.p.v. Rol Bert)\n"
        "⚠ Niemand is backup van vr 27 nov 08:00 tot za 28 nov 08:00."
    )
    assert chat.last(BERT).text == (
        "The swap is in the roster: Rol Cees is on duty ROL (region) instead of Rol Bert, "
        "from Fri 27 Nov 2026 08:00 until Sat 28 Nov 2026 08:00:\n"
        "Fri 27 Nov 08:00 – Sat 28 Nov 08:00: Rol Cees (instead of Rol Bert)\n"
        "⚠ Nobody is backup from Fri 27 Nov 08:00 until Sat 28 Nov 08:00."
    )
    note, check = chat.replies(COORD)[-2:]
    assert note.text.startswith("Ter info: Rol Cees neemt de piket ROL (regio)")
    # The change left nobody as backup: the first daily check, planned by it, says so.
    assert check.text == (
        "Let op, het piketrooster (komende 14 dagen):\n"
        "⚠ ROL (regio): niemand is backup van vr 27 nov 08:00 tot za 28 nov 08:00"
    )
    assert await count(chat.app.engine, "roster_override") == 1

    [mine] = await chat.say(CEES, "/mijnpiket")
    assert "ROL (regio): vr 27 nov 08:00 – za 28 nov 08:00\n" in mine.text
    chat.clock.set(datetime(2026, 11, 27, 12, 0, tzinfo=TZ))
    [who] = await chat.command(CACO, "/wie")
    # Cees was Bert's backup: while he stands in, he is not his own backup.
    assert who.text == (
        "Piket nu (vr 27 nov 12:00):\nROL (regio): Rol Cees (i.p.v. Rol Bert), tot za 28 nov 08:00"
    )


async def test_a_coordinator_sets_a_shift_by_confirm_button(chat: AnyDriver) -> None:
    [preview] = await chat.command(COORD, "/dienst Anna van morgen 08:00 tot morgen 20:00")
    assert preview.text == (
        "Voorbeeld – losse dienst ROL (regio), wo 25 nov 2026 08:00 – wo 25 nov 2026 20:00\n"
        "Nu:\nwo 25 nov 08:00 – wo 25 nov 20:00: Rol Bert · backup Rol Cees\n"
        "Na de wijziging:\nwo 25 nov 08:00 – wo 25 nov 20:00: Rol Anna\n"
        "⚠ Niemand is backup van wo 25 nov 08:00 tot wo 25 nov 20:00.\n\nBevestigen?"
    )
    assert preview.labels == ["Bevestigen", "Annuleren"]
    chat.assert_buttons_fit()
    assert chat.replies(ANNA) == [] and chat.replies(CEES) == []

    await chat.press(COORD, "Bevestigen")
    assert await count(chat.app.engine, "roster_shift") == 1
    done, check = chat.replies(COORD)[-2:]
    assert done.text == DONE
    assert check.text.endswith(  # the first daily check, planned by the change
        "⚠ ROL (regio): niemand is backup van wo 25 nov 08:00 tot wo 25 nov 20:00"
    )
    for told in (ANNA, CEES):  # Cees is no longer backup in those hours
        assert chat.last(told).text == (
            f"{CHANGED} (wo 25 nov 2026 08:00 – wo 25 nov 2026 20:00):\n"
            "wo 25 nov 08:00 – wo 25 nov 20:00: Rol Anna\n"
            "⚠ Niemand is backup van wo 25 nov 08:00 tot wo 25 nov 20:00."
        )
    assert chat.last(BERT).text.startswith("The roster ROL (region) was changed by Coord Cor")
    assert chat.replies(CACO) == []

    [again] = await chat.say(COORD, "/shift Cees from tomorrow 12:00 until tomorrow 22:00")
    assert again.text.startswith("Die dienst overlapt met de losse dienst van Rol Anna")
    assert again.labels == []

    chat.clock.set(datetime(2026, 11, 25, 9, 0, tzinfo=TZ))
    [who] = await chat.command(CACO, "/wie")
    assert who.text.endswith("\nROL (regio): Rol Anna, tot wo 25 nov 20:00")  # no backup


async def test_a_coordinator_changes_the_rotation_by_confirm_button(chat: AnyDriver) -> None:
    [shown] = await chat.command(COORD, "/rotatie rol")
    assert shown.text == (
        "Rotatie ROL (regio): diensten van 7 dagen, overdracht om 08:00.\n"
        "1. Rol Anna\n2. Rol Bert\n3. Rol Cees\nNu: Rol Bert · backup Rol Cees"
    )
    [preview] = await chat.command(COORD, "/rotatie rol verwijderen Anna")
    assert preview.text.startswith(
        "Voorbeeld – rotatie ROL (regio): Rol Anna, met ingang van ma 30 nov 2026 08:00\n"
    )
    assert "Na de wijziging:\nma 30 nov 08:00 – ma 7 dec 08:00: Rol Cees · backup Rol Bert\n" in (
        preview.text
    )
    assert preview.labels == ["Bevestigen", "Annuleren"]
    assert chat.replies(BERT) == [] and chat.replies(CEES) == []

    await chat.press(COORD, "Bevestigen")
    # Anna is out, and Bert's and Cees's turns move: all three are told.
    assert chat.last(ANNA).text.startswith(CHANGED)
    assert "Rol Anna" not in chat.last(ANNA).text.split(":\n", 1)[1]
    assert chat.last(CEES).text.startswith(CHANGED)
    assert "ma 30 nov 08:00 – ma 7 dec 08:00: Rol Cees · backup Rol Bert" in chat.last(CEES).text
    assert "Mon 7 Dec 08:00 – Mon 14 Dec 08:00: Rol Bert · backup Rol Cees" in (
        chat.last(BERT).text
    )
    assert chat.last(COORD).text.startswith("Het rooster is gewijzigd.")
    assert chat.replies(CACO) == []
    [shown] = await chat.say(COORD, "/rotation rol")
    assert "\n1. Rol Cees\n2. Rol Bert\nNu: Rol Bert · backup Rol Cees" in shown.text

    [refused] = await chat.command(ANNA, "/rotatie rol toevoegen Anna")
    assert refused.text.startswith("Alleen een piketcoördinator kan het rooster wijzigen.")


PUBLIC = "https://piket.example.test/scm"
FEED_URL = re.compile(re.escape(PUBLIC) + r"/ical/([0-9a-f]{40})\.ics")


@pytest.fixture
async def served(platform_name: str, engine: AsyncEngine) -> AsyncIterator[AnyDriver]:
    """The platform, its app built with a public calendar URL (as `scm-bot run` does when
    the calendar server is on)."""
    async with platform(platform_name, engine, feed_url=PUBLIC) as driver:
        yield driver


async def test_a_calendar_subscription_arrives_whole_and_can_be_stopped(served: AnyDriver) -> None:
    calendars = RosterCalendars(served.app.core)
    [url] = await served.command(ANNA, "/rooster abonneer")
    assert url.text.startswith("Je agenda-abonnement op je eigen piketdiensten:\n" + PUBLIC)
    assert "/rooster opzeggen zet hem uit." in url.text
    found = FEED_URL.search(url.text)
    assert found is not None and found.group(0) in url.markup  # the link, intact
    token = found.group(1)
    ics = await calendars.calendar(token)
    assert ics is not None and b"X-WR-CALNAME:Piket Rol Anna\r\n" in ics

    [url] = await served.say(BERT, "/roster subscribe rol")
    assert url.text.startswith("Your calendar subscription to ROL (all rosters):\n" + PUBLIC)
    [listed] = await served.command(BERT, "/roster subscriptions")
    assert listed.text.startswith("Your calendar subscriptions:\n• ROL (all rosters) (since ")

    [stopped] = await served.command(ANNA, "/rooster opzeggen")
    assert stopped.text == (
        "Je agenda-abonnement op je eigen piketdiensten is opgezegd: de link werkt niet meer."
    )
    assert await calendars.calendar(token) is None
    [again] = await served.command(ANNA, "/rooster opzeggen")
    assert again.text.startswith("Je hebt geen agenda-abonnement op je eigen piketdiensten.")

    [unknown] = await served.command(CACO, "/rooster abonneer brandweer")
    assert "'brandweer' ken ik niet als functie of gemeente" in unknown.text
    assert FEED_URL.search(unknown.text) is None


async def with_swap_approval(chat: AnyDriver) -> None:
    """The region decides that a coordinator must approve every swap (a region import)."""
    data = yaml.safe_load(chat.region)
    data["settings"]["swap_approval"] = True
    await load_region(chat.app.engine, yaml.safe_dump(data, allow_unicode=True, sort_keys=False))


async def test_a_coordinator_approves_or_rejects_a_swap_by_button(chat: AnyDriver) -> None:
    await with_swap_approval(chat)
    [asked] = await chat.command(BERT, "/swap Cees from fri 08:00 until sat 08:00")
    assert asked.text == ASKED
    await chat.press(CEES, "Ja, ik neem het over")
    assert chat.last(CEES).text == (
        "De ruil (Rol Cees neemt de piket ROL (regio) van Rol Bert over, "
        "vr 27 nov 2026 08:00 – za 28 nov 2026 08:00) wacht op goedkeuring van de "
        "piketcoördinator."
    )
    assert chat.last(BERT).text.startswith("The swap (Rol Cees takes over Rol Bert's duty")
    approve = chat.last(COORD)
    assert approve.text == (
        "Rol Bert en Rol Cees willen ruilen: Rol Cees neemt de piket ROL (regio) over van "
        "vr 27 nov 2026 08:00 tot za 28 nov 2026 08:00. Het rooster wordt dan:\n"
        "vr 27 nov 08:00 – za 28 nov 08:00: Rol Cees (i.p.v. Rol Bert)\n"
        "⚠ Niemand is backup van vr 27 nov 08:00 tot za 28 nov 08:00.\n\nGoedkeuren?"
    )
    assert approve.labels == ["Goedkeuren", "Afwijzen"]
    chat.assert_buttons_fit()
    assert await count(chat.app.engine, "roster_override") == 0

    await chat.press(CEES, "Goedkeuren", on=COORD)  # the coordinator's button, pressed by Cees
    assert chat.last(CEES).text == "Deze knop is niet voor jou."
    assert await count(chat.app.engine, "roster_override") == 0

    await chat.press(COORD, "Goedkeuren")
    assert await count(chat.app.engine, "roster_override") == 1
    assert chat.last(CEES).text.startswith("De ruil staat in het rooster: Rol Cees heeft piket")
    assert chat.last(BERT).text.startswith("The swap is in the roster: Rol Cees is on duty")
    await chat.press(COORD, "Afwijzen")  # too late: it is done
    assert chat.last(COORD).text == "Dit verzoek is al afgehandeld."

    # A second swap, rejected: both are told, and the roster stays as it was.
    await chat.command(BERT, "/ruil Anna van zo 08:00 tot zo 20:00")
    await chat.press(ANNA, "Ja, ik neem het over")
    assert "wacht op goedkeuring" in chat.last(ANNA).text
    await chat.press(COORD, "Afwijzen")
    assert chat.last(COORD).text == (
        "Je hebt de ruil afgewezen: Rol Anna neemt de piket ROL (regio) van Rol Bert niet over "
        "(zo 29 nov 2026 08:00 – zo 29 nov 2026 20:00). Het rooster blijft zoals het was; "
        "beiden weten het."
    )
    assert chat.last(ANNA).text.startswith("Coord Cor heeft de ruil afgewezen: Rol Anna neemt")
    assert chat.last(BERT).text.startswith("Coord Cor rejected the swap: Rol Anna does not")
    assert await count(chat.app.engine, "roster_override") == 1
    chat.clock.set(datetime(2026, 11, 29, 12, 0, tzinfo=TZ))
    [who] = await chat.command(CACO, "/wie")
    assert "ROL (regio): Rol Bert · backup Rol Cees" in who.text
