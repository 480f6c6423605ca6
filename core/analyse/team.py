"""Who works on the analyse with whom: the IM on duty (from the roster, as paging finds
people), invitations to co-edit, and who calls the burgemeester back.

By the method the IM helps the ROL from the start, so starting an analyse invites the IM
on duty at once; the IM on duty may also join by naming the incident (`/analyse <id>`).
"""

from __future__ import annotations

from core.analyse.model import Analyse, Editor
from core.callbacks import JoinButton
from core.errors import UserError
from core.model import IM, ROL, Incident, Person
from core.roster.service import duties_for
from core.tx import Tx

EDITOR_FUNCTIONS = frozenset({ROL, IM})


async def im_on_duty(tx: Tx, incident: Incident) -> Person | None:
    """The IM on duty for the incident's gemeenten now, by the roster (rotation, explicit
    shifts and overrides), the most specific scope first; None in a gap."""
    for duty in await duties_for(tx, IM, incident.gemeenten, tx.now):
        if duty.on_duty is not None and duty.on_duty in tx.directory.people:
            return tx.directory.people[duty.on_duty]
    return None


async def invite(
    tx: Tx, analyse: Analyse, incident: Incident, inviter: Person, invitee: Person
) -> None:
    """Record the invitation and ask the invitee to join (buttons Meedoen / Nee)."""
    if not invitee.functions & EDITOR_FUNCTIONS:
        raise UserError("analyse.invite_function", name=invitee.name)
    editors = {e.person_id: e for e in await tx.uow.analyses.editors(analyse.id)}
    if invitee.id in editors and editors[invitee.id].joined:
        raise UserError("analyse.invite_already", name=invitee.name)
    await tx.uow.analyses.set_editor(Editor(analyse.id, invitee.id, inviter.id, False, tx.now))
    await tx.audit(inviter, "analyse.invited", incident.public_id, who=invitee.key)
    buttons = (
        ("analyse.button_join", JoinButton(analyse.id, "yes").pack()),
        ("analyse.button_decline", JoinButton(analyse.id, "no").pack()),
    )
    await tx.send(
        invitee,
        "analyse.invitation",
        buttons=buttons,
        name=inviter.name,
        id=incident.public_id,
    )


async def invite_im_on_duty(tx: Tx, analyse: Analyse, incident: Incident, starter: Person) -> None:
    """A new analyse: invite the IM on duty, and tell the starter whom (or that the roster
    has nobody, and how to invite someone)."""
    im = await im_on_duty(tx, incident)
    if im is None:
        await tx.send(starter, "analyse.no_im_on_duty")
    elif im.id != starter.id:
        await invite(tx, analyse, incident, starter, im)
        await tx.send(starter, "analyse.im_invited", name=im.name)


async def caller(tx: Tx, analyse: Analyse, incident: Incident) -> Person | None:
    """Who calls the burgemeester back: the ROL who took the incident's ROL page, else the
    first ROL among the analyse's editors, else whoever started the analyse."""
    editors = [
        tx.directory.people[e.person_id]
        for e in await tx.uow.analyses.editors(analyse.id)
        if e.joined and e.person_id in tx.directory.people
    ]
    for page in await tx.uow.pages.for_incidents([incident.id]):
        took = tx.directory.people.get(page.acknowledged_by) if page.acknowledged_by else None
        if page.function_key == ROL and took is not None:
            return took
    rol = next((p for p in editors if ROL in p.functions), None)
    if rol is not None:
        return rol
    return tx.directory.people.get(analyse.created_by) or (editors[0] if editors else None)
