"""Roster import (CSV and .ics, with a dry run) and export; the `scm-bot roster` command."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
import structlog
from typer.testing import CliRunner

from core.clock import FakeClock
from core.model import Origin
from core.roster.importing import import_shifts, parse_csv, parse_ics, parse_roster_file
from core.roster.reminders import RosterReminders
from scm_bot.cli import app
from tests.conftest import count
from tests.helpers import REGION_FILE, TZ, Harness, NewHarness

CSV = """functie;scope;persoon;backup;van;tot
rol;;rol-a;rol-c;2026-12-01 08:00;2026-12-02 08:00
ROL;regio;Rol Bert;;2026-12-02 08:00;2026-12-03 08:00
"""


async def test_csv_import_dry_run_then_for_real_and_twice(harness: Harness) -> None:
    core = harness.app.core
    async with core.transaction(Origin.CLI) as tx:
        parsed = parse_csv(CSV, tx.directory, await tx.uow.roster.settings())
        assert parsed.problems == []
        report = await import_shifts(tx, parsed.shifts, dry_run=True)
    assert len(report.added) == 2 and await count(harness.app.engine, "roster_shift") == 0
    async with core.transaction(Origin.CLI) as tx:
        await import_shifts(tx, parsed.shifts, dry_run=False)
    assert await count(harness.app.engine, "roster_shift") == 2
    async with core.transaction(Origin.CLI) as tx:
        again = await import_shifts(tx, parsed.shifts, dry_run=False)
    assert again.added == [] and len(again.unchanged) == 2
    assert await count(harness.app.engine, "roster_shift") == 2


async def test_an_imported_shift_starting_before_the_next_daily_check_is_reminded(
    new_harness: NewHarness,
) -> None:
    """`scm-bot roster import` plans the imported shifts' reminders at once: a duty that
    starts this afternoon is not left to the next morning's daily check."""
    clock = FakeClock(datetime(2026, 12, 7, 10, 0, tzinfo=TZ))  # Monday, after 07:00
    harness = await new_harness(clock=clock)
    await RosterReminders().ensure(harness.app.core)
    await harness.advance(0)  # the daily check ran; the next is tomorrow 07:00
    csv = "functie,persoon,van,tot\nrol,rol-c,2026-12-07 14:00,2026-12-08 08:00\n"
    async with harness.app.core.transaction(Origin.CLI) as tx:
        parsed = parse_csv(csv, tx.directory, await tx.uow.roster.settings())
        await import_shifts(tx, parsed.shifts, dry_run=False)
    await harness.advance(4 * 60 + 1)  # 14:01
    assert "begint nu en duurt tot di 8 dec 08:00" in harness.last("rol-c")


async def test_bad_rows_are_reported_with_their_line(harness: Harness) -> None:
    bad = (
        "functie,persoon,van,tot\n"
        "rol,rol-x,2026-12-01 08:00,2026-12-02 08:00\n"
        "rol,rol-a,2026-03-29 02:30,2026-03-30 08:00\n"
        "rol,im,2026-12-01 08:00,2026-12-02 08:00\n"
        "rol,rol-a,2026-12-05 08:00,2026-12-04 08:00\n"
        "acb,rol-a,2026-12-05 08:00,2026-12-06 08:00\n"
    )
    async with harness.app.core.transaction(Origin.CLI) as tx:
        problems = parse_csv(bad, tx.directory, await tx.uow.roster.settings()).problems
    assert problems == [
        "regel 2: onbekende persoon 'rol-x'",
        "regel 3: 2026-03-29 02:30 bestaat niet (de klok gaat die nacht vooruit)",
        "regel 4: Info Ineke heeft de functie ROL niet",
        "regel 5: het einde ligt niet na het begin",
        "regel 6: onbekende functie 'acb'",
    ]


async def test_ical_export_imports_back(harness: Harness) -> None:
    await harness.say("coord", "/vervang Bert door Anna van morgen 08:00 tot do 18:00")
    await harness.press("coord", "Bevestigen")
    await harness.say("caco", "/rooster ical")
    attachment = harness.inbox("caco")[-1].attachment
    assert attachment is not None
    ics = attachment.content.decode()
    async with harness.app.core.transaction(Origin.CLI) as tx:
        parsed = parse_ics(ics, tx.directory, await tx.uow.roster.settings())
        assert parsed.problems == []
        anna = tx.directory.person_by_key("rol-a")
        assert anna is not None
        annas = [s for s in parsed.shifts if s.person == anna.id]
        assert annas[0].start.isoformat() == "2026-11-25T07:00:00+00:00"
        assert annas[0].end.isoformat() == "2026-11-26T17:00:00+00:00"
        # A foreign calendar: SUMMARY "functie: persoon", local times with a TZID, folding.
        other = (
            "BEGIN:VCALENDAR\r\nBEGIN:VEVENT\r\nSUMMARY:ROL: Rol\r\n  Cees\r\n"
            "DTSTART;TZID=Europe/Amsterdam:20261207T080000\r\n"
            "DTEND;TZID=Europe/Amsterdam:20261214T080000\r\nEND:VEVENT\r\nEND:VCALENDAR\r\n"
        )
        parsed = parse_roster_file("x.ics", other, tx.directory, await tx.uow.roster.settings())
        assert parsed.problems == [] and parsed.shifts[0].start.hour == 7


async def test_a_calendars_problems_are_reported_with_the_line_of_their_event(
    harness: Harness,
) -> None:
    ics = (
        "BEGIN:VCALENDAR\r\n"
        "BEGIN:VEVENT\r\nSUMMARY:ROL: Rol Cees\r\n"
        "DTSTART;TZID=Europe/Amsterdam:20260329T023000\r\n"
        "DTEND;TZID=Europe/Amsterdam:20261025T023000\r\nEND:VEVENT\r\n"
        "BEGIN:VEVENT\r\nSUMMARY:ROL: Rol Cees\r\n"
        "DTSTART;TZID=Europe/Nowhere:20261207T080000\r\nDTEND:2026120\r\nEND:VEVENT\r\n"
        "BEGIN:VEVENT\r\nSUMMARY:geen dubbele punt\r\n"
        "DTSTART:20261207\r\nDTEND:20261208\r\nEND:VEVENT\r\n"
        "BEGIN:VEVENT\r\nSUMMARY:ROL: rol-b\r\nDTSTART:20261202T000000\r\nEND:VEVENT\r\n"
        "BEGIN:VEVENT\r\nX-SCM-FUNCTION:rol\r\nX-SCM-PERSON:Rol\\, Anna\r\n"
        "DTSTART:20261202T000000Z\r\nDTEND:20261203T000000Z\r\nEND:VEVENT\r\n"
        "BEGIN:VEVENT\r\nSUMMARY:ROL: rol-a\r\nX-SCM-BACKUP:rol-c\r\n"
        "DTSTART:20261201\r\nDTEND:20261203\r\nEND:VEVENT\r\n"
        "END:VCALENDAR\r\n"
    )
    async with harness.app.core.transaction(Origin.CLI) as tx:
        parsed = parse_ics(ics, tx.directory, await tx.uow.roster.settings())
        anna, cees = tx.directory.person_by_key("rol-a"), tx.directory.person_by_key("rol-c")
    assert parsed.problems == [
        "regel 2: 20260329T023000 bestaat niet (de klok gaat die nacht vooruit)",
        "regel 2: 20261025T023000 komt twee keer voor (de klok gaat die nacht terug)",
        "regel 7: onbekende tijdzone 'Europe/Nowhere'",
        "regel 7: geen geldige tijd '2026120'",
        "regel 12: niet te lezen: SUMMARY 'geen dubbele punt' (verwacht 'functie: persoon')",
        "regel 17: DTSTART of DTEND ontbreekt",
        "regel 21: onbekende persoon 'Rol, Anna'",
    ]
    # Whole days run from midnight local: Tuesday 1 to Thursday 3 December.
    assert anna is not None and cees is not None
    assert [(s.line, s.person, s.backup, s.start, s.end) for s in parsed.shifts] == [
        (
            27,
            anna.id,
            cees.id,
            datetime(2026, 11, 30, 23, tzinfo=UTC),
            datetime(2026, 12, 2, 23, tzinfo=UTC),
        )
    ]


@pytest.fixture(autouse=True)
def _restore_logging() -> Iterator[None]:
    yield
    structlog.reset_defaults()
    for handler in logging.getLogger().handlers[:]:
        logging.getLogger().removeHandler(handler)


def test_cli_roster_import(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("DATA_DIR", str(tmp_path / "data"))
    monkeypatch.delenv("DATABASE_URL", raising=False)
    runner = CliRunner()
    roster = tmp_path / "rooster.csv"
    roster.write_text(CSV, "utf-8")
    result = runner.invoke(app, ["roster", "import", str(roster)])
    assert result.exit_code == 1 and "geen regio" in result.output
    assert runner.invoke(app, ["region", "import", str(REGION_FILE)]).exit_code == 0
    result = runner.invoke(app, ["roster", "import", str(roster), "--dry-run"])
    assert result.exit_code == 0, result.output
    assert "Zou toevoegen: 2 diensten" in result.output and "niets gewijzigd" in result.output
    result = runner.invoke(app, ["roster", "import", str(roster)])
    assert "Toegevoegd: 2 diensten; al aanwezig: 0." in result.output
    clash = tmp_path / "clash.csv"
    clash.write_text("functie,persoon,van,tot\nrol,rol-c,2026-12-01 12:00,2026-12-01 18:00\n")
    result = runner.invoke(app, ["roster", "import", str(clash)])
    assert (
        result.exit_code == 1 and "overlapt met de bestaande dienst van Rol Anna" in result.output
    )
