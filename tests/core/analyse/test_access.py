"""The analyse of gemeente A never reaches anyone of gemeente B: a matrix of every person
of the demo region against every analyse, both for what was sent and for re-reading."""

from __future__ import annotations

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from scm_bot.demo import demo_region_text
from tests.helpers import Harness, NewHarness, load_region

GEMEENTEN = {"0001": "soest", "0002": "zeist", "0003": "de-bilt"}
ROL = "rol-rianne"  # on duty in the demo region on Tue 24 Nov 2026


async def _publish(h: Harness, number: str, gemeente: str) -> None:
    name = {"soest": "Soest", "zeist": "Zeist", "de-bilt": "De Bilt"}[gemeente]
    await h.say("caco-carla", f"/alarm {name}: incident {number}")
    await h.press("caco-carla", "Bevestigen en pagen")
    await h.press(ROL, "Ik pak het op")
    await h.say(ROL, f"/analyse VRU-2026-{number}")
    for key in (
        "feitelijk_beeld",
        "inzet",
        "onzekerheden",
        "duiding",
        "scenarios",
        "vraagstukken",
        "communicatie",
    ):
        await h.say(ROL, f"/wijzig {key}")
        await h.say(ROL, f"{key} van {name}")
    for key, choice in (("teams", "ROT"), ("families", "Economie en financiën")):
        await h.say(ROL, f"/wijzig {key}")
        await h.press(ROL, choice)
        await h.press(ROL, "Klaar")
    await h.say(ROL, "/wijzig opschaling")
    await h.press(ROL, "GRIP 3")
    await h.say(ROL, "/wijzig advies")
    await h.press(ROL, "BT later bijeenroepen")
    await h.say(ROL, "/wijzig volgende_update")
    await h.say(ROL, "over 2 uur")
    await h.say(ROL, "/deel")
    assert "is verstuurd aan" in h.last(ROL), h.last(ROL)


def _entitled(key: str, gemeente: str, shared: set[tuple[str, str]]) -> bool:
    return (
        key in ("caco-carla", ROL)
        or key == f"bgm-{gemeente}"
        or (key == "loco-zeist" and gemeente == "zeist")  # acting for the burgemeester
        or (key, gemeente) in shared
    )


async def test_every_person_against_every_analyse(
    engine: AsyncEngine, new_harness: NewHarness
) -> None:
    region = demo_region_text().replace(
        "locoburgemeester: loco-zeist\n", "locoburgemeester: loco-zeist\n  loco_acting: true\n"
    )
    h = await new_harness(region=region)
    for number, gemeente in GEMEENTEN.items():
        await _publish(h, number, gemeente)
    await h.press("bgm-soest", "Deel met…")
    await h.press("bgm-soest", "Gemeentesecretaris Soest (demo)")
    shared = {("gs-soest", "soest")}

    # 1. What was sent: every message about an analyse went to someone entitled to it.
    async with engine.connect() as conn:
        rows = (
            await conn.execute(
                text(
                    "SELECT p.key, a.incident_id FROM outbox o JOIN person p ON p.id = o.person_id "
                    "JOIN analysis a ON o.topic = 'analyse:' || a.id"
                )
            )
        ).all()
    incident_gemeente = {i + 1: g for i, g in enumerate(GEMEENTEN.values())}
    assert rows, "analyses were sent"
    for key, incident_id in rows:
        assert _entitled(key, incident_gemeente[incident_id], shared), (key, incident_id)

    # 2. Re-reading: each of the 118 people asks for each analyse.
    directory = await h.app.directory()
    assert len(directory.people) == 118
    for person in directory.people.values():
        for number, gemeente in GEMEENTEN.items():
            await h.say(person.key, f"/analyse toon VRU-2026-{number}")
            answer = h.inbox(person.key)[-1]
            allowed = _entitled(person.key, gemeente, shared)
            shows = (answer.title or "").startswith(
                ("Strategische analyse VRU-2026-", "Strategic analysis VRU-2026-")
            )
            assert shows == allowed, (person.key, number, answer.text[:80])
            if shows:
                assert f"VRU-2026-{number}" in (answer.title or "")


async def test_an_acting_locoburgemeester_reads_every_version_of_the_gemeente(
    engine: AsyncEngine, new_harness: NewHarness
) -> None:
    """The burgemeester's rights pass to the loco while she acts, also for the versions
    published before; when she stops acting she keeps only the versions she received."""
    region = demo_region_text()
    acting = region.replace(
        "locoburgemeester: loco-zeist\n", "locoburgemeester: loco-zeist\n  loco_acting: true\n"
    )
    h = await new_harness(region=region)
    await _publish(h, "0001", "zeist")
    await h.say("loco-zeist", "/analyse toon")
    assert h.inbox("loco-zeist")[-1].title is None, "not acting: nothing to read"

    await load_region(engine, acting)  # the burgemeester is away: the loco acts
    await h.say("loco-zeist", "/analyse toon")
    shown = h.inbox("loco-zeist")[-1]
    assert shown.title == "Strategische analyse VRU-2026-0001 – versie 1"
    assert "feitelijk_beeld van Zeist" in shown.text
    await h.say(ROL, "/wijzig inzet")
    await h.say(ROL, "Tweede blusgroep")
    await h.say(ROL, "/deel")
    assert h.inbox("loco-zeist")[-1].title == "Strategische analyse VRU-2026-0001 – versie 2"
    await h.say("loco-zeist", "/analyse toon 0001 1")
    assert h.inbox("loco-zeist")[-2].title == "Strategische analyse VRU-2026-0001 – versie 1"
    await h.say("bgm-soest", "/analyse toon VRU-2026-0001 1")
    assert h.inbox("bgm-soest")[-1].title is None, "another gemeente's burgemeester"

    await load_region(engine, region)  # the burgemeester is back
    await h.say("loco-zeist", "/analyse toon 0001 2")
    assert h.inbox("loco-zeist")[-1].title == "Strategische analyse VRU-2026-0001 – versie 2"
    await h.say("loco-zeist", "/analyse toon 0001 1")
    assert h.inbox("loco-zeist")[-1].title is None
    assert h.last("loco-zeist").endswith("Beschikbaar: 2.")
