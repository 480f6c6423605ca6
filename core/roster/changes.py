"""Roster changes by coordinators: /vervang, /dienst and /rotatie, each previewed and
confirmed by button.

Every change is checked twice: when it is asked (for the preview) and again when it is
confirmed, against the roster as it is then. Bad input raises `UserError`, so nothing changes.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import Literal

from core.callbacks import ChangeButton, RequestId
from core.errors import UserError
from core.model import Language, Person, PersonId
from core.roster.checks import check_override, check_shift, shift_key
from core.roster.dates import fmt_moment, parse_period
from core.roster.effects import MAX_LINES, changed_people, fingerprint, result_text
from core.roster.model import (
    REGIO,
    Key,
    Override,
    Roster,
    RosterRequest,
    RosterSettings,
    RotationDef,
    Shift,
    rotation_handover,
    rotation_turn,
)
from core.roster.proposals import (
    ChangeRequest,
    OverrideChange,
    Proposal,
    RotationChange,
    ShiftChange,
)
from core.roster.queries import RosterQueries
from core.roster.service import (
    duty_text,
    find_person,
    function_name,
    key_label,
    load_roster,
    parse_function_scope,
    person_name,
    require_coordinator,
    roster_settings,
    scope_name,
    timeline_text,
)
from core.tx import Tx

CHANGE_TTL = timedelta(hours=1)

# A command line's possible readings, most parts first: its text per clause name ("first" for
# the text before the first keyword). Reading command text is the flows' (flows/roster/text.py).
Readings = Sequence[Mapping[str, str]]
RotationAction = Literal["add", "remove"]


@dataclass
class Reading:
    """One reading of a command line: its parts by clause name, and how far building a
    proposal from it got (the error of the reading that got furthest is the one shown)."""

    parts: dict[str, str]
    progress: int = 0

    def passed(self) -> None:
        self.progress += 1


def override_proposal(roster: Roster, override: Override) -> Proposal:
    """The proposal of an override: who it names, and anyone else whose duty or backup it
    changes (it may apply on top of an earlier override)."""
    key, start, end = override.key, override.start, override.end
    after = roster.plus(overrides=[override])
    named = (override.replaced, override.replacement)
    return Proposal(
        OverrideChange(override.replaced, override.replacement),
        key,
        roster,
        after,
        start,
        end,
        tuple(dict.fromkeys(named + changed_people(roster, after, key, start, end))),
    )


def _named(proposal: Proposal) -> PersonId:
    """The person a preview names: who takes a shift, or joins or leaves a rotation."""
    change = proposal.change
    return change.person if isinstance(change, ShiftChange | RotationChange) else PersonId(0)


def fingerprint_of(proposal: Proposal) -> str:
    return fingerprint(proposal.after, proposal.key, proposal.start, proposal.end)


def result_of(tx: Tx, proposal: Proposal, lang: Language) -> str:
    return result_text(tx, proposal.after, proposal.key, proposal.start, proposal.end, lang)


class RosterChanges(RosterQueries):
    """The coordinators' changes, on top of reading the rosters."""

    def __init__(self, on_change: Callable[[Tx, Key], Awaitable[None]] | None = None) -> None:
        # Called after every applied change (plans reminders for the new duty).
        self.on_change = on_change

    # --- changes by coordinators ------------------------------------------------------------

    async def _key_for(
        self,
        tx: Tx,
        settings: RosterSettings,
        roster: Roster,
        holder: Person,
        start: datetime,
        end: datetime,
        for_text: str | None,
    ) -> Key:
        """The function and scope in which `holder` has duty in the period (narrowed by a
        "voor <functie> [scope]" clause)."""
        function, scope = (
            parse_function_scope(tx.directory, settings, for_text) if for_text else (None, None)
        )
        if for_text and function is None:
            raise UserError("roster.function.unknown", text=for_text)
        candidates = []
        for key in await self._keys(tx, roster, settings, function, scope):
            segments = roster.timeline(*key, start, end)
            if any(holder.id in (s.duty.on_duty, s.duty.backup) for s in segments):
                candidates.append(key)
        tz = tx.directory.region.timezone
        if not candidates:
            raise UserError(
                "roster.replace.not_on_duty",
                name=holder.name,
                start=lambda lang: fmt_moment(start, tz, lang),
                end=lambda lang: fmt_moment(end, tz, lang),
            )
        if len(candidates) > 1:
            raise UserError(
                "roster.which",
                name=holder.name,
                options=lambda lang: ", ".join(
                    key_label(tx.directory, settings, k, lang) for k in candidates
                ),
            )
        return candidates[0]

    async def ask_replace(self, tx: Tx, person: Person, readings: Readings) -> None:
        """/vervang <persoon> door <persoon> van … tot … [voor …], as its possible readings."""
        settings = await roster_settings(tx)
        require_coordinator(tx.directory, person, settings, None)
        tz = tx.directory.region.timezone

        async def build(reading: Reading) -> Proposal:
            parts = reading.parts
            replaced = find_person(tx.directory, parts["first"], person)
            replacement = find_person(tx.directory, parts["by"], person)
            reading.passed()
            start, end = parse_period(parts["from"], parts["until"], tx.now, tz)
            reading.passed()
            roster = await load_roster(tx, start, end)
            key = await self._key_for(tx, settings, roster, replaced, start, end, parts.get("for"))
            require_coordinator(tx.directory, person, settings, key[1])
            override = check_override(tx, roster, key, replaced, replacement, start, end)
            return override_proposal(roster, override)

        proposal = await self._first(readings, build, "roster.replace.usage")
        await self._preview(tx, person, settings, proposal)

    async def ask_shift(self, tx: Tx, person: Person, readings: Readings) -> None:
        """/dienst <persoon> van … tot … [voor …] [backup <persoon>], as its readings."""
        settings = await roster_settings(tx)
        require_coordinator(tx.directory, person, settings, None)
        tz = tx.directory.region.timezone

        async def build(reading: Reading) -> Proposal:
            parts = reading.parts
            holder = find_person(tx.directory, parts["first"], person)
            backup = (
                find_person(tx.directory, parts["backup"], person) if "backup" in parts else None
            )
            reading.passed()
            start, end = parse_period(parts["from"], parts["until"], tx.now, tz)
            reading.passed()
            roster = await load_roster(tx, start, end)
            key = shift_key(tx, settings, roster, holder, parts.get("for"))
            require_coordinator(tx.directory, person, settings, key[1])
            return self._shift_proposal(tx, roster, key, holder, backup, start, end)

        proposal = await self._first(readings, build, "roster.shift.usage")
        await self._preview(tx, person, settings, proposal)

    def _shift_proposal(
        self,
        tx: Tx,
        roster: Roster,
        key: Key,
        holder: Person,
        backup: Person | None,
        start: datetime,
        end: datetime,
    ) -> Proposal:
        shift = check_shift(tx, roster, key, holder, backup, start, end)
        after = roster.plus(shifts=[shift])
        named = (holder.id, backup.id) if backup else (holder.id,)
        # Whoever the shift displaces, on duty or as backup, is affected too.
        affected = tuple(dict.fromkeys(named + changed_people(roster, after, key, start, end)))
        return Proposal(
            ShiftChange(holder.id, backup.id if backup else None),
            key,
            roster,
            after,
            start,
            end,
            affected,
        )

    async def rotation(
        self, tx: Tx, person: Person, which: str, action: RotationAction | None, target_text: str
    ) -> None:
        """/rotatie <functie> [scope] [toevoegen|verwijderen <persoon>]: `which` rotation,
        shown (no `action`) or changed for the person named by `target_text`."""
        settings = await roster_settings(tx)
        function, scope = parse_function_scope(tx.directory, settings, which)
        if function is None:
            raise UserError("roster.rotation.usage")
        roster = await load_roster(tx, tx.now, tx.now + timedelta(days=1), [function])
        if scope is None:
            scopes = sorted(
                s for f, s in roster.known_keys() if f == function and roster.rotation(f, s)
            )
            if len(scopes) > 1 and REGIO not in scopes:
                # Several gemeenten or piketregio's have one: ask which, do not guess.
                raise UserError(
                    "roster.rotation.which",
                    function=function_name(tx.directory, function),
                    typed=function,
                    scopes=lambda lang: ", ".join(
                        scope_name(tx.directory, settings, s, lang) for s in scopes
                    ),
                )
            scope = scopes[0] if len(scopes) == 1 else REGIO
        key = (function, scope)
        current = roster.rotation(*key)
        if current is None:
            raise UserError(
                "roster.rotation.none",
                label=lambda lang: key_label(tx.directory, settings, key, lang),
            )
        if action is None:
            await self._show_rotation(tx, person, settings, roster, current)
            return
        require_coordinator(tx.directory, person, settings, scope)
        if not target_text:
            raise UserError("roster.rotation.usage")
        target = find_person(tx.directory, target_text, person)
        adding = action == "add"
        proposal = self._rotation_change(tx, roster, current, target, adding)
        # The preview, and who is told, reach several turns ahead: judge them against the
        # overrides and shifts planned there too.
        roster = await load_roster(tx, tx.now, proposal.end, [function])
        proposal = self._rotation_change(tx, roster, current, target, adding)
        await self._preview(tx, person, settings, proposal)

    async def _show_rotation(
        self, tx: Tx, person: Person, settings: RosterSettings, roster: Roster, d: RotationDef
    ) -> None:
        lang = person.language
        members = "\n".join(
            f"{i + 1}. {person_name(tx.directory, m)}" for i, m in enumerate(d.members)
        )
        await tx.send(
            person,
            "roster.rotation.show",
            label=key_label(tx.directory, settings, d.key, lang),
            members=members or "–",
            count=d.shift_days,
            handover=d.start.strftime("%H:%M"),
            duty=duty_text(tx.directory, roster.duty(*d.key, tx.now), lang),
        )

    def _rotation_change(
        self, tx: Tx, roster: Roster, d: RotationDef, target: Person, adding: bool
    ) -> Proposal:
        tz = tx.directory.region.timezone
        turn = rotation_turn(d, tx.now, tz)
        effective_turn = 0 if turn is None else turn + 1
        effective = rotation_handover(d, effective_turn, tz)
        members = list(d.members)
        n = len(members)
        order = members[effective_turn % n :] + members[: effective_turn % n] if n else []
        if adding:
            if target.id in members:
                raise UserError("roster.rotation.already", name=target.name)
            if d.function_key not in target.functions:
                raise UserError(
                    "roster.no_function",
                    name=target.name,
                    function=function_name(tx.directory, d.function_key),
                )
            order.append(target.id)
        else:
            if target.id not in members:
                raise UserError("roster.rotation.not_member", name=target.name)
            order.remove(target.id)
        new = RotationDef(
            d.function_key,
            d.scope,
            tuple(order),
            d.start + timedelta(days=d.shift_days * effective_turn),
            d.shift_days,
        )
        previous = replace(d, valid_until=effective)
        after = roster.plus(rotations=[previous, new])
        end = effective + timedelta(days=d.shift_days * max(3, len(order)))
        return Proposal(
            RotationChange(
                target.id,
                adding,
                tuple(order),
                new.start.isoformat(timespec="minutes"),
                d.shift_days,
                d.members,
                d.start.isoformat(timespec="minutes"),
            ),
            d.key,
            roster,
            after,
            effective,
            end,
            # The person added or removed, and everyone whose turns shift within the preview.
            tuple(
                dict.fromkeys((target.id, *changed_people(roster, after, d.key, effective, end)))
            ),
        )

    async def _first(
        self, readings: Readings, build: Callable[[Reading], Awaitable[Proposal]], usage: str
    ) -> Proposal:
        """The proposal of the first reading that builds; else the refusal of the reading that
        got furthest, or `usage` when there is no reading at all."""
        best: tuple[int, UserError] | None = None
        for parts in readings:
            reading = Reading(dict(parts))
            try:
                return await build(reading)
            except UserError as error:
                if best is None or reading.progress > best[0]:
                    best = (reading.progress, error)
        if best is not None:
            raise best[1]
        raise UserError(usage)

    async def _preview(
        self, tx: Tx, person: Person, settings: RosterSettings, proposal: Proposal
    ) -> None:
        payload = ChangeRequest.of(proposal, result=fingerprint_of(proposal)).to_json()
        request_id = await tx.uow.roster.add_request("change", person.id, payload, tx.now)
        lang = person.language
        tz = tx.directory.region.timezone
        key = proposal.key
        before = proposal.before.timeline(*key, proposal.start, proposal.end)
        await tx.send(
            person,
            f"roster.preview.{proposal.op}",
            label=key_label(tx.directory, settings, key, lang),
            start=fmt_moment(proposal.start, tz, lang),
            end=fmt_moment(proposal.end, tz, lang),
            before=timeline_text(tx, before[:MAX_LINES], lang),
            after=result_of(tx, proposal, lang),
            name=person_name(tx.directory, _named(proposal)),
            buttons=(
                ("roster.button.confirm", ChangeButton(RequestId(request_id), "yes").pack()),
                ("roster.button.cancel", ChangeButton(RequestId(request_id), "no").pack()),
            ),
        )
        await tx.audit(person, f"roster.{proposal.op}.asked", f"request:{request_id}", **payload)

    async def answer_change(self, tx: Tx, person: Person, button: ChangeButton) -> None:
        request_id, action = button.request, button.action
        request = await tx.uow.roster.request(request_id, for_update=True)
        if request is None or request.kind != "change" or request.person_id != person.id:
            raise UserError("button.stale")
        if request.status != "open":
            raise UserError("roster.request.handled")
        if action != "yes":
            await tx.uow.roster.set_request(request.id, "cancelled", request.payload, tx.now)
            await tx.audit(person, "roster.change.cancelled", f"request:{request.id}")
            await tx.send(person, "roster.change.cancelled")
            return
        if tx.now - request.created_at > CHANGE_TTL:
            await tx.uow.roster.set_request(request.id, "expired", request.payload, tx.now)
            await tx.send(person, "roster.request.expired")
            return
        settings = await roster_settings(tx)
        proposal = await self._recheck(tx, person, settings, request)
        await self._apply(tx, person, settings, proposal, request)
        await tx.uow.roster.set_request(request.id, "done", request.payload, tx.now)

    async def _recheck(
        self, tx: Tx, person: Person, settings: RosterSettings, request: RosterRequest
    ) -> Proposal:
        """The change of a request, checked again against the roster as it is now; refused
        when it would no longer give the roster its preview showed."""
        stored = ChangeRequest.from_json(request.payload)
        proposal = await self._rebuild(tx, person, settings, request, stored)
        if stored.result is not None and stored.result != fingerprint_of(proposal):
            raise UserError("roster.request.outdated")
        return proposal

    async def _rebuild(
        self,
        tx: Tx,
        person: Person,
        settings: RosterSettings,
        request: RosterRequest,
        stored: ChangeRequest,
    ) -> Proposal:
        """The change of a request, built again against the roster as it is now."""
        key, start, end = stored.key, stored.start, stored.end
        if request.kind == "change":
            require_coordinator(tx.directory, person, settings, key[1])
        roster = await load_roster(tx, start, end)
        d = tx.directory

        def who(person_id: PersonId) -> Person:
            found = d.people.get(person_id)
            if found is None:
                raise UserError("roster.person.gone")
            return found

        match stored.change:
            case OverrideChange(replaced, replacement):
                override = check_override(
                    tx, roster, key, who(replaced), who(replacement), start, end
                )
                if request.kind == "swap":
                    override = replace(override, reason=f"ruil:{request.id}")
                return override_proposal(roster, override)
            case ShiftChange(holder, backup):
                backer = who(backup) if backup else None
                return self._shift_proposal(tx, roster, key, who(holder), backer, start, end)
            case RotationChange() as change:
                current = roster.rotation(*key)
                if current is None or current.members != change.old_members:
                    raise UserError("roster.request.outdated")
                if current.start.isoformat(timespec="minutes") != change.old_start_local:
                    raise UserError("roster.request.outdated")
                return self._rotation_change(tx, roster, current, who(change.person), change.adding)

    async def _apply(
        self,
        tx: Tx,
        person: Person,
        settings: RosterSettings,
        proposal: Proposal,
        request: RosterRequest,
    ) -> None:
        repo = tx.uow.roster
        key = proposal.key
        tz = tx.directory.region.timezone
        match proposal.change:
            case OverrideChange(replaced, replacement):
                reason = f"ruil:{request.id}" if request.kind == "swap" else "vervang"
                override = Override(
                    0, key[0], key[1], replaced, replacement, proposal.start, proposal.end, reason
                )
                await repo.add_override(override, person.key, tx.now)
            case ShiftChange(holder, backup):
                shift = Shift(
                    0, key[0], key[1], holder, backup or None, proposal.start, proposal.end
                )
                await repo.add_shift(shift, person.key, tx.now)
            case RotationChange() as change:
                current = proposal.before.rotation(*key)
                assert current is not None
                new = RotationDef(
                    key[0],
                    key[1],
                    change.members,
                    datetime.fromisoformat(change.start_local),
                    change.shift_days,
                )
                previous = replace(current, valid_until=proposal.start)
                await repo.change_rotation(new, previous, tx.now)
        detail = {k: v for k, v in request.payload.items() if k not in ("old_members", "result")}
        await tx.audit(person, f"roster.{proposal.op}", f"request:{request.id}", **detail)
        for pid in dict.fromkeys(proposal.affected):
            other = tx.directory.people.get(pid)
            if other is None:
                continue
            await tx.send(
                other,
                "roster.changed",
                label=lambda lang: key_label(tx.directory, settings, key, lang),
                by=person.name,
                start=lambda lang: fmt_moment(proposal.start, tz, lang),
                end=lambda lang: fmt_moment(proposal.end, tz, lang),
                after=lambda lang: result_of(tx, proposal, lang),
            )
        if person.id not in proposal.affected:
            await tx.send(person, "roster.change.done")
        if self.on_change is not None:
            await self.on_change(tx, key)
