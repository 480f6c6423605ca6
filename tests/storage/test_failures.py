"""A failing database: the person is told, nothing half-done stays behind, and the bot
recovers by itself once the storage works again (defect 5).

Two ways the disk fills up, both real SQLite failures:

- in a statement: SQLite's own "database or disk is full" (SQLITE_FULL), from `PRAGMA
  max_page_count` on the bot's connections, set at the start of every transaction while the
  test says the disk is full: the file may not grow by a single page;
- at COMMIT, when the write-ahead log is written: a file size limit (RLIMIT_FSIZE) just
  above the log's current size makes that write fail ("disk I/O error"). This is the case
  that wedged the bot: SQLAlchemy keeps a connection whose commit failed in a transaction
  that must be rolled back first, and the old code kept using it (PendingRollbackError on
  every later event).
"""

from __future__ import annotations

import asyncio
import io
import os
import resource
import shutil
import signal
import sqlite3
import subprocess
import sys
from collections.abc import Iterator
from contextlib import closing, contextmanager
from pathlib import Path

import psycopg
import pytest
from sqlalchemy import event, func, select, text
from sqlalchemy.engine import Connection, make_url
from sqlalchemy.ext.asyncio import AsyncEngine
from typer.testing import CliRunner

from bots.console import ConsoleSession, ConsoleTransport
from core.clock import FakeClock
from core.errors import StorageError
from core.i18n import storage_failure_message, t
from core.model import Language, Origin
from scm_bot.app import App, build
from scm_bot.cli import app as cli
from storage import connection
from storage.database import make_engine, table
from storage.tables import IncidentRow
from tests.helpers import START, Harness, dispose, load_region, make_harness

NOT_SAVED_NL = "Dit kon niet worden opgeslagen door een storing"
LONG = "gaslek Kerkstraat, " + "twintig woningen ontruimd; " * 40  # over 1 KB


class FullDisk:
    """Toggles SQLite's page limit on the connections of an app's units of work."""

    def __init__(self, app: App) -> None:
        self.full = False
        event.listen(app.uows.statement_engine, "begin", self._begin)

    def _begin(self, conn: Connection) -> None:
        # Not below the file's current size: at most what it has now, or no limit.
        limit = 1 if self.full else 1_073_741_823
        cursor = conn.connection.dbapi_connection.cursor()  # type: ignore[union-attr]
        cursor.execute(f"PRAGMA max_page_count={limit}")
        cursor.close()


def _small_pages(url: str) -> None:
    """Pages of 512 bytes and none free: an event's rows (an alarm's draft is over 1 KB)
    need new pages, which the limit then refuses."""
    with closing(sqlite3.connect(make_url(url).database or "", isolation_level=None)) as conn:
        conn.execute("PRAGMA journal_mode=DELETE")  # the page size changes only outside WAL
        conn.execute("PRAGMA page_size=512")
        conn.execute("VACUUM")
        conn.execute("PRAGMA journal_mode=WAL")


async def _incidents(engine: AsyncEngine) -> int:
    async with engine.connect() as conn:
        return int(
            (await conn.execute(select(func.count()).select_from(table(IncidentRow)))).scalar_one()
        )


async def test_full_disk_answers_in_dutch_and_recovers_without_restart(sqlite_url: str) -> None:
    """Through the console: the alarm that cannot be saved gets the Dutch answer; once
    there is room again the same session raises the alarm and pages the ROL."""
    engine = make_engine(sqlite_url)
    try:
        await load_region(engine)
        await engine.dispose()  # closes its connections; it opens new ones when asked
        _small_pages(sqlite_url)
        out = io.StringIO()
        transport = ConsoleTransport(out)
        app = build(engine, FakeClock(START), [transport])
        session = ConsoleSession(
            app.router, transport, app.directory, app.deliverer.deliver_pending
        )
        disk = FullDisk(app)
        assert "Caco Test" in await session.act_as("caco")

        disk.full = True
        answer = await session.line(f"/alarm Soest: {LONG}")
        assert answer is not None and NOT_SAVED_NL in answer, out.getvalue()
        assert answer == t(Language.NL, "storage.failed")
        assert "Bevestigen en pagen" not in out.getvalue()  # nothing of it was kept
        # In English for who reads English; the bot stays up meanwhile.
        disk.full = False
        assert await session.line("/taal en") is None
        disk.full = True
        english = await session.line(f"/alarm Soest: {LONG}")
        assert english == storage_failure_message(Language.EN).text

        disk.full = False  # space freed; no restart
        assert await session.line("/language nl") is None
        assert await session.line(f"/alarm Soest: {LONG}") is None
        assert "[1] Bevestigen en pagen" in out.getvalue()
        assert await session.line("1") is None
        assert "── aan Rol Bert ──" in out.getvalue()  # paged
        assert await _incidents(engine) == 1
        await app.close()
    finally:
        await dispose(engine)


async def test_storage_error_reaches_the_router_caller_and_the_next_event_works(
    sqlite_url: str,
) -> None:
    """`Router.handle` raises `StorageError` (not the driver's error, never a
    PendingRollbackError), and every later event on the same app works."""
    engine = make_engine(sqlite_url)
    try:
        harness = await make_harness(engine)
        await engine.dispose()
        _small_pages(sqlite_url)
        disk = FullDisk(harness.app)
        disk.full = True
        for _ in range(3):  # fails again and again while full, each time cleanly
            with pytest.raises(StorageError) as failure:
                await harness.say("caco", f"/alarm Soest: {LONG}")
            assert "full" in str(failure.value)
        disk.full = False
        await harness.raise_alarm(f"Soest: {LONG}")
        assert len(harness.inbox("rol-b")) == 1  # the ROL on duty is paged
        assert await _incidents(engine) == 1
        await harness.app.close()
    finally:
        await dispose(engine)


@contextmanager
def _file_size_limit(size: int) -> Iterator[None]:
    """No file of this process may grow beyond `size` bytes (a write past it fails)."""
    soft, hard = resource.getrlimit(resource.RLIMIT_FSIZE)
    handler = signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # fail the write, not the process
    resource.setrlimit(resource.RLIMIT_FSIZE, (size, hard))
    try:
        yield
    finally:
        resource.setrlimit(resource.RLIMIT_FSIZE, (soft, hard))
        signal.signal(signal.SIGXFSZ, handler)


async def test_a_failed_commit_does_not_wedge_the_bot(sqlite_url: str) -> None:
    engine = make_engine(sqlite_url)
    try:
        harness = await make_harness(engine)
        await harness.say("caco", "/status")
        shown = len(harness.inbox("caco"))
        wal = Path(make_url(sqlite_url).database or "").with_name("scm.sqlite-wal")
        with (
            _file_size_limit(wal.stat().st_size + 100),
            pytest.raises(Exception, match="disk I/O error") as failure,
        ):
            await harness.say("caco", "/alarm Soest: gaslek Kerkstraat")
        assert len(harness.inbox("caco")) == shown  # no confirmation: nothing was kept
        # The very next event works (here the old code raised PendingRollbackError, for
        # this and every later event).
        await harness.say("caco", "/status")
        assert harness.last("caco") == "Er zijn geen open incidenten."
        await harness.raise_alarm()
        assert len(harness.inbox("rol-b")) == 1  # the ROL on duty is paged
        assert failure.type is StorageError, failure.value
        await harness.app.close()
    finally:
        await dispose(engine)


@pytest.mark.parametrize("db_url", ["postgresql"], indirect=True)
async def test_lost_postgres_connection_is_discarded(harness: Harness, db_url: str) -> None:
    """The server ends the bot's connection in the middle of a unit of work: that unit of
    work fails with `StorageError`; the next event gets a fresh connection and works."""

    async def lose_connection() -> None:
        async with harness.app.uows() as uow:
            await uow.directory.load()
            pid = (await uow.conn.execute(text("SELECT pg_backend_pid()"))).scalar_one()
            _terminate(db_url, f"pid = {int(pid)}")
            await uow.conn.execute(text("SELECT 1"))

    with pytest.raises(StorageError):
        await lose_connection()
    await harness.say("caco", "/status")
    # And between two events: every connection of the bot's pool ended.
    _terminate(db_url, "datname = current_database() AND pid <> pg_backend_pid()")
    await harness.raise_alarm()
    assert len(harness.inbox("rol-b")) == 1  # the ROL on duty is paged


def _terminate(url: str, where: str) -> None:
    with psycopg.connect(url, autocommit=True) as admin:
        admin.execute(f"SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE {where}")


# Starting on storage that cannot be written: one line, exit code 1, no traceback. The tests
# run as root, whom file permissions do not stop; so the read-only cases run the real
# `scm-bot` as root without the capabilities that override them, on a directory or file it
# may only read. (Not as the user `nobody`: it may not reach an interpreter installed under
# /root, as pyenv's are.)
WITHOUT_OVERRIDES = ("dac_override", "dac_read_search")


def _as_bound_by_permissions() -> list[str]:
    """The command prefix that makes `scm-bot` obey file permissions (none when they
    already apply): util-linux's setpriv drops the capabilities before it starts."""
    if os.geteuid() != 0:
        return []
    setpriv = shutil.which("setpriv")
    assert setpriv is not None, "running the tests as root needs setpriv (util-linux)"
    drop = ",".join(f"-{capability}" for capability in WITHOUT_OVERRIDES)
    return [setpriv, f"--inh-caps={drop}", f"--bounding-set={drop}"]


def _scm_bot(workdir: Path, data: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k != "DATABASE_URL"}
    env.update(DATA_DIR=str(data), HOME=str(workdir), LOG_LEVEL="WARNING")
    return subprocess.run(
        [*_as_bound_by_permissions(), str(Path(sys.executable).with_name("scm-bot")), *args],
        cwd=workdir,
        env=env,
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def _one_line(result: subprocess.CompletedProcess[str], *expected: str) -> None:
    assert result.returncode == 1, (result.stdout, result.stderr)
    assert "Traceback" not in result.stderr + result.stdout
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    for part in expected:
        assert part in lines[0], lines[0]


@pytest.mark.parametrize("command", ["migrate", "run"])
def test_read_only_data_directory(tmp_path: Path, command: str) -> None:
    data = tmp_path / "data"
    data.mkdir(mode=0o555)
    _one_line(_scm_bot(tmp_path, data, command), str(data / "scm-bot.sqlite"), "beschrijfbaar")


@pytest.mark.parametrize("command", ["migrate", "run"])
def test_read_only_database_file(tmp_path: Path, command: str) -> None:
    data = tmp_path / "data"
    data.mkdir()
    first = _scm_bot(tmp_path, data, "migrate")
    assert first.returncode == 0, first.stderr
    database = data / "scm-bot.sqlite"
    database.chmod(0o444)
    result = _scm_bot(tmp_path, data, command)
    _one_line(result, str(database), "niet beschrijfbaar")


def test_data_directory_that_cannot_be_created(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """In process, as any user: the data directory would have to be made inside a file."""
    blocker = tmp_path / "a-file"
    blocker.write_text("")
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("DATA_DIR", str(blocker / "data"))
    monkeypatch.delenv("DATABASE_URL", raising=False)
    result = CliRunner().invoke(cli, ["migrate"])
    assert result.exit_code == 1
    assert isinstance(result.exception, SystemExit)  # a clean exit, not an exception
    assert f"De datamap {blocker / 'data'} kan niet worden aangemaakt" in result.output
    assert "Traceback" not in result.output


async def test_a_writer_in_another_process_is_waited_for_without_blocking_the_loop(
    sqlite_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The bot runs SQLite on its event loop: while another process (a CLI command) holds
    the write lock, a unit of work waits for it without holding up everything else, goes
    on once the lock is free, and gives up with a storage error if it stays taken."""
    engine = make_engine(sqlite_url)
    app = build(engine, FakeClock(START), [])
    other = sqlite3.connect(make_url(sqlite_url).database or "", isolation_level=None)
    try:

        async def write() -> None:
            async with app.uows() as uow:
                await uow.inbound.first_time(Origin.CONSOLE, "evt-1", START)
                await uow.commit()

        other.execute("BEGIN IMMEDIATE")  # the other process writes
        waiting = asyncio.create_task(write())
        for _ in range(5):
            await asyncio.sleep(0)  # the loop runs on: the unit of work waits aside
        assert not waiting.done()
        other.execute("ROLLBACK")  # its transaction ends
        await asyncio.wait_for(waiting, timeout=5)
        assert await _count(engine, "inbound_event") == 1

        monkeypatch.setattr(connection, "LOCKED_FOR", 0.05)
        other.execute("BEGIN IMMEDIATE")
        with pytest.raises(StorageError, match="database is locked"):
            await write()
        other.execute("ROLLBACK")
    finally:
        other.close()
        await app.close()
        await dispose(engine)


async def _count(engine: AsyncEngine, name: str) -> int:
    async with engine.connect() as conn:
        return int((await conn.execute(text(f"SELECT count(*) FROM {name}"))).scalar_one())
