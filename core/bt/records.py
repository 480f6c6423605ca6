"""Decisions and actions of an incident (/besluit, /besluit wijzig N, /actie, /besluiten).

Decisions are numbered per incident, time-stamped, tagged with the opschaling they belong
to and shared with the BT; a changed decision keeps its earlier wording. Only a member of
an active BT of the incident with a recording function (the team's `recorders`: IM,
notulist, technisch voorzitter) or its burgemeester records.
"""

from __future__ import annotations

from datetime import timedelta

from core.bt import team as teams_
from core.bt.board import viewers
from core.bt.logbook import bt_name, record_line
from core.bt.model import Callout, CalloutId, CalloutStatus, Record, RecordKind
from core.bt.requests import find_incident, is_incident_ref, phase
from core.bt.team import active_for, coming, entitled, mayors, same_bt, sees, visible
from core.errors import UserError
from core.i18n import fmt_time, t
from core.model import Incident, Person, PersonId
from core.roster.service import find_person
from core.tx import Tx

SAME_WITHIN = timedelta(minutes=1)
MAX_TEXT = 2000


def _norm(text: str) -> str:
    return " ".join(text.casefold().split())


async def _may_record(tx: Tx, callout: Callout, person: Person) -> bool:
    if person in mayors(tx.directory, callout.gemeente_id) or person.id == callout.on_behalf_of:
        return True
    spec = await teams_.team(tx, callout.team_key)
    recorders = set(spec.recorders) if spec is not None else set()
    return bool(person.functions & recorders)


async def _incident_of(tx: Tx, person: Person, text: str) -> tuple[Incident, Callout, str]:
    """The BT the person records for, and the rest of the text: the one active call-out
    they are part of, or the one whose incident the first word names; in a BT of two
    gemeenten of one incident, the one the next word names."""
    words = text.split(maxsplit=1)
    mine = await active_for(tx, person)
    # Only a full id names the incident: "/besluit 112 gebeld" is a decision.
    if words and "-" in words[0] and is_incident_ref(words[0].rstrip(":")):
        incident = await find_incident(tx, words[0].rstrip(":"))
        mine = [(i, c) for i, c in mine if incident is not None and i.id == incident.id]
        text = words[1] if len(words) > 1 else ""
    if not mine:
        await tx.audit(person, "bt.record", "bt", "denied: not in a BT")
        raise UserError("bt.not_in_bt")
    if len({i.id for i, _c in mine}) > 1:
        raise UserError("bt.which_bt", ids=", ".join(sorted({i.public_id for i, _c in mine})))
    allowed = [(i, c) for i, c in mine if await _may_record(tx, c, person)]
    if not allowed:
        await tx.audit(person, "bt.record", mine[0][0].public_id, "denied: function")
        raise UserError("bt.record_not_allowed")
    # The newest call-out of each BT (one gemeente's team, or a regional team).
    bts = {(c.gemeente_id, c.team_key): (i, c) for i, c in reversed(allowed)}
    if len(bts) == 1:
        incident, callout = allowed[0]
        return incident, callout, text
    chosen = _named_first(tx, list(bts.values()), text)
    if chosen is not None:
        return chosen
    names = sorted(bt_name(tx.directory, c) for _i, c in bts.values())
    raise UserError("bt.which_gemeente", names=", ".join(names), example=names[0])


def _named_first(
    tx: Tx, bts: list[tuple[Incident, Callout]], text: str
) -> tuple[Incident, Callout, str] | None:
    """The BT the text starts with, and the rest: a gemeente by its name or key (the
    longest that fits: "De Bilt", not "De"), a regional team by its name or key."""
    text = text.strip()
    folded = text.casefold()
    best: tuple[int, Incident, Callout] | None = None
    d = tx.directory
    for incident, callout in bts:
        own = d.gemeente(callout.gemeente_id).key if callout.gemeente_id else callout.team_key
        for name in (bt_name(d, callout).casefold(), own.casefold()):
            fits = folded.startswith(name) and folded[len(name) : len(name) + 1] in ("", " ", ":")
            if fits and (best is None or len(name) > best[0]):
                best = (len(name), incident, callout)
    if best is None:
        return None
    return best[1], best[2], text[best[0] :].lstrip(" :")


async def _named(tx: Tx, incident: Incident, callout: Callout) -> str:
    """The incident as a BT's messages name it: with the BT's gemeente (or team) once the
    incident has more than one BT ("VRU-2026-0001 Zeist")."""
    bts = {(c.gemeente_id, c.team_key) for c in await tx.uow.bt.callouts(incident.id)}
    return (
        incident.public_id
        if len(bts) < 2
        else f"{incident.public_id} {bt_name(tx.directory, callout)}"
    )


async def _bt(tx: Tx, callout: Callout) -> set[CalloutId]:
    """The call-outs of the call-out's BT (its incident, team and gemeente)."""
    return {c.id for c in await tx.uow.bt.callouts(callout.incident_id) if same_bt(c, callout)}


async def _bt_records(tx: Tx, callout: Callout) -> list[Record]:
    bt = await _bt(tx, callout)
    return [r for r in await tx.uow.bt.records(callout.incident_id) if r.callout_id in bt]


async def _share(tx: Tx, callout: Callout, key: str, **params: object) -> None:
    """To the BT: everyone coming, the boards' viewers (convener, burgemeester, Caco, ROL)
    of each active call-out of this BT; never to another gemeente's BT."""
    people: dict[PersonId, Person] = {}
    for other in await tx.uow.bt.callouts(callout.incident_id):
        if other.status is not CalloutStatus.ACTIVE or not same_bt(other, callout):
            continue
        for p in [*await coming(tx, other), *await viewers(tx, other)]:
            people[p.id] = p
    for person in people.values():
        await tx.send(person, key, topic=f"bt-record:{callout.id}", **params)  # type: ignore[arg-type]


REVISE_WORDS = ("wijzig", "change", "edit")


class Records:
    async def decide(self, tx: Tx, person: Person, args: str) -> None:
        # "wijzig N …" comes first, or after the incident and the BT that `bt.which_bt` and
        # `bt.which_gemeente` ask to put first ("/besluit Zeist: wijzig 3 …").
        first, _, rest = args.strip().partition(" ")
        revising = first.lower() in REVISE_WORDS
        incident, callout, text = await _incident_of(tx, person, rest if revising else args)
        first, _, rest = text.strip().partition(" ")
        if revising or first.lower() in REVISE_WORDS:
            await self._revise(tx, person, incident, callout, text if revising else rest)
            return
        text = text.strip()
        if not text:
            raise UserError("bt.decision_usage")
        text = text[:MAX_TEXT]
        records = await _bt_records(tx, callout)
        for r in records:
            if (
                r.kind is RecordKind.DECISION
                and _norm(r.text) == _norm(text)
                and tx.now - r.at < SAME_WITHIN
            ):
                raise UserError("bt.decision_duplicate", number=r.number)
        record = await tx.uow.bt.add_record(
            callout,
            await _bt(tx, callout),
            RecordKind.DECISION,
            text,
            await phase(tx, incident),
            person.id,
            tx.now,
        )
        await tx.audit(
            person,
            "bt.decision",
            incident.public_id,
            number=record.number,
            text=text,
            phase=record.phase,
            callout=callout.id,
        )
        await _share(
            tx,
            callout,
            "bt.decision_shared",
            number=record.number,
            id=await _named(tx, incident, callout),
            name=person.name,
            phase=record.phase or "—",
            time=lambda lang: fmt_time(tx.now, tx.directory.region.timezone, lang),
            text=text,
        )

    async def _revise(
        self, tx: Tx, person: Person, incident: Incident, callout: Callout, rest: str
    ) -> None:
        number_text, _, text = rest.strip().partition(" ")
        if not number_text.isascii() or not number_text.isdigit() or not text.strip():
            raise UserError("bt.revise_usage")
        number = int(number_text)
        record = next(
            (
                r
                for r in await _bt_records(tx, callout)
                if r.kind is RecordKind.DECISION and r.number == number
            ),
            None,
        )
        if record is None:
            raise UserError(
                "bt.no_such_decision", number=number, id=await _named(tx, incident, callout)
            )
        text = text.strip()[:MAX_TEXT]
        if _norm(text) == _norm(record.text):
            raise UserError("bt.revise_same", number=number)
        await tx.uow.bt.revise(record, text, person.id, tx.now)
        await tx.audit(
            person,
            "bt.decision_changed",
            incident.public_id,
            number=number,
            text=text,
            before=record.text,
            callout=callout.id,
        )
        await _share(
            tx,
            callout,
            "bt.decision_changed",
            number=number,
            id=await _named(tx, incident, callout),
            name=person.name,
            text=text,
            before=record.text,
        )

    async def action(self, tx: Tx, person: Person, args: str) -> None:
        incident, callout, rest = await _incident_of(tx, person, args)
        words = rest.split()
        if len(words) < 2:
            raise UserError("bt.action_usage")
        owner: Person | None = None
        used = 0
        for n in range(min(4, len(words) - 1), 0, -1):  # the longest name that fits
            try:
                owner = find_person(tx.directory, " ".join(words[:n]), person)
            except UserError:
                continue
            used = n
            break
        if owner is None:
            find_person(tx.directory, words[0], person)  # its refusal says what is wrong
            raise UserError("bt.action_usage")
        text = " ".join(words[used:])[:MAX_TEXT]
        record = await tx.uow.bt.add_record(
            callout,
            await _bt(tx, callout),
            RecordKind.ACTION,
            text,
            await phase(tx, incident),
            person.id,
            tx.now,
            owner=owner.id,
        )
        await tx.audit(
            person,
            "bt.action",
            incident.public_id,
            number=record.number,
            text=text,
            owner=owner.key,
            callout=callout.id,
        )
        if not await sees(tx, incident, callout, owner):
            await tx.send(
                person, "bt.action_owner_outside", topic=f"bt-record:{callout.id}", name=owner.name
            )
        else:
            await tx.send(
                owner,
                "bt.action_yours",
                topic=f"bt-record:{callout.id}",
                number=record.number,
                id=await _named(tx, incident, callout),
                name=person.name,
                text=text,
            )
        await tx.send(
            person,
            "bt.action_recorded",
            topic=f"bt-record:{callout.id}",
            number=record.number,
            name=owner.name,
        )

    async def list(self, tx: Tx, person: Person, args: str) -> None:
        ident = args.strip()
        incident: Incident | None
        if ident:
            incident = await find_incident(tx, ident)
            if incident is None:
                raise UserError("bt.unknown_incident", id=ident)
        else:
            mine = await active_for(tx, person)
            if not mine:
                raise UserError("bt.not_in_bt")
            incident = mine[0][0]
        if not await entitled(tx, incident, person):
            await tx.audit(person, "bt.records", incident.public_id, "denied")
            raise UserError("bt.records_not_allowed", id=incident.public_id)
        shown = await visible(tx, incident, person)
        records = [r for r in await tx.uow.bt.records(incident.id) if r.callout_id in shown]
        lang = person.language
        callouts = {c.id: c for c in await tx.uow.bt.callouts(incident.id)}
        bts: dict[str, list[str]] = {}
        for r in records:
            line = record_line(tx.directory, r, lang)
            if r.history:
                line += " " + t(lang, "bt.list_changed", count=len(r.history))
            bts.setdefault(bt_name(tx.directory, callouts[r.callout_id]), []).append(line)
        if len(bts) > 1:  # two gemeenten's BTs, as the Caco and the ROL see them
            lines = [f"{name}:\n" + "\n".join(found) for name, found in bts.items()]
        else:
            lines = [line for found in bts.values() for line in found]
        await tx.send(
            person,
            "bt.list",
            topic=f"bt-list:{incident.id}",
            id=incident.public_id,
            lines="\n".join(lines) or t(lang, "bt.list_empty"),
        )
        await tx.audit(person, "bt.records_shown", incident.public_id, callouts=sorted(shown))
