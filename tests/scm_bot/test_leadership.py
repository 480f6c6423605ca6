"""Several instances on one PostgreSQL database: one leads, the others stand by, a deposed
leader acts on nothing (the fence), and a cut connection hands the leadership over.

These run two instances in this process (each with its own engine and lock connection);
tests/scm_bot/test_failover.py runs real `scm-bot run` processes and kills them."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from datetime import timedelta

import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from core.clock import FakeClock
from core.events import ButtonEvent, Sender, parse_text
from core.incidents.paging import ESCALATE
from core.model import Origin, TimerId
from scm_bot.app import build
from scm_bot.instance import Instance
from scm_bot.leadership import LOCK_KEY, Role
from scm_bot.scheduling import ApsTimerScheduler
from storage.database import make_engine
from storage.leadership import Fence, NotLeader, elect
from storage.uow import SqlUnitOfWorkFactory
from tests.helpers import START, RecordingTransport, load_region
from tests.helpers.crash import until_async

TAKE_OVER = 10.0  # seconds: the specification's limit for a standby to lead


@pytest.fixture
async def pg_engine(pg_url: str) -> AsyncIterator[AsyncEngine]:
    engine = make_engine(pg_url)
    await load_region(engine)
    yield engine
    await engine.dispose()


@contextlib.asynccontextmanager
async def instance(
    engine: AsyncEngine, clock: FakeClock, transport: RecordingTransport
) -> AsyncIterator[Instance]:
    """An instance as `scm-bot run` makes it, started (standing by until it leads)."""
    url = engine.url.render_as_string(hide_password=False)
    own = make_engine(url)
    app = build(own, clock, [transport], fence=Fence())
    node = Instance(app, url, try_every=0.05)
    await node.open()
    await node.start()
    try:
        yield node
    finally:
        await node.close()
        await app.close()
        await own.dispose()


async def leads(node: Instance) -> None:
    async with asyncio.timeout(TAKE_OVER):
        await node.leading()


async def handle(node: Instance, who: str, text_or_data: str, *, button: bool = False) -> None:
    sender = Sender(Origin.CONSOLE, who)
    event = ButtonEvent(sender, text_or_data) if button else parse_text(sender, text_or_data)
    await node.app.router.handle(event)
    await node.app.deliverer.quiet()


def button(transport: RecordingTransport, who: str, label: str) -> str:
    return next(
        b.data for m in reversed(transport.inbox(who)) for b in m.buttons if b.label == label
    )


async def scalar(engine: AsyncEngine, sql: str, **params: object) -> object:
    async with engine.connect() as conn:
        return (await conn.execute(text(sql), params)).scalar()


async def lock_holder(engine: AsyncEngine) -> int | None:
    """The pid of the session holding the leadership lock."""
    pid = await scalar(
        engine,
        "SELECT pid FROM pg_locks WHERE locktype = 'advisory' AND objid = :key AND granted"
        " AND database = (SELECT oid FROM pg_database WHERE datname = current_database())",
        key=LOCK_KEY,
    )
    return int(pid) if isinstance(pid, int) else None


async def test_one_leads_the_other_stands_by_and_takes_over_the_escalation(
    pg_engine: AsyncEngine,
) -> None:
    clock = FakeClock(START)
    seen_a, seen_b = RecordingTransport(), RecordingTransport()
    async with instance(pg_engine, clock, seen_a) as a:
        await leads(a)
        async with instance(pg_engine, clock, seen_b) as b:
            assert (a.role, b.role) == (Role.LEADER, Role.STANDBY)
            await handle(a, "caco", "/alarm Soest: gaslek Kerkstraat")
            await handle(a, "caco", button(seen_a, "caco", "Bevestigen en pagen"), button=True)
            assert len(seen_a.inbox("rol-b")) == 1
            (escalation,) = await pending_escalations(pg_engine)
            # The standby claims no timer and sends nothing: the fence refuses it.
            async with b.app.uows() as uow:
                with pytest.raises(NotLeader):
                    await uow.timers.claim_many([escalation], clock.now() + timedelta(hours=1))
            term = a.term
            assert term is not None
            await a.close()  # a deploy stops the leader: the standby takes over
            await leads(b)
            assert b.term == term + 1 and a.role is Role.STANDBY
            clock.advance(timedelta(minutes=5, seconds=1))  # the escalation falls due
            scheduler = b.app.core.scheduler
            assert isinstance(scheduler, ApsTimerScheduler)
            assert await scheduler.reconcile() == 1
            await b.app.deliverer.quiet()
            assert seen_b.inbox("rol-b")[-1].title == "REPEAT – nobody has responded yet"
            assert len(seen_a.inbox("rol-b")) == 1, "the old leader sent nothing more"
            assert await scheduler.reconcile() == 0, "it fired once"


async def pending_escalations(engine: AsyncEngine) -> list[TimerId]:
    async with engine.connect() as conn:
        rows = await conn.execute(
            text("SELECT id FROM timer WHERE kind = :kind AND status = 'pending'"),
            {"kind": ESCALATE},
        )
        return [TimerId(i) for i in rows.scalars()]


async def test_a_new_term_waits_for_the_old_leaders_fenced_work_and_then_refuses_it(
    pg_engine: AsyncEngine,
) -> None:
    """The old leader's transaction that passed the fence holds the term: the new leader's
    election waits for its commit (what it did is then in the tables), and every later
    fenced statement of the old leader is refused."""
    now = START
    fence = Fence()
    lost: list[bool] = []
    fence.on_lost = lambda: lost.append(True)
    async with pg_engine.begin() as conn:
        fence.term = await elect(conn, "old", now)
    uows = SqlUnitOfWorkFactory(pg_engine, fence)
    async with uows() as uow:
        await uow.timers.claim_many([TimerId(1)], now)  # passes: this is the leader's term
        electing = asyncio.create_task(new_term(pg_engine))

        async def waiting() -> bool:
            count = await scalar(
                pg_engine,
                "SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock'"
                " AND query LIKE 'INSERT INTO leadership%'",
            )
            return count == 1

        await until_async(waiting, "the election to wait for the old leader's transaction")
        assert not electing.done()
        await uow.commit()
    assert await electing == fence.term + 1
    async with uows() as uow:
        with pytest.raises(NotLeader):
            await uow.timers.claim_many([TimerId(1)], now)
    assert fence.term is None and lost == [True]


async def new_term(engine: AsyncEngine) -> int:
    async with engine.begin() as conn:
        return await elect(conn, "new", START)


async def test_a_leader_whose_lock_connection_is_ended_steps_down_and_leads_again(
    pg_engine: AsyncEngine,
) -> None:
    clock = FakeClock(START)
    async with instance(pg_engine, clock, RecordingTransport()) as node:
        await leads(node)
        term = node.term
        assert term is not None
        pid = await lock_holder(pg_engine)
        assert pid is not None
        await scalar(pg_engine, "SELECT pg_terminate_backend(:pid)", pid=pid)

        async def again() -> bool:
            return node.term == term + 1

        await until_async(again, "the leadership to be taken again", within=TAKE_OVER)
        await leads(node)
        assert await lock_holder(pg_engine) not in (None, pid)
        metrics = node.app.metrics.registry
        assert metrics.get_sample_value("scm_bot_leader") == 1
        # Leader, standby (the lock was lost), leader again.
        assert metrics.get_sample_value("scm_bot_leader_changes_total") == 3
