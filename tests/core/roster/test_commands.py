"""The roster commands through the real router, core and storage (SQLite and PostgreSQL).

The test region's ROL rotation (Anna, Bert, Cees; weekly from Monday 08:00) has Bert on duty
at the harness's start, Tue 24 Nov 2026 03:07, with Cees as backup, until Mon 30 Nov 08:00.
"""

from __future__ import annotations

from datetime import UTC, datetime

from icalendar import Calendar
from sqlalchemy.ext.asyncio import AsyncEngine

from core.clock import FakeClock
from core.roster.reminders import RosterReminders
from tests.conftest import count
from tests.helpers import REGION_FILE, TZ, Harness, NewHarness

REPLACE = "/vervang Bert door Anna van morgen 08:00 tot do 18:00"


async def _actions(harness: Harness) -> list[tuple[str, str, str]]:
    async with harness.app.uows() as uow:
        return [(r.actor, r.action, r.result) for r in await uow.audit.all()]


async def test_wie_shows_who_is_on_duty_with_backup_and_until(harness: Harness) -> None:
    await harness.say("caco", "/wie")
    assert harness.last("caco") == (
        "Piket nu (di 24 nov 03:07):\nROL (regio): Rol Bert · backup Rol Cees, tot ma 30 nov 08:00"
    )
    await harness.say("rol-b", "/who rol region")
    assert "ROL (region): Rol Bert · backup Rol Cees, until Mon 30 Nov 08:00" in harness.last(
        "rol-b"
    )
    await harness.say("caco", "/wie Soest")  # a gemeente falls back to the region's roster
    assert "ROL (regio): Rol Bert" in harness.last("caco")
    await harness.say("caco", "/wie brandweer")
    assert "'brandweer' ken ik niet als functie of gemeente" in harness.last("caco")


async def test_rooster_is_a_text_table_and_a_picture(harness: Harness) -> None:
    await harness.say("im", "/rooster week")
    table, picture = harness.inbox("im")[-2:]
    assert table.text.startswith("Piketrooster di 24 nov 00:00 – di 1 dec 00:00")
    assert "di 24 nov 00:00 – ma 30 nov 08:00: Rol Bert · backup Rol Cees" in table.text
    assert "ma 30 nov 08:00 – di 1 dec 00:00: Rol Cees · backup Rol Anna" in table.text
    assert picture.attachment is not None and picture.attachment.mime_type == "image/png"
    assert picture.attachment.content.startswith(b"\x89PNG")


async def test_replace_previews_confirms_and_tells_everyone(harness: Harness) -> None:
    await harness.say("coord", REPLACE)
    preview = harness.last("coord")
    assert "Voorbeeld – ROL (regio), wo 25 nov 2026 08:00 – do 26 nov 2026 18:00" in preview
    assert "Rol Anna (i.p.v. Rol Bert) · backup Rol Cees" in preview
    assert await count(harness.app.engine, "roster_override") == 0  # not before confirming

    await harness.press("coord", "Bevestigen")
    assert await count(harness.app.engine, "roster_override") == 1
    assert "Het rooster is gewijzigd" in harness.last("coord")
    assert "gewijzigd door Coord Cor" in harness.last("rol-a")
    assert "changed by Coord Cor" in harness.last("rol-b")  # Bert reads English
    assert ("coord", "roster.override", "ok") in await _actions(harness)

    harness.clock.set(datetime(2026, 11, 25, 9, 0, tzinfo=TZ))
    await harness.say("caco", "/wie rol")
    assert "Rol Anna (i.p.v. Rol Bert) · backup Rol Cees, tot do 26 nov 18:00" in harness.last(
        "caco"
    )
    await harness.say("rol-a", "/mijnpiket")
    assert "ROL (regio): wo 25 nov 08:00 – do 26 nov 18:00" in harness.last("rol-a")


async def test_the_page_goes_to_whoever_the_override_puts_on_duty(harness: Harness) -> None:
    await harness.say("coord", "/vervang Bert door Anna van vandaag 03:00 tot do 18:00")
    await harness.press("coord", "Bevestigen")
    await harness.raise_alarm()
    assert "ALARM" in (harness.inbox("rol-a")[-1].title or "")
    assert not any("VRU-2026-0001" in m.text for m in harness.inbox("rol-b"))
    assert "ROL gepaged – Rol Anna" in harness.texts("caco")


async def test_a_gap_moves_to_the_next_step_and_tells_the_caco(
    harness: Harness, new_harness: NewHarness
) -> None:
    # Bert's own shift, replaced by nobody: make everyone's duty a gap by removing members.
    region = REGION_FILE.read_text().replace(
        'members: [rol-a, rol-b, rol-c], start: "2026-01-05T08:00:00"',
        'members: [rol-a, rol-b, rol-c], start: "2027-01-04T08:00:00"',
    )
    gap = await new_harness(region=region)
    await gap.raise_alarm()
    texts = gap.texts("caco")
    assert "niemand" in texts.lower()
    # allowed: the "or" is in the text, not a second outcome
    assert gap.inbox("coord"), "with nobody on duty or backup, the coordinator is paged"


async def test_bad_dates_say_what_was_understood_and_change_nothing(harness: Harness) -> None:
    cases = {
        "/vervang Bert door Anna van 31-02 08:00 tot 01-03 08:00": "dag 31, maand 2",
        "/vervang Bert door Anna van 31-10-2027 02:30 tot 01-11-2027 08:00": "komt twee keer voor",
        "/vervang Bert door Anna van 28-03-2027 02:30 tot 29-03-2027 08:00": "bestaat niet",
        "/vervang Bert door Anna van 26-11 18:00 tot 25-11 08:00": "ligt niet na het begin",
        "/vervang Bert door Anna van morgen 08:00 tot morgen 07:00": "ligt niet na het begin",
        "/vervang Bert door Xander van morgen 08:00 tot do 18:00": "'Xander' ken ik niet",
        "/vervang Bert door Bert van morgen 08:00 tot do 18:00": "kan zichzelf niet vervangen",
        "/vervang Bert door Ineke van morgen 08:00 tot do 18:00": "heeft de functie ROL niet",
        "/vervang Anna door Bert van morgen 08:00 tot do 18:00": "geen piket",
        "/vervang Bert": "Zo gebruik je het: /vervang",
    }
    for command, expected in cases.items():
        await harness.say("coord", command)
        assert expected in harness.last("coord"), (command, harness.last("coord"))
        assert (
            "Er is niets gewijzigd" in harness.last("coord")
            or "Zo gebruik" in harness.last("coord")
            or "ligt niet na" in harness.last("coord")
        )
    assert await count(harness.app.engine, "roster_override") == 0
    assert await count(harness.app.engine, "roster_request") == 0


async def test_an_overlapping_override_is_refused(harness: Harness) -> None:
    await harness.say("coord", REPLACE)
    await harness.press("coord", "Bevestigen")
    await harness.say("coord", "/vervang Bert door Cees van do 12:00 tot vr 12:00")
    assert "al een vervanging door Rol Anna geregeld" in harness.last("coord")
    assert await count(harness.app.engine, "roster_override") == 1


async def test_only_coordinators_change_rosters(harness: Harness) -> None:
    await harness.say("rol-a", REPLACE)
    assert "Alleen een piketcoördinator" in harness.last("rol-a")
    await harness.say("coord", REPLACE)
    button = harness.button("coord", "Bevestigen")
    await harness.press_data("rol-a", button)  # someone else's confirm button
    assert await count(harness.app.engine, "roster_override") == 0
    await harness.press("coord", "Annuleren")
    assert "Geannuleerd" in harness.last("coord")
    await harness.press_data("coord", button)
    assert "al afgehandeld" in harness.last("coord")
    assert await count(harness.app.engine, "roster_override") == 0


async def test_a_coordinator_of_one_gemeente_cannot_touch_the_region(
    new_harness: NewHarness,
) -> None:
    region = REGION_FILE.read_text().replace(
        "settings:\n  alarm_functions: [rol]",
        "settings:\n  alarm_functions: [rol]\n  coordinator_scopes: {coord: ['gemeente:soest']}",
    )
    harness = await new_harness(region=region)
    await harness.say("coord", REPLACE)
    assert "buiten jouw deel" in harness.last("coord")


COORDINATORS = """\
  - {key: coord-soest, name: Coord Soest, functions: [coordinator]}
  - {key: coord-noord, name: Coord Noord, functions: [coordinator]}
"""


async def test_help_lists_coordinator_commands_to_coordinators_by_scope_alone(
    new_harness: NewHarness,
) -> None:
    region = scoped_region("  coordinator_scopes: {acb-soest: ['gemeente:soest']}")
    harness = await new_harness(region=region)
    await harness.say("acb-soest", "/help")  # no coordinator function, but a scope
    assert "/vervang" in harness.last("acb-soest") and "/dienst" in harness.last("acb-soest")
    await harness.say("acb-zeist", "/help")
    assert "/vervang" not in harness.last("acb-zeist")
    await harness.say("coord", "/help")  # the coordinator function: the region
    assert "/vervang" in harness.last("coord")


async def test_rotatie_asks_which_when_several_scopes_have_one(
    engine: AsyncEngine, new_harness: NewHarness
) -> None:
    harness = await new_harness(region=scoped_region())
    await harness.say("coord", "/rotatie acb")
    assert harness.last("coord").startswith("Er zijn rotaties ACB voor ")
    assert "Soest" in harness.last("coord") and "Utrecht" in harness.last("coord")
    await harness.say("coord", "/rotatie acb toevoegen Acb Zeist")
    assert "Welke bedoel je?" in harness.last("coord")
    assert await count(engine, "roster_request") == 0
    await harness.say("coord", "/rotatie acb Soest")
    assert harness.last("coord").startswith("Rotatie ACB (Soest)")


async def test_scoped_coordinators_change_the_rosters_of_their_own_scope(
    engine: AsyncEngine, new_harness: NewHarness
) -> None:
    region = scoped_region(
        "  coordinator_scopes:"
        " {coord-soest: ['gemeente:soest'], coord-noord: ['piketregio:noord']}",
        COORDINATORS,
    )
    harness = await new_harness(region=region)
    # A coordinator of the gemeente Soest: its ACB roster, and nothing else.
    await harness.say(
        "coord-soest", "/dienst Acb Zeist van morgen 08:00 tot morgen 20:00 voor acb Soest"
    )
    assert "losse dienst ACB (Soest)" in harness.last("coord-soest")
    await harness.press("coord-soest", "Bevestigen")
    assert await count(engine, "roster_shift") == 1
    assert "gewijzigd door Coord Soest" in harness.last("acb-zeist")
    assert "gewijzigd door Coord Soest" in harness.last("acb-soest")  # displaced
    await harness.say(
        "coord-soest", "/dienst Acb Soest van morgen 08:00 tot morgen 20:00 voor acb Utrecht"
    )
    assert harness.last("coord-soest").startswith(
        "Dat rooster (Utrecht) valt buiten jouw deel als piketcoördinator."
    )

    # A coordinator of the piketregio Noord: its OvD-Bz roster, and the rosters of the
    # gemeenten in it; not the region's.
    await harness.say(
        "coord-noord", "/vervang Ovd Noord door Ovd Regio van morgen 08:00 tot do 18:00"
    )
    assert "Voorbeeld – OvD-Bz (piketregio Noord)" in harness.last("coord-noord")
    await harness.press("coord-noord", "Bevestigen")
    assert await count(engine, "roster_override") == 1
    assert "gewijzigd door Coord Noord" in harness.last("ovd-regio")
    await harness.say("coord-noord", "/rotatie acb Soest toevoegen Acb Zeist")
    await harness.press("coord-noord", "Bevestigen")
    await harness.say("coord-noord", "/rotatie acb Soest")
    assert "Rotatie ACB (Soest)" in harness.last("coord-noord")
    assert "1. Acb Soest\n2. Acb Zeist" in harness.last("coord-noord")
    await harness.say(
        "coord-noord",
        "/vervang Ovd Regio door Ovd Noord van morgen 08:00 tot do 18:00 voor ovd regio",
    )
    assert "buiten jouw deel" in harness.last("coord-noord")
    await harness.say("coord-noord", "/rotatie acb Utrecht toevoegen Acb Soest")
    assert "buiten jouw deel" in harness.last("coord-noord")

    harness.clock.set(datetime(2026, 11, 25, 9, 0, tzinfo=TZ))
    await harness.say("caco", "/wie Soest")
    answer = harness.last("caco")
    assert "ACB (Soest): Acb Zeist" in answer
    assert "OvD-Bz (piketregio Noord): Ovd Regio (i.p.v. Ovd Noord)" in answer
    actions = await _actions(harness)
    assert ("coord-soest", "roster.shift", "ok") in actions
    assert ("coord-noord", "roster.override", "ok") in actions
    assert ("coord-noord", "roster.rotation", "ok") in actions


async def test_explicit_shift_and_rotation_members(harness: Harness) -> None:
    await harness.say("coord", "/dienst Anna van morgen 08:00 tot morgen 20:00 backup Cees")
    assert "losse dienst ROL (regio)" in harness.last("coord")
    await harness.press("coord", "Bevestigen")
    assert await count(harness.app.engine, "roster_shift") == 1
    assert "gewijzigd door Coord Cor" in harness.last("rol-a")
    assert "changed by Coord Cor" in harness.last("rol-b"), "Bert is displaced: he is told"
    await harness.say("coord", "/dienst Cees van morgen 12:00 tot morgen 22:00")
    assert "overlapt met de losse dienst van Rol Anna" in harness.last("coord")

    await harness.say("coord", "/rotatie rol")
    assert "1. Rol Anna\n2. Rol Bert\n3. Rol Cees" in harness.last("coord")
    await harness.say("coord", "/rotatie rol verwijderen Anna")
    assert "met ingang van ma 30 nov 2026 08:00" in harness.last("coord")
    await harness.press("coord", "Bevestigen")
    # The current week is unchanged; from the next handover Cees and Bert take turns.
    await harness.say("caco", "/rooster maand")
    table = harness.inbox("caco")[-2].text
    assert "ma 30 nov 08:00 – ma 7 dec 08:00: Rol Cees · backup Rol Bert" in table
    assert "ma 7 dec 08:00 – ma 14 dec 08:00: Rol Bert · backup Rol Cees" in table
    assert "Rol Anna" not in table.split("ma 30 nov 08:00", 1)[1]
    await harness.say("coord", "/rotatie rol toevoegen Anna")
    await harness.press("coord", "Bevestigen")
    await harness.say("coord", "/rotatie rol")
    assert "1. Rol Cees\n2. Rol Bert\n3. Rol Anna" in harness.last("coord")
    actions = await _actions(harness)
    assert ("coord", "roster.rotation", "ok") in actions
    assert ("coord", "roster.shift", "ok") in actions


async def test_a_shift_tells_the_backup_it_displaces(harness: Harness) -> None:
    await harness.say("coord", "/dienst Anna van morgen 08:00 tot morgen 20:00")
    assert "Rol Anna\n" in harness.last("coord"), "the shift has no backup"
    assert harness.inbox("rol-c") == []  # not before confirming
    await harness.press("coord", "Bevestigen")
    assert "gewijzigd door Coord Cor" in harness.last("rol-a")
    assert "changed by Coord Cor" in harness.last("rol-b")  # displaced from duty
    assert "gewijzigd door Coord Cor" in harness.last("rol-c"), "displaced as backup"
    assert harness.last("rol-c").endswith(
        "\nwo 25 nov 08:00 – wo 25 nov 20:00: Rol Anna\n"
        "⚠ Niemand is backup van wo 25 nov 08:00 tot wo 25 nov 20:00."
    )
    assert harness.inbox("caco") == [] and harness.inbox("im") == []


async def test_a_rotation_change_tells_everyone_whose_turns_shift(new_harness: NewHarness) -> None:
    region = REGION_FILE.read_text().replace(
        "  - {key: im,", "  - {key: rol-d, name: Rol Dirk, functions: [rol]}\n  - {key: im,"
    )
    harness = await new_harness(region=region)
    await harness.say("coord", "/rotatie rol toevoegen Dirk")
    assert "met ingang van ma 30 nov 2026 08:00" in harness.last("coord")
    assert all(harness.inbox(k) == [] for k in ("rol-a", "rol-b", "rol-c", "rol-d"))
    await harness.press("coord", "Bevestigen")
    # From Mon 30 Nov the turns run Cees, Anna, Bert, Dirk. Within the four weeks the preview
    # shows, Bert keeps his week and his backup week; the others' turns move.
    new_turns = (
        "ma 30 nov 08:00 – ma 7 dec 08:00: Rol Cees · backup Rol Anna\n"
        "ma 7 dec 08:00 – ma 14 dec 08:00: Rol Anna · backup Rol Bert\n"
        "ma 14 dec 08:00 – ma 21 dec 08:00: Rol Bert · backup Rol Dirk\n"
        "ma 21 dec 08:00 – ma 28 dec 08:00: Rol Dirk · backup Rol Cees"
    )
    for told in ("rol-d", "rol-a", "rol-c"):
        assert harness.last(told).startswith(
            "Het piketrooster ROL (regio) is gewijzigd door Coord Cor "
            "(ma 30 nov 2026 08:00 – ma 28 dec 2026 08:00):\n"
        ), told
        assert harness.last(told).endswith(new_turns), told
    assert harness.inbox("rol-b") == [], "Bert's duty does not change: he is not told"
    assert harness.inbox("caco") == []
    assert harness.last("coord") == (
        "Het rooster is gewijzigd. De betrokkenen zijn op de hoogte gebracht."
    )

    # Removing Anna moves everyone after her: Bert and Cees are told, and Anna herself.
    await harness.say("coord", "/rotatie rol verwijderen Anna")
    await harness.press("coord", "Bevestigen")
    assert "changed by Coord Cor" in harness.last("rol-b")
    assert "ma 7 dec 08:00 – ma 14 dec 08:00: Rol Bert · backup Rol Dirk" in harness.last("rol-c")
    assert "Rol Anna" not in harness.last("rol-a").split(":\n", 1)[1]


async def test_english_aliases_replace_shift_and_rotation(
    engine: AsyncEngine, new_harness: NewHarness
) -> None:
    region = REGION_FILE.read_text().replace(
        "{key: coord, name: Coord Cor, functions: [coordinator]}",
        "{key: coord, name: Coord Cor, functions: [coordinator], language: en}",
    )
    harness = await new_harness(region=region)
    await harness.say("coord", "/replace Bert by Anna from tomorrow 08:00 until thu 18:00")
    assert harness.last("coord").startswith(
        "Preview – ROL (region), Wed 25 Nov 2026 08:00 – Thu 26 Nov 2026 18:00"
    )
    await harness.press("coord", "Confirm")
    assert await count(engine, "roster_override") == 1
    assert "gewijzigd door Coord Cor" in harness.last("rol-a")

    await harness.say("coord", "/shift Cees from fri 08:00 until fri 20:00 backup Anna")
    assert harness.last("coord").startswith("Preview – single shift ROL (region)")
    await harness.press("coord", "Confirm")
    assert await count(engine, "roster_shift") == 1

    await harness.say("coord", "/rotation rol")
    assert "1. Rol Anna\n2. Rol Bert\n3. Rol Cees" in harness.last("coord")
    await harness.say("coord", "/rotation rol remove Anna")
    await harness.press("coord", "Confirm")
    await harness.say("coord", "/rotation rol")
    assert "1. Rol Cees\n2. Rol Bert\nNow:" in harness.last("coord")
    actions = await _actions(harness)
    for action in ("roster.override", "roster.shift", "roster.rotation"):
        assert ("coord", action, "ok") in actions


async def test_swap_accepted_goes_into_the_roster(harness: Harness) -> None:
    await harness.say("rol-b", "/ruil Anna van morgen 08:00 tot morgen 20:00")
    assert "I asked Rol Anna" in harness.last("rol-b")
    assert "Rol Bert vraagt of jij de piket ROL (regio) wilt overnemen" in harness.last("rol-a")
    await harness.press("rol-a", "Ja, ik neem het over")
    assert await count(harness.app.engine, "roster_override") == 1
    assert "The swap is in the roster" in harness.last("rol-b")
    assert "De ruil staat in het rooster" in harness.last("rol-a")
    assert "Ter info" in harness.last("coord")


async def test_swap_declined_changes_nothing(harness: Harness) -> None:
    await harness.say("rol-b", "/swap Cees")
    await harness.press("rol-c", "Nee")
    assert "will not take over your duty" in harness.last("rol-b")
    assert await count(harness.app.engine, "roster_override") == 0
    await harness.press("rol-c", "Ja, ik neem het over")
    assert "al afgehandeld" in harness.last("rol-c")


async def test_swap_with_coordinator_approval(engine: AsyncEngine, new_harness: NewHarness) -> None:
    region = REGION_FILE.read_text().replace(
        "settings:\n  alarm_functions: [rol]",
        "settings:\n  alarm_functions: [rol]\n  swap_approval: true",
    )
    harness = await new_harness(region=region)
    await harness.say("rol-b", "/ruil Cees")
    await harness.press("rol-c", "Ja, ik neem het over")
    assert "wacht op goedkeuring" in harness.last("rol-c")
    assert await count(engine, "roster_override") == 0
    await harness.press("rol-c", "Goedkeuren", on="coord")  # not a coordinator
    assert harness.last("rol-c") == "Deze knop is niet voor jou."
    assert await count(engine, "roster_override") == 0
    await harness.press("coord", "Goedkeuren")
    assert await count(engine, "roster_override") == 1
    assert "De ruil staat in het rooster" in harness.last("rol-c")
    await harness.say("caco", "/wie")
    assert "Rol Cees (i.p.v. Rol Bert)" in harness.last("caco")


async def test_a_swap_needing_approval_is_refused_when_nobody_can_approve(
    engine: AsyncEngine, new_harness: NewHarness
) -> None:
    region = (
        REGION_FILE.read_text()
        .replace(
            "settings:\n  alarm_functions: [rol]",
            "settings:\n  alarm_functions: [rol]\n  swap_approval: true",
        )
        .replace("functions: [coordinator]", "functions: [im]")
    )
    harness = await new_harness(region=region)
    await harness.say("rol-b", "/ruil Cees")
    assert "nobody coordinates this roster" in harness.last("rol-b")  # Bert reads English
    assert harness.inbox("rol-c") == [], "nothing was asked"
    assert await count(engine, "roster_request") == 0


async def test_daily_check_warns_coordinators_of_gaps_and_unlinked_people(
    new_harness: NewHarness,
) -> None:
    region = REGION_FILE.read_text().replace(
        'members: [rol-a, rol-b, rol-c], start: "2026-01-05T08:00:00"',
        'members: [rol-a, rol-b, rol-c], start: "2026-12-01T08:00:00"',
    )
    harness = await new_harness(region=region)
    harness.transport.unreachable.add("rol-a")  # no transport reaches her
    await RosterReminders().ensure(harness.app.core)
    await harness.advance(0)
    warning = harness.last("coord")
    assert "niemand heeft piket van di 24 nov 03:07 tot di 1 dec 08:00" in warning
    assert "Rol Anna heeft piket maar geen gekoppeld chat-account" in warning
    assert harness.inbox("caco") == []
    await harness.say("caco", "/rooster")
    assert (
        "di 24 nov 00:00 – di 1 dec 00:00: ⚠ NIEMAND (gat in het rooster)"
        in harness.inbox("caco")[-2].text
    )
    # It runs again the next morning at 07:00, and not before.
    before = len(harness.inbox("coord"))
    await harness.advance(60 * 27)
    assert len(harness.inbox("coord")) == before + 1
    assert ("system", "roster.check", "warned") in await _actions(harness)


async def test_reminders_before_at_start_and_at_end(new_harness: NewHarness) -> None:
    clock = FakeClock(datetime(2026, 11, 28, 12, 0, tzinfo=TZ))  # Saturday; Cees starts Monday
    harness = await new_harness(clock=clock)
    await RosterReminders().ensure(harness.app.core)
    await harness.advance(0)
    assert harness.inbox("rol-c") == []
    await harness.advance(60 * 30)  # Sunday 18:00
    assert "Herinnering: morgen begint je piket ROL (regio)" in harness.last("rol-c")
    assert "tot ma 7 dec 08:00" in harness.last("rol-c")
    await harness.advance(60 * 14)  # Monday 08:00
    assert "begint nu en duurt tot ma 7 dec 08:00" in harness.last("rol-c")
    assert "has ended" in harness.last("rol-b")
    assert "Now: Rol Cees" in harness.last("rol-b")


async def test_a_reminder_follows_a_later_change(new_harness: NewHarness) -> None:
    clock = FakeClock(datetime(2026, 11, 28, 12, 0, tzinfo=TZ))
    harness = await new_harness(clock=clock)
    await RosterReminders().ensure(harness.app.core)
    await harness.advance(0)
    await harness.say("coord", "/vervang Cees door Anna van ma 08:00 tot di 08:00")
    await harness.press("coord", "Bevestigen")
    cees_before = len(harness.inbox("rol-c"))
    await harness.advance(60 * 44 + 1)  # Monday 08:01
    assert "begint nu en duurt tot di 1 dec 08:00" in harness.last("rol-a")
    # Cees's planned start reminder no longer holds, so it is not sent.
    assert not any("begint nu" in m.text for m in harness.inbox("rol-c")[cees_before:])


async def test_rooster_ical_sends_a_calendar_file(harness: Harness) -> None:
    await harness.say("coord", REPLACE)
    await harness.press("coord", "Bevestigen")
    await harness.say("rol-a", "/rooster ical")
    message = harness.inbox("rol-a")[-1]
    assert message.attachment is not None and message.attachment.filename == "rooster.ics"
    events = list(Calendar.from_ical(message.attachment.content).events)
    assert [e.summary for e in events if e.start == datetime(2026, 11, 25, 7, tzinfo=UTC)] == [
        "ROL: Rol Anna"
    ]
    anna = next(e for e in events if e.start == datetime(2026, 11, 25, 7, tzinfo=UTC))
    assert anna.end == datetime(2026, 11, 26, 17, tzinfo=UTC)
    # Three months of weekly duties from Monday 23 November (fourteen, the last one day), and
    # the replacement cuts Bert's first week in three.
    assert len(events) == 16


async def test_help_lists_roster_commands(harness: Harness) -> None:
    await harness.say("coord", "/help")
    assert "/wie" in harness.last("coord") and "/vervang" in harness.last("coord")
    await harness.say("rol-a", "/help")
    assert "/wie" in harness.last("rol-a") and "/vervang" not in harness.last("rol-a")


SCOPED = """
  - key: acb
    name: ACB
  - key: ovd
    name: OvD-Bz
people:
  - {key: acb-soest, name: Acb Soest, functions: [acb]}
  - {key: acb-zeist, name: Acb Zeist, functions: [acb]}
  - {key: ovd-noord, name: Ovd Noord, functions: [ovd]}
  - {key: ovd-regio, name: Ovd Regio, functions: [ovd]}
"""


def scoped_region(settings: str = "", people: str = "") -> str:
    """The test region with ACB rosters for Soest and Utrecht, an OvD-Bz roster for the
    piketregio Noord (Soest, De Bilt) and one for the region; `settings` and `people` are
    more lines for those sections."""
    return (
        REGION_FILE.read_text()
        .replace(
            "settings:\n  alarm_functions: [rol]",
            "settings:\n  alarm_functions: [rol, acb, ovd]\n"
            "  piketregios: [{key: noord, name: Noord, gemeenten: [soest, de-bilt]}]\n" + settings,
        )
        .replace(
            "  - key: coordinator\n",
            SCOPED.split("people:\n")[0].lstrip("\n") + "  - key: coordinator\n",
            1,
        )
        .replace("people:\n", "people:\n" + SCOPED.split("people:\n")[1] + people, 1)
        .replace(
            "rotations:\n",
            "rotations:\n"
            "  - {function: acb, scope: 'gemeente:soest', members: [acb-soest],"
            " start: '2026-01-05T08:00:00'}\n"
            "  - {function: acb, scope: 'gemeente:utrecht', members: [acb-zeist],"
            " start: '2026-01-05T08:00:00'}\n"
            "  - {function: ovd, scope: 'piketregio:noord', members: [ovd-noord],"
            " start: '2026-01-05T08:00:00'}\n"
            "  - {function: ovd, members: [ovd-regio], start: '2026-01-05T08:00:00'}\n",
        )
    )


async def test_scoped_rosters_page_the_gemeente_or_piketregio_on_duty(
    new_harness: NewHarness,
) -> None:
    region = scoped_region()
    harness = await new_harness(region=region)
    await harness.raise_alarm("Soest: gaslek Kerkstraat")
    assert harness.inbox("acb-soest") and harness.inbox("ovd-noord")
    assert harness.inbox("acb-zeist") == [] and harness.inbox("ovd-regio") == []
    await harness.raise_alarm("Utrechtse Heuvelrug: stroomstoring")
    # No ACB roster for that gemeente: a gap, told to the Caco; the OvD of the region.
    assert harness.inbox("ovd-regio")
    assert "ACB" in harness.texts("caco")
    await harness.say("caco", "/wie De Bilt")
    answer = harness.last("caco")
    assert "OvD-Bz (piketregio Noord): Ovd Noord" in answer and "ROL (regio)" in answer
    await harness.say("caco", "/wie acb Utrecht")
    assert "ACB (Utrecht): Acb Zeist" in harness.last("caco")


async def test_a_confirmation_expires_after_an_hour(harness: Harness) -> None:
    await harness.say("coord", REPLACE)
    await harness.advance(61)
    await harness.press("coord", "Bevestigen")
    assert "verlopen" in harness.last("coord")
    assert await count(harness.app.engine, "roster_override") == 0
