"""Dates and times typed the Dutch way, for rosters: "morgen 08:00", "ma 08:00",
"12-12 18:00", "12 dec 2026 18:00", "2026-12-12 18:00", or only "18:00".

Everything is local wall time in the region's time zone. A date that does not exist (31-02), a
local time that does not exist (the spring-forward gap) or exists twice (the autumn hour) is
refused with a `UserError` that says what was understood; nothing is guessed.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import date, datetime, timedelta
from datetime import time as dtime
from zoneinfo import ZoneInfo

from babel.dates import format_datetime

from core.errors import UserError
from core.model import Language
from core.roster.model import to_utc, wall_time_problem

WEEKDAYS = {
    **dict.fromkeys(("ma", "maa", "maan", "maandag", "mon", "monday"), 0),
    **dict.fromkeys(("di", "din", "dins", "dinsdag", "tue", "tues", "tuesday"), 1),
    **dict.fromkeys(("wo", "woe", "woens", "woensdag", "wed", "wednesday"), 2),
    **dict.fromkeys(("do", "don", "dond", "donderdag", "thu", "thur", "thurs", "thursday"), 3),
    **dict.fromkeys(("vr", "vrij", "vrijdag", "fri", "friday"), 4),
    **dict.fromkeys(("za", "zat", "zaterdag", "sat", "saturday"), 5),
    **dict.fromkeys(("zo", "zon", "zondag", "sun", "sunday"), 6),
}
RELATIVE_DAYS = {
    "vandaag": 0,
    "today": 0,
    "morgen": 1,
    "tomorrow": 1,
    "overmorgen": 2,
}
MONTHS = {
    **dict.fromkeys(("jan", "januari", "january"), 1),
    **dict.fromkeys(("feb", "februari", "february"), 2),
    **dict.fromkeys(("mrt", "maart", "mar", "march"), 3),
    **dict.fromkeys(("apr", "april"), 4),
    **dict.fromkeys(("mei", "may"), 5),
    **dict.fromkeys(("jun", "juni", "june"), 6),
    **dict.fromkeys(("jul", "juli", "july"), 7),
    **dict.fromkeys(("aug", "augustus", "august"), 8),
    **dict.fromkeys(("sep", "sept", "september"), 9),
    **dict.fromkeys(("okt", "oct", "oktober", "october"), 10),
    **dict.fromkeys(("nov", "november"), 11),
    **dict.fromkeys(("dec", "december"), 12),
}

_TIME = re.compile(r"^(?:om\s+)?(\d{1,2})(?:[:.](\d{2})|u|h)?(?:\s*uur)?$")
_NUMERIC = re.compile(r"^(\d{1,2})[-/](\d{1,2})(?:[-/](\d{2}|\d{4}))?$")
_ISO = re.compile(r"^(\d{4})-(\d{1,2})-(\d{1,2})(?:t(\d{1,2}:\d{2}))?$")
_WORDS = re.compile(r"^(\d{1,2})\s+([a-z]+)\.?(?:\s+(\d{4}))?$")

Localized = Callable[[Language], str]
# A date with a year this far from now is a typo ("0001", "9999"): refused, not computed with
# (year 1 in local time is before the first instant a datetime holds).
YEARS_AWAY = 10


def fmt_local(local: datetime, language: Language) -> str:
    """A local wall time as people read it: "zo 29 mrt 2026 02:30"."""
    return format_datetime(local, "EEE d MMM yyyy HH:mm", locale=language.value)


def fmt_moment(at: datetime, tz: ZoneInfo, language: Language) -> str:
    """An instant in the region's wall time, with the year: "ma 30 nov 2026 08:00"."""
    return format_datetime(at, "EEE d MMM yyyy HH:mm", tzinfo=tz, locale=language.value)


def _said(local: datetime) -> Localized:
    return lambda lang: fmt_local(local, lang)


def _parse_time(text: str, said: str) -> dtime:
    m = _TIME.match(text)
    if m is None:
        raise UserError("roster.date.no_time", text=said)
    hour, minute = int(m.group(1)), int(m.group(2) or 0)
    if hour > 23 or minute > 59:
        raise UserError("roster.date.bad_time", text=said, time=text)
    return dtime(hour, minute)


def _real_date(year: int, month: int, day: int, said: str, now: date) -> date:
    first, last = now.year - YEARS_AWAY, now.year + YEARS_AWAY
    if not first <= year <= last:
        raise UserError("roster.date.far_year", text=said, year=year, first=first, last=last)
    try:
        return date(year, month, day)
    except ValueError:
        if 1 <= month <= 12:
            raise UserError(
                "roster.date.no_such_date", text=said, day=day, month=month, year=year
            ) from None
        raise UserError("roster.date.no_such_month", text=said, month=month) from None


def _nearest_year(
    month: int, day: int, reference: date, said: str, *, upcoming: bool = False
) -> date:
    """A day-month without a year: the one nearest the reference date (`upcoming`: the first
    on or after it, within a year)."""
    candidates = []
    for year in (reference.year - 1, reference.year, reference.year + 1):
        try:
            candidates.append(date(year, month, day))
        except ValueError:
            continue
    if not candidates:
        # 31-02 exists in no year; 29-02 in few: say so for this year.
        _real_date(reference.year, month, day, said, reference)
    ahead = [d for d in candidates if d >= reference]
    if upcoming and ahead:
        return min(ahead)
    return min(candidates, key=lambda d: (abs((d - reference).days), d < reference))


def _day_and_time(said: str) -> tuple[list[str], str]:
    """The words of the day ("vr", "24 dec", none) and the time ("18:00") of a moment."""
    words = said.lower().replace(",", " ").split()
    if not words:
        raise UserError("roster.date.empty")
    if len(words) > 1 and words[-1] == "uur":
        words = [*words[:-2], words[-2] + "u"]
    if (iso := _ISO.match(words[-1])) and iso.group(4):
        words = [*words[:-1], words[-1].split("t")[0], iso.group(4)]
    if not _TIME.match(words[-1]) or (len(words) == 1 and not re.search(r"[:.uh]", words[0])):
        raise UserError("roster.date.no_time", text=said)
    head, tail = words[:-1], words[-1]
    if head and head[-1] == "om":
        head = head[:-1]
    return head, tail


def parse_local(
    text: str, now: datetime, after: datetime | None = None, *, upcoming: bool = False
) -> datetime:
    """A naive local wall time from Dutch text (`now` and `after` are naive local too).

    "vandaag", "morgen" and "overmorgen" count from now. A weekday or a bare time is its first
    occurrence at or after now, or, for an end, strictly after the start (`after`): "van vr
    18:00 tot ma 08:00". A day-month without a year is the one nearest that moment
    (`upcoming`: the first on or after its day); a date before the start stays before it
    (and is refused as such), it never rolls a year on."""
    reference = after or now
    strictly_after = after is not None
    said = " ".join(text.strip().split())
    head, tail = _day_and_time(said)
    at_time = _parse_time(tail, said)
    day_text = " ".join(head)
    ref_day = reference.date()

    def later(candidate: datetime) -> bool:
        return candidate > reference if strictly_after else candidate >= reference

    if not day_text:
        candidate = datetime.combine(ref_day, at_time)
        if not later(candidate):
            candidate += timedelta(days=1)
        return candidate
    if day_text in RELATIVE_DAYS:
        return datetime.combine(now.date() + timedelta(days=RELATIVE_DAYS[day_text]), at_time)
    if day_text in WEEKDAYS:
        ahead = (WEEKDAYS[day_text] - ref_day.weekday()) % 7
        candidate = datetime.combine(ref_day + timedelta(days=ahead), at_time)
        if not later(candidate):
            candidate += timedelta(days=7)
        return candidate
    day = _dated(day_text, said, now.date(), ref_day, upcoming=upcoming)
    if day is None:
        raise UserError("roster.date.unknown", text=said)
    return datetime.combine(day, at_time)


def _dated(day_text: str, said: str, today: date, ref_day: date, *, upcoming: bool) -> date | None:
    """The day of a written date ("2026-12-24", "24-12", "24 dec 2026"); None if it is none.
    Without a year, the one nearest `ref_day` (see `parse_local`)."""
    if m := _ISO.match(day_text):
        return _real_date(int(m.group(1)), int(m.group(2)), int(m.group(3)), said, today)
    if m := _NUMERIC.match(day_text):
        d, mo = int(m.group(1)), int(m.group(2))
        if m.group(3):
            year = int(m.group(3))
            year += 2000 if len(m.group(3)) == 2 else 0  # "26" is 2026; "0001" is year 1
            return _real_date(year, mo, d, said, today)
        if not 1 <= mo <= 12:
            raise UserError("roster.date.no_such_month", text=said, month=mo)
        return _nearest_year(mo, d, ref_day, said, upcoming=upcoming)
    if (m := _WORDS.match(day_text)) and m.group(2) in MONTHS:
        d, mo = int(m.group(1)), MONTHS[m.group(2)]
        if m.group(3):
            return _real_date(int(m.group(3)), mo, d, said, today)
        return _nearest_year(mo, d, ref_day, said, upcoming=upcoming)
    return None


def checked_instant(local: datetime, tz: ZoneInfo) -> datetime:
    """The instant of a local wall time; refuses one that does not exist or exists twice."""
    problem = wall_time_problem(local, tz)
    if problem == "gap":
        raise UserError("roster.date.gap", when=_said(local))
    if problem == "ambiguous":
        raise UserError("roster.date.ambiguous", when=_said(local))
    return to_utc(local, tz)


def parse_instant(
    text: str,
    now: datetime,
    tz: ZoneInfo,
    *,
    after: datetime | None = None,
    upcoming: bool = False,
) -> datetime:
    """An instant from Dutch text; relative to `after` (for an end) or else to now."""
    local_now = now.astimezone(tz).replace(tzinfo=None)
    local_after = after.astimezone(tz).replace(tzinfo=None) if after is not None else None
    local = parse_local(text, local_now, local_after, upcoming=upcoming)
    return checked_instant(local, tz)


def parse_period(
    start_text: str, end_text: str, now: datetime, tz: ZoneInfo
) -> tuple[datetime, datetime]:
    """A period "van … tot …"; the end counts from the start ("tot ma 08:00"). A start
    date without a year whose period would be over already is the next one: in December,
    "van 20-11 08:00 tot 21-11 08:00" is next November (a period still running keeps its
    start)."""
    start = parse_instant(start_text, now, tz)
    end = parse_instant(end_text, now, tz, after=start)
    if end <= now:
        upcoming = parse_instant(start_text, now, tz, upcoming=True)
        if upcoming != start:
            start = upcoming
            end = parse_instant(end_text, now, tz, after=start)
    if end <= start:
        raise UserError(
            "roster.date.end_before_start",
            start=lambda lang: fmt_moment(start, tz, lang),
            end=lambda lang: fmt_moment(end, tz, lang),
        )
    return start, end
