"""Rosters inside a transaction: loading, understanding names, who may change what, and the
text people read. The commands themselves are in `core.roster.commands`."""

from __future__ import annotations

import weakref
from collections.abc import Collection, Iterable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from core.errors import UserError
from core.i18n import fmt_datetime, t
from core.model import COORDINATOR, Directory, GemeenteId, Language, Person, PersonId
from core.region import gemeenten as gemeente_names
from core.roster.model import (
    GEMEENTE,
    MAX_SPAN,
    PIKETREGIO,
    REGIO,
    Duty,
    Key,
    Roster,
    RosterSettings,
    Segment,
    gemeente_scope,
    piketregio_scope,
)
from core.tx import Tx

SELF_WORDS = {"ik", "mij", "me", "mezelf", "myself", "i"}
REGION_WORDS = {"regio", "region", "regionaal", "veiligheidsregio"}


# The whole roster, per loaded directory: a roster change bumps the region revision, which
# makes the next transaction load a new directory, and so a new roster. Entries hold only a
# weak reference, and only the newest few are kept.
_CACHE: dict[int, tuple[weakref.ref[Directory], Roster, RosterSettings]] = {}
_CACHE_SIZE = 4
_ALL = (datetime(1970, 1, 1, tzinfo=UTC), datetime(2200, 1, 1, tzinfo=UTC))


async def _cached(tx: Tx) -> tuple[Roster, RosterSettings] | None:
    if tx.uow.roster.changed or not tx.directory.people:
        return None
    entry = _CACHE.get(id(tx.directory))
    if entry is not None and entry[0]() is tx.directory:
        return entry[1], entry[2]
    repo = tx.uow.roster
    roster = Roster(
        tx.directory.region.timezone,
        await repo.rotations(),
        await repo.shifts(*_ALL),
        await repo.overrides(*_ALL),
    )
    settings = await repo.settings()
    while len(_CACHE) >= _CACHE_SIZE:
        _CACHE.pop(next(iter(_CACHE)))
    _CACHE[id(tx.directory)] = (weakref.ref(tx.directory), roster, settings)
    return roster, settings


async def roster_settings(tx: Tx) -> RosterSettings:
    cached = await _cached(tx)
    return cached[1] if cached is not None else await tx.uow.roster.settings()


async def load_roster(
    tx: Tx, start: datetime, end: datetime, function_keys: Collection[str] | None = None
) -> Roster:
    """A roster that answers questions about [start, end) (it may hold more)."""
    cached = await _cached(tx)
    if cached is not None:
        return cached[0]
    repo = tx.uow.roster
    rotations = [
        r
        for r in await repo.rotations()
        if function_keys is None or r.function_key in function_keys
    ]
    shifts = await repo.shifts(start, end, function_keys)
    overrides = await repo.overrides(start, end, function_keys)
    return Roster(tx.directory.region.timezone, rotations, shifts, overrides)


async def duties_for(
    tx: Tx, function_key: str, gemeenten: Iterable[GemeenteId], at: datetime
) -> list[Duty]:
    """Who is on duty for `function_key` at `at`, for these gemeenten: per responsible scope
    (the gemeente's own roster, its piketregio's, or the region's), most specific first."""
    roster = await load_roster(tx, at, at + timedelta(microseconds=1), [function_key])
    settings = await roster_settings(tx)
    keys = [tx.directory.gemeente(g).key for g in gemeenten]
    scopes = roster.responsible_scopes(function_key, keys, settings)
    return [roster.duty(function_key, scope, at) for scope in scopes]


# --- names -----------------------------------------------------------------------------------


def _norm(text: str) -> str:
    return gemeente_names.normalize(text)


def find_person(directory: Directory, text: str, me: Person | None = None) -> Person:
    """A person by key, full name, or a unique part of the name; "ik"/"mij" is `me`."""
    query = " ".join(text.split())
    if not query:
        raise UserError("roster.person.missing")
    if me is not None and query.casefold() in SELF_WORDS:
        return me
    by_key = directory.person_by_key(query.lower())
    if by_key is not None:
        return by_key
    q = _norm(query)
    people = sorted(directory.people.values(), key=lambda p: p.name)
    exact = [p for p in people if _norm(p.name) == q]
    if len(exact) == 1:
        return exact[0]
    inside = exact or [p for p in people if q in _norm(p.name)]
    if len(inside) == 1:
        return inside[0]
    if inside:
        names = ", ".join(p.name for p in inside[:6])
        raise UserError("roster.person.ambiguous", text=query, names=names)
    raise UserError("roster.person.unknown", text=query)


def find_function(directory: Directory, text: str) -> str | None:
    """A piket function key by key or name (forgiving case and accents)."""
    q = _norm(text)
    if not q:
        return None
    for key, function in directory.functions.items():
        if q in (_norm(key), _norm(function.name)):
            return key
    return None


def function_name(directory: Directory, key: str) -> str:
    return directory.function_name(key)


def find_scope(directory: Directory, settings: RosterSettings, text: str) -> str | None:
    """A scope by name: "regio", a piketregio or a gemeente. None if not understood."""
    q = _norm(text)
    if not q:
        return None
    if q in REGION_WORDS:
        return REGIO
    for p in settings.piketregios:
        if q in (_norm(p.key), _norm(p.name), _norm(f"piketregio {p.name}")):
            return piketregio_scope(p.key)
    found = gemeente_names.match(directory.gemeenten, text)
    if found.found is not None:
        return gemeente_scope(found.found.key)
    return None


def scope_name(directory: Directory, settings: RosterSettings, scope: str, lang: Language) -> str:
    kind, _, key = scope.partition(":")
    if kind == GEMEENTE:
        g = next((g for g in directory.gemeenten if g.key == key), None)
        return g.name if g else key
    if kind == PIKETREGIO:
        p = settings.piketregio(key)
        return t(lang, "roster.scope.piketregio", name=p.name if p else key)
    return t(lang, "roster.scope.regio")


def key_label(directory: Directory, settings: RosterSettings, key: Key, lang: Language) -> str:
    return t(
        lang,
        "roster.key",
        function=function_name(directory, key[0]),
        scope=scope_name(directory, settings, key[1], lang),
    )


def parse_function_scope(
    directory: Directory, settings: RosterSettings, text: str
) -> tuple[str | None, str | None]:
    """ "rol", "rol soest", "acb gemeente utrecht", "soest": (function, scope); raises for
    words it does not understand."""
    words = text.split()
    if not words:
        return None, None
    for cut in range(len(words), 0, -1):
        function = find_function(directory, " ".join(words[:cut]))
        if function is None:
            continue
        rest = " ".join(words[cut:])
        if not rest:
            return function, None
        scope = find_scope(directory, settings, rest)
        if scope is None:
            raise UserError("roster.scope.unknown", text=rest)
        return function, scope
    scope = find_scope(directory, settings, text)
    if scope is None:
        raise UserError("roster.function.unknown", text=text)
    return None, scope


# --- who may change what ---------------------------------------------------------------------


def covers(settings: RosterSettings, granted: str, scope: str) -> bool:
    """Whether a coordinator of `granted` may change the roster of `scope`."""
    if granted in (REGIO, scope):
        return True
    kind, _, key = scope.partition(":")
    if kind == GEMEENTE and granted.startswith(f"{PIKETREGIO}:"):
        p = settings.piketregio(granted.partition(":")[2])
        return p is not None and key in p.gemeenten
    return False


def coordinator_scopes(person: Person, settings: RosterSettings) -> tuple[str, ...] | None:
    """The scopes a person coordinates: None if not a coordinator at all."""
    limited = settings.coordinator_scopes.get(person.key)
    if limited is not None:
        return limited
    return (REGIO,) if COORDINATOR in person.functions else None


def may_edit(person: Person, settings: RosterSettings, scope: str) -> bool:
    scopes = coordinator_scopes(person, settings)
    return scopes is not None and any(covers(settings, g, scope) for g in scopes)


def coordinators_of(directory: Directory, settings: RosterSettings, scope: str) -> list[Person]:
    return [p for p in directory.people.values() if may_edit(p, settings, scope)]


def require_coordinator(
    directory: Directory, person: Person, settings: RosterSettings, scope: str | None
) -> None:
    """Refuse unless `person` is a coordinator (of `scope`, when one is given)."""
    if coordinator_scopes(person, settings) is None:
        # Point at /ruil only for someone who has piket to swap.
        swaps = directory.holds_piket(person)
        raise UserError(
            "roster.access.not_coordinator_swap" if swaps else "roster.access.not_coordinator"
        )
    if scope is not None and not may_edit(person, settings, scope):
        raise UserError(
            "roster.access.not_your_scope",
            scope=lambda lang: scope_name(directory, settings, scope, lang),
        )


# --- text ------------------------------------------------------------------------------------


def person_name(directory: Directory, person_id: PersonId | None) -> str:
    if person_id is None:
        return "–"
    person = directory.people.get(person_id)
    return person.name if person else "?"


def duty_text(directory: Directory, duty: Duty, lang: Language) -> str:
    if duty.on_duty is None:
        return t(lang, "roster.gap")
    text = person_name(directory, duty.on_duty)
    if duty.scheduled is not None and duty.scheduled != duty.on_duty:
        text += " " + t(lang, "roster.instead_of", name=person_name(directory, duty.scheduled))
    if duty.backup is not None:
        text += " · " + t(lang, "roster.backup", name=person_name(directory, duty.backup))
    return text


def segment_line(tx: Tx, segment: Segment, lang: Language) -> str:
    tz = tx.directory.region.timezone
    return t(
        lang,
        "roster.segment",
        start=fmt_datetime(segment.start, tz, lang),
        end=fmt_datetime(segment.end, tz, lang),
        duty=duty_text(tx.directory, segment.duty, lang),
    )


def timeline_text(tx: Tx, segments: list[Segment], lang: Language) -> str:
    return "\n".join(segment_line(tx, s, lang) for s in segments)


@dataclass(frozen=True, slots=True)
class Run:
    """A stretch of time one person holds one role (on duty or backup) for one key."""

    key: Key
    person: PersonId
    role: str  # "duty" | "backup"
    start: datetime
    end: datetime


def runs(segments: list[Segment], role: str = "duty") -> list[Run]:
    """Consecutive segments with the same person on duty (or as backup), merged."""
    found: list[Run] = []
    for s in segments:
        who = s.duty.on_duty if role == "duty" else s.duty.backup
        if who is None:
            continue
        key = (s.function_key, s.scope)
        last = found[-1] if found else None
        if last and last.person == who and last.end == s.start and last.key == key:
            found[-1] = Run(key, who, role, last.start, s.end)
        else:
            found.append(Run(key, who, role, s.start, s.end))
    return found


def window(now: datetime, days: int = 60) -> tuple[datetime, datetime]:
    return now, now + timedelta(days=days)


def clamp_span(start: datetime, end: datetime) -> None:
    if end - start > MAX_SPAN:
        raise UserError("roster.too_long", days=MAX_SPAN.days)
