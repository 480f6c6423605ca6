"""A roster change previews, saves and announces one and the same result, and says plainly
when it leaves nobody as backup (issue 13, items 1 and 2).

The test region's ROL rotation has Bert on duty at the harness's start (Tue 24 Nov 2026
03:07) with Cees as backup, until Mon 30 Nov 08:00.
"""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

import pytest
from typer.testing import CliRunner

from core.model import Origin
from core.roster.importing import import_shifts, parse_csv
from core.roster.reminders import RosterReminders
from scm_bot.cli import app
from tests.conftest import count
from tests.helpers import REGION_FILE, TZ, Harness

FIRST = "/vervang Bert door Anna van morgen 08:00 tot morgen 20:00"
ON_TOP = "/vervang Anna door Cees van morgen 10:00 tot morgen 12:00"
CEES_ALONE = "wo 25 nov 10:00 – wo 25 nov 12:00: Rol Cees (i.p.v. Rol Bert)"
NO_BACKUP_10_12 = "⚠ Niemand is backup van wo 25 nov 10:00 tot wo 25 nov 12:00."


def _after(preview: str) -> str:
    """The "Na de wijziging" part of a preview."""
    return preview.split("Na de wijziging:\n", 1)[1].split("\n\nBevestigen?", 1)[0]


async def _week(harness: Harness) -> str:
    await harness.say("caco", "/rooster week")
    return harness.inbox("caco")[-2].text


async def test_a_replacement_on_top_of_a_replacement_previews_what_is_saved(
    harness: Harness,
) -> None:
    await harness.say("coord", FIRST)
    await harness.press("coord", "Bevestigen")
    await harness.say("coord", ON_TOP)
    preview = harness.last("coord")
    before = "wo 25 nov 10:00 – wo 25 nov 12:00: Rol Anna (i.p.v. Rol Bert) · backup Rol Cees"
    assert f"Nu:\n{before}\nNa de wijziging:" in preview
    assert _after(preview) == f"{CEES_ALONE}\n{NO_BACKUP_10_12}"

    await harness.press("coord", "Bevestigen")
    assert CEES_ALONE in await _week(harness)
    for person in ("rol-a", "rol-c"):  # both told the result the roster now shows
        assert harness.last(person).endswith(f"{CEES_ALONE}\n{NO_BACKUP_10_12}")
    harness.clock.set(datetime(2026, 11, 25, 10, 30, tzinfo=TZ))
    await harness.say("caco", "/wie rol")
    assert "ROL (regio): Rol Cees (i.p.v. Rol Bert), tot wo 25 nov 12:00" in harness.last("caco")


async def test_a_swap_on_top_of_a_replacement_asks_and_announces_what_is_saved(
    harness: Harness,
) -> None:
    await harness.say("coord", FIRST)
    await harness.press("coord", "Bevestigen")
    await harness.say("rol-a", "/ruil Cees van morgen 10:00 tot morgen 12:00")
    ask = harness.last("rol-c")
    assert ask.endswith(f"Het rooster wordt dan:\n{CEES_ALONE}\n{NO_BACKUP_10_12}")

    await harness.press("rol-c", "Ja, ik neem het over")
    assert harness.last("rol-a").endswith(f"{CEES_ALONE}\n{NO_BACKUP_10_12}")
    assert CEES_ALONE in await _week(harness)


async def test_a_confirmation_is_refused_when_the_roster_changed_since_its_preview(
    harness: Harness,
) -> None:
    await harness.say("coord", FIRST)
    preview = harness.last("coord")
    assert _after(preview) == (
        "wo 25 nov 08:00 – wo 25 nov 20:00: Rol Anna (i.p.v. Rol Bert) · backup Rol Cees"
    )
    first = harness.button("coord", "Bevestigen")
    # Meanwhile Anna becomes the backup for that day: the first change would now leave
    # nobody as backup, which its preview did not show.
    await harness.say("coord", "/vervang Cees door Anna van morgen 08:00 tot morgen 20:00")
    await harness.press("coord", "Bevestigen")
    await harness.press_data("coord", first)
    assert "Het rooster is intussen gewijzigd" in harness.last("coord")
    assert await count(harness.app.engine, "roster_override") == 1
    assert "wo 25 nov 08:00 – wo 25 nov 20:00: Rol Bert · backup Rol Anna\n" in await _week(harness)


async def test_putting_the_backup_on_duty_says_nobody_is_backup(harness: Harness) -> None:
    await harness.say("coord", "/vervang Bert door Cees van morgen 08:00 tot morgen 20:00")
    assert _after(harness.last("coord")) == (
        "wo 25 nov 08:00 – wo 25 nov 20:00: Rol Cees (i.p.v. Rol Bert)\n"
        "⚠ Niemand is backup van wo 25 nov 08:00 tot wo 25 nov 20:00."
    )
    await harness.press("coord", "Bevestigen")
    assert harness.last("rol-c").endswith(
        "⚠ Niemand is backup van wo 25 nov 08:00 tot wo 25 nov 20:00."
    )
    assert harness.last("rol-b").endswith(  # Bert reads English
        "⚠ Nobody is backup from Wed 25 Nov 08:00 until Wed 25 Nov 20:00."
    )


async def test_a_shift_without_backup_says_so_and_one_with_a_backup_does_not(
    harness: Harness,
) -> None:
    await harness.say("coord", "/dienst Anna van morgen 08:00 tot morgen 20:00")
    assert _after(harness.last("coord")) == (
        "wo 25 nov 08:00 – wo 25 nov 20:00: Rol Anna\n"
        "⚠ Niemand is backup van wo 25 nov 08:00 tot wo 25 nov 20:00."
    )
    await harness.say("coord", "/dienst Anna van morgen 08:00 tot morgen 20:00 backup Cees")
    assert _after(harness.last("coord")) == (
        "wo 25 nov 08:00 – wo 25 nov 20:00: Rol Anna · backup Rol Cees"
    )


async def test_the_daily_check_reports_a_stretch_without_backup(harness: Harness) -> None:
    await harness.say("coord", "/vervang Bert door Cees van morgen 08:00 tot morgen 20:00")
    await harness.press("coord", "Bevestigen")
    await RosterReminders().ensure(harness.app.core)
    await harness.advance(0)
    warning = harness.last("coord").splitlines()
    assert warning[0] == "Let op, het piketrooster (komende 14 dagen):"
    assert "⚠ ROL (regio): niemand is backup van wo 25 nov 08:00 tot wo 25 nov 20:00" in warning


async def test_an_import_tells_the_people_it_moves(harness: Harness) -> None:
    csv = "functie;scope;persoon;backup;van;tot\nrol;;rol-a;;2026-11-25 08:00;2026-11-25 20:00\n"
    async with harness.app.core.transaction(Origin.CLI) as tx:
        parsed = parse_csv(csv, tx.directory, await tx.uow.roster.settings())
        report = await import_shifts(tx, parsed.shifts, dry_run=False)
    assert report.problems == []
    await harness.app.deliverer.deliver_pending()
    result = (
        "wo 25 nov 08:00 – wo 25 nov 20:00: Rol Anna\n"
        "⚠ Niemand is backup van wo 25 nov 08:00 tot wo 25 nov 20:00."
    )
    for person in ("rol-a", "rol-c"):  # on duty now; no longer backup
        assert harness.last(person) == (
            "Het piketrooster ROL (regio) is gewijzigd door een import van diensten "
            f"(wo 25 nov 2026 08:00 – wo 25 nov 2026 20:00):\n{result}"
        )
    assert harness.last("rol-b").startswith(  # no longer on duty; reads English
        "The roster ROL (region) was changed by an import of shifts"
    )
    assert harness.inbox("im") == []  # not moved, not told
    assert "wo 25 nov 08:00 – wo 25 nov 20:00: Rol Anna\n" in await _week(harness)


def test_the_import_dry_run_shows_the_backup_column(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("DATA_DIR", str(tmp_path / "data"))
    monkeypatch.delenv("DATABASE_URL", raising=False)
    runner = CliRunner()
    roster = tmp_path / "rooster.csv"
    roster.write_text(
        "functie;scope;persoon;backup;van;tot\n"
        "rol;;rol-a;rol-c;2026-12-01 08:00;2026-12-02 08:00\n"
        "rol;regio;Rol Bert;;2026-12-02 08:00;2026-12-03 08:00\n",
        "utf-8",
    )
    assert runner.invoke(app, ["region", "import", str(REGION_FILE)]).exit_code == 0
    result = runner.invoke(app, ["roster", "import", str(roster), "--dry-run"])
    assert result.exit_code == 0, result.output
    assert "  + ROL regio: Rol Anna, backup Rol Cees, 2026-12-01 08:00 – 2026-12-02 08:00\n" in (
        result.output
    )
    assert "  + ROL regio: Rol Bert, zonder backup, 2026-12-02 08:00 – 2026-12-03 08:00\n" in (
        result.output
    )
