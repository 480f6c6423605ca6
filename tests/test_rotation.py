"""Who is on duty: wall-clock handovers that survive clock changes."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

from hypothesis import given
from hypothesis import strategies as st

from core.model import PersonId, Rotation

TZ = ZoneInfo("Europe/Amsterdam")
ROTATION = Rotation(
    "rol", (PersonId(1), PersonId(2), PersonId(3)), datetime(2026, 1, 5, 8, 0), 7, TZ
)


def test_handover_is_monday_0800_local_across_dst() -> None:
    # The week of the October clock change (Sunday 25 Oct 2026, 03:00 → 02:00).
    before = datetime(2026, 10, 26, 7, 59, tzinfo=TZ)
    after = datetime(2026, 10, 26, 8, 0, tzinfo=TZ)
    assert ROTATION.on_duty(before) != ROTATION.on_duty(after)
    week_before = datetime(2026, 10, 19, 8, 0, tzinfo=TZ)
    assert ROTATION.on_duty(week_before) == ROTATION.on_duty(before)
    # That week lasts 169 hours of real time, and still has one person on duty throughout.
    assert after.astimezone(UTC) - week_before.astimezone(UTC) == timedelta(hours=169)


def test_nobody_before_the_rotation_starts_and_backup_is_next() -> None:
    assert ROTATION.on_duty(datetime(2026, 1, 5, 7, 59, tzinfo=TZ)) is None
    at = datetime(2026, 1, 5, 8, 0, tzinfo=TZ)
    assert (ROTATION.on_duty(at), ROTATION.backup(at)) == (1, 2)


@given(
    st.datetimes(
        min_value=datetime(2026, 1, 6), max_value=datetime(2030, 12, 31), timezones=st.just(UTC)
    )
)
def test_duty_changes_only_at_monday_0800_local(at: datetime) -> None:
    """Between two instants a minute apart, the person changes only across Monday 08:00."""
    later = at + timedelta(minutes=1)
    if ROTATION.on_duty(at) != ROTATION.on_duty(later):
        local = later.astimezone(TZ)
        assert (local.weekday(), local.hour, local.minute) == (0, 8, 0) or (
            local.weekday(),
            local.hour,
        ) == (0, 8)
    assert ROTATION.on_duty(at) is not None
