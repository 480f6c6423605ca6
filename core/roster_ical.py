"""Rosters as iCalendar (RFC 5545) and CSV: export of duties, and import of explicit shifts.

Export: one VEVENT per stretch of duty, in UTC, with the function, scope and person as
`X-SCM-*` properties so a file exported here imports back unchanged.

Import reads either format into `ShiftSpec`s, checked against the directory, each problem
with its line. CSV columns (header required, `;` or `,`):
`functie,scope,persoon,backup,van,tot` with local times `2026-12-07 08:00` (scope and backup
may be empty). An .ics needs `X-SCM-FUNCTION` and `X-SCM-PERSON` (a person key), or a
SUMMARY "<functie>: <persoon>"; DTSTART/DTEND in UTC (`Z`), with a TZID, or floating (local).
"""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from itertools import pairwise
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from core.model import Directory, Language, PersonId
from core.roster import MAX_SPAN, REGIO, Key, Roster, RosterSettings, Shift, wall_time_problem
from core.roster_dates import fmt_moment
from core.roster_effects import changed_people, result_text
from core.roster_service import (
    find_function,
    find_scope,
    function_name,
    key_label,
    load_roster,
    roster_settings,
    runs,
)
from core.tx import Tx

PRODID = "-//scm-bot//piket//NL"


def _escape(text: str) -> str:
    return text.replace("\\", "\\\\").replace(";", "\\;").replace(",", "\\,").replace("\n", "\\n")


def _unescape(text: str) -> str:
    out, i = [], 0
    while i < len(text):
        if text[i] == "\\" and i + 1 < len(text):
            nxt = text[i + 1]
            out.append("\n" if nxt in "nN" else nxt)
            i += 2
        else:
            out.append(text[i])
            i += 1
    return "".join(out)


def _fold(line: str) -> str:
    """Lines longer than 75 octets continue on the next line after a space."""
    data = line.encode()
    if len(data) <= 75:
        return line
    parts: list[str] = []
    current = b""
    for ch in line:
        encoded = ch.encode()
        if len(current) + len(encoded) > (75 if not parts else 74):
            parts.append(current.decode())
            current = b""
        current += encoded
    parts.append(current.decode())
    return "\r\n ".join(parts)


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
    lines = [
        "BEGIN:VCALENDAR",
        "VERSION:2.0",
        f"PRODID:{PRODID}",
        "CALSCALE:GREGORIAN",
        f"X-WR-CALNAME:{_escape(name or 'Piketrooster ' + directory.region.name)}",
        f"X-WR-TIMEZONE:{directory.region.timezone.key}",
    ]
    if refresh is not None:
        minutes = max(1, int(refresh.total_seconds() // 60))
        lines += [f"REFRESH-INTERVAL;VALUE=DURATION:PT{minutes}M", f"X-PUBLISHED-TTL:PT{minutes}M"]
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
            label = key_label(directory, settings, key, Language.NL)
            uid = f"{key[0]}-{key[1].replace(':', '-')}-{_stamp(run.start)}@scm-bot"
            lines += [
                "BEGIN:VEVENT",
                f"UID:{uid}",
                f"DTSTAMP:{_stamp(start)}",
                f"DTSTART:{_stamp(run.start)}",
                f"DTEND:{_stamp(run.end)}",
                f"SUMMARY:{_escape(f'{function_name(directory, key[0])}: {who.name}')}",
                f"DESCRIPTION:{_escape(label)}",
                f"X-SCM-FUNCTION:{key[0]}",
                f"X-SCM-SCOPE:{key[1]}",
                f"X-SCM-PERSON:{who.key}",
            ]
            if backup is not None and backup in directory.people:
                lines.append(f"X-SCM-BACKUP:{directory.people[backup].key}")
            lines.append("END:VEVENT")
    lines.append("END:VCALENDAR")
    return ("\r\n".join(_fold(line) for line in lines) + "\r\n").encode()


# --- import ----------------------------------------------------------------------------------


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

    def instant(self, line: int, naive: datetime, tz: ZoneInfo, text: str) -> datetime | None:
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


def _unfold(text: str) -> list[tuple[int, str]]:
    lines: list[tuple[int, str]] = []
    for number, raw in enumerate(text.replace("\r\n", "\n").split("\n"), start=1):
        if raw.startswith((" ", "\t")) and lines:
            lines[-1] = (lines[-1][0], lines[-1][1] + raw[1:])
        elif raw:
            lines.append((number, raw))
    return lines


def parse_ics(text: str, directory: Directory, settings: RosterSettings) -> ParseResult:
    reader = _Reader(directory, settings)
    event: dict[str, tuple[dict[str, str], str]] | None = None
    start_line = 0
    for number, line in _unfold(text):
        name_part, _, value = line.partition(":")
        name, *params = name_part.split(";")
        name = name.upper()
        if name == "BEGIN" and value.upper() == "VEVENT":
            event, start_line = {}, number
            continue
        if name == "END" and value.upper() == "VEVENT" and event is not None:
            _event(reader, start_line, event)
            event = None
            continue
        if event is not None:
            event[name] = (dict(p.split("=", 1) for p in params if "=" in p), value)
    reader.overlaps()
    return ParseResult(reader.shifts, reader.problems)


def _event(reader: _Reader, line: int, event: dict[str, tuple[dict[str, str], str]]) -> None:
    def value(name: str) -> str:
        return _unescape(event[name][1]).strip() if name in event else ""

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
        _ics_time(reader, line, event.get("DTSTART")),
        _ics_time(reader, line, event.get("DTEND")),
    )


def _ics_time(
    reader: _Reader, line: int, prop: tuple[dict[str, str], str] | None
) -> datetime | None:
    if prop is None:
        reader.problem(line, "DTSTART of DTEND ontbreekt")
        return None
    params, raw = prop
    raw = raw.strip()
    try:
        if len(raw) == 8:  # a whole day: midnight local
            naive = datetime.strptime(raw, "%Y%m%d")
        else:
            naive = datetime.strptime(raw.rstrip("Z"), "%Y%m%dT%H%M%S")
    except ValueError:
        reader.problem(line, f"geen geldige tijd {raw!r}")
        return None
    if raw.endswith("Z"):
        return naive.replace(tzinfo=UTC)
    tz = reader.tz
    if "TZID" in params:
        try:
            tz = ZoneInfo(params["TZID"].strip('"'))
        except (ZoneInfoNotFoundError, ValueError):
            reader.problem(line, f"onbekende tijdzone {params['TZID']!r}")
            return None
    return reader.instant(line, naive, tz, raw)


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
