"""Who is who in a beleidsteam: the configured teams, the people of a call-out, and who
may see its board, its records and the incident's logbook.

BT data of gemeente A goes to A's BT (everyone paged for it, the convener and the
burgemeester on whose behalf it was convened, the gemeente's burgemeester), the Caco and
the ROL, and to nobody else (`tests/core/bt/test_access.py` checks every person against
every BT). One incident may have a BT per gemeente: the call-outs of one incident for one
gemeente (or, without a gemeente, the regional team) are one BT (`same_bt`), and its
decisions, actions and logbook entries stay within it.
"""

from __future__ import annotations

import weakref

from core.bt.model import Answer, Callout, CalloutId, CalloutStatus
from core.model import CACO, ROL, Directory, GemeenteId, Incident, Person, PersonId, TargetStatus
from core.region.file import Settings
from core.region.teams import TeamKind, TeamSpec
from core.tx import Tx

# The teams per loaded directory (a region import makes a new directory).
_TEAMS: dict[int, tuple[weakref.ref[Directory], tuple[TeamSpec, ...]]] = {}


async def teams(tx: Tx) -> tuple[TeamSpec, ...]:
    """The region file's team compositions (`settings.teams`)."""
    entry = _TEAMS.get(id(tx.directory))
    if entry is not None and entry[0]() is tx.directory:
        return entry[1]
    raw = await tx.uow.bt.region_settings()
    found = tuple(Settings.model_validate(raw).teams or ()) if raw is not None else ()
    if len(_TEAMS) >= 4:
        _TEAMS.pop(next(iter(_TEAMS)))
    _TEAMS[id(tx.directory)] = (weakref.ref(tx.directory), found)
    return found


async def team(tx: Tx, key: str) -> TeamSpec | None:
    return next((t for t in await teams(tx) if t.key == key), None)


async def team_of_kind(tx: Tx, kind: TeamKind) -> TeamSpec | None:
    return next((t for t in await teams(tx) if t.kind is kind), None)


def mayors(directory: Directory, gemeente: GemeenteId | None) -> list[Person]:
    """The burgemeester of the gemeente, and the locoburgemeester while acting."""
    if gemeente is None:
        return []
    g = directory.gemeente(gemeente)
    ids = [g.burgemeester, g.locoburgemeester if g.loco_acting else None]
    return [directory.people[i] for i in ids if i is not None and i in directory.people]


async def paged_people(tx: Tx, callout: Callout) -> dict[PersonId, TargetStatus]:
    """Everyone a member page of the call-out went to, with their page status."""
    members = await tx.uow.bt.members(callout.id)
    page_ids = [m.page_id for m in members if m.page_id is not None]
    found: dict[PersonId, TargetStatus] = {}
    for x in await tx.uow.pages.targets(page_ids):
        found[x.person_id] = x.status
    return found


async def coming(tx: Tx, callout: Callout) -> list[Person]:
    """The people who said "Ik kom", each once, in the order they answered."""
    ids = [a.person_id for a in await tx.uow.bt.attendance(callout.id) if a.answer is Answer.COMING]
    return [tx.directory.people[i] for i in dict.fromkeys(ids) if i in tx.directory.people]


async def in_bt(tx: Tx, callout: Callout, person: Person) -> bool:
    """Part of this call-out's team: paged for it (and not declined), its convener, or the
    burgemeester it is for."""
    if person.id in (callout.convened_by, callout.on_behalf_of):
        return True
    if person in mayors(tx.directory, callout.gemeente_id):
        return True
    status = (await paged_people(tx, callout)).get(person.id)
    return status is not None and status is not TargetStatus.DECLINED


def meldkamer_side(person: Person) -> bool:
    """The Caco and the ROL see every BT."""
    return bool(person.functions & {CACO, ROL})


def gemeenten_of(incident: Incident, gemeente: GemeenteId | None) -> tuple[GemeenteId, ...]:
    """The gemeenten a call-out is for: its own, or (a regional team) the incident's."""
    return (gemeente,) if gemeente is not None else incident.gemeenten


def same_bt(a: Callout, b: Callout) -> bool:
    """Two call-outs of the same BT: one incident, one team, one gemeente (or both the
    regional team: the ROT and the RBT are two)."""
    return (a.incident_id, a.team_key, a.gemeente_id) == (b.incident_id, b.team_key, b.gemeente_id)


async def sees(tx: Tx, incident: Incident, callout: Callout, person: Person) -> bool:
    """May see the BT data of this call-out's BT: the Caco, the ROL, the burgemeester of
    its gemeente (of every affected gemeente for a regional team), and anyone in one of
    the BT's call-outs."""
    if meldkamer_side(person):
        return True
    gemeenten = gemeenten_of(incident, callout.gemeente_id)
    if tx.directory.gemeenten_of_mayor(person.id) & set(gemeenten):
        return True
    for other in await tx.uow.bt.callouts(incident.id):
        if same_bt(other, callout) and await in_bt(tx, other, person):
            return True
    return False


async def visible(tx: Tx, incident: Incident, person: Person) -> set[CalloutId]:
    """The call-outs of the incident whose BT data the person may see."""
    return {
        c.id for c in await tx.uow.bt.callouts(incident.id) if await sees(tx, incident, c, person)
    }


async def entitled(tx: Tx, incident: Incident, person: Person) -> bool:
    """May ask for the BT data of this incident (`/besluiten`, `/logboek`): the Caco, the
    ROL, anyone in one of its BTs, and the burgemeester of an affected gemeente. What
    they are shown is what `visible` allows."""
    if meldkamer_side(person):
        return True
    if tx.directory.gemeenten_of_mayor(person.id) & set(incident.gemeenten):
        return True
    for callout in await tx.uow.bt.callouts(incident.id):
        if await in_bt(tx, callout, person):
            return True
    return False


async def active_for(tx: Tx, person: Person) -> list[tuple[Incident, Callout]]:
    """The active call-outs this person is part of, newest first."""
    found: list[tuple[Incident, Callout]] = []
    for callout in reversed(await tx.uow.bt.active_callouts()):
        if callout.status is not CalloutStatus.ACTIVE or not await in_bt(tx, callout, person):
            continue
        incident = await tx.uow.incidents.get(callout.incident_id)
        if incident is not None:
            found.append((incident, callout))
    return found
