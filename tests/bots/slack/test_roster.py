"""Rosters through the real Slack stack: /wie, /rooster (text and the PNG grid), /mijnpiket, a
coordinator's /vervang confirmed by button, and a /ruil accepted by button.

Bolt receives signed slash commands, DMs and button clicks on loopback (the `World` of
tests.bots.slack.test_bot); the transport posts to the fake Slack and uploads files through Slack's
external upload. The core and storage are real, on SQLite and PostgreSQL. Caco, Anna, Bert
(who reads English), Cees and the coordinator have Slack ids (from the region file). The ROL
rotation has Bert on duty at the start, Tue 24 Nov 2026 03:07, with Cees as backup.
"""

from __future__ import annotations

import functools
import io
import itertools
import re
from collections.abc import AsyncIterator
from datetime import datetime

import pytest
import yaml
from PIL import Image
from sqlalchemy.ext.asyncio import AsyncEngine

from flows.roster.feature import RosterCalendars
from scm_bot.app import build
from tests.bots.slack import test_bot as test_slack
from tests.bots.slack.test_bot import (
    BERT,
    CACO,
    CEES,
    COORD,
    SLACK_IDS,
    STRANGER,
    World,
    make_world,
    region_with_slack_ids,
)
from tests.conftest import count
from tests.helpers import TZ, load_region
from tests.helpers.fake_slack import FakeSlack, Posted, Uploaded

ANNA = SLACK_IDS["rol-a"]
REPLACE = "vervang Bert door Anna van morgen 08:00 tot do 18:00"


@pytest.fixture
async def fake() -> AsyncIterator[FakeSlack]:
    async with FakeSlack() as fake:
        yield fake


@pytest.fixture
async def world(engine: AsyncEngine, fake: FakeSlack) -> AsyncIterator[World]:
    async for w in make_world(engine, fake):
        yield w


class Chat:
    """People typing `/scm …` or a DM to the bot, and reading their DM with it."""

    def __init__(self, world: World) -> None:
        self.world = world
        self.fake = world.fake
        self._n = itertools.count(1)

    async def scm(self, user: str, text: str) -> list[Posted]:
        """The slash command `/scm <text>`; the messages it brought to the user's DM."""
        before = len(self.fake.dm(user))
        assert await self.world.command(user, text) == 200
        return self.fake.dm(user)[before:]

    async def say(self, user: str, text: str) -> list[Posted]:
        """A DM to the bot; the messages it brought."""
        before = len(self.fake.dm(user))
        status, _ = await self.world.dm(user, text, f"ROSTER{next(self._n)}")
        assert status == 200
        return self.fake.dm(user)[before:]

    def last(self, user: str) -> str:
        posted = self.fake.dm(user)
        assert posted, f"nothing in the DM of {user}"
        return posted[-1].body()

    def with_button(self, user: str, label: str) -> Posted:
        for posted in reversed(self.fake.dm(user)):
            if posted.button_value(label) is not None:
                return posted
        raise AssertionError(f"no button {label!r} in the DM of {user}")

    async def press(self, user: str, label: str, *, on: str | None = None) -> None:
        """`user` clicks the newest button `label` in `on`'s DM (default: their own)."""
        posted = self.with_button(on or user, label)
        assert await self.world.click(user, posted, label) == 200


def labels(posted: Posted) -> list[str]:
    return [b["text"]["text"] for b in posted.buttons()]


def png(upload: Uploaded) -> tuple[int, int]:
    with Image.open(io.BytesIO(upload.content)) as image:
        assert image.format == "PNG"
        return image.size


async def test_wie_and_mijnpiket_in_each_persons_language(world: World) -> None:
    chat = Chat(world)
    [who] = await chat.scm(CACO, "wie")
    assert who.body() == (
        "Piket nu (di 24 nov 03:07):\nROL (regio): Rol Bert · backup Rol Cees, tot ma 30 nov 08:00"
    )
    assert who.buttons() == []
    [who] = await chat.say(BERT, "/who rol")  # typed as a DM
    assert who.body() == (
        "On duty now (Tue 24 Nov 03:07):\n"
        "ROL (region): Rol Bert · backup Rol Cees, until Mon 30 Nov 08:00"
    )

    [mine] = await chat.scm(BERT, "myduty")
    assert mine.body().startswith(
        "Your duties (next 60 days):\n"
        "ROL (region): Mon 23 Nov 08:00 – Mon 30 Nov 08:00\n"
        "ROL (region): Mon 7 Dec 08:00 – Mon 14 Dec 08:00 (backup)\n"
    )
    [mine] = await chat.say(CEES, "/mijnpiket")
    assert mine.body().startswith(
        "Jouw piket (komende 60 dagen):\nROL (regio): ma 23 nov 08:00 – ma 30 nov 08:00 (backup)\n"
    )
    assert [p.body() for p in await chat.scm(CACO, "mijnpiket")] == [
        "Je hebt de komende 60 dagen geen piket."
    ]

    # Nobody outside the region, and no channel, learns who is on duty.
    [stranger] = await chat.say(STRANGER, "/wie")
    assert "niet geregistreerd" in stranger.body() and "Rol Bert" not in stranger.body()
    before = len(world.fake.dm(CACO))
    assert await world.command(CACO, "wie", channel="C0CRISIS") == 200
    [pointer] = world.fake.ephemeral
    assert pointer.channel == "C0CRISIS" and "privégesprek" in pointer.body()
    assert "Rol Bert" not in pointer.body() and len(world.fake.dm(CACO)) == before


async def test_rooster_is_a_text_table_then_the_png_grid(world: World) -> None:
    chat = Chat(world)
    table, caption = await chat.scm(CACO, "rooster")
    assert table.body() == (
        "Piketrooster di 24 nov 00:00 – di 1 dec 00:00\n\n"
        "ROL (regio)\n"
        "di 24 nov 00:00 – ma 30 nov 08:00: Rol Bert · backup Rol Cees\n"
        "ma 30 nov 08:00 – di 1 dec 00:00: Rol Cees · backup Rol Anna"
    )
    assert caption.body() == "Het rooster als plaatje."
    [picture] = world.fake.uploads(CACO)
    assert picture.filename == "rooster.png"
    assert float(picture.ts) > float(caption.ts), "the file follows the text introducing it"
    width, height = png(picture)
    assert width > 200 and height > 50

    table, caption = await chat.say(BERT, "/roster month")
    assert table.body().startswith("Piket roster Tue 24 Nov 00:00 – Thu 24 Dec 00:00\n\nROL")
    assert "Mon 30 Nov 08:00 – Mon 7 Dec 08:00: Rol Cees · backup Rol Anna" in table.body()
    assert caption.body() == "The roster as a picture."
    [picture] = world.fake.uploads(BERT)
    assert picture.filename == "rooster.png" and png(picture)[0] > 200

    [text] = await chat.scm(CACO, "rooster ical")
    assert text.body().startswith("Het rooster van di 24 nov 00:00 tot ")
    calendar = world.fake.uploads(CACO)[-1]
    assert calendar.filename == "rooster.ics"
    assert calendar.content.startswith(b"BEGIN:VCALENDAR\r\n")
    assert b"SUMMARY:ROL: Rol Bert\r\n" in calendar.content


async def test_a_coordinator_replaces_someone_by_confirm_button(world: World) -> None:
    chat = Chat(world)
    [preview] = await chat.scm(COORD, REPLACE)
    assert preview.body().startswith(
        "Voorbeeld – ROL (regio), wo 25 nov 2026 08:00 – do 26 nov 2026 18:00\n"
        "Nu:\nwo 25 nov 08:00 – do 26 nov 18:00: Rol Bert · backup Rol Cees\n"
        "Na de wijziging:\n"
        "wo 25 nov 08:00 – do 26 nov 18:00: Rol Anna (i.p.v. Rol Bert) · backup Rol Cees"
    )
    assert labels(preview) == ["Bevestigen", "Annuleren"]
    assert world.fake.dm(ANNA) == [] and world.fake.dm(BERT) == []  # not before confirming

    await chat.press(ANNA, "Bevestigen", on=COORD)  # the coordinator's button, not Anna's
    assert chat.last(ANNA).startswith("Deze knop hoort bij iets wat niet meer bestaat")
    assert await count(world.app.engine, "roster_override") == 0
    assert world.fake.dm(BERT) == []

    await chat.press(COORD, "Bevestigen")
    assert (
        chat.last(COORD) == "Het rooster is gewijzigd. De betrokkenen zijn op de hoogte gebracht."
    )
    assert chat.last(ANNA) == (
        "Het piketrooster ROL (regio) is gewijzigd door Coord Cor "
        "(wo 25 nov 2026 08:00 – do 26 nov 2026 18:00):\n"
        "wo 25 nov 08:00 – do 26 nov 18:00: Rol Anna (i.p.v. Rol Bert) · backup Rol Cees"
    )
    assert chat.last(BERT).startswith("The roster ROL (region) was changed by Coord Cor")
    assert world.fake.dm(CACO) == []  # not affected, not told
    assert await count(world.app.engine, "roster_override") == 1

    await chat.press(COORD, "Bevestigen")  # the same button again changes nothing
    assert chat.last(COORD) == "Dit verzoek is al afgehandeld."
    assert await count(world.app.engine, "roster_override") == 1

    [mine] = await chat.say(ANNA, "/mijnpiket")
    assert "ROL (regio): wo 25 nov 08:00 – do 26 nov 18:00\n" in mine.body()
    world.harness.clock.set(datetime(2026, 11, 25, 9, 0, tzinfo=TZ))
    [who] = await chat.scm(CACO, "wie")
    assert who.body() == (
        "Piket nu (wo 25 nov 09:00):\n"
        "ROL (regio): Rol Anna (i.p.v. Rol Bert) · backup Rol Cees, tot do 26 nov 18:00"
    )

    [refused] = await chat.scm(ANNA, REPLACE)  # only a coordinator changes rosters
    assert refused.body().startswith("Alleen een piketcoördinator kan het rooster wijzigen.")
    assert refused.buttons() == []


async def test_a_swap_is_accepted_by_button(world: World) -> None:
    chat = Chat(world)
    [asked] = await chat.scm(BERT, "swap Cees from fri 08:00 until sat 08:00")
    assert asked.body() == (
        "I asked Rol Cees to take over your duty from Fri 27 Nov 2026 08:00 until "
        "Sat 28 Nov 2026 08:00. You will hear the answer."
    )
    [ask] = world.fake.dm(CEES)
    assert ask.body() == (
        "Rol Bert vraagt of jij de piket ROL (regio) wilt overnemen van vr 27 nov 2026 08:00 "
        "tot za 28 nov 2026 08:00. Het rooster wordt dan:\n"
        "vr 27 nov 08:00 – za 28 nov 08:00: Rol Cees (i.p.v. Rol Bert)\n"
        "⚠ Niemand is backup van vr 27 nov 08:00 tot za 28 nov 08:00."
    )
    assert labels(ask) == ["Ja, ik neem het over", "Nee"]

    await chat.press(ANNA, "Ja, ik neem het over", on=CEES)  # Cees's button, clicked by Anna
    assert chat.last(ANNA) == "Deze knop is niet voor jou."
    assert await count(world.app.engine, "roster_override") == 0

    await chat.press(CEES, "Ja, ik neem het over")
    assert chat.last(CEES) == (
        "De ruil staat in het rooster: Rol Cees heeft piket ROL (regio) in plaats van Rol Bert, "
        "van vr 27 nov 2026 08:00 tot za 28 nov 2026 08:00:\n"
        "vr 27 nov 08:00 – za 28 nov 08:00: Rol Cees (i.p.v. Rol Bert)\n"
        "⚠ Niemand is backup van vr 27 nov 08:00 tot za 28 nov 08:00."
    )
    assert chat.last(BERT) == (
        "The swap is in the roster: Rol Cees is on duty ROL (region) instead of Rol Bert, "
        "from Fri 27 Nov 2026 08:00 until Sat 28 Nov 2026 08:00:\n"
        "Fri 27 Nov 08:00 – Sat 28 Nov 08:00: Rol Cees (instead of Rol Bert)\n"
        "⚠ Nobody is backup from Fri 27 Nov 08:00 until Sat 28 Nov 08:00."
    )
    note, check = world.fake.dm(COORD)[-2:]
    assert note.body().startswith("Ter info: Rol Cees neemt de piket ROL (regio)")
    # The change left nobody as backup: the first daily check, planned by it, says so.
    assert check.body() == (
        "Let op, het piketrooster (komende 14 dagen):\n"
        "⚠ ROL (regio): niemand is backup van vr 27 nov 08:00 tot za 28 nov 08:00"
    )
    assert await count(world.app.engine, "roster_override") == 1

    [mine] = await chat.say(CEES, "/mijnpiket")
    assert "ROL (regio): vr 27 nov 08:00 – za 28 nov 08:00\n" in mine.body()
    world.harness.clock.set(datetime(2026, 11, 27, 12, 0, tzinfo=TZ))
    [who] = await chat.scm(CACO, "wie")
    assert who.body() == (
        "Piket nu (vr 27 nov 12:00):\nROL (regio): Rol Cees (i.p.v. Rol Bert), tot za 28 nov 08:00"
    )


CHANGED = "Het piketrooster ROL (regio) is gewijzigd door Coord Cor"


async def test_a_coordinator_sets_a_shift_by_confirm_button(world: World) -> None:
    chat = Chat(world)
    [preview] = await chat.scm(COORD, "dienst Anna van morgen 08:00 tot morgen 20:00")
    assert preview.body().startswith(
        "Voorbeeld – losse dienst ROL (regio), wo 25 nov 2026 08:00 – wo 25 nov 2026 20:00\n"
        "Nu:\nwo 25 nov 08:00 – wo 25 nov 20:00: Rol Bert · backup Rol Cees\n"
        "Na de wijziging:\nwo 25 nov 08:00 – wo 25 nov 20:00: Rol Anna\n"
    )
    assert labels(preview) == ["Bevestigen", "Annuleren"]
    assert world.fake.dm(ANNA) == [] and world.fake.dm(CEES) == []

    await chat.press(COORD, "Bevestigen")
    assert await count(world.app.engine, "roster_shift") == 1
    done, check = world.fake.dm(COORD)[-2:]
    assert done.body().startswith("Het rooster is gewijzigd.")
    assert check.body().endswith(  # the first daily check, planned by the change
        "⚠ ROL (regio): niemand is backup van wo 25 nov 08:00 tot wo 25 nov 20:00"
    )
    for told in (ANNA, CEES):  # Cees is no longer backup in those hours
        assert chat.last(told) == (
            f"{CHANGED} (wo 25 nov 2026 08:00 – wo 25 nov 2026 20:00):\n"
            "wo 25 nov 08:00 – wo 25 nov 20:00: Rol Anna\n"
            "⚠ Niemand is backup van wo 25 nov 08:00 tot wo 25 nov 20:00."
        )
    assert chat.last(BERT).startswith("The roster ROL (region) was changed by Coord Cor")
    assert world.fake.dm(CACO) == []

    [again] = await chat.say(COORD, "/shift Cees from tomorrow 12:00 until tomorrow 22:00")
    assert again.body().startswith("Die dienst overlapt met de losse dienst van Rol Anna")
    assert again.buttons() == []


async def test_a_coordinator_changes_the_rotation_by_confirm_button(world: World) -> None:
    chat = Chat(world)
    [shown] = await chat.scm(COORD, "rotatie rol")
    assert shown.body() == (
        "Rotatie ROL (regio): diensten van 7 dagen, overdracht om 08:00.\n"
        "1. Rol Anna\n2. Rol Bert\n3. Rol Cees\nNu: Rol Bert · backup Rol Cees"
    )
    [preview] = await chat.scm(COORD, "rotatie rol verwijderen Anna")
    assert preview.body().startswith(
        "Voorbeeld – rotatie ROL (regio): Rol Anna, met ingang van ma 30 nov 2026 08:00\n"
    )
    assert labels(preview) == ["Bevestigen", "Annuleren"]
    assert world.fake.dm(BERT) == [] and world.fake.dm(CEES) == []

    await chat.press(COORD, "Bevestigen")
    # Anna is out, and Bert's and Cees's turns move: all three are told.
    assert chat.last(ANNA).startswith(CHANGED)
    assert chat.last(CEES).startswith(CHANGED)
    assert "ma 30 nov 08:00 – ma 7 dec 08:00: Rol Cees · backup Rol Bert" in chat.last(CEES)
    assert "Mon 7 Dec 08:00 – Mon 14 Dec 08:00: Rol Bert · backup Rol Cees" in chat.last(BERT)
    assert world.fake.dm(CACO) == []
    [shown] = await chat.say(COORD, "/rotation rol")
    assert "\n1. Rol Cees\n2. Rol Bert\nNu:" in shown.body()

    [refused] = await chat.scm(ANNA, "rotatie rol toevoegen Anna")
    assert refused.body().startswith("Alleen een piketcoördinator kan het rooster wijzigen.")


PUBLIC = "https://piket.example.test/scm"
FEED_URL = re.compile(re.escape(PUBLIC) + r"/ical/([0-9a-f]{40})\.ics")


@pytest.fixture
async def served(
    engine: AsyncEngine, fake: FakeSlack, monkeypatch: pytest.MonkeyPatch
) -> AsyncIterator[World]:
    """The Slack world, its app built with a public calendar URL (as `scm-bot run` does when
    the calendar server is on)."""
    monkeypatch.setattr(test_slack, "build", functools.partial(build, feed_url=PUBLIC))
    async for w in make_world(engine, fake):
        yield w


async def test_a_calendar_subscription_arrives_whole_and_can_be_stopped(served: World) -> None:
    chat = Chat(served)
    [url] = await chat.scm(ANNA, "rooster abonneer")
    assert url.body().startswith("Je agenda-abonnement op je eigen piketdiensten:\n" + PUBLIC)
    found = FEED_URL.search(url.body())
    assert found is not None and found.group(0) in url.text  # the fallback text too
    token = found.group(1)
    ics = await RosterCalendars(served.app.core).calendar(token)
    assert ics is not None and b"X-WR-CALNAME:Piket Rol Anna\r\n" in ics

    [url] = await chat.say(BERT, "/roster subscribe rol")
    assert url.body().startswith("Your calendar subscription to ROL (all rosters):\n" + PUBLIC)
    [listed] = await chat.scm(BERT, "roster subscriptions")
    assert listed.body().startswith("Your calendar subscriptions:\n• ROL (all rosters) (since ")

    [stopped] = await chat.scm(ANNA, "rooster opzeggen")
    assert stopped.body() == (
        "Je agenda-abonnement op je eigen piketdiensten is opgezegd: de link werkt niet meer."
    )
    assert await RosterCalendars(served.app.core).calendar(token) is None
    [again] = await chat.scm(ANNA, "rooster opzeggen")
    assert again.body().startswith("Je hebt geen agenda-abonnement op je eigen piketdiensten.")


async def with_swap_approval(world: World) -> None:
    """The region decides that a coordinator must approve every swap (a region import)."""
    data = yaml.safe_load(region_with_slack_ids())
    data["settings"]["swap_approval"] = True
    await load_region(world.app.engine, yaml.safe_dump(data, allow_unicode=True, sort_keys=False))


async def test_a_coordinator_approves_or_rejects_a_swap_by_button(world: World) -> None:
    await with_swap_approval(world)
    chat = Chat(world)
    await chat.scm(BERT, "ruil Cees van vr 08:00 tot za 08:00")
    await chat.press(CEES, "Ja, ik neem het over")
    assert chat.last(CEES) == (
        "De ruil (Rol Cees neemt de piket ROL (regio) van Rol Bert over, "
        "vr 27 nov 2026 08:00 – za 28 nov 2026 08:00) wacht op goedkeuring van de "
        "piketcoördinator."
    )
    assert chat.last(BERT).startswith("The swap (Rol Cees takes over Rol Bert's duty")
    assert chat.last(COORD) == (
        "Rol Bert en Rol Cees willen ruilen: Rol Cees neemt de piket ROL (regio) over van "
        "vr 27 nov 2026 08:00 tot za 28 nov 2026 08:00. Het rooster wordt dan:\n"
        "vr 27 nov 08:00 – za 28 nov 08:00: Rol Cees (i.p.v. Rol Bert)\n"
        "⚠ Niemand is backup van vr 27 nov 08:00 tot za 28 nov 08:00.\n\nGoedkeuren?"
    )
    assert labels(chat.with_button(COORD, "Goedkeuren")) == ["Goedkeuren", "Afwijzen"]
    assert await count(world.app.engine, "roster_override") == 0

    await chat.press(CEES, "Goedkeuren", on=COORD)  # the coordinator's button, clicked by Cees
    assert chat.last(CEES) == "Deze knop is niet voor jou."
    assert await count(world.app.engine, "roster_override") == 0

    await chat.press(COORD, "Goedkeuren")
    assert await count(world.app.engine, "roster_override") == 1
    assert chat.last(CEES).startswith("De ruil staat in het rooster: Rol Cees heeft piket")
    assert chat.last(BERT).startswith("The swap is in the roster: Rol Cees is on duty")
    await chat.press(COORD, "Afwijzen")  # too late: it is done
    assert chat.last(COORD) == "Dit verzoek is al afgehandeld."

    # A second swap, rejected: both are told, and the roster stays as it was.
    await chat.scm(BERT, "ruil Anna van zo 08:00 tot zo 20:00")
    await chat.press(ANNA, "Ja, ik neem het over")
    assert "wacht op goedkeuring" in chat.last(ANNA)
    await chat.press(COORD, "Afwijzen")
    assert chat.last(COORD) == (
        "Je hebt de ruil afgewezen: Rol Anna neemt de piket ROL (regio) van Rol Bert niet over "
        "(zo 29 nov 2026 08:00 – zo 29 nov 2026 20:00). Het rooster blijft zoals het was; "
        "beiden weten het."
    )
    assert chat.last(ANNA).startswith("Coord Cor heeft de ruil afgewezen: Rol Anna neemt")
    assert chat.last(BERT).startswith("Coord Cor rejected the swap: Rol Anna does not")
    assert await count(world.app.engine, "roster_override") == 1
    world.harness.clock.set(datetime(2026, 11, 29, 12, 0, tzinfo=TZ))
    [who] = await chat.scm(CACO, "wie")
    assert "ROL (regio): Rol Bert · backup Rol Cees" in who.body()
