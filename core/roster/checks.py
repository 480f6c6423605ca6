"""Checks of a proposed roster change against the roster and the region: who may stand in
for whom, which roster a shift is on, and overlaps. Each refuses with a `UserError`."""

from __future__ import annotations

from datetime import datetime

from core.errors import UserError
from core.model import Person
from core.roster.dates import fmt_moment
from core.roster.model import REGIO, Key, Override, Roster, RosterSettings, Shift
from core.roster.service import (
    clamp_span,
    function_name,
    parse_function_scope,
    person_name,
)
from core.tx import Tx


def check_override(
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


def shift_key(
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


def check_shift(
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
