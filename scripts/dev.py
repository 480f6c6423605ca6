"""Set up the development environment and run the bot, the tests or every check.

Needs nothing but Python 3.11: it creates `.venv` at the repository root, installs the
project into it (again only when pyproject.toml changed), then runs the chosen task.

    python3.11 scripts/dev.py run      # migrate the database and start `scm-bot run`
    python3.11 scripts/dev.py test     # the whole test suite
    python3.11 scripts/dev.py lint     # lint, format check and types (no tests)
    python3.11 scripts/dev.py check    # lint, format check, types and tests
"""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
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
    else:
        sys.exit(f"unknown task {task!r}: use run, test, lint or check")


if __name__ == "__main__":
    main(sys.argv[1:])
