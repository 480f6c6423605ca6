"""Rosters as iCalendar (RFC 5545), written with the `icalendar` library: /rooster ical and
the subscribed calendars of `core.roster.feeds`.

One VEVENT per stretch of duty, in UTC, with the function, scope and person as `X-SCM-*`
properties, so a file exported here imports back unchanged (`core.roster.importing`). An event's
UID is its function, scope and start, so a calendar that reloads sees the same event again.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from icalendar import Calendar, Event, vDuration, vText

from core.model import Directory, Language, PersonId
from core.roster.model import Key, Roster, RosterSettings
from core.roster.service import function_name, key_label, runs

PRODID = "-//scm-bot//piket//NL"


def _stamp(at: datetime) -> str:
    return at.astimezone(UTC).strftime("%Y%m%dT%H%M%SZ")


def export_ics(
    directory: Directory,
    settings: RosterSettings,
    roster: Roster,
    keys: list[Key],
    start: datetime,
    end: datetime,
    person: PersonId | None = None,
    *,
    name: str | None = None,
    refresh: timedelta | None = None,
) -> bytes:
    """The duties of `keys` over [start, end) (only `person`'s, if given) as an .ics file;
    `name` names the calendar, `refresh` tells a subscribed calendar how often to reload."""
    calendar = Calendar()
    calendar.add("VERSION", "2.0")
    calendar.add("PRODID", PRODID)
    calendar.add("CALSCALE", "GREGORIAN")
    # As TEXT, escaped: the library writes `calendar_name` unescaped.
    calendar.add("X-WR-CALNAME", vText(name or "Piketrooster " + directory.region.name))
    calendar.add("X-WR-TIMEZONE", directory.region.timezone.key)
    if refresh is not None:
        every = timedelta(minutes=max(1, int(refresh.total_seconds() // 60)))
        # RFC 7986 asks for VALUE=DURATION; X-PUBLISHED-TTL is what Outlook and Google read.
        calendar.add("REFRESH-INTERVAL", every, parameters={"VALUE": "DURATION"})
        calendar.add("X-PUBLISHED-TTL", vDuration(every))
    for key in keys:
        segments = roster.timeline(*key, start, end)
        backups = {(s.start, s.end): s.duty.backup for s in segments}
        for run in runs(segments):
            if person is not None and run.person != person:
                continue
            who = directory.people.get(run.person)
            if who is None:
                continue
            backup = next(
                (b for (a, z), b in backups.items() if a <= run.start < z and b is not None), None
            )
            event = Event.new(
                uid=f"{key[0]}-{key[1].replace(':', '-')}-{_stamp(run.start)}@scm-bot",
                stamp=start.astimezone(UTC),
                start=run.start.astimezone(UTC),
                end=run.end.astimezone(UTC),
                summary=f"{function_name(directory, key[0])}: {who.name}",
                description=key_label(directory, settings, key, Language.NL),
            )
            event.add("X-SCM-FUNCTION", key[0])
            event.add("X-SCM-SCOPE", key[1])
            event.add("X-SCM-PERSON", who.key)
            if backup is not None and backup in directory.people:
                event.add("X-SCM-BACKUP", directory.people[backup].key)
            calendar.add_component(event)
    ics: bytes = calendar.to_ical()
    return ics
