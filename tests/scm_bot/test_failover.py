"""Two real `scm-bot run` processes on one PostgreSQL database against the fake Bot API: one
leads (it polls Telegram, fires the timers, delivers), the other stands by behind its own
HTTP server. The leader is SIGKILLed at chosen points; the standby takes over within 10 s
(its first getUpdates), every due page goes out once (one whose fate the dead leader never
learned goes out again, marked as a repeat), and no acknowledgement is lost. Then the
database's connections are ended and it is unreachable for 20 s behind a TCP proxy: the
bots recover by themselves, `/healthz` answers 503 meanwhile and 200 after. On SQLite a
second process refuses to start, saying why.

Run them alone with `pytest tests/scm_bot/test_failover.py -s` (-s prints the takeover times).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import socket
import sys
import time
from collections import Counter
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from core.i18n import t
from core.model import Language
from storage.database import make_engine
from tests.helpers.crash import BotProcess, CrashFake, until, until_async
from tests.helpers.fake_telegram import TOKEN
from tests.helpers.tcp_proxy import TcpProxy
from tests.scm_bot.test_crash import (
    ACK,
    ANNA,
    CACO,
    CONFIRM,
    TITLE,
    TITLE_REPEAT,
    Incident,
    Scene,
    check_outbox_done,
    region,
    unmarked,
)

TAKE_OVER = 10.0  # seconds from the leader's SIGKILL to the standby's first getUpdates
OUTAGE = 20.0  # seconds the database is unreachable


@pytest.fixture
async def fake() -> AsyncIterator[CrashFake]:
    server = CrashFake()
    await server.start()
    try:
        yield server
    finally:
        await server.close()


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


class Node:
    """One `scm-bot run` process with its HTTP server."""

    def __init__(self, fake: CrashFake, env: dict[str, str], tmp_path: Path, name: str) -> None:
        self.name = name
        self.port = free_port()
        self.bot = BotProcess(
            fake, {**env, "HTTP_PORT": str(self.port)}, tmp_path, tmp_path / f"{name}.log"
        )

    async def health(self) -> tuple[int, dict[str, Any]]:
        """/healthz, or (0, {}) while nothing answers."""
        try:
            async with aiohttp.ClientSession() as http:
                url = f"http://127.0.0.1:{self.port}/healthz"
                async with asyncio.timeout(5), http.get(url) as response:
                    return response.status, json.loads(await response.text())
        except (aiohttp.ClientError, TimeoutError):
            return 0, {}

    async def role(self) -> str | None:
        status, body = await self.health()
        return body.get("role") if status == 200 else None

    async def until_role(self, role: str, within: float = 30.0) -> None:
        async def has() -> bool:
            return await self.role() == role

        await until_async(has, f"{self.name} to be {role}", within)


@contextlib.asynccontextmanager
async def cluster(
    db_url: str, tmp_path: Path, fake: CrashFake, *, bot_db_url: str | None = None
) -> AsyncIterator[tuple[Scene, Node, Node]]:
    """The region imported; two nodes prepared (not started). The bots reach the database
    at `bot_db_url` (a proxy) when given."""
    env = {
        "PATH": "/usr/bin:/bin",
        "HOME": str(tmp_path),
        "TELEGRAM_BOT_TOKEN": TOKEN,
        "TELEGRAM_BASE_URL": fake.base_url,
        "DATABASE_URL": bot_db_url or db_url,
        "SCM_CONSOLE": "false",
        "LOG_LEVEL": "INFO",
    }
    (tmp_path / "region.yaml").write_text(region(), "utf-8")
    a, b = Node(fake, env, tmp_path, "a"), Node(fake, env, tmp_path, "b")
    engine = make_engine(db_url)
    try:
        await asyncio.gather(a.bot.prepare(), b.bot.prepare())
        await a.bot.cli("region", "import", str(tmp_path / "region.yaml"))
        yield Scene(fake, a.bot, engine), a, b
    finally:
        await asyncio.gather(a.bot.stop(), b.bot.stop())
        await engine.dispose()


async def start_pair(a: Node, b: Node) -> None:
    """A leads (it polls), B stands by."""
    await a.bot.start()
    await a.until_role("leader")
    await b.bot.start(polls=False)
    await b.until_role("standby")


async def taken_over(s: Scene, killed_at: float, standby: Node) -> float:
    """Until the standby polls Telegram: seconds since the kill."""
    at = await until(
        lambda: any(p.at > killed_at for p in s.fake.polls), "the standby to poll", TAKE_OVER + 5
    )
    await standby.until_role("leader")
    return at - killed_at


async def test_the_standby_takes_over_when_the_leader_is_killed(
    pg_url: str, tmp_path: Path, fake: CrashFake
) -> None:
    async with cluster(pg_url, tmp_path, fake) as (s, a, b):
        try:
            await failovers(s, a, b)
        except BaseException:
            print(s.dump(), "\n--- b ---\n", b.bot.tail(80))
            raise


async def failovers(s: Scene, a: Node, b: Node) -> None:
    fake = s.fake
    await start_pair(a, b)
    took: dict[str, float] = {}

    # 1. During a page: Telegram holds the page when the leader dies, then accepts it.
    #    The new leader does not know its fate: it sends it again, marked as a repeat.
    held = fake.fresh_hold(ANNA)
    i1, prompt = await s.alarm(1)
    asked = len(fake.calls)
    fake.push(s.press(CACO, prompt, CONFIRM))
    await until(
        lambda: any(
            c.method == "sendMessage" and c.params.get("chat_id") == ANNA
            for c in fake.calls[asked:]
        ),
        "the page to reach Telegram",
    )
    killed = time.monotonic()
    s.bot = a.bot
    await s.kill_now()
    logged = len(fake.log)
    held.set()
    await until(lambda: len(fake.log) > logged, "Telegram to accept the held page")
    took["during a page"] = await taken_over(s, killed, b)
    await s.sent(ANNA, lambda text: text.startswith(TITLE + "\n") and i1.description in text)
    await until(lambda: marked_copies(s, ANNA, i1) == 1, "the page again, marked")
    page1 = await s.page_arrives(ANNA, i1)
    await s.acknowledge(i1, page1)
    await a.bot.start(polls=False)  # back, as the standby
    await a.until_role("standby")

    # 2. With an escalation due: the page goes unanswered, its repeat falls due while
    #    nobody leads; the new leader fires it once.
    i2, _ = await s.raise_and_page(2)
    s.bot = b.bot
    killed = time.monotonic()
    await s.kill_now()
    await s.time_passes(i2)
    took["escalation due"] = await taken_over(s, killed, a)
    await s.sent(ANNA, lambda text: text.startswith(TITLE_REPEAT + "\n") and i2.description in text)
    page2 = await s.page_arrives(ANNA, i2)
    await s.acknowledge(i2, page2)
    await b.bot.start(polls=False)
    await b.until_role("standby")

    # 3. During an acknowledgement: it is stored, the getUpdates that confirms it never
    #    reaches Telegram; the new leader handles it once.
    i3, page3 = await s.raise_and_page(3)
    s.bot = a.bot
    await s.kill_when_stored(s.press(ANNA, page3, ACK), confirm=False)
    killed = time.monotonic()  # reaped: the dying leader's own getUpdates came before
    took["acknowledgement stored"] = await taken_over(s, killed, b)
    await s.acknowledged(i3, ANNA)

    await s.settle()
    await check_acknowledged_once(s, [i1, i2, i3])
    nothing_twice_unmarked(fake)
    repeats = [d for d in fake.sent(ANNA) if d.text.startswith(TITLE_REPEAT + "\n")]
    assert len([d for d in repeats if i2.description in d.text]) == 1, "the repeat fired once"
    print({point: f"{seconds:.2f} s" for point, seconds in took.items()})
    assert all(seconds <= TAKE_OVER for seconds in took.values()), took


def nothing_twice_unmarked(fake: CrashFake) -> None:
    """No chat got a text twice without the repeat mark (no text of these scenarios
    legitimately repeats)."""
    for chat_id in {d.chat_id for d in fake.log}:
        plain = Counter(base for mark, base in map(unmarked, fake_texts(fake, chat_id)) if not mark)
        twice = {text: n for text, n in plain.items() if n > 1}
        assert not twice, f"sent to {chat_id} more than once unmarked: {twice}"


def fake_texts(fake: CrashFake, chat_id: int) -> list[str]:
    return [d.text for d in fake.sent(chat_id)]


def marked_copies(s: Scene, chat_id: int, incident: Incident) -> int:
    return sum(
        1 for d in s.fake.sent(chat_id) if unmarked(d.text)[0] and incident.description in d.text
    )


async def check_acknowledged_once(s: Scene, incidents: list[Incident]) -> None:
    for incident in incidents:
        pages = await s.rows(
            "SELECT p.status, x.key FROM page p JOIN incident i ON i.id = p.incident_id"
            " LEFT JOIN person x ON x.id = p.acknowledged_by WHERE i.public_id = :id",
            id=incident.public_id,
        )
        assert [tuple(r) for r in pages] == [("acknowledged", "rol-a")], incident
        acks = await s.scalar(
            "SELECT count(*) FROM audit WHERE action = 'page.acknowledged' AND object = :id",
            id=incident.public_id,
        )
        assert acks == 1, incident
    assert await s.rows("SELECT DISTINCT status FROM inbox") == [("done",)]
    await check_outbox_done(s)


async def test_ended_connections_and_an_unreachable_database_are_survived(
    pg_url: str, tmp_path: Path, fake: CrashFake
) -> None:
    proxy = await TcpProxy.to(pg_url).start()
    try:
        async with cluster(pg_url, tmp_path, fake, bot_db_url=proxy.url(pg_url)) as (s, a, b):
            try:
                await outages(s, proxy, a, b)
            except BaseException:
                print(s.dump(), "\n--- b ---\n", b.bot.tail(80))
                raise
    finally:
        await proxy.close()


async def outages(s: Scene, proxy: TcpProxy, a: Node, b: Node) -> None:
    await start_pair(a, b)
    # Every connection of the bots is ended (pg_terminate_backend): they reconnect, one
    # leads (the same or the other), and the next alarm pages normally.
    ended = await s.scalar(
        "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity"
        " WHERE datname = current_database() AND pid <> pg_backend_pid()"
        " AND backend_type = 'client backend'"
    )
    assert ended >= 2  # at least the two lock connections

    async def one_leader() -> bool:
        roles = sorted([await a.role() or "", await b.role() or ""])
        return roles == ["leader", "standby"]

    await until_async(one_leader, "one leader after the connections ended", TAKE_OVER + 5)
    i1, page1 = await s.raise_and_page(1)
    await s.acknowledge(i1, page1)

    # The database is unreachable for 20 s: both answer 503, nobody leads; after it both
    # answer 200 and one leads again, and an alarm pages normally.
    proxy.cut()
    cut_at = time.monotonic()

    async def both_503() -> bool:
        return (await a.health())[0] == 503 and (await b.health())[0] == 503

    await until_async(both_503, "/healthz to answer 503 on both", 15)
    # The outage lasts its 20 s (this waits for no timer of the bot's).
    await asyncio.sleep(max(0.0, OUTAGE - (time.monotonic() - cut_at)))
    assert (await a.health())[0] == 503 and (await b.health())[0] == 503
    proxy.restore()
    await until_async(one_leader, "one leader after the outage", 30)
    assert (await a.health())[0] == 200 and (await b.health())[0] == 200
    i2, page2 = await s.raise_and_page(2)
    await s.acknowledge(i2, page2)
    await s.settle()
    await check_acknowledged_once(s, [i1, i2])
    nothing_twice_unmarked(s.fake)


async def test_a_second_process_on_sqlite_refuses_and_says_why(
    sqlite_url: str, tmp_path: Path, fake: CrashFake
) -> None:
    async with cluster(sqlite_url, tmp_path, fake) as (_s, a, _b):
        await a.bot.start()
        second = await asyncio.create_subprocess_exec(
            str(Path(sys.executable).parent / "scm-bot"),
            "run",
            env=a.bot.env,
            cwd=a.bot.cwd,
            stdin=asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.STDOUT,
        )
        out, _ = await second.communicate()
    assert second.returncode == 1
    refusal = t(Language.NL, "runtime.already_running", error="@").split("@")[0]
    assert refusal in out.decode()
