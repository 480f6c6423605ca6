"""Understanding a moment typed the Dutch way: "14:30", "over 45 min", "24-11 09:00"."""

from __future__ import annotations

import re
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from core.errors import UserError

_RELATIVE = re.compile(
    r"^(?:over\s+|in\s+|\+)?(\d{1,4})\s*(m|min|minuut|minuten|minutes?|"
    r"u|h|uur|hour|hours)$"
)
_TIME = re.compile(r"^(\d{1,2})[:.](\d{2})$")
_DATE_TIME = re.compile(r"^(\d{1,2})-(\d{1,2})(?:-(\d{4}))?\s+(\d{1,2})[:.](\d{2})$")
# The furthest ahead a moment may be (the next update of an analyse, ...): anything later is a
# typo, and a year like 9999 would overflow the timers counting from it.
MAX_AHEAD = timedelta(days=366)


def _local(
    year: int, month: int, day: int, hour: int, minute: int, tz: ZoneInfo, text: str
) -> datetime:
    try:
        naive = datetime(year, month, day, hour, minute)
    except ValueError:
        raise UserError("when.no_such_date", text=text) from None
    aware = naive.replace(tzinfo=tz)
    # A wall time that does not exist (spring forward) or exists twice (fall back).
    if aware.astimezone(ZoneInfo("UTC")).astimezone(tz).replace(tzinfo=None) != naive:
        raise UserError("when.no_such_time", text=text)
    if naive.replace(tzinfo=tz, fold=1).utcoffset() != aware.utcoffset():
        raise UserError("when.ambiguous_time", text=text)
    return aware


def parse_moment(text: str, now: datetime, tz: ZoneInfo) -> datetime:
    """A future moment, at most a year ahead; raises UserError (with what was understood)
    otherwise."""
    at = _parse_moment(text, now, tz)
    if at - now > MAX_AHEAD:
        raise UserError("when.too_far", text=text)
    return at


def _parse_moment(text: str, now: datetime, tz: ZoneInfo) -> datetime:
    cleaned = " ".join(text.strip().lower().split())
    local_now = now.astimezone(tz)
    if m := _RELATIVE.match(cleaned):
        amount = int(m.group(1))
        minutes = amount * 60 if m.group(2)[0] in "uh" else amount
        if minutes <= 0:
            raise UserError("when.past", text=text)
        return now + timedelta(minutes=minutes)
    if m := _TIME.match(cleaned):
        hour, minute = int(m.group(1)), int(m.group(2))
        if hour > 23 or minute > 59:
            raise UserError("when.no_such_clock_time", text=text)
        at = _local(local_now.year, local_now.month, local_now.day, hour, minute, tz, text)
        if at <= now:
            # Shortly before now is a mistake; long before now means tomorrow (23:50 → 00:30).
            if now - at < timedelta(hours=6):
                raise UserError("when.past", text=text)
            tomorrow = (local_now + timedelta(days=1)).date()
            at = _local(tomorrow.year, tomorrow.month, tomorrow.day, hour, minute, tz, text)
        return at
    if m := _DATE_TIME.match(cleaned):
        day, month = int(m.group(1)), int(m.group(2))
        year = int(m.group(3)) if m.group(3) else local_now.year
        # Checked before it is computed with: year 1 is before the first instant there is.
        if year < local_now.year:
            raise UserError("when.past", text=text)
        if year > local_now.year + 1:
            raise UserError("when.too_far", text=text)
        at = _local(year, month, day, int(m.group(4)), int(m.group(5)), tz, text)
        if at <= now:
            raise UserError("when.past", text=text)
        return at
    raise UserError("when.not_understood", text=text)
