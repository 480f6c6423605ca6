"""Finding the analyse a person means: the incident to fill when they name none, and the
analyse to re-read by a full or short incident id ("0002"), open or closed."""

from __future__ import annotations

from core.analyse.model import Analyse
from core.analyse.service import AnalyseService
from core.errors import UserError
from core.model import IncidentId, IncidentStatus, Person
from core.tx import Tx


async def incident_to_fill(tx: Tx, person: Person) -> IncidentId:
    """The open incident whose analyse this person works on, else the newest one they took
    the page of, else the newest one whose analyse they were invited to."""
    for analyse in await tx.uow.analyses.for_editor(person.id):
        incident = await tx.uow.incidents.get(analyse.incident_id)
        if incident and incident.status is IncidentStatus.OPEN:
            return incident.id
    open_incidents = await tx.uow.incidents.open()
    pages = await tx.uow.pages.for_incidents([i.id for i in open_incidents])
    taken = {page.incident_id for page in pages if page.acknowledged_by == person.id}
    for incident in reversed(open_incidents):
        if incident.id in taken:
            return incident.id
    for incident in reversed(open_incidents):
        invited_to = await tx.uow.analyses.by_incident(incident.id)
        if invited_to is not None and any(
            e.person_id == person.id for e in await tx.uow.analyses.editors(invited_to.id)
        ):
            return incident.id
    raise UserError("analyse.which_incident")


async def analyse_to_read(tx: Tx, service: AnalyseService, person: Person, ident: str) -> Analyse:
    """For re-reading: by incident, or the newest analyse of an open incident this person
    may read. A short id is the newest incident with that number that has an analyse this
    person may read; with none, the analyse found is returned for `show` to refuse."""
    if ident:
        wanted = ident.upper()
        found = await tx.uow.incidents.by_public_id(wanted)
        incidents = [found] if found else await tx.uow.incidents.numbered(wanted)
        analyses = [a for a in [await tx.uow.analyses.by_incident(i.id) for i in incidents] if a]
        for analyse in analyses:
            if await service.readable_versions(tx, analyse, person):
                return analyse
        if not analyses:
            raise UserError("analyse.nothing_to_show", id=wanted)
        return analyses[0]
    for incident in reversed(await tx.uow.incidents.open()):
        newest = await tx.uow.analyses.by_incident(incident.id)
        if newest is not None and await service.readable_versions(tx, newest, person):
            return newest
    raise UserError("analyse.nothing_readable")
