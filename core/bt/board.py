"""The attendance board: one message per viewer, edited in place, never a stream.

Per function who is paged, coming (with an arrival estimate), not coming, not answered
yet, or a gap; and the team's strength against its required functions. A change marks the
board due and schedules one refresh (`REFRESH`) at once; every change until that refresh runs
is shown by its one edit. A chat takes about one message a second: delivery sends each
viewer's chat the newest edit of its board at the chat's turn and drops the edits that one
replaced (`scm_bot.turns.superseded`), so no chat that is paced (Telegram, Slack) gets more
than one edit a second and no answer waits for a refresh timer to come round.
"""

from __future__ import annotations

from dataclasses import dataclass

from core.bt.model import Answer, Attendance, Callout, CalloutId, Member
from core.bt.requests import find_incident
from core.bt.team import active_for, in_bt, mayors, meldkamer_side, paged_people, team
from core.errors import UserError
from core.i18n import fmt_datetime, fmt_time, t
from core.model import (
    CACO,
    ROL,
    Language,
    Page,
    PageStatus,
    PageTarget,
    Person,
    PersonId,
    TargetStatus,
    Timer,
)
from core.roster.service import duties_for
from core.tx import Tx

REFRESH = "bt.board"


# A board is one message, edited in place: beyond this many characters (Telegram takes
# 4,096 in a message, and the strength lines follow) it is shown grouped (`_grouped`).
BOARD_MAX = 3000


def board_topic(callout: Callout) -> str:
    return f"bt-board:{callout.id}"


@dataclass(frozen=True)
class Line:
    """One function on the board."""

    member: Member
    coming: list[tuple[Person, Attendance]]
    waiting: list[Person]  # paged at the current step, no answer yet
    declined: list[Person]
    seen: list[Person]
    status: PageStatus | None  # None: no page (nothing to page)


async def lines(tx: Tx, callout: Callout) -> list[Line]:
    members = await tx.uow.bt.members(callout.id)
    answers = await tx.uow.bt.attendance(callout.id)
    pages: dict[int, Page] = {}
    for m in members:
        if m.page_id is not None:
            page = await tx.uow.pages.get(m.page_id)
            if page is not None:
                pages[m.id] = page
    targets = await tx.uow.pages.targets([p.id for p in pages.values()])
    by_page: dict[int, list[PageTarget]] = {}
    for x in targets:
        by_page.setdefault(x.page_id, []).append(x)
    d = tx.directory
    result = []
    for m in members:
        page = pages.get(m.id)
        mine = [a for a in answers if a.member_id == m.id]
        coming = [(d.person(a.person_id), a) for a in mine if a.answer is Answer.COMING]
        said_no = {a.person_id for a in mine if a.answer is Answer.NOT_COMING}
        found = by_page.get(page.id, []) if page else []
        answered = {a.person_id for a in mine}
        waiting = [
            d.person(x.person_id)
            for x in found
            if x.status is TargetStatus.PAGED
            and x.person_id not in answered
            and page is not None
            # An alertering's page is "informed", not active; after closing it is
            # cancelled: whoever was paged and did not answer still shows as such.
            and page.status is not PageStatus.ACKNOWLEDGED
        ]
        declined_ids = said_no | {
            x.person_id
            for x in found
            if x.status in (TargetStatus.DECLINED, TargetStatus.UNREACHABLE)
        }
        seen = [d.person(x.person_id) for x in found if x.status is TargetStatus.SEEN]
        result.append(
            Line(
                m,
                coming,
                waiting,
                [d.person(i) for i in dict.fromkeys(declined_ids)],
                seen,
                page.status if page else None,
            )
        )
    return result


def function_label(tx: Tx, member: Member) -> str:
    if member.person_key is not None:
        person = tx.directory.person_by_key(member.person_key)
        return person.name if person else member.person_key
    return tx.directory.function_name(member.function_key)


def _line_text(tx: Tx, line: Line, lang: Language) -> str:
    tz = tx.directory.region.timezone
    name = function_label(tx, line.member) + (" *" if line.member.required else "")
    parts: list[str] = []
    if line.coming:
        who = ", ".join(
            t(lang, "bt.board_eta", name=p.name, time=fmt_time(a.eta, tz, lang))
            if a.eta
            else p.name
            for p, a in line.coming
        )
        parts.append(t(lang, "bt.board_coming", names=who))
    if line.seen:
        parts.append(t(lang, "bt.board_seen", names=", ".join(p.name for p in line.seen)))
    if line.waiting:
        parts.append(t(lang, "bt.board_waiting", names=", ".join(p.name for p in line.waiting)))
    if line.declined:
        parts.append(t(lang, "bt.board_declined", names=", ".join(p.name for p in line.declined)))
    if not line.coming and not line.waiting and not line.seen:
        parts.append(t(lang, "bt.board_gap"))
    if line.coming or line.seen:
        mark = "✅"
    elif line.waiting:
        mark = "⏳"
    else:
        mark = "⚠️"
    return f"{mark} {name}: " + "; ".join(parts)


def _grouped(tx: Tx, found: list[Line], lang: Language) -> str:
    """A board too long for one message (a large team): the functions grouped by where they
    stand, one line per group, people named only where they come."""
    tz = tx.directory.region.timezone

    def label(line: Line) -> str:
        return function_label(tx, line.member) + (" *" if line.member.required else "")

    coming = [x for x in found if x.coming or x.seen]
    waiting = [x for x in found if not (x.coming or x.seen) and x.waiting]
    nobody = [x for x in found if not (x.coming or x.seen or x.waiting)]
    groups: list[str] = []
    if coming:
        items = ", ".join(
            f"{label(x)} ("
            + ", ".join(
                f"{p.name} ±{fmt_time(a.eta, tz, lang)}" if a.eta else p.name for p, a in x.coming
            )
            + ")"
            if x.coming
            else label(x)
            for x in coming
        )
        groups.append(t(lang, "bt.board_group_coming", count=len(coming), items=items))
    if waiting:
        names = ", ".join(label(x) for x in waiting)
        groups.append(t(lang, "bt.board_group_waiting", count=len(waiting), items=names))
    if nobody:
        names = ", ".join(label(x) for x in nobody)
        groups.append(t(lang, "bt.board_group_nobody", count=len(nobody), items=names))
    declined = [f"{p.name} ({function_label(tx, x.member)})" for x in found for p in x.declined]
    if declined:
        items = ", ".join(declined)
        groups.append(t(lang, "bt.board_group_declined", count=len(declined), items=items))
    return "\n\n".join(groups)


def missing_required(found: list[Line]) -> list[Line]:
    """Required functions with nobody coming (or, for an alertering, nobody who saw it)."""
    return [x for x in found if x.member.required and not x.coming and not x.seen]


async def render(tx: Tx, callout: Callout, lang: Language) -> str:
    found = await lines(tx, callout)
    d = tx.directory
    tz = d.region.timezone
    incident = await tx.uow.incidents.get(callout.incident_id)
    assert incident is not None
    convener = d.person(callout.convened_by).name
    behalf = d.person(callout.on_behalf_of).name if callout.on_behalf_of else None
    required = [x for x in found if x.member.required]
    missing = missing_required(found)
    head = t(
        lang,
        "bt.board_head",
        team=callout.team_name,
        id=incident.public_id,
        start=fmt_datetime(callout.starts_at, tz, lang),
        place=callout.place,
        convener=convener,
        behalf=t(lang, "bt.board_behalf", name=behalf) if behalf else "",
        time=fmt_time(callout.created_at, tz, lang),
    )
    body = "\n".join(_line_text(tx, x, lang) for x in found)
    if len(head) + len(body) > BOARD_MAX:  # one message, always: edits reach only one
        body = _grouped(tx, found, lang)
    strength = t(
        lang,
        "bt.board_strength",
        covered=len(required) - len(missing),
        required=len(required),
        coming=sum(len(x.coming) for x in found),
    )
    if missing:
        open_names = ", ".join(function_label(tx, x.member) for x in missing)
        strength += "\n" + t(lang, "bt.board_open", functions=open_names)
    if callout.status.value == "ended":
        strength += "\n" + t(lang, "bt.board_ended")
    return f"{head}\n\n{body}\n\n{strength}"


async def viewers(tx: Tx, callout: Callout) -> list[Person]:
    """Who holds a board: the convener (and the burgemeester convened for), the gemeente's
    burgemeester, the Caco, the ROL of the incident (who took its ROL page, else the ROL on
    duty) and whoever is paged for the team's chair (the technisch voorzitter)."""
    d = tx.directory
    ids: dict[PersonId, None] = {callout.convened_by: None}
    if callout.on_behalf_of is not None:
        ids[callout.on_behalf_of] = None
    ids.update(dict.fromkeys(p.id for p in mayors(d, callout.gemeente_id)))
    ids.update(dict.fromkeys(p.id for p in d.with_function(CACO)))
    incident = await tx.uow.incidents.get(callout.incident_id)
    assert incident is not None
    rol: list[PersonId | None] = [
        p.acknowledged_by
        for p in await tx.uow.pages.for_incidents([incident.id])
        if p.function_key == ROL and p.acknowledged_by is not None
    ]
    if not rol:
        rol = [x.on_duty for x in await duties_for(tx, ROL, incident.gemeenten, tx.now)]
    ids.update(dict.fromkeys(i for i in rol if i is not None))
    spec = await team(tx, callout.team_key)
    if spec is not None and spec.chair:
        paged = await paged_people(tx, callout)
        for m in await tx.uow.bt.members(callout.id):
            if m.function_key != spec.chair or m.page_id is None:
                continue
            for x in await tx.uow.pages.targets([m.page_id]):
                if paged.get(x.person_id) is not TargetStatus.DECLINED:
                    ids[x.person_id] = None
    return [d.people[i] for i in ids if i in d.people]


async def changed(tx: Tx, callout: Callout) -> None:
    """Something on the board changed: refresh it once, at once after this transaction;
    every change until that refresh runs is in it."""
    if await tx.uow.bt.set_board_due(callout.id, True):
        await tx.schedule(REFRESH, callout.id, tx.now)


async def show(tx: Tx, callout: Callout, *, edit: bool = True) -> None:
    """Send the board to new viewers and edit it for those who hold one."""
    texts: dict[Language, str] = {}
    for person in await viewers(tx, callout):
        if person.language not in texts:
            texts[person.language] = await render(tx, callout, person.language)
        new = await tx.uow.bt.add_viewer(callout.id, person.id)
        await tx.send(
            person,
            "bt.board",
            title_key="bt.board_title",
            topic=board_topic(callout),
            edit=edit and not new,
            board=texts[person.language],
            team=callout.team_name,
        )


async def on_timer(tx: Tx, timer: Timer) -> None:
    callout = await tx.uow.bt.callout(CalloutId(timer.ref), for_update=True)
    if callout is None:
        return
    await tx.uow.bt.set_board_due(callout.id, False)
    await show(tx, callout)


async def status(tx: Tx, person: Person, ident: str) -> None:
    """/bt status: the board of the person's call-out, sent again (as a new message)."""
    found = await active_for(tx, person)
    if ident:
        incident = await find_incident(tx, ident)
        found = [(i, c) for i, c in found if incident is not None and i.id == incident.id]
        if incident is not None and not found and meldkamer_side(person):
            found = [(incident, c) for c in await tx.uow.bt.callouts(incident.id)]
    elif meldkamer_side(person):
        found = [
            (i, c)
            for c in await tx.uow.bt.active_callouts()
            if (i := await tx.uow.incidents.get(c.incident_id)) is not None
        ]
    if not found:
        raise UserError("bt.none_for_you")
    for _incident, callout in found:
        if not (meldkamer_side(person) or await in_bt(tx, callout, person)):
            continue
        text = await render(tx, callout, person.language)
        await tx.send(
            person,
            "bt.board",
            title_key="bt.board_title",
            topic=board_topic(callout),
            board=text,
            team=callout.team_name,
        )
