"""`scm-bot backup` and `scm-bot restore`: the whole database into one file and back.

SQLite: an online backup through sqlite3's backup API, a consistent copy taken while the
bot runs (in WAL mode a reader does not stop the writer). Restoring copies the file back
through the same API, and refuses while a bot holds the database (its lock file).

PostgreSQL: `pg_dump --format=custom` and `pg_restore --clean --if-exists`, when they are
on the PATH; otherwise the command to run is shown. The password travels in PGPASSWORD,
never on a command line.
"""

from __future__ import annotations

import fcntl
import os
import shutil
import sqlite3
import subprocess
from collections.abc import Iterator
from contextlib import closing, contextmanager
from pathlib import Path

from sqlalchemy.engine import URL, make_url

from storage.database import is_sqlite


class BackupError(Exception):
    """The backup or restore could not be done; the message says why."""


class MissingTool(BackupError):
    """pg_dump or pg_restore is not on the PATH: `command` is what to run by hand."""

    def __init__(self, tool: str, command: str) -> None:
        super().__init__(tool)
        self.tool = tool
        self.command = command


class BotRunning(BackupError):
    """A bot holds the SQLite database (its lock file): nothing may replace it now."""


def sqlite_path(db_url: str) -> Path:
    return Path(make_url(db_url).database or "")


def lock_path(db_url: str) -> Path:
    """The lock file `scm-bot run` holds next to its SQLite database."""
    return sqlite_path(db_url).with_suffix(".lock")


def _libpq(db_url: str) -> tuple[str, dict[str, str]]:
    """The database as a libpq URL without password, and the environment with it."""
    url: URL = make_url(db_url)
    env = dict(os.environ)
    if url.password is not None:
        env["PGPASSWORD"] = str(url.password)
    bare = URL.create("postgresql", url.username, None, url.host, url.port, url.database, url.query)
    return bare.render_as_string(hide_password=False), env


def _run(args: list[str], env: dict[str, str]) -> None:
    result = subprocess.run(args, env=env, capture_output=True, text=True, check=False)
    if result.returncode != 0:
        raise BackupError(result.stderr.strip() or f"{args[0]} ended with {result.returncode}")


def backup(db_url: str, target: Path) -> None:
    """Write the whole database to `target` (overwritten if it exists)."""
    if is_sqlite(db_url):
        source = sqlite_path(db_url)
        if not source.exists():
            raise BackupError(f"{source}: no such database")
        partial = target.with_name(target.name + ".partial")
        partial.unlink(missing_ok=True)
        with (
            closing(sqlite3.connect(f"file:{source}?mode=ro", uri=True)) as src,
            closing(sqlite3.connect(partial)) as dst,
        ):
            src.backup(dst)  # one step: a consistent snapshot, the writer goes on
        partial.replace(target)  # a backup file is whole or absent
        return
    url, env = _libpq(db_url)
    command = ["pg_dump", "--format=custom", "--no-owner", f"--file={target}", url]
    if shutil.which("pg_dump") is None:
        raise MissingTool("pg_dump", " ".join(command))
    _run(command, env)


@contextmanager
def _no_bot(db_url: str) -> Iterator[None]:
    """Hold the SQLite database's lock file (no bot runs, none can start meanwhile)."""
    path = lock_path(db_url)
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w") as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise BotRunning(str(path)) from None
        yield


def check_sqlite_backup(source: Path) -> None:
    """That `source` is a whole scm-bot SQLite database (else BackupError)."""
    if not source.exists():
        raise BackupError(f"{source}: no such file")
    try:
        with closing(sqlite3.connect(f"file:{source}?mode=ro", uri=True)) as db:
            (ok,) = db.execute("PRAGMA quick_check").fetchone()
            tables = {r[0] for r in db.execute("SELECT name FROM sqlite_master")}
    except sqlite3.DatabaseError as error:
        raise BackupError(str(error)) from None
    if ok != "ok":
        raise BackupError(str(ok))
    if not {"alembic_version", "incident", "audit"} <= tables:
        raise BackupError("not an scm-bot database")


def check_restorable(db_url: str, source: Path) -> None:
    """Everything that can be checked before anything is replaced."""
    if is_sqlite(db_url):
        check_sqlite_backup(source)
        with _no_bot(db_url):
            pass
    elif not source.exists():
        raise BackupError(f"{source}: no such file")


def restore(db_url: str, source: Path) -> None:
    """Replace the whole database with the backup in `source` (the caller asked first)."""
    if is_sqlite(db_url):
        check_sqlite_backup(source)
        target = sqlite_path(db_url)
        target.parent.mkdir(parents=True, exist_ok=True)
        with (
            _no_bot(db_url),
            closing(sqlite3.connect(f"file:{source}?mode=ro", uri=True)) as src,
            closing(sqlite3.connect(target)) as dst,
        ):
            src.backup(dst)
        return
    url, env = _libpq(db_url)
    command = ["pg_restore", "--clean", "--if-exists", "--no-owner", f"--dbname={url}", str(source)]
    if shutil.which("pg_restore") is None:
        raise MissingTool("pg_restore", " ".join(command))
    _run(command, env)
