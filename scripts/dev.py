"""Set up the development environment and run the bot, the tests or every check.

Needs nothing but Python (3.11, 3.12 or 3.13): it creates a virtual environment at the
repository root, installs the exact versions of `requirements.lock` into it (again only when
the lock or pyproject.toml changed), then the project itself, and runs the chosen task.
Python 3.11 uses `.venv`; another version keeps its own (`.venv-3.13` for Python 3.13).

    python3.11 scripts/dev.py run      # migrate the database and start `scm-bot run`
    python3.11 scripts/dev.py test     # the whole test suite
    python3.11 scripts/dev.py lint     # lint, format check and types (no tests)
    python3.11 scripts/dev.py check    # lint, format check, types and tests
    python3.11 scripts/dev.py catalogs # update the message catalogs and compile them
    python3.11 scripts/dev.py lock     # refresh requirements.lock from pyproject.toml
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
SUPPORTED = ((3, 11), (3, 12), (3, 13))
HOME_VERSION = (3, 11)  # the README's commands; its environment is `.venv`
LOCK = ROOT / "requirements.lock"
CODE = ("bots", "core", "flows", "storage", "scm_bot", "tests", "benchmarks", "scripts")
# pip-compile's options for the lock: exact versions with the hashes of every file PyPI has
# for them (so one lock installs on each supported Python), the dev tools included, and pip
# and setuptools pinned as well.
LOCK_OPTIONS = (
    "--generate-hashes",
    "--allow-unsafe",
    "--extra=dev",
    "--strip-extras",
    "--no-emit-index-url",
    "--no-emit-find-links",
    "--quiet",
)


def venv_dir(version: tuple[int, int]) -> Path:
    """The environment of this Python version: `.venv` for 3.11, `.venv-3.N` otherwise."""
    return ROOT / (".venv" if version == HOME_VERSION else f".venv-{version[0]}.{version[1]}")


VENV = venv_dir((sys.version_info[0], sys.version_info[1]))
BIN = VENV / ("Scripts" if os.name == "nt" else "bin")
STAMP = VENV / ".installed"


def _run(*cmd: str | Path) -> None:
    result = subprocess.run([str(c) for c in cmd], cwd=ROOT)
    if result.returncode != 0:
        sys.exit(result.returncode)


def ensure_venv(*, strict: bool = True) -> None:
    """Create this Python's environment and install the lock and the project into it;
    `strict=False` (for `lock`) goes on when the lock lacks what pyproject.toml asks."""
    if sys.version_info[:2] not in SUPPORTED:
        names = ", ".join(f"{major}.{minor}" for major, minor in SUPPORTED)
        sys.exit(f"scm-bot needs Python {names}; this is {sys.version.split()[0]}")
    if not (BIN / "python").exists():
        print(f"creating {VENV.name}", flush=True)
        venv.EnvBuilder(with_pip=True).create(VENV)
    digest = hashlib.sha256(LOCK.read_bytes() + (ROOT / "pyproject.toml").read_bytes()).hexdigest()
    if STAMP.exists() and STAMP.read_text() == digest:
        return
    print(f"installing scm-bot into {VENV.name}", flush=True)
    pip = (BIN / "python", "-m", "pip", "--disable-pip-version-check")
    _run(*pip, "install", "--quiet", "--require-hashes", "-r", LOCK)
    _run(*pip, "install", "--quiet", "--no-deps", "-e", ".")
    check = subprocess.run([*map(str, pip), "check"], cwd=ROOT, capture_output=True, text=True)
    if check.returncode != 0:
        print(check.stdout, end="", flush=True)
        stale = "requirements.lock does not satisfy pyproject.toml"
        if strict:
            sys.exit(f"{stale}: refresh it with `python3.11 scripts/dev.py lock`")
        print(stale, flush=True)
        return
    STAMP.write_text(digest)


def lock(rest: list[str]) -> None:
    """Write requirements.lock from pyproject.toml; keeps the locked versions that still
    fit unless `--upgrade` (or `--upgrade-package NAME`) is passed on."""
    _run(BIN / "pip-compile", *LOCK_OPTIONS, *rest, "--output-file", LOCK.name, "pyproject.toml")


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
    ensure_venv(strict=task != "lock")
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
    elif task == "lock":
        lock(rest)
    else:
        sys.exit(f"unknown task {task!r}: use run, test, lint, check, lock or catalogs")


if __name__ == "__main__":
    main(sys.argv[1:])
