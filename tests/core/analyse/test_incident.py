"""The analyse as part of its incident: /status shows it, the close reaches those who worked
on it or received it, and a closed incident's analyse is still read but no longer acted on."""

from __future__ import annotations

from tests.core.analyse.test_service import _acknowledged, _fill_required
from tests.helpers import Harness


async def _published(h: Harness) -> None:
    await _acknowledged(h)
    await h.say("rol-b", "/analyse")
    await h.say("rol-b", "/analyse uitnodigen Info Ineke")
    await h.press("im", "Meedoen")
    await _fill_required(h)
    await h.say("rol-b", "/deel")


async def test_status_shows_what_the_analyse_says(harness: Harness) -> None:
    h = harness
    await _acknowledged(h)
    await h.say("rol-b", "/analyse")
    await _fill_required(h)
    await h.say("rol-b", "/wijzig opschaling")
    await h.press("rol-b", "GRIP 3")
    await h.say("caco", "/status")
    before = h.last("caco")
    assert "Opschaling: onbekend" in before
    assert "Analyse: in voorbereiding, nog niet verstuurd\nBT: niet bijeengeroepen" in before

    await h.say("rol-b", "/deel")
    await h.say("caco", "/status")
    published = h.last("caco")
    assert "Opschaling: GRIP 3" in published
    assert "Analyse: versie 1, verstuurd om 03:07; gelezen door: nog niemand" in published

    await h.press("bgm-soest", "Gelezen")
    await h.press("bgm-soest", "BT bijeenroepen")
    await h.press("bgm-soest", "Ja, BT bijeenroepen")
    await h.say("caco", "/status")
    convened = h.last("caco")
    assert "gelezen door: Burgemeester Soest\n" in convened
    assert "BT: bijeengeroepen door Burgemeester Soest om 03:07" in convened
    await h.say("rol-b", "/status")
    assert "Analysis: version 1, sent at 03:07; read by: Burgemeester Soest" in h.last("rol-b")


async def test_a_copy_of_an_older_version_says_a_newer_one_exists(harness: Harness) -> None:
    h = harness
    await _published(h)
    old_share = h.button("bgm-soest", "Deel met…")  # on version 1
    await h.say("rol-b", "/wijzig feitelijk_beeld")
    await h.say("rol-b", "Brand uitgebroken")
    await h.say("rol-b", "/deel")
    # The burgemeester shares version 1 from its message after version 2 went out.
    await h.press_data("bgm-soest", old_share)
    await h.press("bgm-soest", "Secretaris Soest")
    note = (
        "Let op: dit is versie 1. Inmiddels is er versie 2, die (nog) niet is gedeeld. "
        "De burgemeester kan die delen met de knop Deel met…"
    )
    copy = h.inbox("gs-soest")
    assert copy[0].title == "Strategische analyse VRU-2026-0001 – versie 1"
    assert copy[-1].text == note
    await h.say("gs-soest", "/analyse toon")
    assert h.inbox("gs-soest")[-2].title == "Strategische analyse VRU-2026-0001 – versie 1"
    assert h.last("gs-soest") == note


async def test_after_sluit_the_analyse_is_read_by_short_id_and_nobody_is_called(
    harness: Harness,
) -> None:
    h = harness
    await _published(h)
    await h.press("bgm-soest", "BT bijeenroepen")  # asked before the close ...
    await h.say("caco", "/sluit 0001")
    await h.press("caco", "Ja, sluiten")
    told = (
        "Incident VRU-2026-0001 is gesloten door Caco Test om 03:07. "
        "De analyse blijft te lezen met /analyse toon VRU-2026-0001."
    )
    assert h.last("bgm-soest") == told
    assert h.last("im") == told
    assert h.last("rol-b") == (
        "Incident VRU-2026-0001 was closed by Caco Test at 03:07. "
        "The analysis can still be read with /analysis show VRU-2026-0001."
    )
    rol_before = len(h.inbox("rol-b"))

    await h.press("bgm-soest", "Ja, BT bijeenroepen")  # ... answered after it
    assert h.last("bgm-soest") == (
        "Incident VRU-2026-0001 is gesloten; het BT kan daarvoor niet meer worden bijeengeroepen."
    )
    await h.press("bgm-soest", "BT bijeenroepen")
    assert h.inbox("bgm-soest")[-1].buttons == ()
    await h.press("bgm-soest", "Bel mij")
    assert h.last("bgm-soest") == (
        "Incident VRU-2026-0001 is gesloten; via deze knop wordt niemand meer gevraagd terug"
        " te bellen. Bel bij spoed de meldkamer."
    )
    assert len(h.inbox("rol-b")) == rol_before, "no call-back request, no BT"
    assert "roept het beleidsteam" not in h.texts("caco")

    await h.say("bgm-soest", "/analyse toon 0001")
    assert h.inbox("bgm-soest")[-1].title == "Strategische analyse VRU-2026-0001 – versie 1"
