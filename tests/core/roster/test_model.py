"""Who is on duty: the roster resolver against a brute-force reference, across clock changes."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from itertools import pairwise
from zoneinfo import ZoneInfo

from hypothesis import given, settings
from hypothesis import strategies as st

from core.model import PersonId
from core.roster.model import (
    REGIO,
    Duty,
    Override,
    Roster,
    RotationDef,
    Shift,
    rotation_handover,
    rotation_turn,
    to_utc,
    wall_time_problem,
)

TZ = ZoneInfo("Europe/Amsterdam")
A, B, C, D, E = (PersonId(i) for i in range(1, 6))
WEEKLY = RotationDef("rol", REGIO, (A, B, C), datetime(2026, 1, 5, 8, 0), 7)
EPOCH = datetime(2026, 1, 1, tzinfo=UTC)

instants = st.datetimes(
    min_value=datetime(2026, 1, 1), max_value=datetime(2029, 12, 31), timezones=st.just(UTC)
)


def reference_rotation(d: RotationDef, at: datetime) -> tuple[PersonId | None, PersonId | None]:
    """Count the handovers (local wall time → instant) at or before `at`, one by one."""
    k = -1
    while to_utc(d.start + timedelta(days=d.shift_days * (k + 1)), TZ) <= at:
        k += 1
    if k < 0:
        return None, None
    n = len(d.members)
    return d.members[k % n], d.members[(k + 1) % n] if n > 1 else None


def reference(
    d: RotationDef, shifts: list[Shift], overrides: list[Override], at: datetime
) -> tuple[PersonId | None, PersonId | None]:
    covering = [s for s in shifts if s.start <= at < s.end]
    on: PersonId | None
    backup: PersonId | None
    if covering:
        shift = max(covering, key=lambda s: s.id)
        on, backup = shift.person, shift.backup
    else:
        on, backup = reference_rotation(d, at)
    for o in sorted(overrides, key=lambda o: o.id):
        if o.start <= at < o.end:
            if on == o.replaced:
                on = o.replacement
            elif backup == o.replaced:
                backup = o.replacement
    return on, None if backup == on else backup


people = st.sampled_from([A, B, C, D, E])


@st.composite
def rosters(draw: st.DrawFn) -> tuple[RotationDef, list[Shift], list[Override]]:
    hour = draw(st.sampled_from([0, 2, 3, 8, 18, 23]))
    minute = draw(st.sampled_from([0, 30]))
    days = draw(st.sampled_from([1, 2, 7, 14]))
    members = tuple(draw(st.lists(people, min_size=1, max_size=4, unique=True)))
    rotation = RotationDef("rol", REGIO, members, datetime(2026, 1, 5, hour, minute), days)
    shifts: list[Shift] = []
    cursor = EPOCH + timedelta(hours=draw(st.integers(0, 24 * 60)))
    for i in range(draw(st.integers(0, 6))):  # non-overlapping, as the commands keep them
        start = cursor + timedelta(hours=draw(st.integers(0, 24 * 90)))
        end = start + timedelta(hours=draw(st.integers(1, 24 * 20)))
        backup = draw(st.none() | people)
        shifts.append(Shift(i + 1, "rol", REGIO, draw(people), backup, start, end))
        cursor = end
    overrides = []
    for i in range(draw(st.integers(0, 8))):
        start = EPOCH + timedelta(minutes=draw(st.integers(0, 60 * 24 * 400)))
        end = start + timedelta(minutes=draw(st.integers(1, 60 * 24 * 30)))
        overrides.append(Override(i + 1, "rol", REGIO, draw(people), draw(people), start, end))
    return rotation, shifts, overrides


@settings(max_examples=300, deadline=None)
@given(rosters(), st.lists(instants, min_size=1, max_size=20))
def test_exactly_the_expected_person_at_every_instant(
    data: tuple[RotationDef, list[Shift], list[Override]], moments: list[datetime]
) -> None:
    rotation, shifts, overrides = data
    roster = Roster(TZ, [rotation], shifts, overrides)
    for at in moments:
        duty = roster.duty("rol", REGIO, at)
        assert (duty.on_duty, duty.backup) == reference(rotation, shifts, overrides, at)


@settings(max_examples=200, deadline=None)
@given(rosters(), instants, st.integers(1, 24 * 60))
def test_timeline_partitions_time_and_agrees_with_every_instant(
    data: tuple[RotationDef, list[Shift], list[Override]], start: datetime, hours: int
) -> None:
    """Segments follow each other without gap or overlap, and each one holds one duty."""
    roster = Roster(TZ, [data[0]], data[1], data[2])
    end = start + timedelta(hours=hours)
    segments = roster.timeline("rol", REGIO, start, end)
    assert segments[0].start == start and segments[-1].end == end
    for a, b in pairwise(segments):
        assert a.end == b.start and a.duty != b.duty
    for s in segments:
        assert s.start < s.end
        for at in (s.start, s.start + (s.end - s.start) / 2, s.end - timedelta(microseconds=1)):
            assert roster.duty("rol", REGIO, at) == s.duty


@settings(max_examples=200, deadline=None)
@given(rosters(), people, people, instants, st.integers(1, 24 * 30), instants)
def test_an_override_never_leaks_outside_its_window(
    data: tuple[RotationDef, list[Shift], list[Override]],
    replaced: PersonId,
    replacement: PersonId,
    start: datetime,
    hours: int,
    at: datetime,
) -> None:
    rotation, shifts, overrides = data
    before = Roster(TZ, [rotation], shifts, overrides)
    end = start + timedelta(hours=hours)
    extra = Override(99, "rol", REGIO, replaced, replacement, start, end)
    after = before.plus(overrides=[extra])
    outside = [start - timedelta(microseconds=1), end] + ([] if start <= at < end else [at])
    for moment in outside:
        assert after.duty("rol", REGIO, moment) == before.duty("rol", REGIO, moment)
    inside = after.duty("rol", REGIO, start)
    was = before.duty("rol", REGIO, start)
    if was.on_duty == replaced:
        assert inside.on_duty == replacement
    if was.on_duty != replaced and replacement != was.on_duty:
        assert inside.on_duty == was.on_duty


def test_a_week_with_a_clock_change_runs_monday_0800_to_monday_0800() -> None:
    roster = Roster(TZ, [WEEKLY])
    for day in (datetime(2026, 3, 23), datetime(2026, 10, 19)):  # the weeks of both changes
        start = to_utc(day.replace(hour=8), TZ)
        segments = roster.timeline("rol", REGIO, start, start + timedelta(days=7, hours=2))
        week = segments[0]
        local = week.end.astimezone(TZ)
        assert (local.weekday(), local.hour, local.minute) == (0, 8, 0)
        hours = (week.end - week.start) / timedelta(hours=1)
        assert hours == (167 if day.month == 3 else 169)


@settings(max_examples=200, deadline=None)
@given(
    st.sampled_from([(2, 0), (2, 30), (3, 0), (1, 59), (8, 0)]),
    st.sampled_from([1, 7]),
    st.sampled_from([datetime(2026, 3, 20), datetime(2026, 10, 20), datetime(2027, 3, 24)]),
)
def test_clock_changes_create_no_gaps_or_overlaps(
    handover: tuple[int, int], days: int, around: datetime
) -> None:
    """Even with a handover inside the hour that is skipped or repeated, every instant has
    exactly one turn, turns follow each other in order, and each turn starts at the local
    handover time (or just after a skipped one)."""
    rotation = RotationDef("rol", REGIO, (A, B, C), datetime(2026, 1, 5, *handover), days)
    start = to_utc(around, TZ)
    end = start + timedelta(days=14)
    roster = Roster(TZ, [rotation])
    points = roster.changes("rol", REGIO, start, end)
    found = [rotation_turn(rotation, p, TZ) for p in points]
    turns = [turn for turn in found if turn is not None]
    assert len(turns) == len(found)
    assert turns == list(range(turns[0], turns[0] + len(turns)))  # one turn after another
    for turn, point in zip(turns, points, strict=True):
        assert rotation_handover(rotation, turn, TZ) == point
        assert rotation_turn(rotation, point - timedelta(microseconds=1), TZ) == turn - 1
        local = point.astimezone(TZ).replace(tzinfo=None)
        wanted = rotation.start + timedelta(days=days * turn)
        if wall_time_problem(wanted, TZ) == "gap":
            assert local - wanted == timedelta(hours=1)  # 02:30 that does not exist → 03:30
        else:
            assert local == wanted
    minute = start
    while minute < end:  # every minute exactly one person, changing only at handovers
        assert roster.duty("rol", REGIO, minute).on_duty is not None
        minute += timedelta(minutes=30)


def test_member_changes_keep_the_past() -> None:
    effective = to_utc(datetime(2026, 11, 30, 8, 0), TZ)
    previous = RotationDef("rol", REGIO, (A, B, C), WEEKLY.start, 7, valid_until=effective)
    current = RotationDef("rol", REGIO, (C, A), datetime(2026, 11, 30, 8, 0), 7)
    roster = Roster(TZ, [previous, current])
    last_week = to_utc(datetime(2026, 11, 24, 12, 0), TZ)
    assert roster.duty("rol", REGIO, last_week) == Duty(B, C, B, C)
    assert roster.duty("rol", REGIO, effective).on_duty == C
    assert roster.duty("rol", REGIO, effective + timedelta(days=7)).on_duty == A
    assert roster.duty("rol", REGIO, effective + timedelta(days=14)).on_duty == C


def test_explicit_shift_wins_and_overrides_apply_on_top() -> None:
    start = to_utc(datetime(2026, 12, 1, 8, 0), TZ)
    shift = Shift(1, "rol", REGIO, D, E, start, start + timedelta(days=2))
    override = Override(1, "rol", REGIO, D, A, start + timedelta(days=1), start + timedelta(days=3))
    roster = Roster(TZ, [WEEKLY], [shift], [override])
    assert roster.duty("rol", REGIO, start).on_duty == D
    assert roster.duty("rol", REGIO, start).backup == E
    assert roster.duty("rol", REGIO, start + timedelta(days=1)).on_duty == A
    after = roster.duty("rol", REGIO, start + timedelta(days=2))
    assert after.on_duty == reference_rotation(WEEKLY, start + timedelta(days=2))[0]
    assert not after.overridden


def test_scope_chain_prefers_the_gemeente_then_piketregio_then_region() -> None:
    from core.roster.model import Piketregio, RosterSettings

    settings_ = RosterSettings(piketregios=(Piketregio("noord", "Noord", frozenset({"soest"})),))
    acb = RotationDef("acb", "gemeente:soest", (D,), WEEKLY.start, 7)
    ovd = RotationDef("ovd", "piketregio:noord", (E,), WEEKLY.start, 7)
    roster = Roster(TZ, [WEEKLY, acb, ovd, RotationDef("ovd", REGIO, (A,), WEEKLY.start, 7)])
    assert roster.scope_chain("acb", "soest", settings_) == ["gemeente:soest"]
    assert roster.scope_chain("ovd", "soest", settings_) == ["piketregio:noord", REGIO]
    assert roster.responsible_scopes("ovd", ["soest", "utrecht"], settings_) == [
        "piketregio:noord",
        REGIO,
    ]
    assert roster.responsible_scopes("rol", [], settings_) == [REGIO]
