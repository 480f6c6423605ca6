"""Who works on the analyse with whom: the IM on duty by the roster is invited when the ROL
starts, and one person (the ROL) calls the burgemeester back."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from sqlalchemy.ext.asyncio import AsyncEngine

from tests.core.analyse.test_service import _acknowledged, _fill_required
from tests.helpers import REGION_FILE, Harness, make_harness


@pytest.fixture
async def im_harness(engine: AsyncEngine) -> AsyncIterator[Harness]:
    """The test region with an IM rotation: this week it is Ineke's turn."""
    region = (
        REGION_FILE.read_text("utf-8")
        .replace(
            "  - key: coordinator\n",
            "  - key: im\n    name: IM\n  - key: coordinator\n",
        )
        .replace(
            "  - {key: coord,",
            "  - {key: im-ivo, name: Info Ivo, functions: [im]}\n  - {key: coord,",
        )
    )
    region += (
        '  - {function: im, members: [im, im-ivo], start: "2026-01-05T08:00:00", shift_days: 7}\n'
    )
    harness = await make_harness(engine, region=region)
    yield harness
    await harness.app.close()


async def test_the_roster_im_on_duty_is_invited_when_the_rol_starts(im_harness: Harness) -> None:
    h = im_harness
    # The coordinator puts Ivo on an explicit IM shift: the roster now says Ivo, not Ineke.
    await h.say("coord", "/dienst Info Ivo van vandaag 03:00 tot vandaag 20:00 voor im")
    await h.press("coord", "Bevestigen")
    await _acknowledged(h)
    await h.press("rol-b", "Start strategic analysis")
    invitation = h.inbox("im-ivo")[-1]
    assert invitation.text == (
        "Rol Bert nodigt je uit om mee te werken aan de strategische analyse van VRU-2026-0001."
    )
    assert [b.label for b in invitation.buttons] == ["Meedoen", "Nee"]
    assert "nodigt je uit" not in h.texts("im")
    assert "The IM on duty, Info Ivo, has been invited to join." in h.texts("rol-b")
    # Without a name, /analyse uitnodigen means the roster's IM on duty too.
    await h.say("rol-b", "/analyse uitnodigen")
    assert h.last("rol-b") == "Info Ivo has been invited."
    assert "nodigt je uit" not in h.texts("im")
    # The invited IM may also join by naming the incident.
    await h.say("im-ivo", "/analyse VRU-2026-0001")
    assert h.inbox("im-ivo")[-1].title == "Vraag 2/16: Opschaling (verplicht)"
    assert h.last("rol-b") == "Info Ivo is now co-editing."


async def test_the_im_on_duty_joins_by_naming_the_incident(im_harness: Harness) -> None:
    h = im_harness
    await _acknowledged(h)
    await h.say("rol-b", "/analyse")
    await h.press("im", "Nee")  # Ineke, on duty, declines the invitation ...
    await h.say("im", "/analyse VRU-2026-0001")  # ... and joins after all
    assert h.inbox("im")[-1].title == "Vraag 2/16: Opschaling (verplicht)"
    # Ivo is not on duty and not invited: the refusal says how to get in.
    await h.say("im-ivo", "/analyse VRU-2026-0001")
    assert h.last("im-ivo") == (
        "Alleen de ROL of IM van VRU-2026-0001 vult de analyse in. De ROL kan je uitnodigen"
        " met /analyse uitnodigen <naam>; de IM van dienst doet mee met /analyse VRU-2026-0001."
    )


async def test_without_an_im_on_duty_the_rol_is_told_how_to_invite(harness: Harness) -> None:
    await _acknowledged(harness)
    await harness.press("rol-b", "Start strategic analysis")
    assert harness.inbox("rol-b")[-3].text == (
        "According to the roster no IM is on duty now. Invite someone with /analysis invite <name>."
    )
    await harness.say("rol-b", "/analyse uitnodigen")
    assert harness.last("rol-b") == (
        "According to the roster no IM is on duty now. Invite someone with /analysis invite <name>."
    )


async def test_bel_mij_asks_the_rol_alone_and_says_who_calls_back(harness: Harness) -> None:
    await _acknowledged(harness)
    await harness.say("rol-b", "/analyse")
    await harness.say("rol-b", "/analyse uitnodigen Info Ineke")
    await harness.press("im", "Meedoen")
    await _fill_required(harness)
    await harness.say("rol-b", "/deel")
    await harness.press("bgm-soest", "Bel mij")
    request = harness.inbox("rol-b")[-1]
    assert request.title == "Call-back request"
    assert request.text == "Burgemeester Soest asks you to call back about VRU-2026-0001 (03:07)."
    assert "Terugbelverzoek" not in [m.title for m in harness.inbox("im")]
    assert harness.last("bgm-soest").startswith("Rol Bert is gevraagd ")
    assert harness.last("caco") == (
        "VRU-2026-0001: Burgemeester Soest heeft om 03:07 gevraagd om teruggebeld te worden;"
        " Rol Bert belt terug."
    )
