"""The embedded SQLite database copies its write-ahead log back off the event loop.

SQLite's automatic checkpoint runs inside a commit, on the loop, with an fsync: a few
milliseconds in the middle of a page. The bot's connection turns it off and a worker thread
checkpoints instead (`storage.connection.WalCheckpoints`).
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from sqlalchemy import text

from storage.connection import WalCheckpoints
from storage.database import make_engine
from storage.uow import SqlUnitOfWorkFactory
from tests.helpers import dispose


@pytest.fixture
async def uows(sqlite_url: str) -> AsyncIterator[SqlUnitOfWorkFactory]:
    engine = make_engine(sqlite_url)
    factory = SqlUnitOfWorkFactory(engine)
    yield factory
    factory.close()
    await dispose(engine)


async def write(uows: SqlUnitOfWorkFactory, rows: int) -> None:
    async with uows() as uow:
        await uow.conn.execute(text("CREATE TABLE IF NOT EXISTS scratch (x TEXT)"))
        for i in range(rows):
            await uow.conn.execute(
                text("INSERT INTO scratch VALUES (:x)"), {"x": "x" * 500 + str(i)}
            )
        await uow.commit()


async def test_commits_never_checkpoint_on_the_loop(
    uows: SqlUnitOfWorkFactory, sqlite_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("storage.connection.CHECKPOINT_EVERY", 3600.0)  # no worker either
    async with uows() as uow:
        automatic = (await uow.conn.execute(text("PRAGMA wal_autocheckpoint"))).scalar_one()
        page_size = (await uow.conn.execute(text("PRAGMA page_size"))).scalar_one()
    assert automatic == 0
    for _ in range(10):  # some 2,500 pages, far past SQLite's automatic 1,000
        await write(uows, 2000)
    wal = Path(sqlite_url.removeprefix("sqlite:///") + "-wal")
    # An automatic checkpoint would have let the log start over from its beginning.
    size = await asyncio.to_thread(lambda: wal.stat().st_size)
    assert size > 2000 * page_size, "the commits left the log alone"


async def test_a_worker_thread_checkpoints_after_commits(
    uows: SqlUnitOfWorkFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("storage.connection.CHECKPOINT_EVERY", 0.0)
    checkpoints = uows.checkpoints
    assert checkpoints is not None
    await write(uows, 200)
    await checkpoints.settled()
    assert checkpoints.last is not None
    busy, frames, done = checkpoints.last
    assert busy == 0 and frames > 0 and done == frames, "the whole log went to the file"
    assert checkpoints.last_thread not in (None, threading.get_ident()), "not on the loop"
    async with uows() as uow:
        assert (await uow.conn.execute(text("SELECT count(*) FROM scratch"))).scalar_one() == 200


async def test_checkpoints_come_at_most_every_half_second() -> None:
    now = [100.0]
    checkpoints = WalCheckpoints(":never-opened:", now=lambda: now[0])
    started: list[float] = []
    checkpoints._checkpoint = lambda: started.append(now[0])  # type: ignore[method-assign]
    checkpoints.committed()  # right after start: too soon
    now[0] += 0.6
    checkpoints.committed()
    checkpoints.committed()  # one is under way (or just was): not again
    await checkpoints.settled()
    now[0] += 0.1
    checkpoints.committed()
    await asyncio.sleep(0)  # allowed: a yield, no timer
    await checkpoints.settled()
    assert started == [100.6]
