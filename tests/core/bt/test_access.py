"""BT data of gemeente A never reaches anyone outside A's BT, the Caco and the ROL: every
person of the demo region against every team called out (the GBT of Soest, the GBT of
Zeist convened by the ROL for its burgemeester, the ROT for Amersfoort), both for what
was sent (boards, pages, the aandachtskaart, decisions, actions, notices) and for asking
(/bt status, /besluiten, /logboek and the logbook as a file). And one incident in two
gemeenten, each convening its own GBT: neither BT sees the other's decisions, actions,
members or answers."""

from __future__ import annotations

import json
from collections import defaultdict
from datetime import UTC, datetime

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from core.bt.model import Callout, CalloutId
from core.bt.team import same_bt
from core.model import AlertKind, GemeenteId, IncidentId, PersonId
from scm_bot.demo import demo_region_text
from tests.helpers import Harness, NewHarness

CACO = "caco-carla"
ROL = "rol-rianne"  # on duty in the demo region on Tue 24 Nov 2026
MELDKAMER = {CACO, "rol-ruud", "rol-rianne", "rol-rob"}  # the Caco and the ROLs see every BT
INCIDENTS = {1: "soest", 2: "zeist", 3: "amersfoort"}


async def _alarm(h: Harness, line: str) -> None:
    await h.say(CACO, f"/alarm {line}")
    await h.press(CACO, "Bevestigen en pagen")
    await h.press(ROL, "Ik pak het op")


async def _convene(h: Harness, who: str, command: str, place: str) -> None:
    await h.say(who, command)
    await h.press(who, "Norm")
    await h.say(who, place)
    await h.press(who, "Bevestigen en oproepen")


async def _three_teams(h: Harness) -> None:
    """Three incidents, a team called out for each, answers, records and the norm time."""
    await _alarm(h, "Soest: gaslek Kerkstraat")
    await _convene(h, "bgm-soest", "/bt bijeenroepen", "Gemeentehuis Soest")
    await h.press("tv-thijs", "Ik kom (binnen 15 min)")
    await h.press("gs-soest", "Ik kom (binnen 30 min)")
    await h.press("comm-charlotte", "Ik kom niet")  # pages her backup, Koen

    await _alarm(h, "Zeist: brand Slotlaan")
    await _convene(h, ROL, "/bt bijeenroepen 0002", "https://meet.example/zeist")
    await h.press("gs-zeist", "Ik kom (binnen 15 min)")
    await h.press("tv-thijs", "Ik kom (binnen 30 min)")  # the chair of both GBTs

    await _alarm(h, "Amersfoort: stroomstoring")
    await _convene(h, CACO, "/bt bijeenroepen 0003 rot", "Meldkamer")
    await h.press("brw-bram", "Ik kom (binnen 15 min)")

    await h.say("tv-thijs", "/besluit VRU-2026-0001 Scholen in Soest dicht")
    await h.say("tv-thijs", "/actie VRU-2026-0001 gs-soest Ouders informeren")
    # An owner outside the BT is not told; the recorder hears so.
    await h.say("tv-thijs", "/actie VRU-2026-0001 gs-zeist Bussen regelen")
    assert "Gemeentesecretaris Zeist (demo) hoort niet bij dit BT" in h.inbox("tv-thijs")[-2].text
    await h.say("bgm-zeist", "/besluit Slotlaan afgesloten")
    await h.say(ROL, "/besluit VRU-2026-0003 Noodstroom naar het ziekenhuis")
    await h.advance(61)  # answer times run out (backups paged), the norm time passes


async def _teams(engine: AsyncEngine) -> tuple[dict[int, set[str]], dict[int, set[str]]]:
    """Per call-out, who is in it as the database says: everyone paged for it (and, for
    the second set, only who did not decline), its convener, the burgemeester it was
    convened for and the burgemeester of its gemeente."""
    ever: dict[int, set[str]] = defaultdict(set)
    now: dict[int, set[str]] = defaultdict(set)
    async with engine.connect() as conn:
        paged = await conn.execute(
            text(
                "SELECT m.callout_id, p.key, t.status FROM bt_member m "
                "JOIN page_target t ON t.page_id = m.page_id JOIN person p ON p.id = t.person_id"
            )
        )
        for callout, key, status in paged:
            ever[callout].add(key)
            if status != "declined":
                now[callout].add(key)
        heads = await conn.execute(
            text(
                "SELECT c.id, conv.key, behalf.key, mayor.key FROM bt_callout c "
                "JOIN person conv ON conv.id = c.convened_by "
                "LEFT JOIN person behalf ON behalf.id = c.on_behalf_of "
                "LEFT JOIN gemeente g ON g.id = c.gemeente_id "
                "LEFT JOIN person mayor ON mayor.id = g.burgemeester_id"
            )
        )
        for callout, *keys in heads:
            for found in (ever, now):
                found[callout] |= {k for k in keys if k is not None}
    return ever, now


async def test_every_person_against_every_bt(engine: AsyncEngine, new_harness: NewHarness) -> None:
    h = await new_harness(region=demo_region_text())
    await _three_teams(h)
    ever, now = await _teams(engine)
    callout_incident = {1: 1, 2: 2, 3: 3}
    # The teams are what the roster says for each gemeente, nothing more.
    assert {"gs-soest", "bgm-soest", "tv-thijs", "comm-koen"} <= now[1]
    assert "comm-charlotte" in ever[1] and "comm-charlotte" not in now[1]
    assert {"gs-zeist", "bgm-zeist", ROL, "tv-thijs"} <= now[2]
    assert {"brw-bram", CACO, ROL} <= now[3]
    for other in ("gs-soest", "bgm-soest", "acb-soest", "gs-amersfoort", "bgm-amersfoort"):
        assert other not in ever[2], other
    for other in ("gs-soest", "bgm-soest", "gs-zeist", "bgm-zeist", "bgm-amersfoort"):
        assert other not in ever[3], other
    by_incident: dict[int, set[str]] = defaultdict(set)
    for callout, incident in callout_incident.items():
        by_incident[incident] |= ever[callout]
    by_incident[1].add("bgm-soest")
    by_incident[2].add("bgm-zeist")
    by_incident[3].add("bgm-amersfoort")  # the burgemeester of the affected gemeente

    # 1. What was sent: every message of a BT went to someone in it, the Caco or a ROL.
    async with engine.connect() as conn:
        rows = (
            await conn.execute(
                text(
                    "SELECT p.key, o.topic FROM outbox o JOIN person p ON p.id = o.person_id "
                    "WHERE o.topic LIKE 'bt-%'"
                )
            )
        ).all()
        pages: dict[str, int] = dict(
            (
                await conn.execute(
                    text(
                        "SELECT 'page:' || page_id, callout_id FROM bt_member "
                        "WHERE page_id IS NOT NULL"
                    )
                )
            ).all()
        )
        page_rows = (
            await conn.execute(
                text("SELECT p.key, o.topic FROM outbox o JOIN person p ON p.id = o.person_id")
            )
        ).all()
    sent = 0
    for key, topic in rows:
        kind, ref = topic.rsplit(":", 1)
        if kind in ("bt-board", "bt-kaart", "bt-note", "bt-record"):
            allowed = ever[int(ref)]
        else:
            assert kind in ("bt-list", "bt-log"), topic
            allowed = by_incident[int(ref)]
        assert key in allowed | MELDKAMER, (key, topic)
        sent += 1
    for key, topic in page_rows:
        if topic in pages:
            assert key in ever[pages[topic]] | MELDKAMER, (key, topic)
            sent += 1
    assert sent > 100, "boards, pages, cards, records and notices were sent"
    # Declining ends it: nothing of the BT's decisions reached Charlotte.
    assert not any("Scholen in Soest dicht" in m.text for m in h.inbox("comm-charlotte")), h.texts(
        "comm-charlotte"
    )
    assert not any("Bussen regelen" in m.text for m in h.inbox("gs-zeist"))

    # 2. Asking: each of the 118 people asks for each incident's board, records and
    # logbook (as text and as a file).
    directory = await h.app.directory()
    assert len(directory.people) == 118
    entitled: dict[int, set[str]] = defaultdict(set)
    board_of: dict[int, set[str]] = defaultdict(set)
    for callout, incident in callout_incident.items():
        entitled[incident] |= now[callout] | MELDKAMER
        board_of[incident] |= now[callout] | MELDKAMER
    entitled[1].add("bgm-soest")
    entitled[2].add("bgm-zeist")
    entitled[3].add("bgm-amersfoort")
    shown = 0
    for person in directory.people.values():
        key = person.key
        for number in INCIDENTS:
            ident = f"VRU-2026-000{number}"
            await h.say(key, f"/logboek {ident}")
            log = h.inbox(key)[-1]
            assert log.text.startswith(f"Logboek {ident} – de laatste") == (
                key in entitled[number]
            ), (key, ident, log.text[:80])
            await h.say(key, f"/logboek {ident} pdf")
            file = h.inbox(key)[-1]
            assert (file.attachment is not None) == (key in entitled[number]), (key, ident)
            await h.say(key, f"/besluiten {ident}")
            records = h.inbox(key)[-1]
            assert records.text.startswith(f"Besluiten en acties {ident}:") == (
                key in entitled[number]
            ), (key, ident, records.text[:80])
            await h.say(key, f"/bt status {ident}")
            board = h.inbox(key)[-1]
            assert (board.title or "").startswith("Aanwezigheid") == (key in board_of[number]), (
                key,
                ident,
                board.text[:80],
            )
            shown += key in entitled[number]
    assert shown >= 3 * len(MELDKAMER) + 6


async def _two_gbts(new_harness: NewHarness, first: str, second: str) -> Harness:
    """One incident in two gemeenten, each burgemeester convening its GBT; the technisch
    voorzitter on duty, the chair of both, says he comes to both."""
    h = await new_harness(region=demo_region_text())
    await _alarm(h, f"{first} en {second}: gifwolk boven de A28")
    for name in (first, second):
        mayor = "bgm-" + name.lower().replace(" ", "-")
        await _convene(h, mayor, "/bt bijeenroepen", f"Gemeentehuis {name}")
    await h.press("tv-thijs", "Ik kom (binnen 15 min)")
    await h.press("tv-thijs", "Ik kom (binnen 15 min)")
    return h


async def test_two_gemeenten_on_one_incident_keep_their_bts_apart(
    new_harness: NewHarness,
) -> None:
    h = await _two_gbts(new_harness, "Soest", "Zeist")
    await h.press("gs-soest", "Ik kom (binnen 15 min)")
    await h.press("gs-zeist", "Ik kom (binnen 30 min)")

    await h.say("bgm-soest", "/besluit Scholen in Soest dicht")
    await h.say("bgm-zeist", "/besluit Slotlaan afgesloten")
    # Numbered within Zeist's BT, and named by its gemeente.
    assert "VRU-2026-0001 Zeist – besluit 1 (" in h.texts("bgm-zeist")
    # The chair is in both: he says which BT, and is asked when he does not.
    await h.say("tv-thijs", "/besluit Opvang in de sporthal")
    assert h.last("tv-thijs") == (
        "Je zit in het BT van Soest, Zeist voor dit incident. Voor welk BT? Zet de "
        "gemeente ervoor: /besluit Soest …"
    )
    await h.say("tv-thijs", "/besluit Zeist: Opvang in de sporthal")
    await h.say("bgm-soest", "/actie gs-soest Ouders informeren")
    await h.say("bgm-soest", "/actie gs-zeist Bussen regelen")
    assert "hoort niet bij dit BT" in h.inbox("bgm-soest")[-2].text
    await h.say("bgm-soest", "/besluit wijzig 1 Scholen in Soest en Baarn dicht")

    soest, zeist = h.texts("gs-soest"), h.texts("gs-zeist")
    assert "Scholen in Soest dicht" in soest and "Ouders informeren" in soest
    assert "Slotlaan afgesloten" in zeist and "Opvang in de sporthal" in zeist
    for word in ("Slotlaan", "Opvang"):
        assert word not in soest
    for word in ("Scholen", "Ouders", "Bussen"):
        assert word not in zeist
    # Both BTs' records reach the Caco, and the chair of both.
    for key in (CACO, "tv-thijs"):
        assert "Scholen in Soest en Baarn dicht" in h.texts(key), key
        assert "Slotlaan afgesloten" in h.texts(key), key

    # Asking: each BT lists and logs its own; the Caco sees both, each under its gemeente.
    await h.say("gs-zeist", "/besluiten VRU-2026-0001")
    listed = h.last("gs-zeist")
    assert "Slotlaan afgesloten" in listed and "Opvang in de sporthal" in listed
    assert "Scholen" not in listed and "Ouders" not in listed
    await h.say("gs-soest", "/besluiten")
    listed = h.last("gs-soest")
    assert "Scholen in Soest en Baarn dicht" in listed and "Ouders informeren" in listed
    assert "Slotlaan" not in listed and "Opvang" not in listed
    await h.say(CACO, "/besluiten VRU-2026-0001")
    listed = h.last(CACO)
    assert listed.index("Soest:") < listed.index("Scholen") < listed.index("Zeist:")
    assert listed.index("Zeist:") < listed.index("Slotlaan")

    await h.say("gs-zeist", "/logboek VRU-2026-0001 json")
    file = h.inbox("gs-zeist")[-1].attachment
    assert file is not None
    log = file.content.decode()
    assert "Slotlaan afgesloten" in log and "gs-zeist" in log
    for word in ("Scholen", "Ouders", "gs-soest", "Gemeentehuis Soest"):
        assert word not in log, word
    await h.say("bgm-zeist", "/logboek VRU-2026-0001")
    shown = h.last("bgm-zeist")
    assert "Gemeentesecretaris Soest" not in shown and "Scholen" not in shown
    await h.say(CACO, "/logboek VRU-2026-0001 json")
    file = h.inbox(CACO)[-1].attachment
    assert file is not None
    log = file.content.decode()
    for word in ("Scholen", "Slotlaan", "gs-soest", "gs-zeist"):
        assert word in log, word
    decisions = json.loads(log)["decisions"]
    assert [(d["bt"], d["number"]) for d in decisions] == [
        ("Soest", 1),
        ("Zeist", 1),
        ("Zeist", 2),
    ]


async def test_someone_in_two_bts_names_the_gemeente_in_full(new_harness: NewHarness) -> None:
    """The chair of both GBTs names the BT by the gemeente's whole name ("De Bilt"), also
    to change a decision; the team's key names no BT when every gemeente's GBT has it."""
    h = await _two_gbts(new_harness, "De Bilt", "Zeist")

    await h.say("tv-thijs", "/besluit gbt Wegen dicht")
    assert h.last("tv-thijs").startswith("Je zit in het BT van De Bilt, Zeist voor dit incident.")
    assert h.last("tv-thijs").endswith("/besluit De Bilt …")
    await h.say("tv-thijs", "/besluit De Bilt: Wegen dicht")
    await h.say("tv-thijs", "/besluit zeist Opvang open")
    assert "VRU-2026-0001 De Bilt – besluit 1 (" in h.texts("bgm-de-bilt")
    assert "VRU-2026-0001 Zeist – besluit 1 (" in h.texts("bgm-zeist")
    await h.say("tv-thijs", "/besluit Zeist: wijzig 1 Opvang in de sporthal open")
    assert h.last("bgm-zeist") == (
        "VRU-2026-0001 Zeist – besluit 1 gewijzigd door Thijs Tafelhoofd (demo):\n"
        "Opvang in de sporthal open\n(was: Opvang open)"
    )
    assert "Opvang" not in h.texts("bgm-de-bilt") and "Wegen" not in h.texts("bgm-zeist")
    await h.say("bgm-de-bilt", "/besluiten")
    listed = h.last("bgm-de-bilt")
    assert "Wegen dicht" in listed and "Opvang" not in listed


def test_the_rot_and_the_rbt_of_one_incident_are_two_bts() -> None:
    """Regional teams have no gemeente; their records stay within each team."""
    at = datetime(2026, 11, 24, 3, 0, tzinfo=UTC)

    def callout(n: int, team: str, gemeente: int | None) -> Callout:
        return Callout(
            CalloutId(n), IncidentId(1), team, team.upper(), AlertKind.ALARMERING,
            PersonId(1), None, GemeenteId(gemeente) if gemeente else None, at, "x", at, at,
        )  # fmt: skip

    rot, rbt, rot_again = callout(1, "rot", None), callout(2, "rbt", None), callout(3, "rot", None)
    soest, zeist = callout(4, "gbt", 1), callout(5, "gbt", 2)
    assert same_bt(rot, rot_again) and not same_bt(rot, rbt)
    assert not same_bt(soest, zeist) and not same_bt(soest, rot)
