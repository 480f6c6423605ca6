"""Set up the development environment and run the bot, the tests or every check.

Needs nothing but Python 3.11: it creates `.venv` at the repository root, installs the
project into it (again only when pyproject.toml changed), then runs the chosen task.

    python3.11 scripts/dev.py run      # migrate the database and start `scm-bot run`
    python3.11 scripts/dev.py test     # the whole test suite
    python3.11 scripts/dev.py lint     # lint, format check and types (no tests)
    python3.11 scripts/dev.py check    # lint, format check, types and tests
    python3.11 scripts/dev.py catalogs # update the message catalogs and compile them
"""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
import tempfile
import venv
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
VENV = ROOT / ".venv"
BIN = VENV / ("Scripts" if os.name == "nt" else "bin")
STAMP = VENV / ".installed"
CODE = ("bots", "core", "flows", "storage", "scm_bot", "tests", "benchmarks", "scripts")


def _run(*cmd: str | Path) -> None:
    result = subprocess.run([str(c) for c in cmd], cwd=ROOT)
    if result.returncode != 0:
        sys.exit(result.returncode)


def ensure_venv() -> None:
    if sys.version_info[:2] != (3, 11):
        sys.exit(f"scm-bot needs Python 3.11, this is {sys.version.split()[0]}")
    if not (BIN / "python").exists():
        print("creating .venv", flush=True)
        venv.EnvBuilder(with_pip=True).create(VENV)
    digest = hashlib.sha256((ROOT / "pyproject.toml").read_bytes()).hexdigest()
    if STAMP.exists() and STAMP.read_text() == digest:
        return
    print("installing scm-bot into .venv", flush=True)
    _run(BIN / "python", "-m", "pip", "install", "--quiet", "--upgrade", "pip")
    _run(BIN / "python", "-m", "pip", "install", "--quiet", "-e", ".[dev]")
    STAMP.write_text(digest)


LOCALES = ROOT / "core" / "locales"
# pybabel, run as a module from the root so that its extraction method (scripts/babel.cfg)
# can be imported.
PYBABEL = ("-m", "babel.messages.frontend")


def catalogs() -> None:
    """Update the message catalogs from the Dutch one and compile them all: a new Dutch
    message joins the English catalog untranslated (the catalog test fails until it is
    translated), a removed one leaves it, and every `.po` is compiled to its `.mo`."""
    python = BIN / "python"
    with tempfile.TemporaryDirectory() as tmp:
        template = Path(tmp) / "scm_bot.pot"
        extract = ("extract", "--mapping-file", "scripts/babel.cfg", "--no-location")
        _run(python, *PYBABEL, *extract, "--output-file", template, LOCALES / "nl")
        update = ("update", "--domain", "scm_bot", "--output-dir", LOCALES, "--locale", "en")
        keep = ("--no-fuzzy-matching", "--ignore-obsolete", "--ignore-pot-creation-date")
        _run(python, *PYBABEL, *update, *keep, "--input-file", template)
    _run(python, *PYBABEL, "compile", "--domain", "scm_bot", "--directory", LOCALES, "--statistics")


def main(argv: list[str]) -> None:
    task = argv[0] if argv else "run"
    rest = argv[1:]
    ensure_venv()
    if task == "run":
        _run(BIN / "scm-bot", "migrate")
        os.execv(BIN / "scm-bot", [str(BIN / "scm-bot"), "run", *rest])
    elif task == "test":
        _run(BIN / "python", "-m", "pytest", *rest)
    elif task in ("lint", "check"):
        _run(BIN / "ruff", "check", ".")
        _run(BIN / "ruff", "format", "--check", ".")
        _run(BIN / "mypy", *CODE)
        if task == "check":
            _run(BIN / "python", "-m", "pytest", *rest)
    elif task == "catalogs":
        catalogs()
    else:
        sys.exit(f"unknown task {task!r}: use run, test, lint, check or catalogs")


if __name__ == "__main__":
    main(sys.argv[1:])
