"""The beleidsteam's test region and the steps its tests share: convening the GBT of Soest,
publishing an analyse, and a whole incident from alert to closing."""

from __future__ import annotations

from pathlib import Path

from tests.helpers import Harness

REGION = (Path(__file__).parents[1] / "data" / "bt-region.yaml").read_text("utf-8")
BOARD = "Aanwezigheid GBT"
TEXT_FIELDS = (
    "feitelijk_beeld",
    "inzet",
    "onzekerheden",
    "duiding",
    "scenarios",
    "vraagstukken",
    "communicatie",
)


def boards(h: Harness, who: str) -> list[str]:
    """The attendance boards on `who`'s screen, as they read now."""
    return [m.text for m in h.inbox(who) if m.title == BOARD]


async def convene(h: Harness, who: str = "bgm-soest", place: str = "Gemeentehuis Soest") -> None:
    """`who` convenes the GBT with the default start time at `place` and confirms."""
    await h.say(who, "/bt bijeenroepen")
    await h.press(who, "Norm")
    await h.say(who, place)
    await h.press(who, "Bevestigen en oproepen")


async def convened(h: Harness) -> None:
    """An alert for Soest taken by the ROL, and the burgemeester's GBT called out."""
    await h.raise_alarm()
    await h.press("rol-b", "I'll take it")
    await convene(h)


async def publish(h: Harness, grip: str = "GRIP 2", who: str = "rol-b") -> None:
    """The ROL (reading English) fills every required field of the analyse and publishes."""
    await h.say(who, "/analyse")
    for key in TEXT_FIELDS:
        await h.say(who, f"/wijzig {key}")
        await h.say(who, f"{key} tekst")
    await h.say(who, "/wijzig teams")
    await h.press(who, "ROT")
    await h.press(who, "Done")
    await h.say(who, "/wijzig families")
    await h.press(who, "Safety and health")
    await h.press(who, "Done")
    await h.say(who, "/wijzig opschaling")
    await h.press(who, grip)
    await h.say(who, "/wijzig advies")
    await h.press(who, "Convene the BT now")
    await h.say(who, "/wijzig volgende_update")
    await h.say(who, "over 45 min")
    await h.say(who, "/deel")


async def whole_incident(h: Harness) -> None:
    """Alert, page and acknowledgement, the analyse read and shared, the GBT convened from
    the burgemeester's button, attendance answers (one of them pages the backup), the
    aandachtskaart, a second analyse version, a decision changed, an action, closing."""
    await h.raise_alarm()
    await h.press("rol-b", "I'll take it")
    await publish(h)
    await h.press("bgm-soest", "Gelezen")
    await h.press("bgm-soest", "Deel met…")
    await h.press("bgm-soest", "Secretaris Soest")
    await h.press("bgm-soest", "BT bijeenroepen")
    await h.press("bgm-soest", "Ja, BT bijeenroepen")
    await h.press("bgm-soest", "Norm")
    await h.say("bgm-soest", "Gemeentehuis Soest")
    await h.press("bgm-soest", "Bevestigen en oproepen")
    await h.press("tv-tom", "Ik kom (binnen 15 min)")
    await h.press("comm-kees", "Ik kom niet")
    await h.press("comm-karin", "Ik kom (binnen 30 min)")
    await h.advance(1)
    await h.say("rol-b", "/wijzig inzet")
    await h.say("rol-b", "Tweede blusgroep")
    await h.say("rol-b", "/deel")
    await h.say("tv-tom", "/besluit Scholen in Soest blijven morgen dicht")
    await h.say("tv-tom", "/besluit wijzig 1 Scholen in Soest blijven twee dagen dicht")
    await h.say("tv-tom", "/actie gs-soest Ouders informeren via de scholen")
    await h.say("caco", "/sluit 0001")
    await h.press("caco", "Ja, sluiten")
