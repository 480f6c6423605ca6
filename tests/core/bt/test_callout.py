"""Calling a team out, through the core (fake clock): the Caco's alertering of the whole
ROT, the RBT at GRIP 4, "Ik kom toch niet" re-opening the function, a new analyse version
reaching whoever comes, and bad input answered clearly with nothing changed."""

from __future__ import annotations

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from tests.helpers import Harness, NewHarness
from tests.helpers.bt import REGION, boards, convened, publish

KAART = "Strategische aandachtskaart – GBT – VRU-2026-0001"


async def _state(engine: AsyncEngine) -> dict[str, int]:
    """How much the beleidsteam holds: a refusal changes none of it."""
    found = {}
    async with engine.connect() as conn:
        for table in ("bt_callout", "bt_member", "bt_attendance", "bt_record", "page", "timer"):
            found[table] = (await conn.execute(text(f"SELECT count(*) FROM {table}"))).scalar_one()
        found["paged"] = (
            await conn.execute(text("SELECT count(*) FROM page_target WHERE status = 'paged'"))
        ).scalar_one()
    return found


def _titled(h: Harness, who: str, title: str) -> list[str]:
    return [m.text for m in h.inbox(who) if m.title == title]


async def test_the_caco_alerts_the_whole_rot_and_sees_who_has_seen_it(
    new_harness: NewHarness,
) -> None:
    h = await new_harness(region=REGION)
    await h.raise_alarm()
    await h.say("caco", "/bt bijeenroepen 0001 rot")
    await h.press("caco", "Norm")  # the ROT's norm: 45 minutes
    await h.say("caco", "Meldkamer")
    await h.press("caco", "Als alertering (Gezien)")
    assert h.last("caco").startswith("ROT – alertering\n")
    await h.press("caco", "Bevestigen en oproepen")
    notice, shown = h.inbox("caco")[-2:]
    assert notice.text == "ROT is opgeroepen (alertering). Je ziet op het bord wie komt."
    assert shown.title == "Aanwezigheid ROT"  # the board the notice points to comes after it
    # Every function of the composition at once, each with only "Gezien".
    for who in ("im", "comm-kees", "ghor-gert"):
        page = next(m for m in h.inbox(who) if m.title == "Oproep ROT")
        assert page.text.endswith("Ter informatie: laat met Gezien weten dat je het weet.")
        assert [b.label for b in page.buttons] == ["Gezien"]
    page = next(m for m in h.inbox("rol-b") if m.title == "Call-out ROT")
    assert [b.label for b in page.buttons] == ["Seen"]
    await h.press("im", "Gezien")
    await h.press("ghor-gert", "Gezien")
    await h.advance(1 / 60)
    board = _titled(h, "caco", "Aanwezigheid ROT")
    assert len(board) == 1
    assert "✅ IM *: gezien: Info Ineke" in board[0]
    assert "✅ Adviseur GHOR: gezien: Ghor Gert" in board[0]
    assert "⏳ Communicatieadviseur *: opgeroepen, nog geen antwoord: Comm Kees" in board[0]
    assert "Sterkte: 1 van 3 verplichte functies gedekt; 0 komen." in board[0]
    # An alertering asks nothing more: no aandachtskaart, no escalation to the backup.
    assert not any((m.title or "").startswith("Strategische") for m in h.inbox("im"))
    await h.advance(15)
    assert h.inbox("comm-karin") == []


async def test_the_voorzitter_convenes_the_rbt_at_grip_4(new_harness: NewHarness) -> None:
    h = await new_harness(region=REGION)
    await h.raise_alarm()
    await h.press("rol-b", "I'll take it")
    await publish(h, grip="GRIP 4")
    await h.say("vz-vera", "/bt bijeenroepen 0001")  # her own team: the RBT
    assert h.inbox("vz-vera")[-2].text.startswith("RBT bijeenroepen voor VRU-2026-0001")
    await h.press("vz-vera", "Norm")
    await h.say("vz-vera", "Provinciehuis")
    confirm = h.last("vz-vera")
    assert "Technisch voorzitter *: Voorzitter Tom (backup Voorzitter Tineke)" in confirm
    assert "IM *: Info Ineke" in confirm
    await h.press("vz-vera", "Bevestigen en oproepen")
    await h.press("tv-tom", "Ik kom (binnen 30 min)")
    await h.press("im", "Ik kom (binnen 15 min)")
    await h.press("rol-b", "Coming (within 15 min)")
    await h.advance(1 / 60)
    board = _titled(h, "vz-vera", "Aanwezigheid RBT")
    assert len(board) == 1
    assert "Sterkte: 3 van 3 verplichte functies gedekt; 3 komen." in board[0]
    # A regional team: no gemeente's burgemeester is part of it.
    assert _titled(h, "bgm-soest", "Aanwezigheid RBT") == []
    assert any(
        m.title == "Strategische aandachtskaart – RBT – VRU-2026-0001" for m in h.inbox("im")
    )


async def test_ik_kom_toch_niet_opens_the_function_again_for_the_backup(
    new_harness: NewHarness,
) -> None:
    h = await new_harness(region=REGION)
    await convened(h)
    await h.press("tv-tom", "Ik kom (binnen 15 min)")
    page = next(m for m in h.inbox("tv-tom") if m.title == "Oproep GBT")
    assert "✅ Voorzitter Tom komt" in page.text
    assert [b.label for b in page.buttons] == ["Ik kom toch niet"]
    assert h.inbox("tv-tineke") == []
    await h.press("tv-tom", "Ik kom toch niet")
    assert h.inbox("tv-tineke")[-1].title == "Oproep GBT"  # at once, not after 10 minutes
    assert h.last("tv-tom") == "Genoteerd: je komt niet naar GBT. Je backup wordt opgeroepen."
    page = next(m for m in h.inbox("tv-tom") if m.title == "Oproep GBT")
    assert "❌ Voorzitter Tom komt niet" in page.text  # no longer "komt"
    assert "✅" not in page.text and [b.label for b in page.buttons] == []
    await h.advance(1 / 60)
    board = boards(h, "caco")[0]
    assert (
        "⏳ Technisch voorzitter *: opgeroepen, nog geen antwoord: Voorzitter Tineke; "
        "komt niet: Voorzitter Tom"
    ) in board
    await h.press("tv-tineke", "Ik kom (binnen 30 min)")
    await h.advance(1 / 60)
    assert "✅ Technisch voorzitter *: komt: Voorzitter Tineke" in boards(h, "caco")[0]
    # The backup can no longer come either: nobody is left, and she is not told otherwise.
    await h.press("tv-tineke", "Ik kom toch niet")
    assert h.last("tv-tineke") == (
        "Genoteerd: je komt niet naar GBT. Er is niemand meer om voor je functie op te "
        "roepen; de Caco regelt het telefonisch."
    )


async def test_a_new_analyse_version_reaches_who_comes_with_its_changes_marked(
    new_harness: NewHarness,
) -> None:
    h = await new_harness(region=REGION)
    await h.raise_alarm()
    await h.press("rol-b", "I'll take it")
    await publish(h)
    await h.say("bgm-soest", "/bt bijeenroepen")
    await h.press("bgm-soest", "Norm")
    await h.say("bgm-soest", "Gemeentehuis Soest")
    await h.press("bgm-soest", "Bevestigen en oproepen")
    await h.press("tv-tom", "Ik kom (binnen 15 min)")
    kaart = next(m for m in h.inbox("tv-tom") if m.title == KAART)
    assert "Kernbeeld (analyse versie 1)" in kaart.text
    assert "Lopende inzet en maatregelen: inzet tekst" in kaart.text
    await h.say("rol-b", "/wijzig inzet")
    await h.say("rol-b", "Tweede blusgroep")
    await h.say("rol-b", "/deel")
    update = h.inbox("tv-tom")[-1]
    assert update.title == "Nieuwe analyse VRU-2026-0001 – versie 2"
    assert update.text.startswith(
        "Kernbeeld van versie 2; ✱ = gewijzigd (Lopende inzet en maatregelen)."
    )
    assert "\n✱ Lopende inzet en maatregelen: Tweede blusgroep\n" in update.text
    assert "\nFeitelijk beeld: feitelijk_beeld tekst\n" in update.text  # unchanged: unmarked
    # Paged but not (yet) coming: no update.
    assert not any((m.title or "").startswith("Nieuwe analyse") for m in h.inbox("gs-soest"))


async def test_bad_input_is_answered_clearly_and_changes_nothing(
    new_harness: NewHarness, engine: AsyncEngine
) -> None:
    h = await new_harness(region=REGION)
    await convened(h)
    await h.press("tv-tom", "Ik kom (binnen 15 min)")
    await h.say("tv-tom", "/besluit Scholen dicht")
    before = await _state(engine)

    # An arrival time of "gisteren".
    await h.press("im", "Ik kom later")
    await h.say("im", "gisteren")
    assert h.last("im") == "'gisteren' ligt in het verleden. Geef een tijdstip in de toekomst."
    await h.say("im", "25:99")  # not a summer-time gap in November: no such clock time
    assert h.last("im") == "'25:99' is geen tijdstip: de uren gaan tot 23, de minuten tot 59."
    assert await _state(engine) == before, "IM's page still waits for an answer"
    # The same decision again within a minute.
    await h.say("tv-tom", "/besluit  scholen DICHT ")
    assert h.last("tv-tom") == "Dat is besluit 1, net vastgelegd; er is niets dubbel opgeslagen."
    # A decision by someone outside the BT, and by a member without a recording function.
    await h.say("buiten", "/besluit Wegen afsluiten")
    assert h.last("buiten") == "Je hoort bij geen bijeengeroepen BT; besluiten legt het BT vast."
    await h.press("gs-soest", "Ik kom (binnen 30 min)")
    after_answer = await _state(engine)
    await h.say("gs-soest", "/besluit Wegen afsluiten")
    assert h.last("gs-soest") == (
        "Besluiten en acties legt de IM, de notulist, de technisch voorzitter of de "
        "burgemeester vast."
    )
    # A second convening while this one is under way.
    await h.say("bgm-soest", "/bt bijeenroepen")
    assert h.last("bgm-soest").startswith("GBT voor VRU-2026-0001 is al bijeengeroepen door")
    # The ROL convening for the burgemeester is the same team: refused as well.
    await h.say("rol-a", "/bt bijeenroepen 0001")
    assert "is al bijeengeroepen door Burgemeester Soest" in h.last("rol-a")
    assert await _state(engine) == after_answer
    assert after_answer["bt_record"] == before["bt_record"] == 1
    assert after_answer["bt_callout"] == 1

    # A minute later the same words are a new decision, on purpose.
    await h.advance(1)
    await h.say("tv-tom", "/besluit Scholen dicht")
    assert (await _state(engine))["bt_record"] == 2

    # Convening a closed incident, and answering a page of it (a button of before).
    coming = h.button("im", "Ik kom (binnen 15 min)")
    await h.say("caco", "/sluit 0001")
    await h.press("caco", "Ja, sluiten")
    closed = await _state(engine)
    await h.say("caco", "/bt bijeenroepen 0001 rot")
    assert h.last("caco") == "VRU-2026-0001 is gesloten: er wordt niemand meer opgeroepen."
    await h.press_data("im", coming)
    assert h.last("im") == "VRU-2026-0001 is gesloten: er wordt niemand meer opgeroepen."
    assert await _state(engine) == closed


async def test_the_burgemeester_and_the_share_list_read_u(new_harness: NewHarness) -> None:
    h = await new_harness(region=REGION)
    await convened(h)
    assert "GBT is opgeroepen (alarmering). U ziet op het bord wie komt." in h.texts("bgm-soest")
    secretaris = next(m for m in h.inbox("gs-soest") if m.title == "Oproep GBT")
    assert "Uw functie: Gemeentesecretaris" in secretaris.text
    assert secretaris.text.endswith("Komt u?")
    voorzitter = next(m for m in h.inbox("tv-tom") if m.title == "Oproep GBT")
    assert voorzitter.text.endswith("Kom je?")  # operational staff: "je"
    await h.press("gs-soest", "Ik kom (binnen 30 min)")
    assert any(m.text.startswith("Genoteerd: u komt naar GBT") for m in h.inbox("gs-soest"))
