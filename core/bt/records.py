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
from core.bt.model import Callout, CalloutStatus, RecordKind
from core.bt.requests import find_incident, is_incident_ref, phase
from core.bt.team import active_for, coming, entitled, mayors
from core.errors import UserError
from core.i18n import fmt_datetime, fmt_time, t
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
    they are part of, or the one whose incident the first word names."""
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
    for incident, callout in mine:
        if await _may_record(tx, callout, person):
            return incident, callout, text
    await tx.audit(person, "bt.record", mine[0][0].public_id, "denied: function")
    raise UserError("bt.record_not_allowed")


async def _share(tx: Tx, incident: Incident, key: str, **params: object) -> None:
    """To the BT: everyone coming, the boards' viewers (convener, burgemeester, Caco, ROL)."""
    people: dict[PersonId, Person] = {}
    for callout in await tx.uow.bt.callouts(incident.id):
        if callout.status is not CalloutStatus.ACTIVE:
            continue
        for p in [*await coming(tx, callout), *await viewers(tx, callout)]:
            people[p.id] = p
    for person in people.values():
        await tx.send(person, key, topic=f"bt-record:{incident.id}", **params)  # type: ignore[arg-type]


REVISE_WORDS = ("wijzig", "change", "edit")


class Records:
    async def decide(self, tx: Tx, person: Person, args: str) -> None:
        words = args.split(maxsplit=2)
        if words and words[0].lower() in REVISE_WORDS:
            await self.revise(tx, person, " ".join(words[1:]))
            return
        # "/besluit VRU-2026-0001 wijzig 3 …": the incident first, as `bt.which_bt` advises.
        named = len(words) > 1 and "-" in words[0] and is_incident_ref(words[0].rstrip(":"))
        if named and words[1].lower() in REVISE_WORDS:
            await self.revise(tx, person, " ".join([words[0], *words[2:]]))
            return
        incident, _callout, text = await _incident_of(tx, person, args)
        text = text.strip()
        if not text:
            raise UserError("bt.decision_usage")
        text = text[:MAX_TEXT]
        records = await tx.uow.bt.records(incident.id)
        for r in records:
            if (
                r.kind is RecordKind.DECISION
                and _norm(r.text) == _norm(text)
                and tx.now - r.at < SAME_WITHIN
            ):
                raise UserError("bt.decision_duplicate", number=r.number)
        record = await tx.uow.bt.add_record(
            incident.id, RecordKind.DECISION, text, await phase(tx, incident), person.id, tx.now
        )
        await tx.audit(
            person,
            "bt.decision",
            incident.public_id,
            number=record.number,
            text=text,
            phase=record.phase,
        )
        await _share(
            tx,
            incident,
            "bt.decision_shared",
            number=record.number,
            id=incident.public_id,
            name=person.name,
            phase=record.phase or "—",
            time=lambda lang: fmt_time(tx.now, tx.directory.region.timezone, lang),
            text=text,
        )

    async def revise(self, tx: Tx, person: Person, args: str) -> None:
        incident, _callout, rest = await _incident_of(tx, person, args)
        number_text, _, text = rest.strip().partition(" ")
        if not number_text.isascii() or not number_text.isdigit() or not text.strip():
            raise UserError("bt.revise_usage")
        number = int(number_text)
        record = next(
            (
                r
                for r in await tx.uow.bt.records(incident.id)
                if r.kind is RecordKind.DECISION and r.number == number
            ),
            None,
        )
        if record is None:
            raise UserError("bt.no_such_decision", number=number, id=incident.public_id)
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
        )
        await _share(
            tx,
            incident,
            "bt.decision_changed",
            number=number,
            id=incident.public_id,
            name=person.name,
            text=text,
            before=record.text,
        )

    async def action(self, tx: Tx, person: Person, args: str) -> None:
        incident, _callout, rest = await _incident_of(tx, person, args)
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
            incident.id,
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
        )
        if not await entitled(tx, incident, owner):
            await tx.send(
                person, "bt.action_owner_outside", topic=f"bt-record:{incident.id}", name=owner.name
            )
        else:
            await tx.send(
                owner,
                "bt.action_yours",
                topic=f"bt-record:{incident.id}",
                number=record.number,
                id=incident.public_id,
                name=person.name,
                text=text,
            )
        await tx.send(
            person,
            "bt.action_recorded",
            topic=f"bt-record:{incident.id}",
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
        records = await tx.uow.bt.records(incident.id)
        lang = person.language
        tz = tx.directory.region.timezone
        lines = []
        for r in records:
            by = tx.directory.person(r.by).name
            when = fmt_datetime(r.at, tz, lang)
            if r.kind is RecordKind.DECISION:
                line = t(
                    lang,
                    "bt.list_decision",
                    number=r.number,
                    time=when,
                    phase=r.phase or "—",
                    name=by,
                    text=r.text,
                )
                if r.history:
                    line += " " + t(lang, "bt.list_changed", count=len(r.history))
            else:
                owner = tx.directory.person(r.owner).name if r.owner else "?"
                line = t(
                    lang,
                    "bt.list_action",
                    number=r.number,
                    time=when,
                    owner=owner,
                    name=by,
                    text=r.text,
                )
            lines.append(line)
        await tx.send(
            person,
            "bt.list",
            topic=f"bt-record:{incident.id}",
            id=incident.public_id,
            lines="\n".join(lines) or t(lang, "bt.list_empty"),
        )
        await tx.audit(person, "bt.records_shown", incident.public_id)
