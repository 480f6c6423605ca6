"""The scm-bot command line: demo, migrate and the region commands."""

from __future__ import annotations

import logging
import re
import shutil
import sqlite3
from collections.abc import Iterator
from contextlib import closing
from datetime import UTC, datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
import structlog
from typer.testing import CliRunner

from core.i18n import fmt_datetime
from core.model import Language
from scm_bot.cli import app
from tests.helpers import REGION_FILE

runner = CliRunner()


@pytest.fixture(autouse=True)
def _restore_logging() -> Iterator[None]:
    """The CLI configures logging to the runner's stderr, which is closed afterwards."""
    yield
    structlog.reset_defaults()
    for handler in logging.getLogger().handlers[:]:
        logging.getLogger().removeHandler(handler)


@pytest.fixture
def env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.chdir(tmp_path)  # no stray .env
    monkeypatch.setenv("DATA_DIR", str(tmp_path / "data"))
    monkeypatch.delenv("DATABASE_URL", raising=False)
    return tmp_path


def test_help_everywhere() -> None:
    for args in ([], ["region"], ["region", "import"], ["run"], ["demo"]):
        result = runner.invoke(app, [*args, "--help"])
        assert result.exit_code == 0, result.output
        assert "Usage" in result.output


def test_demo_prints_the_whole_scenario(env: Path) -> None:
    result = runner.invoke(app, ["demo"])
    assert result.exit_code == 0, result.output
    out = result.output
    steps = [
        "/alarm Soest",
        "Controleer het alarm",
        "ROL gepaged",
        "opnieuw gepaged",
        "geëscaleerd naar backup ROL",
        "drukt [8] Ik pak het op",
        "✅ opgepakt door",
        "Open incidenten (1)",
        "VRU-2026-0001 is gesloten",
        "einde demo",
    ]
    positions = [out.index(step) for step in steps]
    assert positions == sorted(positions), "the steps appear in order"


def test_region_import_validate_export(env: Path) -> None:
    result = runner.invoke(app, ["region", "validate", str(REGION_FILE)])
    assert result.exit_code == 0 and "in orde (6 gemeenten, 9 personen)" in result.output
    result = runner.invoke(app, ["region", "import", str(REGION_FILE)])
    assert result.exit_code == 0, result.output
    assert "Geïmporteerd: " in result.output
    result = runner.invoke(app, ["region", "import", str(REGION_FILE)])
    assert "Geen wijzigingen" in result.output
    out = env / "export.yaml"
    result = runner.invoke(app, ["region", "export", "-o", str(out)])
    assert result.exit_code == 0
    assert "Rol Bert" in out.read_text()


def test_bad_region_file_imports_nothing(env: Path) -> None:
    bad = env / "bad.yaml"
    bad.write_text(REGION_FILE.read_text().replace("burgemeester: bgm-soest", "burgemeester: x"))
    result = runner.invoke(app, ["region", "import", str(bad)])
    assert result.exit_code == 1
    assert "gemeenten[0].burgemeester (regel 28): onbekende persoon 'x'" in result.output
    assert "er is niets geïmporteerd" in result.output
    result = runner.invoke(app, ["region", "export"])
    assert result.exit_code == 1 and "nog geen regio" in result.output
    result = runner.invoke(app, ["region", "import", str(env / "missing.yaml")])
    assert result.exit_code == 2 and "Kan" in result.output


def test_person_invite_prints_a_single_use_code_and_how_to_use_it(
    env: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("TELEGRAM_BOT_USERNAME", "scm_test_bot")
    assert runner.invoke(app, ["region", "import", str(REGION_FILE)]).exit_code == 0
    first = runner.invoke(app, ["person", "invite", "rol-a"])
    assert first.exit_code == 0, first.output
    match = re.search(r"Koppelcode voor Rol Anna \(rol-a\): (\S+)", first.output)
    assert match is not None, first.output
    code = match.group(1)
    assert len(code) >= 13, "at least 64 bits of randomness in a short alphabet"
    assert f"Telegram: https://t.me/scm_test_bot?start={code}" in first.output
    assert f"Slack: /scm koppel {code}" in first.output
    assert "eenmalig" in first.output
    second = runner.invoke(app, ["person", "invite", "rol-a"])
    assert code not in second.output, "every invite is a new code"
    unknown = runner.invoke(app, ["person", "invite", "niemand"])
    assert unknown.exit_code == 1 and "Onbekende persoon 'niemand'" in unknown.output


def test_a_telegram_id_the_database_cannot_hold_is_refused_by_validate_and_import(
    env: Path,
) -> None:
    caco = "{key: caco, name: Caco Test, functions: [caco]}"
    big = env / "big.yaml"
    big.write_text(
        REGION_FILE.read_text().replace(caco, caco[:-1] + f", telegram_user_id: {2**63}}}")
    )
    for command in ("validate", "import"):
        result = runner.invoke(app, ["region", command, str(big)])
        assert result.exit_code == 1, result.output
        assert "people[0].telegram_user_id (regel 18)" in result.output
        assert "er is niets geïmporteerd" in result.output
        assert "Traceback" not in result.output
    result = runner.invoke(app, ["region", "export"])
    assert result.exit_code == 1 and "nog geen regio" in result.output


def test_a_deeply_nested_region_file_is_one_clear_problem(env: Path) -> None:
    deep = env / "deep.yaml"
    deep.write_text("region: " + "[" * 5000 + "]" * 5000)
    result = runner.invoke(app, ["region", "import", str(deep)])
    assert result.exit_code == 1
    assert "niveaus diep genest" in result.output and "Recursion" not in result.output


@pytest.mark.parametrize(
    "content",
    [
        "fields: [\n  - key: x\n  bad",  # broken YAML
        "[" * 5000 + "]" * 5000,  # nested deeper than the parser goes
        "fields:\n  - {key: x, label: {nl: X}, prompt: {nl: Wat}, type: choice}\n",  # invalid
        "- just a list",
    ],
)
def test_run_with_a_broken_analyse_form_says_so_in_one_line(
    env: Path, monkeypatch: pytest.MonkeyPatch, content: str
) -> None:
    form = env / "mijn-formulier.yaml"
    form.write_text(content)
    monkeypatch.setenv("ANALYSE_FORM", str(form))
    result = runner.invoke(app, ["run"])
    assert result.exit_code == 1, result.output
    lines = result.output.strip().splitlines()
    assert len(lines) == 1, result.output
    assert str(form) in lines[0] and lines[0].startswith("ANALYSE_FORM")
    assert not (env / "data").exists(), "nothing was touched: no database made"


def test_run_with_a_missing_analyse_form_says_so(
    env: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("ANALYSE_FORM", str(env / "weg.yaml"))
    result = runner.invoke(app, ["run"])
    assert result.exit_code == 1
    assert result.output.strip().splitlines() == [
        f"ANALYSE_FORM {env / 'weg.yaml'}: kan het bestand niet lezen (No such file or directory)."
    ]


def test_run_starts_with_env_example_copied_to_env(
    env: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The first line of .env.example says to copy it to .env; `scm-bot run` then starts
    (the console on the demo region) instead of refusing its empty values."""
    for name in ("SCM_CONSOLE", "ANALYSE_FORM", "TELEGRAM_BOT_TOKEN", "SLACK_BOT_TOKEN"):
        monkeypatch.delenv(name, raising=False)
    shutil.copy(Path(__file__).parents[2] / ".env.example", env / ".env")
    result = runner.invoke(app, ["run"], input="/quit\n")
    assert result.exit_code == 0, result.output
    assert "de demoregio Veiligheidsregio Utrecht" in result.output
    assert "scm-bot console." in result.output


def test_region_validate_and_import_refuse_every_key_written_twice(env: Path) -> None:
    doubled = env / "dubbel.yaml"
    doubled.write_text(
        REGION_FILE.read_text()
        .replace("  code: VRU\n", "  code: VRU\n  code: VRBN\n")
        .replace("burgemeester: bgm-soest,", "burgemeester: bgm-soest, burgemeester: bgm-debilt,")
        .replace("Europe/Amsterdam", "Mars/Olympus")
    )
    for command in ("validate", "import"):
        result = runner.invoke(app, ["region", command, str(doubled)])
        assert result.exit_code == 1, result.output
        problems = [line for line in result.output.splitlines() if line.startswith("  - ")]
        assert problems == [
            "  - regel 4: dubbele sleutel 'code' (ook op regel 3)",
            "  - regel 29: dubbele sleutel 'burgemeester' (ook op regel 29)",
            "  - region.timezone (regel 6): Value error, onbekende tijdzone 'Mars/Olympus'",
        ]
    result = runner.invoke(app, ["region", "export"])
    assert result.exit_code == 1 and "nog geen regio" in result.output


def test_cli_prints_local_times_and_no_migration_chatter(env: Path) -> None:
    assert runner.invoke(app, ["region", "import", str(REGION_FILE)]).exit_code == 0
    result = runner.invoke(app, ["person", "invite", "rol-a"])
    assert result.exit_code == 0, result.output
    assert result.output.startswith("Koppelcode voor Rol Anna (rol-a): "), result.output
    with closing(sqlite3.connect(env / "data" / "scm-bot.sqlite")) as db:
        (stored,) = db.execute("SELECT expires_at FROM link_code").fetchone()
    expires = datetime.fromisoformat(stored).replace(tzinfo=UTC)  # stored in UTC
    local = fmt_datetime(expires, ZoneInfo("Europe/Amsterdam"), Language.NL)
    assert f"\nGeldig tot {local}, eenmalig te gebruiken.\n" in result.output
    assert "UTC" not in result.output
