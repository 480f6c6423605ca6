"""Failover: real `scm-bot run` processes on PostgreSQL against the fake Bot API.

1. Failover time: two instances; the leader has an unanswered page whose escalation is due
   the moment it is SIGKILLed (its timer row is moved into the past right after the kill,
   as passing time would). Failover time = from the SIGKILL to the standby's first page
   (the repeat, at the fake Bot API). The killed process is started again as the standby,
   and the next round kills the other one. p50/p99 over 20 failovers. Target: **p99 at most
   10 s**.
2. A 50-incident scenario with one and with two instances: the Caco raises 50 alarms one
   after another, confirming each, the ROL acknowledges all 50 pages; wall time until every page is
   acknowledged and every message is out, incidents per minute, and each process's peak
   resident memory (VmHWM). The Caco's chat gets a message at most every second
   (Telegram's per-chat limit), which bounds the throughput.

Run from the repository root: `.venv/bin/python -m benchmarks.failover` (~15 min).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import shutil
import tempfile
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path

from benchmarks._common import (
    machine,
    percentile,
    postgres_database,
    quiet_logging,
    table,
    update_readme,
)
from tests.helpers.crash import CrashFake, until, until_async
from tests.scm_bot.test_crash import ACK, ANNA, CACO, CONFIRM, TITLE, TITLE_REPEAT, Incident, Scene
from tests.scm_bot.test_failover import Node, cluster

TARGET = 10.0


@dataclass
class Scenario:
    instances: int
    incidents: int
    wall: float
    peak_kib: list[int] = field(default_factory=list)  # leader first

    @property
    def per_minute(self) -> float:
        return self.incidents / self.wall * 60


def peak_kib(pid: int | None) -> int:
    """The process's peak resident memory (VmHWM), KiB."""
    if pid is None:
        return 0
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1])
    return 0


@contextlib.asynccontextmanager
async def world() -> AsyncIterator[tuple[Scene, Node, Node]]:
    fake = CrashFake()
    await fake.start()
    tmp = Path(tempfile.mkdtemp(prefix="scm_bench_failover_"))
    try:
        with postgres_database() as url:
            async with cluster(url, tmp, fake) as scene:
                yield scene
    finally:
        await fake.close()
        shutil.rmtree(tmp, ignore_errors=True)


async def failovers(rounds: int) -> list[float]:
    times: list[float] = []
    async with world() as (s, a, b):
        await a.bot.start()
        await a.until_role("leader")
        await b.bot.start(polls=False)
        await b.until_role("standby")
        leader, standby = a, b
        for number in range(1, rounds + 1):
            incident, _ = await s.raise_and_page(number)
            s.bot = leader.bot
            since = len(s.fake.log)
            killed = time.monotonic()
            await s.kill_now()
            await s.time_passes(incident)

            def repeat(since: int = since, incident: Incident = incident) -> float | None:
                for d in s.fake.log[since:]:
                    if d.text.startswith(TITLE_REPEAT + "\n") and incident.description in d.text:
                        return d.at
                return None

            await until(lambda: repeat() is not None, "the repeat page", 60)
            at = repeat()
            assert at is not None
            times.append(at - killed)
            print(f"failover {number}: {at - killed:.2f} s", flush=True)
            await standby.until_role("leader")
            page = await s.page_arrives(ANNA, incident)
            await s.acknowledge(incident, page)
            await leader.bot.start(polls=False)
            await leader.until_role("standby")
            leader, standby = standby, leader
    return times


async def scenario(instances: int, incidents: int) -> Scenario:
    async with world() as (s, a, b):
        await a.bot.start()
        await a.until_role("leader")
        if instances == 2:
            await b.bot.start(polls=False)
            await b.until_role("standby")
        fake = s.fake
        began = time.monotonic()
        raised = [Incident(n, f"incident {n}: gaslek Kerkstraat {n}") for n in range(incidents)]
        for incident in raised:  # one alarm conversation at a time per Caco
            fake.push_text(CACO, f"/alarm Soest: {incident.description}")
            prompt = await s.newest(CACO, incident.description, CONFIRM)
            fake.push(s.press(CACO, prompt, CONFIRM))
        for incident in raised:
            page = await s.page_arrives(ANNA, incident)
            fake.push(s.press(ANNA, page, ACK))

        async def all_acknowledged() -> bool:
            done = await s.scalar("SELECT count(*) FROM page WHERE status = 'acknowledged'")
            busy = await s.scalar(
                "SELECT (SELECT count(*) FROM outbox WHERE status = 'pending')"
                " + (SELECT count(*) FROM inbox WHERE status = 'pending')"
            )
            return int(done) == incidents and int(busy) == 0

        await until_async(all_acknowledged, "every page acknowledged", 900)
        wall = time.monotonic() - began
        peaks = [peak_kib(a.bot.pid)] + ([peak_kib(b.bot.pid)] if instances == 2 else [])
        assert TITLE  # the pages carried the page title (checked by page_arrives)
    return Scenario(instances, incidents, wall, peaks)


def readme_body(times: list[float], runs: list[Scenario]) -> str:
    p50, p99 = percentile(times, 50), percentile(times, 99)
    verdict = "met" if p99 <= TARGET else "NOT met"
    return "\n".join(
        [
            "`.venv/bin/python -m benchmarks.failover` (~15 min; `--rounds`, `--incidents`). "
            + machine().markdown(),
            "",
            f"Two `scm-bot run` processes (forked from a process that imported the modules "
            f"once, as tests/scm_bot/test_crash.py does) on one PostgreSQL database, "
            f"the fake Bot API "
            f"on loopback. {len(times)} failovers: the leader has an unanswered page and is "
            "SIGKILLed; its escalation timer is moved into the past right after (as passing "
            "time would); failover time = SIGKILL -> the repeat page at the fake, sent by the "
            "standby (it asks for the leadership lock every second, starts a term, fires the "
            "overdue timer, delivers). The killed process is started again as the standby.",
            "",
            table(
                ["failovers", "p50 s", "p99 s", "min s", "max s", "target p99", "verdict"],
                [
                    [
                        len(times),
                        f"{p50:.2f}",
                        f"**{p99:.2f}**",
                        f"{min(times):.2f}",
                        f"{max(times):.2f}",
                        f"<= {TARGET:.0f} s",
                        verdict,
                    ]
                ],
            ),
            "",
            "The incident scenario: the Caco raises the alarms one after another through "
            "Telegram (one alarm conversation at a time) and confirms each without waiting "
            "for its page; the ROL acknowledges each page as it arrives; wall = first alarm "
            "pushed -> every page acknowledged, the outbox and the inbox empty. The Caco's chat is "
            "paced at Telegram's one message a second, which bounds it. Peak memory is "
            "each process's VmHWM at the end.",
            "",
            table(
                ["instances", "incidents", "wall s", "incidents/min", "peak RSS MiB"],
                [
                    [
                        r.instances,
                        r.incidents,
                        f"{r.wall:.1f}",
                        f"{r.per_minute:.1f}",
                        " / ".join(f"{k / 1024:.0f}" for k in r.peak_kib)
                        + (" (leader / standby)" if r.instances == 2 else ""),
                    ]
                    for r in runs
                ],
            ),
        ]
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=20)
    parser.add_argument("--incidents", type=int, default=50)
    parser.add_argument("--no-readme", action="store_true", help="only print")
    args = parser.parse_args()
    quiet_logging()
    times = asyncio.run(failovers(args.rounds))
    runs = [asyncio.run(scenario(n, args.incidents)) for n in (1, 2)]
    body = readme_body(times, runs)
    print()
    print(body)
    if not args.no_readme:
        update_readme("failover", "Failover and several instances", body)


if __name__ == "__main__":
    main()
