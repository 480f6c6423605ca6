"""Roster import: explicit shifts from CSV or iCalendar, checked against the directory, each
problem with its line, then added all or nothing (`scm-bot roster import`).

CSV columns (header required, `;` or `,`): `functie,scope,persoon,backup,van,tot` with local
times `2026-12-07 08:00` (scope and backup may be empty). An .ics is read with the `icalendar`
library; it needs `X-SCM-FUNCTION` and `X-SCM-PERSON` (a person key), as `core.roster.ical`
writes them, or a SUMMARY "<functie>: <persoon>"; DTSTART/DTEND in UTC (`Z`), with a TZID, or
floating (local).
"""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, tzinfo
from itertools import pairwise
from typing import Any
from zoneinfo import ZoneInfo

from icalendar import Calendar, Component, vBroken, vText
from icalendar.parser import unescape_backslash

from core.model import Directory, PersonId
from core.roster.dates import fmt_moment
from core.roster.effects import changed_people, result_text
from core.roster.model import MAX_SPAN, REGIO, Key, Roster, RosterSettings, Shift, wall_time_problem
from core.roster.reminders import RosterReminders
from core.roster.service import (
    find_function,
    find_scope,
    function_name,
    key_label,
    load_roster,
    roster_settings,
)
from core.tx import Tx


@dataclass(frozen=True, slots=True)
class ShiftSpec:
    line: int
    function_key: str
    scope: str
    person: PersonId
    backup: PersonId | None
    start: datetime
    end: datetime

    @property
    def key(self) -> Key:
        return (self.function_key, self.scope)


@dataclass
class ParseResult:
    shifts: list[ShiftSpec]
    problems: list[str]


class _Reader:
    def __init__(self, directory: Directory, settings: RosterSettings) -> None:
        self.d = directory
        self.settings = settings
        self.tz = directory.region.timezone
        self.problems: list[str] = []
        self.shifts: list[ShiftSpec] = []

    def problem(self, line: int, text: str) -> None:
        self.problems.append(f"regel {line}: {text}")

    def person(self, line: int, text: str, *, optional: bool = False) -> PersonId | None:
        text = text.strip()
        if not text:
            if not optional:
                self.problem(line, "geen persoon")
            return None
        found = self.d.person_by_key(text) or next(
            (p for p in self.d.people.values() if p.name.casefold() == text.casefold()), None
        )
        if found is None:
            self.problem(line, f"onbekende persoon {text!r}")
            return None
        return found.id

    def local(self, line: int, text: str) -> datetime | None:
        text = text.strip().replace("T", " ")
        try:
            naive = datetime.fromisoformat(text)
        except ValueError:
            self.problem(line, f"geen datum en tijd: {text!r} (verwacht 2026-12-07 08:00)")
            return None
        return self.instant(line, naive.replace(tzinfo=None), self.tz, text)

    def instant(self, line: int, naive: datetime, tz: tzinfo, text: str) -> datetime | None:
        problem = wall_time_problem(naive, tz)
        if problem == "gap":
            self.problem(line, f"{text} bestaat niet (de klok gaat die nacht vooruit)")
            return None
        if problem == "ambiguous":
            self.problem(line, f"{text} komt twee keer voor (de klok gaat die nacht terug)")
            return None
        return naive.replace(tzinfo=tz).astimezone(UTC)

    def add(
        self,
        line: int,
        function_text: str,
        scope_text: str,
        person: PersonId | None,
        backup: PersonId | None,
        start: datetime | None,
        end: datetime | None,
    ) -> None:
        function = find_function(self.d, function_text)
        if function is None:
            self.problem(line, f"onbekende functie {function_text!r}")
        scope = REGIO
        if scope_text.strip():
            found = (
                scope_text.strip()
                if scope_text.strip().startswith(("gemeente:", "piketregio:"))
                else find_scope(self.d, self.settings, scope_text)
            )
            if found is None:
                self.problem(line, f"onbekende scope {scope_text!r}")
            scope = found or REGIO
        if function is None or person is None or start is None or end is None:
            return
        if end <= start:
            self.problem(line, "het einde ligt niet na het begin")
            return
        if end - start > MAX_SPAN:
            self.problem(line, f"een dienst duurt hoogstens {MAX_SPAN.days} dagen")
            return
        for pid in (person, backup):
            if pid is not None and function not in self.d.people[pid].functions:
                name = self.d.people[pid].name
                self.problem(
                    line, f"{name} heeft de functie {function_name(self.d, function)} niet"
                )
                return
        self.shifts.append(ShiftSpec(line, function, scope, person, backup, start, end))

    def overlaps(self) -> None:
        by_key: dict[Key, list[ShiftSpec]] = {}
        for s in self.shifts:
            by_key.setdefault(s.key, []).append(s)
        for items in by_key.values():
            items.sort(key=lambda s: s.start)
            for a, b in pairwise(items):
                if b.start < a.end:
                    self.problem(b.line, f"overlapt met regel {a.line}")


def parse_csv(text: str, directory: Directory, settings: RosterSettings) -> ParseResult:
    reader = _Reader(directory, settings)
    sample = text.splitlines()[0] if text.strip() else ""
    delimiter = ";" if sample.count(";") > sample.count(",") else ","
    rows = list(csv.reader(io.StringIO(text), delimiter=delimiter))
    if not rows:
        return ParseResult([], ["regel 1: het bestand is leeg"])
    header = [h.strip().lower() for h in rows[0]]
    aliases = {
        "functie": "functie",
        "function": "functie",
        "scope": "scope",
        "persoon": "persoon",
        "person": "persoon",
        "backup": "backup",
        "van": "van",
        "from": "van",
        "start": "van",
        "tot": "tot",
        "until": "tot",
        "end": "tot",
    }
    columns = {aliases[h]: i for i, h in enumerate(header) if h in aliases}
    missing = [c for c in ("functie", "persoon", "van", "tot") if c not in columns]
    if missing:
        return ParseResult([], [f"regel 1: kolom(men) ontbreken: {', '.join(missing)}"])
    for number, row in enumerate(rows[1:], start=2):
        if not any(cell.strip() for cell in row):
            continue

        def cell(name: str, row: list[str] = row) -> str:
            i = columns.get(name)
            return row[i] if i is not None and i < len(row) else ""

        reader.add(
            number,
            cell("functie"),
            cell("scope"),
            reader.person(number, cell("persoon")),
            reader.person(number, cell("backup"), optional=True),
            reader.local(number, cell("van")),
            reader.local(number, cell("tot")),
        )
    reader.overlaps()
    return ParseResult(reader.shifts, reader.problems)


def parse_ics(text: str, directory: Directory, settings: RosterSettings) -> ParseResult:
    reader = _Reader(directory, settings)
    try:
        calendars = Calendar.from_ical(text, multiple=True)
    except ValueError as error:
        return ParseResult([], [f"niet te lezen als iCalendar: {error}"])
    events = [event for calendar in calendars for event in calendar.walk("VEVENT")]
    for line, event in zip(_event_lines(text), events, strict=False):
        _event(reader, line, event)
    reader.overlaps()
    return ParseResult(reader.shifts, reader.problems)


def _event_lines(text: str) -> list[int]:
    """The line each VEVENT begins on, for the problems (the library does not keep it)."""
    lines = text.replace("\r\n", "\n").split("\n")
    return [n for n, line in enumerate(lines, start=1) if line.strip().upper() == "BEGIN:VEVENT"]


def _property(event: Component, name: str) -> Any:
    """A property of the event; of one given twice, the last."""
    prop = event.get(name)
    return prop[-1] if isinstance(prop, list) else prop


def _event(reader: _Reader, line: int, event: Component) -> None:
    def value(name: str) -> str:
        prop = _property(event, name)
        if prop is None:
            return ""
        # The library unescapes the TEXT it knows (SUMMARY), not an X- property.
        text = str(prop) if isinstance(prop, vText) else unescape_backslash(str(prop))
        return text.strip()

    function, person_text = value("X-SCM-FUNCTION"), value("X-SCM-PERSON")
    if not function or not person_text:
        summary = value("SUMMARY")
        head, sep, tail = summary.partition(":")
        if not sep:
            reader.problem(
                line, f"niet te lezen: SUMMARY {summary!r} (verwacht 'functie: persoon')"
            )
            return
        function = function or head.strip()
        person_text = person_text or tail.strip()
    reader.add(
        line,
        function,
        value("X-SCM-SCOPE"),
        reader.person(line, person_text),
        reader.person(line, value("X-SCM-BACKUP"), optional=True),
        _ics_time(reader, line, _property(event, "DTSTART")),
        _ics_time(reader, line, _property(event, "DTEND")),
    )


def _ics_time(reader: _Reader, line: int, prop: Any) -> datetime | None:
    """An instant from DTSTART or DTEND: in UTC, with a TZID, floating (the region's local
    time) or a whole day (from midnight local)."""
    if prop is None:
        reader.problem(line, "DTSTART of DTEND ontbreekt")
        return None
    raw = prop.to_ical().decode()
    at = None if isinstance(prop, vBroken) else prop.dt
    if isinstance(at, datetime):
        if at.tzinfo is None and "TZID" in prop.params:
            reader.problem(line, f"onbekende tijdzone {prop.params['TZID']!r}")
            return None
        if at.tzinfo is not None and "TZID" not in prop.params:
            return at.astimezone(UTC)  # written in UTC: no wall time to check
        return reader.instant(line, at.replace(tzinfo=None), at.tzinfo or reader.tz, raw)
    if isinstance(at, date):
        return reader.instant(line, datetime.combine(at, time()), reader.tz, raw)
    reader.problem(line, f"geen geldige tijd {raw!r}")
    return None


def parse_roster_file(
    name: str, text: str, directory: Directory, settings: RosterSettings
) -> ParseResult:
    if name.lower().endswith((".ics", ".ical", ".ifb")) or text.lstrip().startswith(
        "BEGIN:VCALENDAR"
    ):
        return parse_ics(text, directory, settings)
    return parse_csv(text, directory, settings)


def local_text(at: datetime, tz: ZoneInfo) -> str:
    return at.astimezone(tz).strftime("%Y-%m-%d %H:%M")


@dataclass
class ImportReport:
    added: list[str]
    unchanged: list[str]
    problems: list[str]


async def import_shifts(tx: Tx, specs: list[ShiftSpec], *, dry_run: bool) -> ImportReport:
    """Add the shifts (all or nothing): one already there identically is left alone; one that
    overlaps a different existing shift is a problem, and then nothing is added."""
    report = ImportReport([], [], [])
    if not specs:
        return report
    start = min(s.start for s in specs)
    end = max(s.end for s in specs)
    existing = await tx.uow.roster.shifts(start, end)
    d = tx.directory
    tz = d.region.timezone
    new: list[ShiftSpec] = []
    for spec in specs:
        same_key = [s for s in existing if s.key == spec.key]
        same = [
            s
            for s in same_key
            if (s.person, s.backup, s.start, s.end)
            == (spec.person, spec.backup, spec.start, spec.end)
        ]
        backup = (
            f"backup {d.people[spec.backup].name}" if spec.backup in d.people else "zonder backup"
        )
        text = (
            f"{function_name(d, spec.function_key)} {spec.scope}: {d.people[spec.person].name}, "
            f"{backup}, {local_text(spec.start, tz)} – {local_text(spec.end, tz)}"
        )
        if same:
            report.unchanged.append(text)
            continue
        clash = next((s for s in same_key if s.start < spec.end and spec.start < s.end), None)
        if clash is not None:
            report.problems.append(
                f"regel {spec.line}: overlapt met de bestaande dienst van "
                f"{d.people[clash.person].name if clash.person in d.people else '?'} "
                f"({local_text(clash.start, tz)} – {local_text(clash.end, tz)})"
            )
            continue
        new.append(spec)
        report.added.append(text)
    if report.problems or dry_run:
        return report
    before = await load_roster(tx, start, end)
    shifts = [
        Shift(0, spec.function_key, spec.scope, spec.person, spec.backup, spec.start, spec.end)
        for spec in new
    ]
    for shift in shifts:
        await tx.uow.roster.add_shift(shift, "cli", tx.now)
    await tx.audit(
        "cli", "roster.import", "shifts", added=len(new), unchanged=len(report.unchanged)
    )
    await tell_moved(tx, before, before.plus(shifts=shifts), shifts)
    # Their reminders now, as a command's change plans them: one starting before the next
    # daily check would otherwise go without.
    if shifts:
        await RosterReminders().plan(tx, {s.key for s in shifts})
    return report


async def tell_moved(tx: Tx, before: Roster, after: Roster, shifts: list[Shift]) -> None:
    """Tell everyone whose duty or backup the imported shifts change, per roster, what it
    looks like now: as a command's change is announced."""
    d = tx.directory
    tz = d.region.timezone
    settings = await roster_settings(tx)
    spans: dict[Key, tuple[datetime, datetime]] = {}
    for s in shifts:
        first, last = spans.get(s.key, (s.start, s.end))
        spans[s.key] = (min(first, s.start), max(last, s.end))
    for key, (start, end) in sorted(spans.items()):
        for pid in changed_people(before, after, key, start, end):
            person = d.people.get(pid)
            if person is None:
                continue
            await tx.send(
                person,
                "roster.imported",
                label=lambda lang, k=key: key_label(d, settings, k, lang),
                start=lambda lang, a=start: fmt_moment(a, tz, lang),
                end=lambda lang, b=end: fmt_moment(b, tz, lang),
                after=lambda lang, k=key, a=start, b=end: result_text(tx, after, k, a, b, lang),
            )
