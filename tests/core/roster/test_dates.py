"""Dutch dates and times for rosters, and the refusals that say what was understood."""

from __future__ import annotations

from datetime import UTC, datetime
from zoneinfo import ZoneInfo

import pytest

from core.errors import UserError
from core.i18n import t
from core.model import Language
from core.roster.dates import parse_instant, parse_local, parse_period
from tests.helpers import REGION_FILE, Harness, NewHarness

TZ = ZoneInfo("Europe/Amsterdam")
NOW = datetime(2026, 11, 24, 3, 7, tzinfo=TZ)  # a Tuesday
REF = datetime(2026, 11, 24, 3, 7)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("morgen 08:00", datetime(2026, 11, 25, 8, 0)),
        ("Morgen om 8.00", datetime(2026, 11, 25, 8, 0)),
        ("overmorgen 18:30", datetime(2026, 11, 26, 18, 30)),
        ("vandaag 12:00", datetime(2026, 11, 24, 12, 0)),
        ("tomorrow 08:00", datetime(2026, 11, 25, 8, 0)),
        ("ma 08:00", datetime(2026, 11, 30, 8, 0)),
        ("maandag 8 uur", datetime(2026, 11, 30, 8, 0)),
        ("di 08:00", datetime(2026, 11, 24, 8, 0)),  # today, still ahead
        ("di 03:00", datetime(2026, 12, 1, 3, 0)),  # today has passed: next week
        ("fri 17:00", datetime(2026, 11, 27, 17, 0)),
        ("12-12 18:00", datetime(2026, 12, 12, 18, 0)),
        ("12/12 18:00", datetime(2026, 12, 12, 18, 0)),
        ("3-1 08:00", datetime(2027, 1, 3, 8, 0)),  # the nearest 3 January
        ("12-12-2027 18:00", datetime(2027, 12, 12, 18, 0)),
        ("2026-12-12 18:00", datetime(2026, 12, 12, 18, 0)),
        ("2026-12-12T18:00", datetime(2026, 12, 12, 18, 0)),
        ("12 dec 18:00", datetime(2026, 12, 12, 18, 0)),
        ("12 december 2026 18:00", datetime(2026, 12, 12, 18, 0)),
        ("18:00", datetime(2026, 11, 24, 18, 0)),
        ("02:00", datetime(2026, 11, 25, 2, 0)),
    ],
)
def test_dutch_forms(text: str, expected: datetime) -> None:
    assert parse_local(text, REF) == expected


def test_relative_days_count_from_now_and_weekdays_from_the_start() -> None:
    start = datetime(2026, 11, 27, 18, 0)  # Friday
    assert parse_local("morgen 07:00", REF, start) == datetime(2026, 11, 25, 7, 0)
    assert parse_local("ma 08:00", REF, start) == datetime(2026, 11, 30, 8, 0)
    assert parse_local("08:00", REF, start) == datetime(2026, 11, 28, 8, 0)
    assert parse_local("25-11 08:00", REF, start) == datetime(2026, 11, 25, 8, 0)
    assert parse_local("2-1 08:00", REF, datetime(2026, 12, 30, 8)) == datetime(2027, 1, 2, 8)


def test_an_end_counts_from_the_start() -> None:
    start, end = parse_period("vr 18:00", "ma 08:00", NOW.astimezone(UTC), TZ)
    assert start.astimezone(TZ).replace(tzinfo=None) == datetime(2026, 11, 27, 18, 0)
    assert end.astimezone(TZ).replace(tzinfo=None) == datetime(2026, 11, 30, 8, 0)
    _, end = parse_period("morgen 08:00", "20:00", NOW, TZ)
    assert end.astimezone(TZ).replace(tzinfo=None) == datetime(2026, 11, 25, 20, 0)


def _error(start: str, end: str = "31-12-2027 08:00", now: datetime = NOW) -> str:
    with pytest.raises(UserError) as info:
        parse_period(start, end, now, TZ)
    error = info.value
    params = {k: v(Language.NL) if callable(v) else v for k, v in error.params.items()}
    return t(Language.NL, error.key, **params)


def test_refusals_say_what_was_understood() -> None:
    assert "dag 31, maand 2" in _error("31-02 08:00") and "bestaat niet" in _error("31-02 08:00")
    assert "maand 13 bestaat niet" in _error("12-13 08:00")
    spring = datetime(2026, 3, 1, 12, 0, tzinfo=TZ)
    gap = _error("29-03 02:30", now=spring)
    assert "zo 29 mrt 2026 02:30 bestaat niet" in gap and "vooruit" in gap
    ambiguous = _error("25-10-2026 02:30")
    assert "zo 25 okt 2026 02:30 komt twee keer voor" in ambiguous
    assert "Het einde (di 24 nov 2026 08:00) ligt niet na het begin" in _error(
        "25-11-2026 08:00", "24-11-2026 08:00"
    )
    assert "mis ik een tijd" in _error("morgen")
    assert "begrijp ik niet" in _error("gisteravond 08:00")
    assert "25:00 geen geldige tijd" in _error("morgen 25:00")


def test_instant_uses_the_region_offset() -> None:
    winter = parse_instant("12-12 08:00", NOW, TZ)
    assert winter == datetime(2026, 12, 12, 7, 0, tzinfo=UTC)
    summer = parse_instant("12-06-2027 08:00", NOW, TZ)
    assert summer == datetime(2027, 6, 12, 6, 0, tzinfo=UTC)


def test_a_start_without_a_year_whose_period_is_over_is_next_year() -> None:
    december = datetime(2026, 12, 15, 10, 0, tzinfo=TZ)
    start, end = parse_period("20-11 08:00", "20-11 20:00", december, TZ)
    assert start == datetime(2027, 11, 20, 8, 0, tzinfo=TZ)
    assert end == datetime(2027, 11, 20, 20, 0, tzinfo=TZ)
    january = datetime(2027, 1, 5, 10, 0, tzinfo=TZ)  # the nearest 28-12 was last week
    start, end = parse_period("28-12 08:00", "2-1 08:00", january, TZ)
    assert (start, end) == (
        datetime(2027, 12, 28, 8, 0, tzinfo=TZ),
        datetime(2028, 1, 2, 8, 0, tzinfo=TZ),
    )
    # A period still running keeps its start; one that ended earlier today is over.
    start, _ = parse_period("14-12 08:00", "16-12 08:00", december, TZ)
    assert start == datetime(2026, 12, 14, 8, 0, tzinfo=TZ)
    start, _ = parse_period("15-12 08:00", "15-12 09:00", december, TZ)
    assert start == datetime(2026, 12, 15, 8, 0, tzinfo=TZ)


async def test_a_replacement_on_a_day_that_passed_this_year_is_for_next_year(
    harness: Harness,
) -> None:
    harness.clock.set(datetime(2026, 12, 15, 10, 0, tzinfo=TZ))
    await harness.say("coord", "/vervang Bert door Anna van 20-11 08:00 tot 20-11 20:00")
    assert harness.last("coord").startswith(
        "Voorbeeld – ROL (regio), za 20 nov 2027 08:00 – za 20 nov 2027 20:00\n"
        "Nu:\nza 20 nov 08:00 – za 20 nov 20:00: Rol Bert · backup Rol Cees\n"
    )


async def test_mijnpiket_shows_the_real_end_of_a_duty_past_its_horizon(
    harness: Harness,
) -> None:
    # Anna's week from Mon 18 Jan 2027 runs past the 60 days ahead (Sat 23 Jan 03:07).
    await harness.say("rol-a", "/mijnpiket")
    assert harness.last("rol-a").endswith(
        "ROL (regio): ma 11 jan 08:00 – ma 18 jan 08:00 (backup)\n"
        "ROL (regio): ma 18 jan 08:00 – ma 25 jan 08:00"
    )


async def test_mijnpiket_says_when_a_duty_has_no_end_in_sight(new_harness: NewHarness) -> None:
    region = REGION_FILE.read_text().replace("people:", "  - {key: im, name: IM}\npeople:") + (
        '  - {function: im, members: [im], start: "2026-01-05T08:00:00", shift_days: 7}\n'
    )
    harness = await new_harness(region=region)
    await harness.say("im", "/mijnpiket")
    assert harness.last("im") == (  # a rotation of one: always on duty
        "Jouw piket (komende 60 dagen):\n"
        "IM (regio): al vóór ma 24 aug 04:07 – doorlopend (na zo 25 apr 04:07)"
    )
