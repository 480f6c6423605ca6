"""Alert confirmed -> page handed to the transport: latency with 100 concurrent incidents.

The app runs as `scm-bot run` runs it (`scm_bot.instance.running`: the inbox loop
`Inbox.run`, the delivery loop `Deliverer.run`, APScheduler for the timers, `SystemClock`).
Every event goes in as a chat adapter hands it in: `Inbox.accept` stores it (the Telegram
poller confirms the update only after that, Slack acks only then), the inbox loop hands the
fresh event to `Router.handle` (without reading the table), whose commit hands the page row
to a delivery worker (`Deliverer.offer`), which sends it part by part with its ledger
(APScheduler in memory; on SQLite the units of work run on the event loop through
SQLAlchemy's synchronous engine). The latency of an incident runs from just before its
confirm button event is handed to `Inbox.accept` until the fake transport's `send()` is
called with that incident's page (timestamp taken inside `send()`).

Target scenario ("steady"): a region with 3 Caco's (`--cacos`) and one ROL rotation. First
100 incidents are opened through the real flow and left open (`--open`; not measured): a
Caco sends `/alarm Soest: open-<i> ...`, presses "Bevestigen en pagen" once the prompt
arrived, the ROL on duty is paged and nobody answers, so every page stays active with its
escalation timer pending. Then, with those 100 still open, 200 further alerts (`--measured`)
are confirmed one at a time at a steady rate (`--rate`, 5/s): confirm i is handed in at
start + i / rate, whether or not earlier pages arrived yet (open loop). The Caco's take
turns; before each confirm its Caco sends `/alarm Soest: bench-<i> ...` and waits for the
prompt (not measured, but part of the load). Every page is also reported to every Caco
("ROL gepaged").

Where the time goes (target scenario): every unit of work of the bot is traced through
SQLAlchemy's pool and connection events (`benchmarks._trace`), and each page's path is
followed back from its send (`benchmarks._trace.follow`): the inbox store of its confirm,
its handling transaction, the ledger's "sending" commit.

Stress rows (for information, `--no-burst` skips them): N Caco's (N = 10 and `--burst`,
100) each open an alarm, then N asyncio tasks, released together, each hand in their
confirm; every page is reported to all N Caco's (N x N messages).

    .venv/bin/python -m benchmarks.page_latency [--open 100] [--measured 200] [--rate 5]
        [--cacos 3] [--burst 100] [--no-burst]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import itertools
import math
import re
import time
from collections import Counter
from dataclasses import dataclass, field

from benchmarks import _trace as trace
from benchmarks._common import (
    BenchTransport,
    available_kinds,
    database,
    log_summary,
    machine,
    ms,
    percentile,
    quiet_logging,
    region_yaml,
    select_1_times,
    table,
    update_readme,
)
from core.clock import SystemClock
from core.events import ButtonEvent, InboundEvent, Sender, parse_text
from core.incidents.paging import ESCALATE
from core.messages import Message
from core.model import Origin, Person
from core.region.file import parse_region
from scm_bot.app import App
from scm_bot.instance import running
from storage.database import make_engine
from storage.region import import_region

TAG = re.compile(r"\bbench-(\d+)\b")
CONFIRM = "al:confirm."  # the alarm flow's confirm button (step.draft)
PAGE_TIMEOUT = 120.0  # seconds to wait for all pages before giving up
PROMPT_TIMEOUT = 30.0  # seconds to wait for the alarm flow's confirm prompt
TARGET = 0.05  # seconds: p99 at most 50 ms
LATE_HANDIN = 0.01  # a confirm handed in more than this after its slot counts as late
STEADY = "steady"
BURST = "burst"
EVENT_IDS = itertools.count(1)

# The previous engine (session 5: `Router.handle` called directly, the commit handing its
# rows to delivery in memory), from benchmarks/README.md at commit 78a935c (2026-11-24,
# AMD EPYC, 2 cores, load 0.2): p50 / p99 / max ms.
BEFORE = {
    ("sqlite", STEADY, 100): (2.4, 4.3, 4.9),
    ("postgresql", STEADY, 100): (5.1, 7.0, 7.3),
    ("sqlite", BURST, 10): (5.6, 12.6, 12.9),
    ("postgresql", BURST, 10): (60.7, 90.5, 91.2),
    ("sqlite", BURST, 100): (179.2, 343.5, 350.6),
    ("postgresql", BURST, 100): (704.5, 1050.2, 1050.3),
}
SAME_LOAD = (
    "Same-load reference: the session 5 engine's own script (`git archive 78a935c`, "
    "`--no-burst`) run on this machine on 2026-12-03 06:40 UTC, load 7.1: target scenario "
    "p50 / p99 / max **8.1 / 22.7 / 25.4 ms** on SQLite (met), **33.3 / 66.7 / 95.4 ms** on "
    "PostgreSQL (not met at that load)."
)

# The path of one page, in order (`trace.PATH`): (stage, the unit of work that ends it).
STAGES = (
    ("confirm stored (`Inbox.accept`)", trace.STORE),
    ("handled (`Router.handle`'s transaction, the fresh event handed over)", trace.HANDLE),
    ('ledger "sending" committed (the commit handed the row to a worker)', trace.SENDING),
)
assert tuple(kind for _, kind in STAGES) == trace.PATH


@dataclass
class Chain:
    """The units of work on one page's path, and when the page reached the transport."""

    t0: float
    units: list[trace.Unit]  # one per STAGES entry
    paged_at: float
    off_path: Counter[str]  # other units of work that started on the way, by kind
    off_path_time: float  # and the time they held a connection

    def stage(self, i: int) -> float:
        before = self.t0 if i == 0 else self.units[i - 1].end
        end = self.paged_at if i == len(self.units) else self.units[i].end
        return end - before


@dataclass
class Result:
    kind: str
    scenario: str  # STEADY (the target scenario) or BURST (stress)
    open: int  # incidents open (paged, unanswered) before the measured confirms
    measured: int  # confirms measured
    cacos: int
    rate: float | None = None  # confirms per second (steady)
    latencies: list[float] = field(default_factory=list)  # confirm -> page at transport
    from_handling: list[float] = field(default_factory=list)  # handling starts -> page
    accept: list[float] = field(default_factory=list)  # Inbox.accept of the confirm
    before_page: list[int] = field(default_factory=list)  # sends between confirm and page
    late: list[float] = field(default_factory=list)  # seconds each confirm missed its slot
    all_paged: float | None = None  # first confirm handed in -> last page sent
    window: float | None = None  # first confirm handed in -> outbox empty
    drained: float | None = None  # last confirm handed in -> outbox empty
    sent: int = 0  # messages sent from the first confirm until the outbox was empty
    missing: int = 0
    escalations: tuple[int, int] = (0, 0)  # escalation timers pending before / after
    chains: list[Chain] = field(default_factory=list)
    unchained: int = 0  # pages whose path could not be followed back in the trace
    units: int = 0  # units of work traced from the first confirm until the outbox was empty
    cpu: float = math.nan  # the process's CPU seconds per wall second, measured phase
    db_busy: float = math.nan  # the units of work's connection time per wall second, same
    per_confirm: Counter[str] = field(default_factory=Counter)  # units of work per confirm
    trips_per_confirm: float = math.nan  # driver round trips per confirm, all units
    select_1: float = math.nan  # one round trip: SELECT 1 on an open connection, median
    empty_unit: float = math.nan  # an empty unit of work (checkout, its first statement, return)

    def p(self, p: float) -> float:
        """Percentile over every measured confirm; a page never sent counts as infinite."""
        values = self.latencies + [math.inf] * self.missing
        return percentile(values, p) if values else math.nan

    def label(self) -> str:
        if self.scenario == STEADY:
            return f"**target**: {self.open} open, {self.measured} confirms at {self.rate:g}/s"
        return f"stress (for information): {self.measured} confirms at once"

    def before(self) -> tuple[float, float, float] | None:
        return BEFORE.get((self.kind, self.scenario, self.open or self.measured))


class PageProbe:
    """Timestamps, inside the fake transport's send(), the first page of each incident;
    notes each Caco's confirm prompts."""

    def __init__(self, transport: BenchTransport) -> None:
        self.transport = transport
        self.paged_at: dict[int, float] = {}
        self.sends_before: dict[int, int] = {}
        self.handed_in_at: dict[int, int] = {}  # transport.sends when the confirm went in
        self.all_paged = asyncio.Event()
        self.expected: set[int] = set()
        self.start_sends = 0
        self.prompts: dict[str, asyncio.Event] = {}
        transport.on_send = self.seen

    def expect(self, tags: set[int]) -> None:
        self.expected = set(tags)
        self.paged_at.clear()
        self.sends_before.clear()
        self.handed_in_at.clear()
        self.all_paged.clear()
        self.start_sends = self.transport.sends

    def handed_in(self, tag: int) -> None:
        self.handed_in_at[tag] = self.transport.sends

    def prompt(self, person: str) -> asyncio.Event:
        """A fresh event, set when `person` next gets a message with a confirm button."""
        event = self.prompts[person] = asyncio.Event()
        return event

    def seen(self, at: float, person: Person, message: Message) -> None:
        if any(b.data.startswith(CONFIRM) for b in message.buttons):
            event = self.prompts.get(person.key)
            if event is not None:
                event.set()
            return
        if not any(b.data.startswith("pg:") for b in message.buttons):
            return
        match = TAG.search(message.text)
        if match is None:
            return
        tag = int(match.group(1))
        if tag in self.expected and tag not in self.paged_at:
            self.paged_at[tag] = at
            since = self.handed_in_at.get(tag, self.start_sends)
            self.sends_before[tag] = self.transport.sends - 1 - since
            if self.expected <= self.paged_at.keys():
                self.all_paged.set()


async def pending_outbox(app: App) -> int:
    async with app.uows() as uow:
        return await uow.outbox.count_pending()


async def pending_escalations(app: App) -> int:
    async with app.uows() as uow:
        return sum(1 for t in await uow.timers.pending() if t.kind == ESCALATE)


async def wait_drained(app: App, limit: float) -> float | None:
    """Seconds until the inbox is handled and the outbox empty (polled every 20 ms), None
    on timeout."""
    start = time.perf_counter()
    while time.perf_counter() - start < limit:
        async with app.uows() as uow:
            left = await uow.outbox.count_pending() + await uow.inbox.count_pending()
        if left == 0:
            return time.perf_counter() - start
        await asyncio.sleep(0.02)
    return None


def caco(i: int) -> str:
    return f"caco-{i:03d}"


def event_id() -> str:
    return f"bench-{next(EVENT_IDS)}"


def sender(person: str, eid: str | None = None) -> Sender:
    return Sender(Origin.CONSOLE, person, event_id=eid or event_id())


async def hand_in(app: App, event: InboundEvent) -> None:
    """As a chat adapter hands an event in: stored in the inbox; the inbox loop handles it."""
    await app.inbox.accept([(event, {})])


async def draft(app: App, probe: PageProbe, person: str, tag: str) -> str:
    """`person` starts an alarm in one line and waits for its confirm prompt to arrive;
    returns the confirm button's data."""
    prompt = probe.prompt(person)
    await hand_in(app, parse_text(sender(person), f"/alarm Soest: {tag} gaslek"))
    try:
        await asyncio.wait_for(prompt.wait(), PROMPT_TIMEOUT)
    except TimeoutError:
        raise RuntimeError(f"no confirm prompt for {person} ({tag})") from None
    return probe.transport.button(person, CONFIRM)


async def open_incidents(app: App, probe: PageProbe, cacos: int, count: int) -> None:
    """`count` incidents raised and paged through the real flow, left unanswered."""
    for i in range(count):
        person = caco(i % cacos)
        data = await draft(app, probe, person, f"open-{i:03d}")
        await hand_in(app, ButtonEvent(sender(person), data))
    if await wait_drained(app, 60) is None:
        raise RuntimeError("the open incidents' messages were not delivered")


async def finish(app: App, probe: PageProbe, result: Result, started: dict[int, float]) -> None:
    """Wait for every page (and then the outbox); collect the figures."""
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(probe.all_paged.wait(), PAGE_TIMEOUT)
    first, last = min(started.values()), max(started.values())
    for i, t0 in started.items():
        if i in probe.paged_at:
            result.latencies.append(probe.paged_at[i] - t0)
            result.before_page.append(probe.sends_before[i])
        else:
            result.missing += 1
    if probe.paged_at:
        result.all_paged = max(probe.paged_at.values()) - first
    remaining = PAGE_TIMEOUT - (time.perf_counter() - last)
    if await wait_drained(app, max(remaining, 1.0)) is not None:
        result.window = time.perf_counter() - first
        result.drained = time.perf_counter() - last
    result.sent = probe.transport.sends - probe.start_sends


def follow(units: list[trace.Unit], eid: str, t0: float, paged_at: float) -> Chain | None:
    """The units of work on one page's path, followed back from its send."""
    path = trace.follow(units, eid, t0, paged_at)
    if path is None:
        return None
    return Chain(t0, path.units, paged_at, path.off_path, path.off_path_time)


async def confirm_steady(app: App, probe: PageProbe, result: Result, sql: trace.SqlTrace) -> None:
    """Confirm i is handed in at start + i / rate (open loop); the Caco's take turns, each
    drafting its next alarm right after handing in its previous confirm."""
    assert result.rate is not None
    rate = result.rate
    started: dict[int, float] = {}
    ids: dict[int, str] = {}
    probe.expect(set(range(result.measured)))
    start = time.perf_counter() + 0.5

    async def drive(c: int) -> None:
        person = caco(c)
        for i in range(c, result.measured, result.cacos):
            data = await draft(app, probe, person, f"bench-{i:03d}")
            slot = start + i / rate
            await asyncio.sleep(max(0.0, slot - time.perf_counter()))
            probe.handed_in(i)
            ids[i] = eid = event_id()
            started[i] = t0 = time.perf_counter()
            result.late.append(max(0.0, t0 - slot))
            await hand_in(app, ButtonEvent(sender(person, eid), data))
            result.accept.append(time.perf_counter() - t0)

    sql.recording = True
    cpu, wall = time.process_time(), time.perf_counter()
    await asyncio.gather(*(drive(c) for c in range(min(result.cacos, result.measured))))
    await finish(app, probe, result, started)
    wall = time.perf_counter() - wall
    result.cpu = (time.process_time() - cpu) / wall
    sql.recording = False
    units = sql.bot_units()
    result.db_busy = sum(u.duration for u in units) / wall
    result.units = len(units)
    result.per_confirm.update(u.kind.split(":")[0] for u in units)
    result.trips_per_confirm = sum(u.round_trips(result.kind) for u in units) / result.measured
    for i, t0 in started.items():
        if i not in probe.paged_at:
            continue
        chain = follow(units, ids[i], t0, probe.paged_at[i])
        if chain is None:
            result.unchained += 1
            continue
        result.chains.append(chain)
        result.from_handling.append(chain.paged_at - chain.units[1].start)


async def confirm_burst(
    app: App, probe: PageProbe, buttons: dict[int, str], result: Result
) -> None:
    """All confirms released at once."""
    gate = asyncio.Event()
    started: dict[int, float] = {}

    async def confirm(i: int) -> None:
        await gate.wait()
        probe.handed_in(i)
        started[i] = time.perf_counter()
        await hand_in(app, ButtonEvent(sender(caco(i)), buttons[i]))
        result.accept.append(time.perf_counter() - started[i])

    probe.expect(set(buttons))
    tasks = [asyncio.create_task(confirm(i)) for i in buttons]
    await asyncio.sleep(0.05)  # every task is parked at the gate
    gate.set()
    await asyncio.gather(*tasks)
    await finish(app, probe, result, started)


async def open_alarms(app: App, transport: BenchTransport, tags: range) -> dict[int, str]:
    """Every Caco opens an alarm; returns each one's confirm button data."""
    for i in tags:
        await hand_in(app, parse_text(sender(caco(i)), f"/alarm Soest: bench-{i:03d} gaslek"))
    if await wait_drained(app, 60) is None:
        raise RuntimeError("the confirmation prompts were not delivered")
    return {i: transport.button(caco(i), CONFIRM) for i in tags}


async def floor(app: App, result: Result, n: int = 200) -> None:
    """One round trip (SELECT 1 on an open connection of the units of work's engine) and
    one empty unit of work (checkout, `BEGIN IMMEDIATE` on SQLite or the revision read on
    PostgreSQL, return), medians, the bot idle."""
    one = await select_1_times(app, n)
    empty: list[float] = []
    for _ in range(n):
        start = time.perf_counter()
        async with app.uows():
            pass
        empty.append(time.perf_counter() - start)
    result.select_1, result.empty_unit = percentile(one, 50), percentile(empty, 50)


async def scenario(url: str, result: Result) -> None:
    setup = make_engine(url)
    await import_region(setup, parse_region(region_yaml(cacos=result.cacos)))
    await setup.dispose()
    transport = BenchTransport()
    probe = PageProbe(transport)
    async with running(url, [transport], SystemClock()) as app:
        sql = trace.SqlTrace(app.uows.statement_engine, result.kind, trace.classify)
        if result.scenario == STEADY:
            await open_incidents(app, probe, result.cacos, result.open)
            before = await pending_escalations(app)
            await confirm_steady(app, probe, result, sql)
            await floor(app, result)
        else:
            buttons = await open_alarms(app, transport, range(result.measured))
            before = await pending_escalations(app)
            await confirm_burst(app, probe, buttons, result)
        sql.detach()
        result.escalations = (before, await pending_escalations(app))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--open", type=int, default=100, help="incidents open while measuring (target)"
    )
    parser.add_argument("--measured", type=int, default=200, help="confirms measured (target)")
    parser.add_argument("--rate", type=float, default=5.0, help="confirms per second (target)")
    parser.add_argument("--cacos", type=int, default=3, help="Caco's in the region (target)")
    parser.add_argument("--burst", type=int, default=100, help="the large stress burst")
    parser.add_argument("--no-burst", action="store_true", help="skip the stress bursts")
    parser.add_argument("--no-readme", action="store_true", help="only print")
    args = parser.parse_args()
    quiet_logging()
    plans = [(STEADY, args.cacos, args.open, args.measured)]
    if not args.no_burst:
        plans += [(BURST, n, 0, n) for n in sorted({min(10, args.burst), args.burst})]
    kinds = available_kinds()
    results: list[Result] = []
    for name, cacos, open_, measured in plans:
        for kind in kinds:
            r = Result(kind, name, open_, measured, cacos, args.rate if name == STEADY else None)
            with database(kind) as url:
                asyncio.run(scenario(url, r))
            results.append(r)
            print(
                f"{kind:10} {name:6} {open_:3} open, {measured:3} confirms, {cacos:3} Caco: "
                f"p50 {ms(r.p(50))} ms, p99 {ms(r.p(99))} ms, max {ms(r.p(100))} ms, "
                f"accept p99 {ms(percentile(r.accept, 99))} ms, missing {r.missing}, "
                f"late hand-ins {sum(1 for x in r.late if x > LATE_HANDIN)}, "
                f"escalations pending {r.escalations[0]} -> {r.escalations[1]}",
                flush=True,
            )
    body = readme_body(results)
    print()
    print(body)
    if not args.no_readme:
        update_readme("page_latency", "Page latency", body)


def seconds(value: float | None) -> str:
    return "timeout" if value is None else f"{value:.2f}"


def row(r: Result) -> list[object]:
    late = sum(1 for x in r.late if x > LATE_HANDIN)
    before = r.before()
    return [
        r.kind,
        r.label(),
        r.cacos,
        f"**{ms(r.p(50))}** / **{ms(r.p(99))}** / {ms(r.p(100))}",
        " / ".join(f"{x:.1f}" for x in before) if before else "-",
        f"{ms(percentile(r.accept, 50))} / {ms(percentile(r.accept, 99))}",
        f"{percentile(r.before_page, 50):.0f}",
        f"{late} (max {ms(max(r.late))} ms)" if r.scenario == STEADY and r.late else "-",
        "-" if r.all_paged is None else f"{r.all_paged:.2f}",
        seconds(r.drained),
        f"{r.sent:,} ({r.sent / r.window:.0f}/s)" if r.window else f"{r.sent:,}",
        f"{r.escalations[0]} / {r.escalations[1]}",
        r.missing,
    ]


def verdict(r: Result) -> str:
    p99 = r.p(99)
    met = p99 <= TARGET and not r.missing
    figures = f"p99 {ms(p99)} ms, max {ms(r.p(100))} ms, {r.missing} pages missing"
    before = r.before()
    if before:
        figures += f"; before: p99 {before[1]:.1f} ms"
    if r.scenario == STEADY:
        late = sum(1 for x in r.late if x > LATE_HANDIN)
        if late:
            figures += (
                f"; {late} of {r.measured} confirms were handed in more than "
                f"{ms(LATE_HANDIN)} ms after their slot (max {ms(max(r.late))} ms), so the "
                "offered rate was not fully kept"
            )
        return (
            f"**Target p99 <= 50 ms with {r.open} concurrent incidents, {r.kind} (target "
            f"scenario: {r.measured} further alerts confirmed one at a time at {r.rate:g}/s "
            f"by {r.cacos} Caco's): {'met' if met else 'NOT met'}** ({figures})."
        )
    return (
        f"Stress row, {r.kind} (for information, not the target scenario: {r.measured} "
        f"confirms released at the same instant by {r.cacos} Caco's, each page reported to "
        f"all {r.cacos}): p99 {'within' if met else '**over**'} the 50 ms bound ({figures})."
    )


def breakdown(r: Result) -> list[str]:
    """Where one page's time goes, stage by stage, from the trace."""
    chains = r.chains
    if not chains:
        return [f"{r.kind}: no page's path could be followed in the trace."]
    rows = []
    for i, (label, _) in enumerate(STAGES):
        stage = [c.stage(i) for c in chains]
        held = [c.units[i].duration for c in chains]
        trips = [c.units[i].round_trips(r.kind) for c in chains]
        statements = [len(c.units[i].statements) for c in chains]
        rows.append(
            [
                label,
                ms(percentile(stage, 50)),
                ms(percentile(stage, 99)),
                ms(percentile(held, 50)),
                ms(percentile([s - h for s, h in zip(stage, held, strict=True)], 50)),
                f"{percentile(statements, 50):.0f}",
                f"{percentile(trips, 50):.0f}",
            ]
        )
    last = [c.stage(len(STAGES)) for c in chains]
    rows.append(
        ["transport `send()` called", ms(percentile(last, 50)), ms(percentile(last, 99))] + [""] * 4
    )
    total = [c.paged_at - c.t0 for c in chains]
    trips = [sum(u.round_trips(r.kind) for u in c.units) for c in chains]
    statements = [sum(len(u.statements) for u in c.units) for c in chains]
    held = [sum(u.duration for u in c.units) for c in chains]
    rows.append(
        [
            "**total** (hand-in -> `send()`)",
            f"**{ms(percentile(total, 50))}**",
            f"**{ms(percentile(total, 99))}**",
            ms(percentile(held, 50)),
            ms(percentile([t - h for t, h in zip(total, held, strict=True)], 50)),
            f"{percentile(statements, 50):.0f}",
            f"{percentile(trips, 50):.0f}",
        ]
    )
    off: Counter[str] = Counter()
    for c in chains:
        off.update(c.off_path)
    n = len(chains)
    off_text = ", ".join(f"{kind} {count / n:.1f}" for kind, count in off.most_common())
    return [
        f"{r.kind} ({n} of {len(r.latencies)} pages followed back; {r.unchained} not): "
        'p50 / p99 per stage, each measured from the end of the one before; "in the '
        'database" = the unit of work holding its connection (checkout to return), '
        '"waiting" = the rest ('
        + ("the units' turn for their lock, " if r.kind == "sqlite" else "")
        + "the loop waking the next task, the worker's sending slot).",
        "",
        table(
            [
                "stage",
                "p50 ms",
                "p99 ms",
                "in the database p50 ms",
                "waiting p50 ms",
                "statements",
                "driver round trips",
            ],
            rows,
        ),
        "",
        f"Other units of work that started while a page was on its way (per page): "
        f"{off_text or 'none'}; they held a connection p50 "
        f"{ms(percentile([c.off_path_time for c in chains], 50))} ms per page. One round "
        f"trip (`SELECT 1` on an open connection) {r.select_1 * 1e3:.2f} ms; an empty unit "
        "of work (checkout, "
        + ("`BEGIN IMMEDIATE`" if r.kind == "sqlite" else "the revision read")
        + f", return) {r.empty_unit * 1e3:.2f} ms (medians, the bot idle).",
        "",
        f"Everything one confirm cycle (the draft, its prompt, the confirm, the page and "
        f"the {r.cacos} reports to the Caco's) costs the bot, per confirm: "
        + ", ".join(f"{kind} {c / r.measured:.1f}" for kind, c in r.per_confirm.most_common())
        + f" units of work; {r.trips_per_confirm:.0f} driver round trips. During the "
        f"measured phase the units of work held a connection {r.db_busy:.0%} of the time "
        + (
            "(summed; on SQLite they take turns, one lock in `SqlUnitOfWorkFactory`)"
            if r.kind == "sqlite"
            else "(summed over the pool's connections)"
        )
        + f", and the bot process used {r.cpu:.0%} of one core (CPU time / wall time"
        + ("; the statements run on the event loop's own thread)." if r.kind == "sqlite" else ")."),
    ]


def readme_body(results: list[Result]) -> str:
    steady = next((r for r in results if r.scenario == STEADY), None)
    lines = [
        machine().markdown(),
        "",
        "Latency = from just before the confirm button event is handed to `Inbox.accept` (as "
        "the Telegram poller and the Slack handler hand events in: stored, then confirmed "
        "to the platform) until the fake transport's `send()` is called with that incident's "
        "page; a page never sent counts as infinitely late. The production wiring "
        "(`scm_bot.instance.running`): the inbox loop hands the stored event to `Router.handle`; "
        "its commit hands the rows it queued to delivery (`Deliverer.offer`): a person "
        "without a worker gets one at once, which sends part by part, committing the "
        "ledger's `sending` before each part goes out (the outcome goes with the next write "
        "for that row). On SQLite the units of work run on the event loop through "
        "SQLAlchemy's synchronous engine, each beginning with `BEGIN IMMEDIATE`; on "
        "PostgreSQL each begins with the region revision read (no pre-ping). **Before** = "
        "the session 5 engine (commit 78a935c, same scenarios, same kind of machine, calm: "
        "load 0.2-0.9), where the event was handed "
        "straight to `Router.handle` and its commit handed the rows to delivery in memory.",
        "",
    ]
    if steady is not None and steady.rate:
        lines += [
            f"**The target rows are the target scenario**: a region of {steady.cacos} Caco's "
            "and a ROL rotation; first "
            f"{steady.open} incidents are raised and confirmed through the real flow and left "
            "open (paged, unanswered, their escalation timers pending; not measured); then, "
            f"with those still open, {steady.measured} further alerts are confirmed one at a "
            f"time, one every {1 / steady.rate:.2f} s ({steady.rate:g}/s, open loop: the next "
            "confirm goes in at its slot whether or not earlier pages arrived). The Caco's "
            "take turns; each drafts its next alarm (`/alarm Soest: ...`, waiting for the "
            "prompt) right after its previous confirm, so those events are part of the load. "
            'Every page is also reported to every Caco. "late hand-ins" = confirms handed '
            f"in more than {ms(LATE_HANDIN)} ms after their slot.",
            "",
        ]
    if any(r.scenario == BURST for r in results):
        lines += [
            "The stress rows are reported for information, not for the target: N Caco's each "
            "open an alarm, then all N confirms are released at the same instant, and every "
            "page is reported to all N Caco's (N x N messages): a thundering herd, not N "
            "concurrent incidents.",
            "",
        ]
    lines += [
        table(
            [
                "DB",
                "scenario",
                "Caco's",
                "p50 / p99 / max ms",
                "before (session 5 engine): p50 / p99 / max ms",
                "`Inbox.accept` p50/p99 ms",
                "msgs sent between confirm and page (p50)",
                "late hand-ins",
                "last page, s after the first confirm",
                "outbox empty, s after the last confirm",
                "msgs delivered",
                "escalations pending before / after",
                "pages missing",
            ],
            [row(r) for r in results],
        ),
    ]
    for r in results:
        if r.scenario == STEADY:
            lines += ["", verdict(r)]
    if any(r.scenario == STEADY for r in results):
        lines += ["", SAME_LOAD]
    for r in results:
        if r.scenario == BURST:
            lines += ["", verdict(r)]
    steadies = [r for r in results if r.scenario == STEADY]
    if steadies:
        lines += [
            "",
            "### Where a page's time goes (target scenario)",
            "",
            "Every unit of work of the bot traced through SQLAlchemy's pool and connection "
            "events (`benchmarks/_trace.py`; nothing in the bot changed); each page's path "
            "followed back from its `send()`: the inbox store of its confirm, its handling "
            "transaction (the inbox loop hands a fresh event over without reading the table) "
            "and the ledger's `sending` commit just before the send (the handling commit "
            "hands the page row to a worker, without a dispatch query); an inbox read or a "
            "dispatch query on the way counts as another unit of work. Driver round trips: "
            "on PostgreSQL one per statement (the revision read first, which also finds a "
            "dead pooled connection: no pre-ping) plus `BEGIN` and `COMMIT`/`ROLLBACK`; on "
            "SQLite, whose statements run on the event loop's own thread, the calls into "
            "`sqlite3`: every statement (`BEGIN IMMEDIATE` included), commit and rollback. "
            "For comparison, the old definition "
            "(from the start of the handling transaction to `send()`), p50 / p99: "
            + "; ".join(
                f"{r.kind} {ms(percentile(r.from_handling, 50))} / "
                f"{ms(percentile(r.from_handling, 99))} ms"
                for r in steadies
            )
            + ".",
        ]
        for r in steadies:
            lines += ["", *breakdown(r)]
    ratios = []
    for s in steadies:
        bursts = [r for r in results if r.kind == s.kind and r.scenario == BURST]
        big = max(bursts, key=lambda r: r.measured) if bursts else None
        if big is not None and 0 < s.p(99) < math.inf and big.p(99) < math.inf:
            ratios.append(
                f"{s.kind}: burst of {big.measured} p99 / target p99 = {big.p(99) / s.p(99):.0f}x"
            )
    by_kind = {r.kind: r for r in steadies}
    if "sqlite" in by_kind and "postgresql" in by_kind:
        sq, pg = by_kind["sqlite"].p(99), by_kind["postgresql"].p(99)
        if 0 < pg < math.inf and sq < math.inf:
            ratios.append(f"SQLite/PostgreSQL target p99 = {sq / pg:.2f}x")
    for s in steadies:
        before = s.before()
        if before and 0 < s.p(99) < math.inf:
            ratios.append(f"{s.kind}: target p99 now / before = {s.p(99) * 1e3 / before[1]:.1f}x")
    if ratios:
        lines += ["", "Ratios (same run): " + "; ".join(ratios) + "."]
    lines += ["", f"Logged (warning and above): {log_summary()}."]
    return "\n".join(lines)


if __name__ == "__main__":
    main()
