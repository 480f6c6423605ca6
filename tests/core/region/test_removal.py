"""A paged person taken out of the region by a re-import (issue 12, defect 7): they stay
readable for the incidents they were paged for, get nothing more, cannot use the bot, their
open page is withdrawn and the escalation moves on."""

from __future__ import annotations

from tests.helpers import REGION_FILE, Harness, load_region

# The test region without Bert (the ROL on duty at the harness's start); the rotation goes on
# with Anna and Cees (on 2026-11-24 it is Anna's turn, Cees is backup).
WITHOUT_BERT = (
    REGION_FILE.read_text("utf-8")
    .replace("  - {key: rol-b, name: Rol Bert, functions: [rol], language: en}\n", "")
    .replace("members: [rol-a, rol-b, rol-c]", "members: [rol-a, rol-c]")
)


async def remove_bert(harness: Harness) -> None:
    assert "rol-b" not in WITHOUT_BERT
    await load_region(harness.app.engine, WITHOUT_BERT)


async def test_the_backup_acknowledges_after_the_paged_rol_left_the_region(
    harness: Harness,
) -> None:
    await harness.raise_alarm()
    await harness.advance(10)  # Bert repeated, then escalated to Cees
    assert harness.inbox("rol-c")
    await remove_bert(harness)
    bert_had = len(harness.inbox("rol-b"))

    await harness.press("rol-c", "Ik pak het op")
    assert "Je hebt VRU-2026-0001 opgepakt" in harness.last("rol-c")
    caco = harness.texts("caco")
    assert "VRU-2026-0001: ✅ opgepakt door Rol Cees (ROL)" in caco
    assert (
        "VRU-2026-0001: Rol Bert staat niet meer in de regio; de oproep als ROL is ingetrokken."
        in caco
    )
    # Bert is no longer told anything: his old page messages are not even updated.
    assert len(harness.inbox("rol-b")) == bert_had
    assert all("Taken by" not in m.text for m in harness.inbox("rol-b"))

    await harness.say("caco", "/status")
    status = harness.last("caco")
    assert "ROL: opgepakt door Rol Cees" in status
    assert "  • Rol Bert: niet meer in de regio, oproep ingetrokken" in status
    await harness.say("rol-c", "/status")
    assert "Rol Bert: niet meer in de regio" in harness.last("rol-c")

    await harness.say("caco", "/sluit 0001")
    await harness.press("caco", "Ja, sluiten")
    assert "is gesloten door Caco Test" in harness.last("caco")
    assert "Gesloten" not in harness.texts("rol-b") and len(harness.inbox("rol-b")) == bert_had


async def test_status_and_close_work_while_the_removed_rol_is_still_the_open_target(
    harness: Harness,
) -> None:
    await harness.raise_alarm()
    await remove_bert(harness)

    await harness.say("caco", "/status")
    status = harness.last("caco")
    assert "VRU-2026-0001" in status
    assert "  • Rol Bert: niet meer in de regio" in status

    await harness.say("caco", "/sluit 0001")
    await harness.press("caco", "Ja, sluiten")
    assert "is gesloten door Caco Test" in harness.last("caco")
    assert len(harness.inbox("rol-b")) == 1  # only the page he got while still in the region


async def test_the_escalation_moves_on_when_the_removed_rol_was_the_only_open_target(
    harness: Harness,
) -> None:
    await harness.raise_alarm()
    await remove_bert(harness)
    await harness.advance(5)

    caco = harness.texts("caco")
    assert (
        "VRU-2026-0001: Rol Bert staat niet meer in de regio; de oproep als ROL is ingetrokken."
        in caco
    )
    # Not a repeat of the first step: the next step, the backup (Cees), at once.
    assert "opnieuw gepaged" not in caco
    assert "VRU-2026-0001: geëscaleerd naar backup ROL – Rol Cees om 03:12." in caco
    assert harness.inbox("rol-c")[-1].title == "ALARM – reageer nu"
    assert harness.inbox("rol-a") == []
    assert len(harness.inbox("rol-b")) == 1


async def test_a_removed_person_cannot_use_the_bot(harness: Harness) -> None:
    await harness.raise_alarm()
    page_button = harness.button("rol-b", "I'll take it")
    await remove_bert(harness)

    answer = await harness.say("rol-b", "/status")
    assert [m.text for m in answer] == [
        "Je bent niet geregistreerd. Vraag je piketcoördinator om een koppelcode."
    ]
    answer = await harness.press_data("rol-b", page_button)
    assert [m.text for m in answer] == [
        "Je bent niet geregistreerd. Vraag je piketcoördinator om een koppelcode."
    ]
    await harness.say("caco", "/status")
    assert "opgepakt" not in harness.last("caco")
