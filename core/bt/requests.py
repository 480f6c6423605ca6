"""What convening a beleidsteam asks for and reads: the request the flow collects, the
composition the convener confirms, the incident named in a command, the start time, and
what a member's page says."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime
from typing import TypedDict
from zoneinfo import ZoneInfo

from core.analyse.when import parse_moment
from core.errors import UserError
from core.i18n import Localized, t
from core.model import AlertKind, GemeenteId, Incident, IncidentId, Person, PersonId
from core.region.teams import TeamSpec
from core.tx import Tx

MAX_PLACE = 300
PAST_WORDS = {"gisteren", "eergisteren", "yesterday", "vorige week", "last week", "vanochtend"}
_INCIDENT = re.compile(r"^([A-Za-z]{2,8}-\d{4}-)?\d{1,6}$")


@dataclass(frozen=True)
class Planned:
    """One line of the composition as the convener confirms it."""

    function_key: str
    required: bool
    person_key: str | None  # a person added by name
    on_duty: Person | None
    backup: Person | None


@dataclass(frozen=True)
class Request:
    """What the convening flow collected."""

    incident_id: IncidentId
    team_key: str
    kind: AlertKind
    on_behalf_of: PersonId | None
    gemeente_id: GemeenteId | None
    starts_at: datetime
    place: str
    added: tuple[str, ...] = ()  # person keys
    dropped: tuple[str, ...] = ()  # function keys


@dataclass(frozen=True)
class Start:
    """Who convenes what, once the rules allow it."""

    incident: Incident
    team: TeamSpec
    on_behalf_of: PersonId | None
    gemeente_id: GemeenteId | None


async def find_incident(tx: Tx, ident: str) -> Incident | None:
    """An incident by full or short id (the newest with that number)."""
    wanted = ident.strip().upper()
    found = await tx.uow.incidents.by_public_id(wanted)
    if found is not None:
        return found
    numbered = await tx.uow.incidents.numbered(wanted.rsplit("-", 1)[-1])
    return numbered[0] if numbered else None


def is_incident_ref(word: str) -> bool:
    return bool(_INCIDENT.match(word))


async def phase(tx: Tx, incident: Incident) -> str:
    """The opschaling now: what the newest published analyse says, else the alert's."""
    analyse = await tx.uow.analyses.by_incident(incident.id)
    if analyse is not None and analyse.version:
        version = await tx.uow.analyses.version(analyse.id, analyse.version)
        if version is not None and version.values.get("opschaling"):
            return str(version.values["opschaling"])
    return incident.opschaling


def parse_start(text: str, now: datetime, tz: ZoneInfo) -> datetime:
    """A start or arrival time as typed; "gisteren" and anything past is refused."""
    cleaned = " ".join(text.lower().split())
    if cleaned in PAST_WORDS:
        raise UserError("when.past", text=text)
    return parse_moment(text, now, tz)


class PageParams(TypedDict):
    """The placeholders of a member's page (the language-dependent ones as `Localized`)."""

    team: str
    summary: Localized
    function: str
    start: Localized
    place: str
    convener: str


def plan_text(tx: Tx, planned: list[Planned], person: Person) -> str:
    """The composition as the convener confirms it: per function who comes, or a gap."""
    lang = person.language
    lines = []
    for p in planned:
        if p.person_key is not None and p.on_duty is not None:
            lines.append(t(lang, "bt.plan_person", name=p.on_duty.name))
            continue
        name = tx.directory.function_name(p.function_key)
        need = t(lang, "bt.required" if p.required else "bt.optional")
        if p.on_duty is None:
            lines.append(t(lang, "bt.plan_gap", function=name, need=need))
        else:
            backup = p.backup.name if p.backup else "—"
            lines.append(
                t(
                    lang,
                    "bt.plan_line",
                    function=name,
                    need=need,
                    name=p.on_duty.name,
                    backup=backup,
                )
            )
    return "\n".join(lines)
