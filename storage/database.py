"""Engines and migrations. Nothing here runs at import time."""

from __future__ import annotations

import contextlib
import sqlite3
from collections.abc import Callable
from pathlib import Path
from typing import Any

from alembic import command
from alembic.config import Config
from sqlalchemy import Table, event
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.engine import make_url
from sqlalchemy.exc import DBAPIError, SQLAlchemyError
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine
from sqlalchemy.sql import Executable
from sqlmodel import SQLModel

from core.errors import StorageError
from core.i18n import t
from core.model import Language

MIGRATIONS = Path(__file__).parent / "migrations"


def table(model: type[SQLModel]) -> Table:
    """The SQLAlchemy table behind a SQLModel class of `storage.tables`, for Core statements."""
    result: Table = model.__table__  # type: ignore[attr-defined]
    return result


def is_sqlite(url: str) -> bool:
    return make_url(url).get_backend_name() == "sqlite"


def sync_url(url: str) -> str:
    """The same database through a synchronous driver (for Alembic)."""
    parsed = make_url(url)
    driver = "sqlite" if parsed.get_backend_name() == "sqlite" else "postgresql+psycopg"
    return parsed.set(drivername=driver).render_as_string(hide_password=False)


def async_url(url: str) -> str:
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite":
        parsed = parsed.set(drivername="sqlite+aiosqlite")
    else:
        parsed = parsed.set(drivername="postgresql+asyncpg")
    return parsed.render_as_string(hide_password=False)


def sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    cursor = dbapi_connection.cursor()
    # WAL lets readers run beside the writer; NORMAL still survives a process crash.
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA busy_timeout=10000")
    cursor.close()


# The server's TCP keepalives for our sessions: a client that vanished without closing its
# connection is noticed within about 11 s (5 s idle, then 3 probes 2 s apart).
PG_KEEPALIVE = {
    "tcp_keepalives_idle": "5",
    "tcp_keepalives_interval": "2",
    "tcp_keepalives_count": "3",
}


def make_engine(url: str) -> AsyncEngine:
    """The engine of the units of work. Its errors never show a statement's parameters
    (`hide_parameters`): they hold message texts and calendar URLs, and an error's text
    ends up in a log line's traceback."""
    if is_sqlite(url):
        # SQLAlchemy's own aiosqlite engine and pool; the units of work take turns for the
        # one write lock (`storage.uow.SqlUnitOfWorkFactory`).
        engine = create_async_engine(async_url(url), hide_parameters=True)
        event.listen(engine.sync_engine, "connect", sqlite_pragmas)
        return engine
    # No pool_pre_ping (three round trips on asyncpg): a unit of work's first statement
    # finds a connection the server ended (`storage.uow.SqlUnitOfWorkFactory`).
    # A session whose host vanished mid-transaction (power, a network that drops packets)
    # must not hold its locks for the kernel's two hours: the leadership row's share lock
    # would keep every standby from taking over. The server probes our sockets every few
    # seconds and ends a transaction left idle (ours never wait on anything in one).
    server = {**PG_KEEPALIVE, "idle_in_transaction_session_timeout": "30000"}
    return create_async_engine(
        async_url(url),
        pool_size=10,
        max_overflow=10,
        hide_parameters=True,
        connect_args={"server_settings": server},
    )


def alembic_config(url: str) -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    config.set_main_option("sqlalchemy.url", sync_url(url).replace("%", "%%"))
    return config


def migrate(url: str) -> None:
    """Bring the database to the newest schema (idempotent). A database that cannot be
    written raises `StorageError` with one line that names it."""
    parsed = make_url(url)
    database = parsed.database or ""
    if is_sqlite(url) and database not in ("", ":memory:") and "uri" not in parsed.query:
        _check_sqlite_writable(Path(database))
    try:
        command.upgrade(alembic_config(url), "head")
    except (SQLAlchemyError, sqlite3.Error, OSError) as error:
        where = database if is_sqlite(url) else parsed.render_as_string(hide_password=True)
        message = t(
            Language.NL, "storage.cannot_migrate", database=where, error=describe_error(error)
        )
        raise StorageError(message) from error


def _check_sqlite_writable(path: Path) -> None:
    """Create the data directory and try a write, so that a read-only directory or file is
    reported at start (an up-to-date schema would otherwise write nothing until the first
    event). The write is rolled back."""
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        reason = error.strerror or error
        message = t(Language.NL, "storage.cannot_create_data_dir", folder=path.parent, error=reason)
        raise StorageError(message) from error
    try:
        with contextlib.closing(sqlite3.connect(path, isolation_level=None)) as conn:
            conn.execute("PRAGMA journal_mode=WAL")
            conn.execute("BEGIN IMMEDIATE")
            version = int(conn.execute("PRAGMA user_version").fetchone()[0])
            conn.execute(f"PRAGMA user_version={version}")  # a write, rolled back
            conn.execute("ROLLBACK")
    except sqlite3.Error as error:
        message = t(
            Language.NL, "storage.not_writable", database=path, error=error, folder=path.parent
        )
        raise StorageError(message) from error


def describe_error(error: BaseException) -> str:
    """A storage error in a few words: the driver's own message, never the statement or
    its parameters (which may hold message texts)."""
    if isinstance(error, DBAPIError) and error.orig is not None:
        error = error.orig
    text = str(error).strip().splitlines()[0] if str(error).strip() else ""
    return f"{type(error).__name__}: {text}" if text else type(error).__name__


def per_dialect(build: Callable[[Callable[[Table], Any]], Executable]) -> dict[str, Executable]:
    """An upsert built once for each dialect's INSERT (by `conn.dialect.name`)."""
    return {"sqlite": build(sqlite_insert), "postgresql": build(pg_insert)}
