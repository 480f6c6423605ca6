"""The roster commands: /wie, /rooster, /mijnpiket, and for coordinators /vervang, /dienst and
/rotatie (each previewed and confirmed by button), and /ruil (swaps between two people).

Every change is checked twice: when it is asked (for the preview) and again when it is
confirmed, against the roster as it is then. Bad input raises `UserError`, so nothing changes.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass, replace
from datetime import date, datetime, timedelta
from typing import Any, NamedTuple

from core.callbacks import ChangeButton, RequestId, SwapButton
from core.errors import UserError
from core.i18n import fmt_datetime, t
from core.messages import Attachment
from core.model import Language, Person, PersonId, PiketFunction
from core.roster import (
    GEMEENTE,
    MAX_SPAN,
    PIKETREGIO,
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
    to_utc,
)
from core.roster_dates import fmt_moment, parse_period
from core.roster_effects import MAX_LINES, changed_people, fingerprint, result_text
from core.roster_proposals import (
    ChangeRequest,
    OverrideChange,
    Proposal,
    RotationChange,
    ShiftChange,
)
from core.roster_service import (
    clamp_span,
    coordinators_of,
    duty_text,
    find_person,
    function_name,
    key_label,
    load_roster,
    may_edit,
    parse_function_scope,
    person_name,
    require_coordinator,
    roster_settings,
    runs,
    scope_name,
    timeline_text,
)
from core.tx import Tx

CHANGE_TTL = timedelta(hours=1)
SWAP_TTL = timedelta(days=3)
WHO_HORIZON = timedelta(days=35)
MINE_DAYS = 60

# Keywords, Dutch and English.
BY = frozenset({"door", "by", "with"})
FROM = frozenset({"van", "vanaf", "from"})
UNTIL = frozenset({"tot", "until", "till", "to"})
FOR = frozenset({"voor", "for"})
BACKUP = frozenset({"backup"})
ADD = frozenset({"toevoegen", "erbij", "add"})
REMOVE = frozenset({"verwijderen", "eraf", "weg", "remove"})


# --- splitting a command line on its keywords --------------------------------------------------


@dataclass(frozen=True)
class Clause:
    name: str
    keywords: frozenset[str]
    required: bool = True


def splits(text: str, clauses: list[Clause]) -> Iterator[dict[str, str]]:
    """Every way to read `text` as "<first> kw1 <a> kw2 <b> …": keywords in this order,
    optional ones may be missing, and no part is empty. A name may contain a keyword ("Jan van
    Dijk"), so the caller tries each reading in turn. Readings with more clauses come first."""
    words = text.split()
    found: list[dict[str, str]] = []

    def walk(start: int, index: int, name: str, acc: dict[str, str]) -> None:
        if index == len(clauses):
            if start < len(words):
                found.append({**acc, name: " ".join(words[start:])})
            return
        clause = clauses[index]
        if not clause.required:
            walk(start, index + 1, name, acc)
        for pos in range(start + 1, len(words)):
            if words[pos].lower() in clause.keywords:
                walk(pos + 1, index + 1, clause.name, {**acc, name: " ".join(words[start:pos])})

    walk(0, 0, "first", {})
    found.sort(key=lambda parts: -len(parts))
    return iter(found)


@dataclass
class Reading:
    """One reading of a command line: its parts by clause name, and how far building a
    proposal from it got (the error of the reading that got furthest is the one shown)."""

    parts: dict[str, str]
    progress: int = 0

    def passed(self) -> None:
        self.progress += 1


# --- the service -----------------------------------------------------------------------------


def _override_proposal(roster: Roster, override: Override) -> Proposal:
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


def _sort_key(directory_functions: dict[str, PiketFunction], key: Key) -> tuple[str, int, str]:
    fn = directory_functions.get(key[0])
    name = fn.name if fn else key[0]
    order = {REGIO: 0, PIKETREGIO: 1, GEMEENTE: 2}.get(key[1].partition(":")[0], 3)
    return (name.casefold(), order, key[1])


def roster_keys(
    tx: Tx, roster: Roster, settings: RosterSettings, function: str | None, scope: str | None
) -> list[Key]:
    """The rosters /rooster and /wie show for "[functie] [gemeente|regio]" (None: any): for a
    gemeente, the roster responsible for it per function; sorted as people read them."""
    keys = roster.known_keys()
    if scope is not None and scope.startswith(f"{GEMEENTE}:"):
        gemeente = scope.partition(":")[2]
        functions = {f for f, _s in keys} if function is None else {function}
        chosen = []
        for f in functions:
            chain = roster.scope_chain(f, gemeente, settings)
            if chain:
                chosen.append((f, chain[0]))
        keys = set(chosen)
    else:
        keys = {
            k
            for k in keys
            if (function is None or k[0] == function) and (scope is None or k[1] == scope)
        }
    return sorted(keys, key=lambda k: _sort_key(tx.directory.functions, k))


def _named(proposal: Proposal) -> PersonId:
    """The person a preview names: who takes a shift, or joins or leaves a rotation."""
    change = proposal.change
    return change.person if isinstance(change, ShiftChange | RotationChange) else PersonId(0)


def _fingerprint(proposal: Proposal) -> str:
    return fingerprint(proposal.after, proposal.key, proposal.start, proposal.end)


def _result(tx: Tx, proposal: Proposal, lang: Language) -> str:
    return result_text(tx, proposal.after, proposal.key, proposal.start, proposal.end, lang)


class _SwapAnswer(NamedTuple):
    """A swap request being answered, with who is in it and the messages' placeholders."""

    request: RosterRequest
    settings: RosterSettings
    asker: Person
    taker: Person
    scope: str  # of the roster swapped on: its coordinators approve
    params: dict[str, Any]


class RosterCommands:
    def __init__(self, on_change: Callable[[Tx, Key], Awaitable[None]] | None = None) -> None:
        # Called after every applied change (plans reminders for the new duty).
        self.on_change = on_change

    # --- reading -----------------------------------------------------------------------------

    async def _keys(
        self,
        tx: Tx,
        roster: Roster,
        settings: RosterSettings,
        function: str | None,
        scope: str | None,
    ) -> list[Key]:
        return roster_keys(tx, roster, settings, function, scope)

    async def who(self, tx: Tx, person: Person, args: str) -> None:
        settings = await roster_settings(tx)
        function, scope = parse_function_scope(tx.directory, settings, args)
        now = tx.now
        roster = await load_roster(tx, now, now + WHO_HORIZON, [function] if function else None)
        keys = await self._keys(tx, roster, settings, function, scope)
        lang = person.language
        if not keys:
            raise UserError("roster.who.none", what=args.strip() or "-")
        tz = tx.directory.region.timezone
        lines = []
        for key in keys:
            segment = roster.timeline(*key, now, now + WHO_HORIZON)[0]
            until = (
                t(lang, "roster.who.until", time=fmt_datetime(segment.end, tz, lang))
                if segment.end < now + WHO_HORIZON
                else ""
            )
            lines.append(
                t(
                    lang,
                    "roster.who.line",
                    label=key_label(tx.directory, settings, key, lang),
                    duty=duty_text(tx.directory, segment.duty, lang),
                    until=until,
                )
            )
        await tx.send(
            person, "roster.who.text", time=fmt_datetime(now, tz, lang), lines="\n".join(lines)
        )

    def _period(self, tx: Tx, word: str) -> tuple[datetime, datetime]:
        tz = tx.directory.region.timezone
        today = tx.now.astimezone(tz).date()
        if word in ("maand", "month"):
            month = today.month % 12 + 1
            year = today.year + (today.month == 12)
            day = min(today.day, 28)
            end_day = date(year, month, day)
        else:
            end_day = today + timedelta(days=7)
        start = to_utc(datetime.combine(today, datetime.min.time()), tz)
        end = to_utc(datetime.combine(end_day, datetime.min.time()), tz)
        return start, end

    async def rooster(self, tx: Tx, person: Person, args: str) -> None:
        words = args.split()
        flags = {w.lower() for w in words} & {"week", "maand", "month", "ical", "ics"}
        rest = " ".join(w for w in words if w.lower() not in flags)
        settings = await roster_settings(tx)
        function, scope = parse_function_scope(tx.directory, settings, rest)
        ical = bool(flags & {"ical", "ics"})
        start, end = self._period(tx, "maand" if flags & {"maand", "month"} or ical else "week")
        if ical:
            end = start + timedelta(days=92)
        roster = await load_roster(tx, start, end, [function] if function else None)
        keys = await self._keys(tx, roster, settings, function, scope)
        lang = person.language
        if not keys:
            raise UserError("roster.who.none", what=rest or "-")
        tz = tx.directory.region.timezone
        if ical:
            from core.roster_ical import export_ics

            content = export_ics(tx.directory, settings, roster, keys, start, end)
            await tx.send(
                person,
                "roster.ical.sent",
                attachment=Attachment("rooster.ics", "text/calendar", content),
                start=fmt_datetime(start, tz, lang),
                end=fmt_datetime(end, tz, lang),
            )
            await tx.audit(person, "roster.export", "ical", keys=len(keys))
            return
        blocks = []
        for key in keys:
            segments = roster.timeline(*key, start, end)
            lines = timeline_text(tx, segments[:MAX_LINES], lang)
            blocks.append(f"{key_label(tx.directory, settings, key, lang)}\n{lines}")
        header = t(
            lang,
            "roster.table.header",
            start=fmt_datetime(start, tz, lang),
            end=fmt_datetime(end, tz, lang),
        )
        # One message per few blocks, so no message grows past what a chat accepts.
        chunk: list[str] = []
        for block in blocks:
            if chunk and sum(len(b) for b in chunk) + len(block) > 3000:
                await tx.send(person, "roster.table.text", header=header, blocks="\n\n".join(chunk))
                chunk = []
            chunk.append(block)
        await tx.send(person, "roster.table.text", header=header, blocks="\n\n".join(chunk))
        png = _render_png(tx, settings, roster, keys, start, end, lang)
        if png is not None:
            await tx.send(
                person,
                "roster.table.picture",
                attachment=Attachment("rooster.png", "image/png", png),
            )

    async def mine(self, tx: Tx, person: Person, _args: str) -> None:
        # Duties starting within the horizon, looked at a longest shift beyond it on both
        # sides, so each shows its real start and end; one running past that says so.
        horizon = tx.now + timedelta(days=MINE_DAYS)
        start, end = tx.now - MAX_SPAN, horizon + MAX_SPAN
        roster = await load_roster(tx, start, end)
        settings = await roster_settings(tx)
        lang = person.language
        tz = tx.directory.region.timezone
        found = []
        for key in roster.known_keys():
            segments = roster.timeline(*key, start, end)
            for role in ("duty", "backup"):
                found += [
                    r
                    for r in runs(segments, role)
                    if r.person == person.id and r.end > tx.now and r.start < horizon
                ]
        if not found:
            await tx.send(person, "roster.mine.none", days=MINE_DAYS)
            return
        lines = [
            t(
                lang,
                f"roster.mine.{r.role}",
                label=key_label(tx.directory, settings, r.key, lang),
                start=fmt_datetime(r.start, tz, lang)
                if r.start > start
                else t(lang, "roster.mine.open_start", time=fmt_datetime(start, tz, lang)),
                end=fmt_datetime(r.end, tz, lang)
                if r.end < end
                else t(lang, "roster.mine.open_end", time=fmt_datetime(end, tz, lang)),
            )
            for r in sorted(found, key=lambda r: (r.start, r.role))
        ]
        await tx.send(person, "roster.mine.text", lines="\n".join(lines), days=MINE_DAYS)

    # --- changes by coordinators ------------------------------------------------------------

    def _check_override(
        self,
        tx: Tx,
        roster: Roster,
        key: Key,
        replaced: Person,
        replacement: Person,
        start: datetime,
        end: datetime,
    ) -> Override:
        tz = tx.directory.region.timezone
        if replaced.id == replacement.id:
            raise UserError("roster.replace.same_person", name=replaced.name)
        if key[0] not in replacement.functions:
            raise UserError(
                "roster.no_function",
                name=replacement.name,
                function=function_name(tx.directory, key[0]),
            )
        clamp_span(start, end)
        if end <= tx.now:
            raise UserError("roster.in_past", end=lambda lang: fmt_moment(end, tz, lang))
        for other in roster.overrides(*key):
            if other.replaced == replaced.id and other.start < end and start < other.end:
                raise UserError(
                    "roster.replace.overlap",
                    name=replaced.name,
                    other=person_name(tx.directory, other.replacement),
                    start=lambda lang, o=other: fmt_moment(o.start, tz, lang),
                    end=lambda lang, o=other: fmt_moment(o.end, tz, lang),
                )
        segments = roster.timeline(*key, start, end)
        if not any(replaced.id in (s.duty.on_duty, s.duty.backup) for s in segments):
            raise UserError(
                "roster.replace.not_on_duty",
                name=replaced.name,
                start=lambda lang: fmt_moment(start, tz, lang),
                end=lambda lang: fmt_moment(end, tz, lang),
            )
        return Override(0, key[0], key[1], replaced.id, replacement.id, start, end)

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

    async def ask_replace(self, tx: Tx, person: Person, args: str) -> None:
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
            override = self._check_override(tx, roster, key, replaced, replacement, start, end)
            return _override_proposal(roster, override)

        proposal = await self._first(
            args,
            [
                Clause("by", BY),
                Clause("from", FROM),
                Clause("until", UNTIL),
                Clause("for", FOR, required=False),
            ],
            build,
            "roster.replace.usage",
        )
        await self._preview(tx, person, settings, proposal)

    async def ask_shift(self, tx: Tx, person: Person, args: str) -> None:
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
            key = self._shift_key(tx, settings, roster, holder, parts.get("for"))
            require_coordinator(tx.directory, person, settings, key[1])
            return self._shift_proposal(tx, roster, key, holder, backup, start, end)

        proposal = await self._first(
            args,
            [
                Clause("from", FROM),
                Clause("until", UNTIL),
                Clause("for", FOR, required=False),
                Clause("backup", BACKUP, required=False),
            ],
            build,
            "roster.shift.usage",
        )
        await self._preview(tx, person, settings, proposal)

    def _shift_key(
        self,
        tx: Tx,
        settings: RosterSettings,
        roster: Roster,
        holder: Person,
        for_text: str | None,
    ) -> Key:
        if for_text:
            function, scope = parse_function_scope(tx.directory, settings, for_text)
            if function is None:
                raise UserError("roster.function.unknown", text=for_text)
            if scope is None:
                scopes = sorted(s for f, s in roster.known_keys() if f == function) or [REGIO]
                if len(scopes) > 1:
                    raise UserError(
                        "roster.shift.which_scope",
                        function=function_name(tx.directory, function),
                    )
                scope = scopes[0]
            return (function, scope)
        functions = sorted(f for f in holder.functions if f in tx.directory.functions)
        keys = sorted(k for k in roster.known_keys() if k[0] in functions)
        if len(keys) == 1:
            return keys[0]
        if len(functions) == 1 and not keys:
            return (functions[0], REGIO)
        raise UserError("roster.shift.which", name=holder.name)

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
        shift = self._check_shift(tx, roster, key, holder, backup, start, end)
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

    def _check_shift(
        self,
        tx: Tx,
        roster: Roster,
        key: Key,
        holder: Person,
        backup: Person | None,
        start: datetime,
        end: datetime,
    ) -> Shift:
        tz = tx.directory.region.timezone
        for who in (holder, backup):
            if who is not None and key[0] not in who.functions:
                raise UserError(
                    "roster.no_function",
                    name=who.name,
                    function=function_name(tx.directory, key[0]),
                )
        if backup is not None and backup.id == holder.id:
            raise UserError("roster.shift.backup_self", name=holder.name)
        clamp_span(start, end)
        if end <= tx.now:
            raise UserError("roster.in_past", end=lambda lang: fmt_moment(end, tz, lang))
        for other in roster.shifts(*key):
            if other.start < end and start < other.end:
                raise UserError(
                    "roster.shift.overlap",
                    other=person_name(tx.directory, other.person),
                    start=lambda lang, o=other: fmt_moment(o.start, tz, lang),
                    end=lambda lang, o=other: fmt_moment(o.end, tz, lang),
                )
        return Shift(0, key[0], key[1], holder.id, backup.id if backup else None, start, end)

    async def rotation(self, tx: Tx, person: Person, args: str) -> None:
        """/rotatie <functie> [scope] [toevoegen|verwijderen <persoon>]"""
        settings = await roster_settings(tx)
        words = args.split()
        action_at = next((i for i, w in enumerate(words) if w.lower() in ADD | REMOVE), len(words))
        function, scope = parse_function_scope(tx.directory, settings, " ".join(words[:action_at]))
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
        if action_at == len(words):
            await self._show_rotation(tx, person, settings, roster, current)
            return
        require_coordinator(tx.directory, person, settings, scope)
        target_text = " ".join(words[action_at + 1 :])
        if not target_text:
            raise UserError("roster.rotation.usage")
        target = find_person(tx.directory, target_text, person)
        adding = words[action_at].lower() in ADD
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
        self,
        args: str,
        clauses: list[Clause],
        build: Callable[[Reading], Awaitable[Proposal]],
        usage: str,
    ) -> Proposal:
        best: tuple[int, UserError] | None = None
        for parts in splits(args, clauses):
            reading = Reading(parts)
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
        payload = ChangeRequest.of(proposal, result=_fingerprint(proposal)).to_json()
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
            after=_result(tx, proposal, lang),
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
        if stored.result is not None and stored.result != _fingerprint(proposal):
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
                override = self._check_override(
                    tx, roster, key, who(replaced), who(replacement), start, end
                )
                if request.kind == "swap":
                    override = replace(override, reason=f"ruil:{request.id}")
                return _override_proposal(roster, override)
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
                after=lambda lang: _result(tx, proposal, lang),
            )
        if person.id not in proposal.affected:
            await tx.send(person, "roster.change.done")
        if self.on_change is not None:
            await self.on_change(tx, key)

    # --- swaps -------------------------------------------------------------------------------

    async def ask_swap(self, tx: Tx, person: Person, args: str) -> None:
        """/ruil <persoon> [van … tot …] [voor <functie> [scope]]: ask someone to take (part
        of) your duty."""
        if not tx.directory.holds_piket(person):
            raise UserError("roster.swap.no_piket")
        settings = await roster_settings(tx)
        tz = tx.directory.region.timezone

        async def build(reading: Reading) -> Proposal:
            parts = reading.parts
            taker = find_person(tx.directory, parts["first"])
            reading.passed()
            if "from" in parts:
                start, end = parse_period(parts["from"], parts["until"], tx.now, tz)
            else:
                start, end = await self._next_duty(tx, settings, person, parts.get("for"))
            reading.passed()
            roster = await load_roster(tx, start, end)
            key = await self._key_for(tx, settings, roster, person, start, end, parts.get("for"))
            override = self._check_override(tx, roster, key, person, taker, start, end)
            return _override_proposal(roster, override)

        readings = [
            [Clause("from", FROM), Clause("until", UNTIL), Clause("for", FOR, required=False)],
            [Clause("for", FOR, required=False)],
        ]
        errors: list[UserError] = []
        proposal: Proposal | None = None
        for clauses in readings:
            try:
                proposal = await self._first(args, clauses, build, "roster.swap.usage")
                break
            except UserError as error:
                errors.append(error)
        if proposal is None:
            raise errors[0]
        assert isinstance(proposal.change, OverrideChange)
        taker = tx.directory.person(proposal.change.replacement)
        if settings.swap_approval and not coordinators_of(tx.directory, settings, proposal.key[1]):
            # Nobody could approve it: the swap would wait forever.
            raise UserError("roster.swap.no_coordinator")
        payload = ChangeRequest.of(proposal, result=_fingerprint(proposal)).to_json()
        request_id = await tx.uow.roster.add_request("swap", person.id, payload, tx.now)
        await tx.audit(person, "roster.swap.asked", f"request:{request_id}", **payload)
        label = key_label(tx.directory, settings, proposal.key, taker.language)
        await tx.send(
            taker,
            "roster.swap.ask",
            name=person.name,
            label=label,
            start=lambda lang: fmt_moment(proposal.start, tz, lang),
            end=lambda lang: fmt_moment(proposal.end, tz, lang),
            after=lambda lang: _result(tx, proposal, lang),
            buttons=(
                ("roster.button.accept", SwapButton(RequestId(request_id), "yes").pack()),
                ("roster.button.decline", SwapButton(RequestId(request_id), "no").pack()),
            ),
        )
        await tx.send(
            person,
            "roster.swap.asked",
            name=taker.name,
            start=lambda lang: fmt_moment(proposal.start, tz, lang),
            end=lambda lang: fmt_moment(proposal.end, tz, lang),
        )

    async def _next_duty(
        self, tx: Tx, settings: RosterSettings, person: Person, for_text: str | None
    ) -> tuple[datetime, datetime]:
        """The person's current duty, or else their next one (within 60 days)."""
        function, scope = (
            parse_function_scope(tx.directory, settings, for_text) if for_text else (None, None)
        )
        start, end = tx.now, tx.now + timedelta(days=MINE_DAYS)
        roster = await load_roster(tx, start, end, [function] if function else None)
        found = []
        for key in await self._keys(tx, roster, settings, function, scope):
            found += [r for r in runs(roster.timeline(*key, start, end)) if r.person == person.id]
        if not found:
            raise UserError("roster.swap.no_duty", days=MINE_DAYS)
        first = min(found, key=lambda r: r.start)
        return max(first.start, tx.now), first.end

    async def answer_swap(self, tx: Tx, person: Person, button: SwapButton) -> None:
        request_id, action = button.request, button.action
        request = await tx.uow.roster.request(request_id, for_update=True)
        if request is None or request.kind != "swap":
            raise UserError("button.stale")
        p = request.payload  # stored as is when the status changes
        swap = ChangeRequest.from_json(p)
        if not isinstance(swap.change, OverrideChange):
            raise UserError("button.stale")
        settings = await roster_settings(tx)
        d = tx.directory
        asker = d.people.get(request.person_id)
        taker = d.people.get(swap.change.replacement)
        if asker is None or taker is None:
            raise UserError("roster.person.gone")
        tz = d.region.timezone
        params: dict[str, Any] = {  # the messages' placeholders
            "asker": asker.name,
            "taker": taker.name,
            "start": lambda lang: fmt_moment(swap.start, tz, lang),
            "end": lambda lang: fmt_moment(swap.end, tz, lang),
            "label": lambda lang: key_label(d, settings, swap.key, lang),
        }
        swap_answer = _SwapAnswer(request, settings, asker, taker, swap.key[1], params)
        if action in ("yes", "no"):
            await self._taker_answers(tx, person, swap_answer, accept=action == "yes")
        else:
            await self._coordinator_answers(tx, person, swap_answer, approve=action == "approve")

    async def _taker_answers(
        self, tx: Tx, person: Person, answer: _SwapAnswer, *, accept: bool
    ) -> None:
        request, settings, asker, taker, scope, params = answer
        p = request.payload
        if person.id != taker.id:
            raise UserError("roster.request.not_yours")
        if request.status != "open":
            raise UserError("roster.request.handled")
        if tx.now - request.created_at > SWAP_TTL:
            await tx.uow.roster.set_request(request.id, "expired", p, tx.now)
            raise UserError("roster.request.expired")
        if not accept:
            await tx.uow.roster.set_request(request.id, "declined", p, tx.now)
            await tx.audit(person, "roster.swap.declined", f"request:{request.id}")
            await tx.send(asker, "roster.swap.declined", **params)
            await tx.send(person, "roster.swap.you_declined", **params)
            return
        if not settings.swap_approval:
            await self._finish_swap(tx, person, settings, request, params)
            return
        proposal = await self._recheck(tx, person, settings, request)  # still possible?
        await tx.uow.roster.set_request(request.id, "accepted", p, tx.now)
        await tx.audit(person, "roster.swap.accepted", f"request:{request.id}")
        approve = SwapButton(RequestId(request.id), "approve").pack()
        reject = SwapButton(RequestId(request.id), "reject").pack()
        for coordinator in coordinators_of(tx.directory, settings, scope):
            await tx.send(
                coordinator,
                "roster.swap.approve",
                **params,
                after=lambda lang: _result(tx, proposal, lang),
                buttons=(("roster.button.approve", approve), ("roster.button.reject", reject)),
            )
        await tx.send(asker, "roster.swap.waiting", **params)
        await tx.send(taker, "roster.swap.waiting", **params)

    async def _coordinator_answers(
        self, tx: Tx, person: Person, answer: _SwapAnswer, *, approve: bool
    ) -> None:
        request, settings, asker, taker, scope, params = answer
        if not may_edit(person, settings, scope):
            raise UserError("roster.request.not_yours")
        if request.status != "accepted":
            raise UserError("roster.request.handled")
        if not approve:
            await tx.uow.roster.set_request(request.id, "rejected", request.payload, tx.now)
            await tx.audit(person, "roster.swap.rejected", f"request:{request.id}")
            for who in (asker, taker):
                await tx.send(who, "roster.swap.rejected", by=person.name, **params)
            await tx.send(person, "roster.swap.you_rejected", **params)
            return
        await self._finish_swap(tx, person, settings, request, params)

    async def _finish_swap(
        self,
        tx: Tx,
        person: Person,
        settings: RosterSettings,
        request: RosterRequest,
        params: dict[str, Any],
    ) -> None:
        proposal = await self._recheck(tx, person, settings, request)
        params = {**params, "after": lambda lang: _result(tx, proposal, lang)}
        p = request.payload  # stored as is, and audited
        swap = proposal.change
        assert isinstance(swap, OverrideChange)
        key = proposal.key
        override = Override(
            0,
            key[0],
            key[1],
            swap.replaced,
            swap.replacement,
            proposal.start,
            proposal.end,
            f"ruil:{request.id}",
        )
        await tx.uow.roster.add_override(override, person.key, tx.now)
        await tx.uow.roster.set_request(request.id, "done", p, tx.now)
        await tx.audit(person, "roster.swap.done", f"request:{request.id}", **p)
        d = tx.directory
        told: set[PersonId] = set()
        for pid in (request.person_id, swap.replacement):
            who = d.people.get(pid)
            if who is not None:
                await tx.send(who, "roster.swap.done", **params)
                told.add(pid)
        for coordinator in coordinators_of(d, settings, key[1]):
            if coordinator.id not in told:
                await tx.send(coordinator, "roster.swap.done_note", **params)
                told.add(coordinator.id)
        for pid in proposal.affected:  # anyone else whose duty or backup the swap changes
            other = d.people.get(pid)
            if other is not None and pid not in told:
                await tx.send(other, "roster.changed", by=person.name, **params)
        if self.on_change is not None:
            await self.on_change(tx, proposal.key)


def _render_png(
    tx: Tx,
    settings: RosterSettings,
    roster: Roster,
    keys: list[Key],
    start: datetime,
    end: datetime,
    lang: Language,
) -> bytes | None:
    try:
        from core.roster_render import render_grid
    except ImportError:  # Pillow is optional: the text table is enough
        return None
    return render_grid(tx.directory, settings, roster, keys, start, end, lang)
