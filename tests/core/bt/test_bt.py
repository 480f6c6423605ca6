"""The beleidsteam through the core: convening, call-out, attendance board, norm time,
reminders, the aandachtskaart, decisions, actions and the logbook (fake clock)."""

from __future__ import annotations

import json

import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from core.bt import board
from core.clock import FakeClock
from core.i18n import t
from core.model import Language
from tests.helpers import NewHarness
from tests.helpers.bt import REGION, boards, convened


async def test_convening_shows_the_composition_with_its_gap(new_harness: NewHarness) -> None:
    h = await new_harness(region=REGION)
    await h.raise_alarm()
    await h.say("bgm-soest", "/bt bijeenroepen")
    assert "over 60 min (04:07)" in h.last("bgm-soest")
    await h.say("bgm-soest", "22:30")
    await h.say("bgm-soest", "https://meet.example/bt")
    confirm = h.last("bgm-soest")
    assert "Technisch voorzitter *: Voorzitter Tom (backup Voorzitter Tineke)" in confirm
    assert "Gemeentesecretaris *: Secretaris Soest" in confirm
    assert "Notulist (optioneel): ⚠️ gat" in confirm
    await h.say("bgm-soest", "-notulist")
    await h.say("bgm-soest", "+Buiten Staander")
    confirm = h.last("bgm-soest")
    assert "Notulist" not in confirm
    assert "+ Buiten Staander (toegevoegd)" in confirm
    await h.press("bgm-soest", "Bevestigen en oproepen")
    assert h.inbox("buiten")[-1].title == "Oproep GBT"
    page = next(m for m in h.inbox("tv-tom") if m.title == "Oproep GBT")
    assert "Aanvang: di 24 nov 22:30" in page.text
    assert h.inbox("tv-tineke") == []  # the backup only when needed
    assert h.inbox("notulist-nina") == []


async def test_answers_reach_one_board_per_viewer_edited_in_place(
    new_harness: NewHarness, engine: AsyncEngine
) -> None:
    h = await new_harness(region=REGION)
    await convened(h)
    assert len(boards(h, "caco")) == 1
    assert len(boards(h, "bgm-soest")) == 1
    await h.press("tv-tom", "Ik kom (binnen 15 min)")
    await h.press("comm-kees", "Ik kom niet")
    # "Ik kom niet" pages the backup at once.
    assert h.inbox("comm-karin")[-1].title == "Oproep GBT"
    await h.advance(1 / 60)
    # Both answers in one edit per board: the Caco's, the burgemeester's, the ROL's and the
    # technisch voorzitter's (paged for the team's chair).
    board = boards(h, "caco")
    assert len(board) == 1
    assert "✅ Technisch voorzitter *: komt: Voorzitter Tom ±03:22" in board[0]
    assert "komt niet: Comm Kees" in board[0]
    assert "opgeroepen, nog geen antwoord: Comm Karin" in board[0]
    assert "Sterkte: 1 van 5 verplichte functies gedekt; 1 komen." in board[0]
    async with engine.connect() as conn:
        edits = (
            await conn.execute(
                text("SELECT count(*) FROM outbox WHERE kind = 'edit' AND topic = 'bt-board:1'")
            )
        ).scalar_one()
    assert edits == 4
    assert len(boards(h, "tv-tom")) == 1


async def test_every_answer_reaches_the_board_at_once(new_harness: NewHarness) -> None:
    """No answer waits for a timer to come round: each refreshes the board right after its
    transaction. Keeping a chat to one edit a second is delivery's work: at the chat's turn
    it sends the newest edit and drops those it replaced (tests/scm_bot/test_delivery.py)."""
    h = await new_harness(region=REGION)
    await convened(h)
    await h.press("tv-tom", "Ik kom (binnen 15 min)")
    await h.app.settle()  # no time passes
    assert "komt: Voorzitter Tom" in boards(h, "caco")[0]
    await h.press("comm-kees", "Ik kom niet")
    await h.app.settle()
    assert "komt niet: Comm Kees" in boards(h, "caco")[0]


async def test_a_board_too_long_for_one_message_is_grouped(
    new_harness: NewHarness, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A large team's board stays one message (an edit reaches only one): past BOARD_MAX
    characters the functions are grouped by where they stand, people named where they come."""
    monkeypatch.setattr(board, "BOARD_MAX", 100)  # this team's board is longer than that
    h = await new_harness(region=REGION)
    await convened(h)
    await h.press("tv-tom", "Ik kom (binnen 15 min)")
    await h.press("comm-kees", "Ik kom niet")
    await h.advance(1 / 60)
    (shown,) = boards(h, "caco")
    assert "✅ Komen of gezien (1): Technisch voorzitter * (Voorzitter Tom ±03:22)" in shown
    assert "⏳ Opgeroepen, nog geen antwoord (" in shown
    assert "Communicatieadviseur" in shown.split("⏳ Opgeroepen, nog geen antwoord (")[1]
    assert "❌ Komen niet (1): Comm Kees (Communicatieadviseur)" in shown
    assert "komt: " not in shown  # not the line per function
    assert "Sterkte: 1 van 5 verplichte functies gedekt; 1 komen." in shown


async def test_no_answer_pages_the_backup_and_the_norm_time_names_the_open_functions(
    new_harness: NewHarness,
) -> None:
    h = await new_harness(region=REGION)
    await convened(h)
    await h.press("gs-soest", "Ik kom (binnen 30 min)")
    await h.advance(10)
    # Paged as the backup chair, she holds a board from then on.
    assert [m.title for m in h.inbox("tv-tineke")] == ["Oproep GBT", "Aanwezigheid GBT"]
    await h.advance(50)
    norm = "de normtijd is verstreken en voor deze verplichte functies komt niemand"
    for who in ("bgm-soest", "caco"):
        text = next(m.text for m in reversed(h.inbox(who)) if norm in m.text)
        assert "Technisch voorzitter, Communicatieadviseur, IM, ROL" in text
        assert "Gemeentesecretaris" not in text


async def test_reminder_15_minutes_before_the_start_to_those_coming(
    new_harness: NewHarness,
) -> None:
    h = await new_harness(region=REGION)
    await convened(h)  # starts at 04:07
    await h.press("tv-tom", "Ik kom (binnen 30 min)")
    await h.advance(44)
    assert not any("Herinnering" in m.text for m in h.inbox("tv-tom"))
    await h.advance(2)
    assert h.last("tv-tom") == "Herinnering: GBT begint om 04:07. Plaats: Gemeentehuis Soest."
    assert not any("Herinnering" in m.text for m in h.inbox("gs-soest"))


async def test_the_aandachtskaart_goes_to_whoever_comes(new_harness: NewHarness) -> None:
    h = await new_harness(region=REGION)
    await convened(h)
    await h.press("im", "Ik kom later")
    asked = h.inbox("im")[-1]
    assert asked.text == (
        "Hoe laat ben je er? Kies hieronder, of typ een tijd (bijv. 22:15 of over 90 min)."
    )
    assert [b.label for b in asked.buttons] == [
        "Ik kom (binnen 90 min)",
        "Ik kom (binnen 2 uur)",
        "Ik kom (binnen 3 uur)",
    ]
    await h.say("im", "gisteren")
    assert "gisteren" in h.last("im")
    await h.say("im", "05:00")
    kaart = next(
        m for m in h.inbox("im") if (m.title or "").startswith("Strategische aandachtskaart")
    )
    assert kaart.title == "Strategische aandachtskaart – GBT – VRU-2026-0001"
    # The card opens with what the answer recorded; no note of its own besides.
    assert kaart.text.startswith("Genoteerd: je komt naar GBT, verwacht om 05:00.")
    assert sum(m.text.startswith("Genoteerd") for m in h.inbox("im")) == 1
    assert "Oordeelsvorming met voorwaarts denken" in kaart.text
    assert "• Economie en financiën" in kaart.text
    # Its PDF follows as a message of its own, the file alone.
    pdf = h.inbox("im")[h.inbox("im").index(kaart) + 1]
    assert (pdf.text, pdf.title) == ("", None)
    assert pdf.attachment is not None and pdf.attachment.content.startswith(b"%PDF")
    assert pdf.attachment.filename == "aandachtskaart-VRU-2026-0001-gbt.pdf"
    assert not any((m.title or "").startswith("Strategische") for m in h.inbox("gs-soest"))


async def test_ik_kom_later_in_the_middle_of_the_analyse_is_answered_with_a_button(
    new_harness: NewHarness,
) -> None:
    """The ROL, paged for the GBT while filling in the analyse, presses "Ik kom later": the
    typed answers stay with the analyse, so the time is chosen with a button instead."""
    h = await new_harness(region=REGION)
    await convened(h)
    await h.say("rol-b", "/analyse")
    await h.say("rol-b", "/wijzig inzet")
    await h.press("rol-b", "Coming later")
    asked = h.inbox("rol-b")[-1]
    assert asked.text.startswith("What time will you be there? Choose below. To type a time")
    assert [b.label for b in asked.buttons] == [
        "Coming (within 90 min)",
        "Coming (within 2 hours)",
        "Coming (within 3 hours)",
    ]
    await h.press("rol-b", "Coming (within 2 hours)")
    await h.advance(1 / 60)
    assert "✅ ROL *: komt: Rol Bert ±05:07" in boards(h, "caco")[0]  # pressed at 03:07
    # The analyse was not disturbed: the next text is its answer.
    await h.say("rol-b", "Twee blusgroepen")
    await h.say("rol-b", "/overzicht")
    assert "✓ Current response and measures (Rol Bert)" in h.texts("rol-b")


async def test_a_time_chosen_with_a_button_leaves_nothing_to_type(
    new_harness: NewHarness,
) -> None:
    """After "Ik kom later" the IM chooses "binnen 90 min" instead of typing: a time typed
    afterwards is no longer taken as the arrival time."""
    h = await new_harness(region=REGION)
    await convened(h)
    await h.press("im", "Ik kom later")
    await h.press("im", "Ik kom (binnen 90 min)")
    await h.say("im", "05:00")
    await h.advance(1 / 60)
    board = boards(h, "caco")[0]
    assert "✅ IM *: komt: Info Ineke ±04:37" in board  # pressed at 03:07
    assert "±05:00" not in board


async def test_the_arrival_time_question_gives_way_and_ends_with_its_incident(
    new_harness: NewHarness,
) -> None:
    """ "Ik kom later" asks a time, but the question blocks nothing: the ROL can start the
    analyse, and once the incident is closed a typed time ends the question."""
    h = await new_harness(region=REGION)
    await convened(h)
    await h.press("rol-b", "Coming later")
    await h.say("rol-b", "/analyse")
    assert "still filling in something else" not in h.texts("rol-b")
    await h.say("rol-b", "/overzicht")
    assert "✗ Current response and measures – required, still empty" in h.texts("rol-b")

    await h.press("im", "Ik kom later")
    await h.say("caco", "/sluit 0001")
    await h.press("caco", "Ja, sluiten")
    await h.say("im", "05:00")
    assert h.last("im") == "VRU-2026-0001 is gesloten: er wordt niemand meer opgeroepen."
    await h.say("im", "hallo")  # no longer taken as an arrival time
    assert h.last("im") == "Ik verwacht nu geen tekst. Typ /help voor wat ik kan."


async def test_a_time_chosen_after_ik_kom_niet_is_refused(new_harness: NewHarness) -> None:
    """The question's buttons stay on screen; after "Ik kom niet" (the backup is paged)
    choosing a time there changes nothing and says how to come after all."""
    h = await new_harness(region=REGION)
    await convened(h)
    await h.press("comm-kees", "Ik kom later")
    await h.press("comm-kees", "Ik kom niet")
    await h.press("comm-kees", "Ik kom (binnen 90 min)")
    assert h.last("comm-kees") == (
        "Je hebt gemeld dat je niet naar GBT komt, dus is je functie verder opgeroepen. "
        "Kun je toch komen? Bel de Caco."
    )
    await h.advance(1 / 60)
    assert "komt niet: Comm Kees" in boards(h, "caco")[0]
    assert "komt: Comm Kees" not in boards(h, "caco")[0]


async def test_refusals_change_nothing(new_harness: NewHarness, engine: AsyncEngine) -> None:
    h = await new_harness(region=REGION)
    await convened(h)
    await h.say("bgm-soest", "/bt bijeenroepen")
    assert "is al bijeengeroepen door Burgemeester Soest" in h.last("bgm-soest")
    await h.say("gs-soest", "/bt bijeenroepen")
    assert h.last("gs-soest").startswith("Het BT wordt bijeengeroepen door de burgemeester")
    await h.say("vz-vera", "/bt bijeenroepen 0001 rbt")
    assert h.last("vz-vera") == "Het RBT hoort bij GRIP 4; VRU-2026-0001 staat daar niet op."
    await h.say("buiten", "/besluit Scholen dicht")
    assert h.last("buiten").startswith("Je hoort bij geen bijeengeroepen BT")
    await h.say("caco", "/sluit 0001")
    await h.press("caco", "Ja, sluiten")
    await h.say("bgm-soest", "/bt bijeenroepen 0001")
    assert h.last("bgm-soest") == "VRU-2026-0001 is gesloten: er wordt niemand meer opgeroepen."
    assert "Het incident is gesloten" in boards(h, "caco")[0]


async def test_decisions_actions_and_the_logbook(new_harness: NewHarness) -> None:
    h = await new_harness(region=REGION)
    await convened(h)
    await h.press("tv-tom", "Ik kom (binnen 15 min)")
    await h.say("tv-tom", "/besluit Scholen in Soest blijven morgen dicht")
    assert "besluit 1 (onbekend" not in h.last("bgm-soest")
    assert "VRU-2026-0001 – besluit 1" in h.last("bgm-soest")
    await h.say("tv-tom", "/besluit Scholen in Soest blijven morgen dicht")
    assert h.last("tv-tom") == "Dat is besluit 1, net vastgelegd; er is niets dubbel opgeslagen."
    await h.say("tv-tom", "/besluit wijzig 1 Scholen in Soest blijven twee dagen dicht")
    assert "(was: Scholen in Soest blijven morgen dicht)" in h.last("caco")
    # The incident first, as the bot advises someone in two teams: a change, not a decision.
    await h.say(
        "tv-tom", "/besluit VRU-2026-0001 wijzig 1 Scholen in Soest blijven drie dagen dicht"
    )
    assert "(was: Scholen in Soest blijven twee dagen dicht)" in h.last("caco")
    await h.say("tv-tom", "/actie gs-soest Ouders informeren via de scholen")
    assert "actie 1 voor u (van Voorzitter Tom)" in h.last("gs-soest")  # share list: "u"
    await h.say("tv-tom", "/besluiten")
    listed = h.last("tv-tom")
    assert "Besluit 1" in listed and "drie dagen dicht" in listed
    assert "Besluit 2" not in listed
    assert "Actie 1" in listed and "voor Secretaris Soest" in listed
    await h.say("caco", "/logboek 0001")
    log = h.last("caco")
    assert "team bijeengeroepen" in log
    assert "besluit gewijzigd" in log
    await h.say("buiten", "/logboek 0001")
    assert h.last("buiten").startswith("Het logboek van VRU-2026-0001 is voor")


async def test_a_restart_in_the_middle_of_a_call_out_keeps_its_timers(
    new_harness: NewHarness,
) -> None:
    h = await new_harness(region=REGION)
    await convened(h)
    await h.app.close()
    # A new process on the same database: the escalation is a timer row, so the backup
    # technisch voorzitter is paged when the answer time runs out.
    again = await new_harness(region=REGION, clock=FakeClock(h.clock.now()))
    await again.advance(10)
    assert [m.title for m in again.inbox("tv-tineke")] == ["Oproep GBT", "Aanwezigheid GBT"]


BGM = "(SELECT id FROM person WHERE key = 'bgm-soest')"


def _as_dict(state: object) -> dict[str, object]:
    """A stored conversation as JSON gives it back (a dict, or text on SQLite)."""
    found = json.loads(state) if isinstance(state, str) else state
    assert isinstance(found, dict)
    return found


async def test_a_convening_whose_team_went_away_ends_and_frees_the_person(
    new_harness: NewHarness, engine: AsyncEngine
) -> None:
    """A region import removed the team while the burgemeester was convening it: the next
    answer ends the flow (committed), and /alarm-style commands work again."""
    h = await new_harness(region=REGION)
    await h.say("caco", "/alarm Soest: gaslek Kerkstraat")
    await h.press("caco", "Bevestigen en pagen")
    await h.say("bgm-soest", "/bt bijeenroepen")
    async with engine.begin() as conn:
        state = (
            await conn.execute(text(f"SELECT state FROM conversation WHERE person_id = {BGM}"))
        ).scalar_one()
        assert state is not None
        await conn.execute(
            text(f"UPDATE conversation SET state = :s WHERE person_id = {BGM}"),
            {
                "s": json.dumps(
                    {
                        **(state if isinstance(state, dict) else json.loads(state)),
                        "team_key": "gone",
                    }
                )
            },
        )
    await h.say("bgm-soest", "Gemeentehuis Soest")
    assert h.last("bgm-soest") == t(Language.NL, "bt.flow_stale")
    async with engine.connect() as conn:
        left = (
            await conn.execute(text(f"SELECT count(*) FROM conversation WHERE person_id = {BGM}"))
        ).scalar_one()
    assert left == 0
    await h.say("bgm-soest", "/bt bijeenroepen")
    assert h.last("bgm-soest") != t(Language.NL, "bt.already_busy")
