"""When nobody is left to page (issue 12, defect 9): the Caco is told plainly to arrange it by
phone, /status says the same, and nothing claims an escalation that does not happen."""

from __future__ import annotations

from tests.helpers import Harness

NOBODY_LEFT = "VRU-2026-0001: ⚠ niemand meer over om op te roepen voor ROL. Regel het telefonisch."
STATUS = """ALARMERING VRU-2026-0001
Gemeente: Soest
gaslek Kerkstraat
Locatie: onbekend
Opschaling: onbekend
Gemeld door Caco Test om 03:07
ROL: ⚠ niemand meer over om op te roepen. Regel het telefonisch.
  • Rol Bert: kan niet 03:07
  • Rol Cees: kan niet 03:07
  • Coord Cor: kan niet 03:07"""


def claims_escalation(text: str) -> bool:
    lowered = text.casefold()
    return any(
        words in lowered
        for words in ("doorgeschaald", "volgende stap", "geëscaleerd", "escalat", "next step")
    )


async def test_everyone_at_every_step_declines(harness: Harness) -> None:
    await harness.raise_alarm()
    await harness.press("rol-b", "Can't")  # on duty
    await harness.press("rol-c", "Kan niet")  # backup
    told_before = len(harness.inbox("caco"))
    await harness.press("coord", "Kan niet")  # the last step

    after = [m.text for m in harness.inbox("caco")[told_before:]]
    assert after == ["VRU-2026-0001: Coord Cor kan niet (ROL), om 03:07.", NOBODY_LEFT]
    assert not any(claims_escalation(text) for text in after)
    # The coordinator's own page says nothing about an escalation either.
    assert harness.inbox("coord")[-1].text.endswith(
        "Je hebt om 03:07 laten weten dat je niet kunt (Coord Cor). De meldkamer is op de hoogte."
    )

    await harness.say("caco", "/status")
    status = harness.inbox("caco")[-1]
    assert status.title == "Open incidenten (1)"
    assert status.text == STATUS

    # Nothing repeats: there is nobody to repeat to, and the Caco is not told again.
    told = len(harness.inbox("caco"))
    await harness.advance(30)
    assert len(harness.inbox("caco")) == told
    assert [len(harness.inbox(k)) for k in ("rol-a", "rol-b", "rol-c", "coord")] == [0, 1, 1, 1]

    # Closing still works and ends it.
    await harness.say("caco", "/sluit 0001")
    await harness.press("caco", "Ja, sluiten")
    assert "is gesloten door Caco Test" in harness.last("caco")


async def test_escalation_is_announced_only_when_a_next_step_exists(harness: Harness) -> None:
    await harness.raise_alarm()
    await harness.press("rol-b", "Can't")
    # Bert's decline moved the page on to the backup: his page says so (in English).
    assert harness.inbox("rol-b")[0].text.endswith(
        "You said at 03:07 that you can't (Rol Bert). Escalating."
    )
    await harness.press("rol-c", "Kan niet")
    assert harness.inbox("rol-c")[0].text.endswith(
        "Je hebt om 03:07 laten weten dat je niet kunt (Rol Cees). Er wordt doorgeschaald."
    )
    assert "geëscaleerd naar Piketcoördinator – Coord Cor" in harness.texts("caco")

    # The coordinator, the last step, cannot be reached: no escalation is claimed.
    told_before = len(harness.inbox("caco"))
    harness.transport.unreachable.add("coord")  # no transport reaches him now
    await harness.advance(5)  # Cor's page is repeated, and reaches him nowhere
    after = [m.text for m in harness.inbox("caco")[told_before:]]
    assert any("Coord Cor is onbereikbaar" in text for text in after), after
    assert after[-1] == NOBODY_LEFT
    assert not any(claims_escalation(text) for text in after)


async def test_an_empty_last_step_is_a_dead_end_not_a_next_step(harness: Harness) -> None:
    """Nobody answers at all, and the last step has nobody left (its only person declined
    an earlier page): the Caco is told once, plainly."""
    await harness.raise_alarm()
    await harness.advance(10)  # Bert paged twice, then Cees
    await harness.press("rol-c", "Kan niet")
    await harness.press("coord", "Kan niet")
    await harness.advance(30)
    caco = [m.text for m in harness.inbox("caco")]
    assert caco.count(NOBODY_LEFT) == 1
    assert not any("volgende stap" in text for text in caco)
    # Bert never answered: he still holds a live page and may still take it.
    await harness.press("rol-b", "I'll take it")
    assert "VRU-2026-0001: ✅ opgepakt door Rol Bert (ROL)" in harness.texts("caco")
    await harness.say("caco", "/status")
    assert "ROL: opgepakt door Rol Bert" in harness.last("caco")
