"""`scm-bot backup` and `scm-bot restore`: an online SQLite backup while a writer is busy, a
restore round trip (SQLite, and PostgreSQL through pg_dump/pg_restore), and a restore that
asks first and refuses while a bot holds the database."""

from __future__ import annotations

import fcntl
import logging
import shutil
import sqlite3
import threading
from collections.abc import Iterator
from contextlib import closing
from datetime import UTC, datetime
from pathlib import Path

import psycopg
import pytest
import structlog
from typer.testing import CliRunner

from scm_bot.backup import lock_path
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
def sqlite_env(tmp_path: Path, sqlite_url: str, monkeypatch: pytest.MonkeyPatch) -> str:
    monkeypatch.chdir(tmp_path)  # no stray .env
    monkeypatch.setenv("DATABASE_URL", sqlite_url)
    return sqlite_url


def invoke(*args: str, given: str | None = None) -> tuple[int, str]:
    result = runner.invoke(app, list(args), input=given)
    return result.exit_code, result.output


def scalar(path: Path, sql: str) -> object:
    with closing(sqlite3.connect(path)) as db:
        return db.execute(sql).fetchone()[0]


def database(url: str) -> Path:
    return Path(url.removeprefix("sqlite:///"))


def test_an_online_backup_is_consistent_while_a_writer_keeps_committing(
    sqlite_env: str, tmp_path: Path
) -> None:
    started, stop = threading.Event(), threading.Event()
    written = [0]

    def writer() -> None:
        with closing(sqlite3.connect(database(sqlite_env), timeout=10)) as db:
            while not stop.is_set():
                db.execute(
                    "INSERT INTO link_attempt (who, at) VALUES (?, ?)",
                    (f"telegram:{written[0]}", datetime.now(UTC).isoformat()),
                )
                db.commit()
                written[0] += 1
                if written[0] == 200:
                    started.set()

    thread = threading.Thread(target=writer)
    thread.start()
    try:
        assert started.wait(30)
        before = written[0]
        code, output = invoke("backup", str(tmp_path / "scm.backup"))
        during = written[0]
    finally:
        stop.set()
        thread.join()
    assert code == 0, output
    assert output.strip() == f"Back-up geschreven naar {tmp_path / 'scm.backup'}."
    backup = tmp_path / "scm.backup"
    assert scalar(backup, "PRAGMA integrity_check") == "ok"
    copied = scalar(backup, "SELECT count(*) FROM link_attempt")
    assert isinstance(copied, int) and before <= copied <= during
    # Rows are whole and in order: the copy is a moment of the database, not a mix.
    assert scalar(backup, "SELECT max(id) FROM link_attempt") == copied
    assert written[0] > copied  # the writer went on past the backup
    assert not (tmp_path / "scm.backup.partial").exists()


def test_restore_round_trip_asks_first(sqlite_env: str, tmp_path: Path) -> None:
    assert invoke("region", "import", str(REGION_FILE))[0] == 0
    backup = tmp_path / "scm.backup"
    assert invoke("backup", str(backup))[0] == 0
    assert invoke("person", "invite", "rol-a")[0] == 0  # a change after the backup
    db = database(sqlite_env)
    assert scalar(db, "SELECT count(*) FROM link_code") == 1

    code, output = invoke("restore", str(backup), given="n\n")
    assert code == 1
    assert "Dit is niet terug te draaien. Doorgaan?" in output
    assert output.strip().endswith("Niets teruggezet.")
    assert scalar(db, "SELECT count(*) FROM link_code") == 1

    code, output = invoke("restore", str(backup), given="j\ny\n")
    assert code == 0, output
    assert output.strip().endswith(
        f"Teruggezet uit {backup}. Start scm-bot weer; een oudere "
        "back-up krijgt bij de start eerst het nieuwste schema."
    )
    assert scalar(db, "SELECT count(*) FROM link_code") == 0
    assert scalar(db, "SELECT count(*) FROM person") == 9
    assert scalar(db, "PRAGMA integrity_check") == "ok"


def test_restore_refuses_while_a_bot_holds_the_database(sqlite_env: str, tmp_path: Path) -> None:
    backup = tmp_path / "scm.backup"
    assert invoke("backup", str(backup))[0] == 0
    assert invoke("region", "import", str(REGION_FILE))[0] == 0
    with lock_path(sqlite_env).open("w") as held:  # what `scm-bot run` holds while it runs
        fcntl.flock(held, fcntl.LOCK_EX | fcntl.LOCK_NB)
        code, output = invoke("restore", "--yes", str(backup))
    assert code == 1
    assert f"({lock_path(sqlite_env)} is bezet): stop die eerst. Er is niets teruggezet." in output
    assert scalar(database(sqlite_env), "SELECT count(*) FROM person") == 9


def test_restore_refuses_what_is_not_a_backup(sqlite_env: str, tmp_path: Path) -> None:
    assert invoke("region", "import", str(REGION_FILE))[0] == 0
    junk = tmp_path / "notes.txt"
    junk.write_text("dit is geen database\n" * 100)
    code, output = invoke("restore", "--yes", str(junk))
    assert code == 1
    assert output.startswith(f"Terugzetten van {junk} mislukt: file is not a database")
    assert scalar(database(sqlite_env), "SELECT count(*) FROM person") == 9


def _with_password(url: str, password: str) -> str:
    return url.replace("postgres@", f"postgres:{password}@", 1)


def test_postgresql_backup_and_restore_through_pg_dump(
    postgres_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The test server trusts local connections, so any password is accepted: it shows that
    the password travels in PGPASSWORD and never in the output."""
    if shutil.which("pg_dump") is None or shutil.which("pg_restore") is None:
        pytest.skip("the PostgreSQL client programs are not installed")
    name = f"{postgres_url.rsplit('/', 1)[1]}_backup"
    admin = postgres_url.rsplit("/", 1)[0] + "/postgres"
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}"')
        conn.execute(f'CREATE DATABASE "{name}"')
    url = _with_password(postgres_url.rsplit("/", 1)[0] + f"/{name}", "pw-Secret-123")
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("DATABASE_URL", url)
    try:
        assert invoke("migrate")[0] == 0
        assert invoke("region", "import", str(REGION_FILE))[0] == 0
        backup = tmp_path / "scm.dump"
        code, output = invoke("backup", str(backup))
        assert code == 0, output
        assert backup.read_bytes().startswith(b"PGDMP")  # pg_dump's custom format
        assert invoke("person", "invite", "rol-a")[0] == 0
        code, output = invoke("restore", "--yes", str(backup))
        assert code == 0, output
        assert "pw-Secret-123" not in output
        with psycopg.connect(url) as conn:
            assert conn.execute("SELECT count(*) FROM link_code").fetchone() == (0,)
            assert conn.execute("SELECT count(*) FROM person").fetchone() == (9,)

        monkeypatch.setenv("PATH", str(tmp_path / "nothing-here"))
        code, output = invoke("backup", str(tmp_path / "again.dump"))
        assert code == 1
        lines = output.strip().splitlines()
        assert lines[0].startswith("pg_dump staat niet op het PATH.")
        assert lines[1].strip() == (
            f"pg_dump --format=custom --no-owner --file={tmp_path / 'again.dump'} "
            f"{url.replace(':pw-Secret-123', '')}"
        )
        assert "pw-Secret-123" not in output
    finally:
        with psycopg.connect(admin, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
