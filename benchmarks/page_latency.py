"""Alert confirmed -> page handed to the transport: latency with 100 concurrent incidents.

The app runs as `scm-bot run` runs it (`scm_bot.app.running`: APScheduler job store, the
delivery loop `Deliverer.run` as a background task woken by `Core.on_outbox`, `SystemClock`).
The region has N Caco people and one ROL rotation. Every Caco first opens an alarm
(`/alarm Soest: bench-<i> ...`, not measured, outbox drained); then N asyncio tasks, released
together, each hand their "Bevestigen en pagen" button to `Router.handle`. The latency of an
incident runs from just before its confirm event is handed to `Router.handle` until the fake
transport's `send()` is called with that incident's page (timestamp taken inside `send()`).

Besides the 100-incident burst, each database runs a baseline: one confirm at a time in the
same region, each after the previous one's outbox drained, and a burst of 10 in a region of
10 Caco's, to show how the latency grows with the burst and with the number of Caco's
(every page is also reported to every Caco: "ROL gepaged").

    .venv/bin/python -m benchmarks.page_latency [--incidents 100]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import re
import time
from dataclasses import dataclass, field

from benchmarks._common import (
    BenchTransport,
    available_kinds,
    database,
    machine,
    ms,
    percentile,
    quiet_logging,
    region_yaml,
    table,
    update_readme,
)
from core.clock import SystemClock
from core.events import ButtonEvent, Sender, parse_text
from core.messages import Message
from core.model import Origin, Person
from core.region_file import parse_region
from scm_bot.app import App, running
from storage.database import make_engine
from storage.region import import_region

TAG = re.compile(r"bench-(\d{3})")
PAGE_TIMEOUT = 120.0  # seconds to wait for all pages before giving up


@dataclass
class Result:
    kind: str
    scenario: str
    incidents: int
    cacos: int
    latencies: list[float] = field(default_factory=list)  # confirm -> page at transport
    handle: list[float] = field(default_factory=list)  # Router.handle of the confirm
    before_page: list[int] = field(default_factory=list)  # sends before this page's send
    all_paged: float = 0.0  # first confirm handed in -> last page sent
    drained: float | None = None  # first confirm handed in -> outbox empty
    sent: int = 0  # messages sent from the first confirm until the outbox was empty
    missing: int = 0


class PageProbe:
    """Timestamps, inside the fake transport's send(), the first page of each incident."""

    def __init__(self, transport: BenchTransport) -> None:
        self.transport = transport
        self.paged_at: dict[int, float] = {}
        self.sends_before: dict[int, int] = {}
        self.all_paged = asyncio.Event()
        self.expected: set[int] = set()
        self.start_sends = 0
        transport.on_send = self.seen

    def expect(self, tags: set[int]) -> None:
        self.expected = set(tags)
        self.paged_at.clear()
        self.sends_before.clear()
        self.all_paged.clear()
        self.start_sends = self.transport.sends

    def seen(self, at: float, _person: Person, message: Message) -> None:
        if not any(b.data.startswith("pg:") for b in message.buttons):
            return
        match = TAG.search(message.text)
        if match is None:
            return
        tag = int(match.group(1))
        if tag in self.expected and tag not in self.paged_at:
            self.paged_at[tag] = at
            self.sends_before[tag] = self.transport.sends - 1 - self.start_sends
            if self.expected <= self.paged_at.keys():
                self.all_paged.set()


async def pending_outbox(app: App) -> int:
    async with app.uows() as uow:
        return await uow.outbox.count_pending()


async def wait_drained(app: App, limit: float) -> float | None:
    """Seconds until the outbox is empty (polled every 20 ms), None on timeout."""
    start = time.perf_counter()
    while time.perf_counter() - start < limit:
        if await pending_outbox(app) == 0:
            return time.perf_counter() - start
        await asyncio.sleep(0.02)
    return None


def caco(i: int) -> str:
    return f"caco-{i:03d}"


async def open_alarms(app: App, transport: BenchTransport, tags: range) -> dict[int, str]:
    """Every Caco opens an alarm; returns each one's confirm button data."""
    for i in tags:
        await app.router.handle(
            parse_text(Sender(Origin.CONSOLE, caco(i)), f"/alarm Soest: bench-{i:03d} gaslek")
        )
    if await wait_drained(app, 60) is None:
        raise RuntimeError("the confirmation prompts were not delivered")
    return {i: transport.button(caco(i), "al:confirm:") for i in tags}


async def confirm_burst(
    app: App, probe: PageProbe, buttons: dict[int, str], result: Result
) -> None:
    """All confirms released at once; waits for every page (and then the outbox)."""
    gate = asyncio.Event()
    started: dict[int, float] = {}

    async def confirm(i: int) -> None:
        await gate.wait()
        started[i] = time.perf_counter()
        await app.router.handle(ButtonEvent(Sender(Origin.CONSOLE, caco(i)), buttons[i]))
        result.handle.append(time.perf_counter() - started[i])

    probe.expect(set(buttons))
    tasks = [asyncio.create_task(confirm(i)) for i in buttons]
    await asyncio.sleep(0.05)  # every task is parked at the gate
    first = time.perf_counter()
    gate.set()
    await asyncio.gather(*tasks)
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(probe.all_paged.wait(), PAGE_TIMEOUT)
    collect(result, probe, started, first)
    remaining = PAGE_TIMEOUT - (time.perf_counter() - first)
    drained = await wait_drained(app, max(remaining, 1.0))
    result.drained = None if drained is None else time.perf_counter() - first
    result.sent = probe.transport.sends - probe.start_sends


def collect(result: Result, probe: PageProbe, started: dict[int, float], first: float) -> None:
    for i, t0 in started.items():
        if i in probe.paged_at:
            result.latencies.append(probe.paged_at[i] - t0)
            result.before_page.append(probe.sends_before[i])
        else:
            result.missing += 1
    if probe.paged_at:
        result.all_paged += max(probe.paged_at.values()) - first


async def confirm_one_by_one(
    app: App, probe: PageProbe, buttons: dict[int, str], result: Result
) -> None:
    for i, data in buttons.items():
        probe.expect({i})
        t0 = time.perf_counter()
        await app.router.handle(ButtonEvent(Sender(Origin.CONSOLE, caco(i)), data))
        result.handle.append(time.perf_counter() - t0)
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(probe.all_paged.wait(), 30)
        collect(result, probe, {i: t0}, t0)
        await wait_drained(app, 30)


async def scenario(kind: str, url: str, name: str, cacos: int, incidents: int) -> Result:
    setup = make_engine(url)
    await import_region(setup, parse_region(region_yaml(cacos=cacos)))
    await setup.dispose()
    result = Result(kind, name, incidents, cacos)
    transport = BenchTransport()
    probe = PageProbe(transport)
    async with running(url, [transport], SystemClock()) as app:
        buttons = await open_alarms(app, transport, range(incidents))
        if name == "one at a time":
            await confirm_one_by_one(app, probe, buttons, result)
        else:
            await confirm_burst(app, probe, buttons, result)
    return result


SCENARIOS = (
    # (name, cacos in the region, incidents)
    ("one at a time", 100, 10),
    ("burst", 10, 10),
    ("burst", 100, 100),
)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--incidents", type=int, default=100, help="incidents (and Caco's) in the main burst"
    )
    parser.add_argument("--no-readme", action="store_true", help="only print")
    args = parser.parse_args()
    quiet_logging()
    scenarios = [s if s[2] != 100 else (s[0], args.incidents, args.incidents) for s in SCENARIOS]
    results: list[Result] = []
    for name, cacos, incidents in scenarios:
        for kind in available_kinds():
            with database(kind) as url:
                r = asyncio.run(scenario(kind, url, name, cacos, incidents))
            results.append(r)
            print(
                f"{kind:10} {name:13} {incidents:3} incidents, {cacos:3} Caco: "
                f"p50 {ms(percentile(r.latencies, 50))} ms, "
                f"p99 {ms(percentile(r.latencies, 99))} ms, "
                f"max {ms(max(r.latencies, default=float('nan')))} ms, missing {r.missing}"
            )
    body = readme_body(results, args.incidents)
    print()
    print(body)
    if not args.no_readme:
        update_readme("page_latency", "Page latency", body)


def readme_body(results: list[Result], burst: int) -> str:
    rows = []
    for r in results:
        rows.append(
            [
                r.kind,
                r.scenario,
                r.incidents,
                r.cacos,
                f"**{ms(percentile(r.latencies, 50))}**",
                f"**{ms(percentile(r.latencies, 99))}**",
                ms(max(r.latencies, default=float("nan"))),
                f"{ms(percentile(r.handle, 50))} / {ms(percentile(r.handle, 99))}",
                f"{percentile(r.before_page, 50):.0f}",
                f"{r.all_paged:.2f}",
                "-"
                if r.scenario == "one at a time"
                else ("timeout" if r.drained is None else f"{r.drained:.2f}"),
                f"{r.sent / r.drained:.0f}" if r.drained else "-",
                r.missing,
            ]
        )
    lines = [
        machine().markdown(),
        "",
        "Latency = from just before the confirm button event is handed to `Router.handle` "
        "until the fake transport's `send()` is called with that incident's page. \"one at "
        "a time\": each confirm after the previous one's outbox drained (no contention). "
        '"burst": all confirms released together by N tasks, one per Caco. Outbox rows are '
        "delivered in id order by the production delivery loop.",
        "",
        table(
            [
                "DB",
                "scenario",
                "incidents",
                "Caco's",
                "p50 ms",
                "p99 ms",
                "max ms",
                "confirm handle p50/p99 ms",
                "msgs sent before the page (p50)",
                "last page after s",
                "outbox empty after s",
                "delivered msgs/s",
                "pages missing",
            ],
            rows,
        ),
    ]
    main = {r.kind: r for r in results if r.scenario == "burst" and r.incidents == burst}
    for kind, r in main.items():
        p99 = percentile(r.latencies, 99)
        verdict = "met" if p99 <= 0.05 and not r.missing else "NOT met"
        lines += [
            "",
            f"**Target p99 <= 50 ms with {burst} concurrent incidents, {kind}: "
            f"{verdict}** (p99 {ms(p99)} ms).",
        ]
    base = {r.kind: r for r in results if r.scenario == "one at a time"}
    ratios = [
        f"{k}: burst p99 / one-at-a-time p99 = "
        f"{percentile(main[k].latencies, 99) / percentile(base[k].latencies, 99):.0f}x"
        for k in main
        if k in base and base[k].latencies and main[k].latencies
    ]
    if "sqlite" in main and "postgresql" in main:
        ratio = percentile(main["sqlite"].latencies, 99) / percentile(
            main["postgresql"].latencies, 99
        )
        ratios.append(f"SQLite/PostgreSQL burst p99 = {ratio:.2f}x")
    if ratios:
        lines += ["", "Ratios (same run): " + "; ".join(ratios) + "."]
    return "\n".join(lines)


if __name__ == "__main__":
    main()
