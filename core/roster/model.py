"""Piket rosters: rotations, explicit shifts and overrides, and who is on duty when.

A function is on duty per scope: the whole region (`regio`), a piketregio
(`piketregio:<key>`) or a gemeente (`gemeente:<key>`). For one function and scope:

1. An explicit shift, where there is one, says who is on duty (and their backup).
2. Otherwise the rotation: members take turns of `shift_days` days, handing over at the
   wall-clock time of `start` in the region's time zone. Handovers are computed as local wall
   time and only then converted to real instants, so a week with a clock change still runs
   Monday 08:00 to Monday 08:00, with no gap and no overlap. The backup is the next member.
   When the members change, the old definition is kept (until the change took effect) so the
   past stays as it was.
3. Overrides ("X replaces Y from … to …") then apply, oldest first: inside its window, where
   Y would be on duty X is, and where Y would be backup X is. Outside its window an override
   changes nothing.

Everything here is pure: the data comes in, answers go out; storage loads the data.
"""

from __future__ import annotations

import bisect
import math
from collections import defaultdict
from collections.abc import Collection, Iterable
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, time, timedelta, tzinfo
from itertools import pairwise
from typing import Any, Protocol, TypeVar
from zoneinfo import ZoneInfo

from core.model import PersonId

REGIO = "regio"
GEMEENTE = "gemeente"
PIKETREGIO = "piketregio"
# The longest explicit shift or override, so lookups can stop searching back in time.
MAX_SPAN = timedelta(days=92)

Key = tuple[str, str]  # (function key, scope)


def gemeente_scope(key: str) -> str:
    return f"{GEMEENTE}:{key}"


def piketregio_scope(key: str) -> str:
    return f"{PIKETREGIO}:{key}"


def to_utc(local: datetime, tz: ZoneInfo) -> datetime:
    """A naive local wall time as a real instant (a time in a spring-forward gap counts as
    the offset before the change; an ambiguous one as its first occurrence)."""
    return local.replace(tzinfo=tz).astimezone(UTC)


def wall_time_problem(local: datetime, tz: tzinfo) -> str | None:
    """'gap' for a local time that does not exist, 'ambiguous' for one that exists twice."""
    first = local.replace(tzinfo=tz, fold=0)
    second = local.replace(tzinfo=tz, fold=1)
    if first.utcoffset() == second.utcoffset():
        return None
    back = first.astimezone(UTC).astimezone(tz).replace(tzinfo=None)
    return "gap" if back != local else "ambiguous"


# --- the data --------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Piketregio:
    key: str
    name: str
    gemeenten: frozenset[str]  # gemeente keys


@dataclass(frozen=True)
class RosterSettings:
    """Roster settings of the region (from the region file's `settings`)."""

    swap_approval: bool = False  # a coordinator must approve a swap
    reminder_time: time = time(18, 0)  # the reminder the day before a shift
    piketregios: tuple[Piketregio, ...] = ()
    # Coordinators limited to some scopes (person key -> scopes); the others cover all.
    coordinator_scopes: dict[str, tuple[str, ...]] = field(default_factory=dict)

    def piketregio(self, key: str) -> Piketregio | None:
        return next((p for p in self.piketregios if p.key == key), None)

    def piketregios_of(self, gemeente_key: str) -> list[Piketregio]:
        return [p for p in self.piketregios if gemeente_key in p.gemeenten]


@dataclass(frozen=True, slots=True)
class RotationDef:
    """One definition of a rotation. `valid_until` is None for the current definition; an
    earlier definition (before the members changed) applies until that instant."""

    function_key: str
    scope: str
    members: tuple[PersonId, ...]
    start: datetime  # naive local wall time of the first handover
    shift_days: int
    valid_until: datetime | None = None  # aware UTC

    @property
    def key(self) -> Key:
        return (self.function_key, self.scope)


@dataclass(frozen=True, slots=True)
class Shift:
    """An explicit shift: `person` is on duty over [start, end), instead of the rotation."""

    id: int
    function_key: str
    scope: str
    person: PersonId
    backup: PersonId | None
    start: datetime  # aware
    end: datetime

    @property
    def key(self) -> Key:
        return (self.function_key, self.scope)


@dataclass(frozen=True, slots=True)
class Override:
    """`replacement` takes `replaced`'s place over [start, end)."""

    id: int
    function_key: str
    scope: str
    replaced: PersonId
    replacement: PersonId
    start: datetime
    end: datetime
    reason: str = ""  # "vervang" or "ruil:<id>"

    @property
    def key(self) -> Key:
        return (self.function_key, self.scope)


@dataclass(frozen=True, slots=True)
class Duty:
    """Who is on duty at one instant: after overrides, and as scheduled before them."""

    on_duty: PersonId | None
    backup: PersonId | None
    scheduled: PersonId | None = None
    scheduled_backup: PersonId | None = None

    @property
    def overridden(self) -> bool:
        return (self.on_duty, self.backup) != (self.scheduled, self.scheduled_backup)


NOBODY = Duty(None, None)


@dataclass(frozen=True, slots=True)
class Segment:
    """An interval [start, end) with one unchanging duty."""

    function_key: str
    scope: str
    start: datetime
    end: datetime
    duty: Duty


# --- the resolver ----------------------------------------------------------------------------


class _Rotations:
    """The definitions of one function and scope, oldest first, the current one last."""

    def __init__(self, defs: list[RotationDef], tz: ZoneInfo) -> None:
        history = sorted((d for d in defs if d.valid_until is not None), key=_valid_until)
        current = [d for d in defs if d.valid_until is None]
        self.defs = history + current[-1:]
        self.until = [_valid_until(d) for d in history]
        self.tz = tz

    def definition(self, at: datetime) -> tuple[RotationDef, datetime | None, datetime | None]:
        """The definition in force at `at`, with the instants its validity starts and ends."""
        i = bisect.bisect_right(self.until, at)
        i = min(i, len(self.defs) - 1)
        begin = self.until[i - 1] if i > 0 else None
        return self.defs[i], begin, self.defs[i].valid_until

    def handover(self, d: RotationDef, turn: int) -> datetime:
        return to_utc(d.start + timedelta(days=d.shift_days * turn), self.tz)

    def turn(self, d: RotationDef, at: datetime) -> int | None:
        """The number of the turn running at `at` (0 is the first), None before the start."""
        if at < self.handover(d, 0):
            return None
        local = at.astimezone(self.tz).replace(tzinfo=None)
        k = max(0, math.floor((local - d.start) / timedelta(days=d.shift_days)))
        # Local wall time runs back an hour in autumn: correct the estimate on real instants.
        while k > 0 and self.handover(d, k) > at:
            k -= 1
        while self.handover(d, k + 1) <= at:
            k += 1
        return k

    def duty(self, at: datetime) -> tuple[PersonId | None, PersonId | None]:
        d, begin, _end = self.definition(at)
        if begin is not None and at < begin:
            return None, None
        k = self.turn(d, at)
        n = len(d.members)
        if k is None or n == 0:
            return None, None
        return d.members[k % n], (d.members[(k + 1) % n] if n > 1 else None)

    def boundaries(self, start: datetime, end: datetime) -> set[datetime]:
        """Every instant in (start, end) where the rotation may change hands."""
        found: set[datetime] = {u for u in self.until if start < u < end}
        at = start
        while at < end:
            d, _begin, until = self.definition(at)
            stop = min(end, until) if until is not None else end
            k = self.turn(d, at)
            k = -1 if k is None else k
            while True:
                nxt = self.handover(d, k + 1)
                if nxt >= stop:
                    break
                if nxt > start:
                    found.add(nxt)
                k += 1
            at = stop
        return found


def rotation_turn(d: RotationDef, at: datetime, tz: ZoneInfo) -> int | None:
    """The number of `d`'s turn running at `at` (0 is the first); None before it starts."""
    return _Rotations([d], tz).turn(d, at)


def rotation_handover(d: RotationDef, turn: int, tz: ZoneInfo) -> datetime:
    """The instant turn number `turn` of `d` begins."""
    return _Rotations([d], tz).handover(d, turn)


def _valid_until(d: RotationDef) -> datetime:
    assert d.valid_until is not None
    return d.valid_until


class _Timed:
    """Shifts or overrides of one function and scope, searchable by instant."""

    def __init__(self, items: list[Any]) -> None:
        self.items = sorted(items, key=lambda x: (x.start, x.id))
        self.starts = [x.start for x in self.items]
        self.longest = max((x.end - x.start for x in self.items), default=timedelta(0))

    def covering(self, at: datetime) -> list[Any]:
        hi = bisect.bisect_right(self.starts, at)
        found = []
        i = hi - 1
        while i >= 0 and self.starts[i] > at - self.longest - timedelta(microseconds=1):
            if self.items[i].end > at:
                found.append(self.items[i])
            i -= 1
        return sorted(found, key=lambda x: x.id)

    def edges(self, start: datetime, end: datetime) -> set[datetime]:
        lo = bisect.bisect_left(self.starts, start - self.longest)
        hi = bisect.bisect_left(self.starts, end)
        found: set[datetime] = set()
        for x in self.items[lo:hi]:
            found.update(e for e in (x.start, x.end) if start < e < end)
        return found


_Stored = TypeVar("_Stored", Shift, Override)


def _appended(existing: list[_Stored], added: Iterable[_Stored]) -> list[_Stored]:
    """`existing` and then `added`, each new item (id 0) numbered after every existing one."""
    next_id = max((x.id for x in existing), default=0) + 1
    result = list(existing)
    for item in added:
        if item.id == 0:
            item = replace(item, id=next_id)
            next_id += 1
        result.append(item)
    return result


class Roster:
    """All rosters of a region (or the part of them loaded for a window of time)."""

    def __init__(
        self,
        tz: ZoneInfo,
        rotations: Iterable[RotationDef] = (),
        shifts: Iterable[Shift] = (),
        overrides: Iterable[Override] = (),
    ) -> None:
        self.tz = tz
        rotations, shifts, overrides = list(rotations), list(shifts), list(overrides)
        self._input = (rotations, shifts, overrides)
        rot: dict[Key, list[RotationDef]] = defaultdict(list)
        for r in rotations:
            rot[r.key].append(r)
        self._rotations = {k: _Rotations(v, tz) for k, v in rot.items()}
        by_key: dict[Key, list[Shift]] = defaultdict(list)
        for s in shifts:
            by_key[s.key].append(s)
        self._shifts = {k: _Timed(v) for k, v in by_key.items()}
        over: dict[Key, list[Override]] = defaultdict(list)
        for o in overrides:
            over[o.key].append(o)
        self._overrides = {k: _Timed(v) for k, v in over.items()}

    def plus(
        self,
        *,
        rotations: Iterable[RotationDef] = (),
        shifts: Iterable[Shift] = (),
        overrides: Iterable[Override] = (),
    ) -> Roster:
        """This roster with more data: for a preview. A current rotation definition
        (`valid_until` None) replaces the current one of its function and scope. A shift or
        override without an id yet (0) counts as the newest, as storage will store it, so
        the preview applies it last, as the saved roster will."""
        added = list(rotations)
        replaced = {r.key for r in added if r.valid_until is None}
        kept = [r for r in self._input[0] if r.valid_until is not None or r.key not in replaced]
        return Roster(
            self.tz,
            kept + added,
            _appended(self._input[1], shifts),
            _appended(self._input[2], overrides),
        )

    # What exists.

    def known_keys(self) -> set[Key]:
        """Every function and scope with a rotation or an explicit shift."""
        return set(self._rotations) | set(self._shifts)

    def has(self, function_key: str, scope: str) -> bool:
        return (function_key, scope) in self._rotations or (function_key, scope) in self._shifts

    def rotation(self, function_key: str, scope: str) -> RotationDef | None:
        """The current rotation definition, if any."""
        rotations = self._rotations.get((function_key, scope))
        return rotations.defs[-1] if rotations else None

    def shifts(self, function_key: str, scope: str) -> list[Shift]:
        timed = self._shifts.get((function_key, scope))
        return list(timed.items) if timed else []

    def overrides(self, function_key: str, scope: str) -> list[Override]:
        timed = self._overrides.get((function_key, scope))
        return list(timed.items) if timed else []

    # Who is on duty.

    def scheduled(self, function_key: str, scope: str, at: datetime) -> Duty:
        """Who the explicit shifts or the rotation put on duty, before overrides."""
        key = (function_key, scope)
        shifts = self._shifts.get(key)
        covering = shifts.covering(at) if shifts else []
        if covering:
            shift: Shift = covering[-1]
            backup = shift.backup if shift.backup != shift.person else None
            return Duty(shift.person, backup, shift.person, backup)
        rotations = self._rotations.get(key)
        if rotations is None:
            return NOBODY
        on_duty, backup = rotations.duty(at)
        return Duty(on_duty, backup, on_duty, backup)

    def duty(self, function_key: str, scope: str, at: datetime) -> Duty:
        """Who is on duty for `function_key` in `scope` at the instant `at`."""
        base = self.scheduled(function_key, scope, at)
        overrides = self._overrides.get((function_key, scope))
        if overrides is None:
            return base
        on_duty, backup = base.on_duty, base.backup
        for o in overrides.covering(at):
            if on_duty == o.replaced:
                on_duty = o.replacement
            elif backup == o.replaced:
                backup = o.replacement
        if backup == on_duty:
            backup = None
        return Duty(on_duty, backup, base.on_duty, base.backup)

    def changes(
        self, function_key: str, scope: str, start: datetime, end: datetime
    ) -> list[datetime]:
        """Every instant in (start, end) at which the duty may change, sorted."""
        key = (function_key, scope)
        found: set[datetime] = set()
        if key in self._rotations:
            found |= self._rotations[key].boundaries(start, end)
        if key in self._shifts:
            found |= self._shifts[key].edges(start, end)
        if key in self._overrides:
            found |= self._overrides[key].edges(start, end)
        return sorted(found)

    def timeline(
        self, function_key: str, scope: str, start: datetime, end: datetime
    ) -> list[Segment]:
        """[start, end) cut into segments of unchanging duty (gaps included, with nobody)."""
        points = [start, *self.changes(function_key, scope, start, end), end]
        segments: list[Segment] = []
        for a, b in pairwise(points):
            duty = self.duty(function_key, scope, a)
            if segments and segments[-1].duty == duty:
                segments[-1] = Segment(function_key, scope, segments[-1].start, b, duty)
            else:
                segments.append(Segment(function_key, scope, a, b, duty))
        return segments

    # Scopes.

    def scope_chain(
        self, function_key: str, gemeente_key: str | None, settings: RosterSettings
    ) -> list[str]:
        """Where to look for `function_key` covering a gemeente: the gemeente itself, its
        piketregio(s), then the region; only scopes that have a roster for the function."""
        chain: list[str] = []
        if gemeente_key is not None:
            chain.append(gemeente_scope(gemeente_key))
            chain += [piketregio_scope(p.key) for p in settings.piketregios_of(gemeente_key)]
        chain.append(REGIO)
        return [s for s in chain if self.has(function_key, s)]

    def responsible_scopes(
        self, function_key: str, gemeenten: Collection[str], settings: RosterSettings
    ) -> list[str]:
        """The scopes on duty for `function_key` for these gemeenten (the region if none),
        most specific first, each once."""
        scopes: list[str] = []
        wanted: list[str | None] = list(gemeenten) or [None]
        for g in wanted:
            chain = self.scope_chain(function_key, g, settings)
            if chain and chain[0] not in scopes:
                scopes.append(chain[0])
        return scopes


class RosterRepo(Protocol):
    """Storage of rosters; implemented in `storage.repos.roster`. Every change bumps the
    region revision, so rosters cached per directory are reloaded."""

    @property
    def changed(self) -> bool:
        """Whether this unit of work has changed roster data (then nothing cached holds)."""
        ...

    async def settings(self) -> RosterSettings: ...
    async def rotations(self) -> list[RotationDef]:
        """Every rotation definition: the current ones and the earlier ones."""
        ...

    async def shifts(
        self, start: datetime, end: datetime, function_keys: Collection[str] | None = None
    ) -> list[Shift]:
        """Explicit shifts overlapping [start, end)."""
        ...

    async def overrides(
        self, start: datetime, end: datetime, function_keys: Collection[str] | None = None
    ) -> list[Override]: ...
    async def add_shift(self, shift: Shift, by: str, at: datetime) -> int: ...
    async def add_override(self, override: Override, by: str, at: datetime) -> int: ...
    async def change_rotation(
        self, current: RotationDef, previous: RotationDef, at: datetime
    ) -> None:
        """Make `current` the rotation of its function and scope; keep `previous` (with its
        `valid_until`) for the time before."""
        ...

    async def add_request(
        self, kind: str, person_id: PersonId, payload: dict[str, Any], at: datetime
    ) -> int: ...
    async def request(
        self, request_id: int, *, for_update: bool = False
    ) -> RosterRequest | None: ...
    async def set_request(
        self, request_id: int, status: str, payload: dict[str, Any], at: datetime
    ) -> None: ...
    async def add_notice(
        self, kind: str, function_key: str, scope: str, person_id: PersonId, at: datetime
    ) -> int | None:
        """Plan a reminder; None if the same one was planned before."""
        ...

    async def notice(self, notice_id: int) -> Notice | None: ...
    async def timer_pending(self, kind: str) -> bool: ...


@dataclass(frozen=True, slots=True)
class RosterRequest:
    """A change waiting for a button: a coordinator's confirmation, or a swap's answer."""

    id: int
    kind: str  # "change" | "swap"
    person_id: PersonId  # who asked
    status: str  # "open" | "accepted" | "done" | "declined" | "cancelled" | "rejected"
    payload: dict[str, Any]
    created_at: datetime


@dataclass(frozen=True, slots=True)
class Notice:
    """A planned reminder: `kind` is "before", "start" or "end" of a duty at `at`."""

    id: int
    kind: str
    function_key: str
    scope: str
    person_id: PersonId
    at: datetime
