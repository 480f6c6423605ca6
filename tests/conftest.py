"""Storage fixtures: every storage test runs on SQLite and on a real PostgreSQL.

PostgreSQL is taken from SCM_TEST_POSTGRES_URL (default: 127.0.0.1:5432, database `test`,
user `postgres`). Each test session creates its own database there and drops it after.
Unreachable PostgreSQL skips those tests locally and fails them when `CI` is set.
"""

from __future__ import annotations

import logging
import os
import shutil
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import psycopg
import pytest
import structlog
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from core.clock import FakeClock
from scm_bot.logs import QUIET_LOGGERS
from storage.database import make_engine, migrate
from storage.tables import metadata
from tests.helpers import Harness, NewHarness, dispose, make_harness


@pytest.fixture(autouse=True)
def _restore_logging() -> Iterator[None]:
    """CLI runs set logger levels and point logging at the runner's streams the way
    `scm-bot` does (and the runner closes those streams): later tests get the defaults
    back."""
    root = logging.getLogger()
    loggers = [root, *map(logging.getLogger, QUIET_LOGGERS)]
    levels = [logger.level for logger in loggers]
    handlers = root.handlers[:]
    yield
    for logger, level in zip(loggers, levels, strict=True):
        logger.setLevel(level)
    for handler in root.handlers[:]:
        if handler not in handlers:
            root.removeHandler(handler)
    structlog.reset_defaults()


PG_ADMIN_URL = os.environ.get("SCM_TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/test")


@pytest.fixture(scope="session")
def sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("template") / "template.sqlite"
    migrate(f"sqlite:///{path}")
    return path


@pytest.fixture(scope="session")
def postgres_url() -> Iterator[str]:
    name = f"scm_test_{uuid.uuid4().hex[:10]}"
    try:
        admin = psycopg.connect(PG_ADMIN_URL, autocommit=True, connect_timeout=3)
    except psycopg.OperationalError as error:
        if os.environ.get("CI"):
            pytest.fail(f"PostgreSQL unreachable at {PG_ADMIN_URL} in CI: {error}")
        pytest.skip(f"PostgreSQL unreachable at {PG_ADMIN_URL}: {error}")
    with admin:
        admin.execute(f'CREATE DATABASE "{name}"')
    base = PG_ADMIN_URL.rsplit("/", 1)[0]
    url = f"{base}/{name}"
    migrate(url)
    yield url
    with psycopg.connect(PG_ADMIN_URL, autocommit=True) as admin:
        admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture(params=["sqlite", "postgresql"])
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """A migrated, empty database of each kind."""
    if request.param == "sqlite":
        path = tmp_path / "scm.sqlite"
        shutil.copy(request.getfixturevalue("sqlite_template"), path)
        return f"sqlite:///{path}"
    url: str = request.getfixturevalue("postgres_url")
    _empty(url)
    return url


def _empty(url: str) -> None:
    with psycopg.connect(url, autocommit=True) as conn:
        tables = ", ".join(f'"{name}"' for name in metadata.tables)
        conn.execute(f"TRUNCATE {tables} RESTART IDENTITY CASCADE")


@pytest.fixture
def pg_url(postgres_url: str) -> str:
    """The session's PostgreSQL database, emptied: for what only PostgreSQL does (several
    instances, one leading)."""
    _empty(postgres_url)
    return postgres_url


@pytest.fixture
def sqlite_url(tmp_path: Path, sqlite_template: Path) -> str:
    path = tmp_path / "scm.sqlite"
    shutil.copy(sqlite_template, path)
    return f"sqlite:///{path}"


@pytest.fixture
async def engine(db_url: str) -> AsyncIterator[AsyncEngine]:
    engine = make_engine(db_url)
    yield engine
    await dispose(engine)


@pytest.fixture
async def harness(engine: AsyncEngine) -> AsyncIterator[Harness]:
    """The real router, core and storage, a fake clock at Tue 24 Nov 2026 03:07, and a
    recording transport; the test region is loaded."""
    harness = await make_harness(engine)
    yield harness
    await harness.app.close()  # no delivery or connection outlives its test's event loop


@pytest.fixture
async def new_harness(engine: AsyncEngine) -> AsyncIterator[NewHarness]:
    """Makes harnesses on the test's engine with another region or clock (see
    `tests.helpers.NewHarness`) and closes them at the end of the test."""
    made: list[Harness] = []

    async def make(*, region: str | None = None, clock: FakeClock | None = None) -> Harness:
        made.append(await make_harness(engine, region=region, clock=clock))
        return made[-1]

    yield make
    for harness in made:
        await harness.app.close()


async def count(engine: AsyncEngine, table: str) -> int:
    async with engine.connect() as conn:
        return int((await conn.execute(text(f"SELECT count(*) FROM {table}"))).scalar_one())
