"""Inbound events per second through the core, on SQLite and PostgreSQL side by side.

One "incident cycle" is six inbound events, each one `Router.handle` call followed by
delivering the outbox it queued (the commit hands the rows to the delivery workers,
`Deliverer.offer`; the driver awaits `Deliverer.quiet()` until they are sent; fake
in-memory transport):

1. Caco: `/alarm Soest: gaslek Kerkstraat <n>`      (flow opens, confirmation asked)
2. Caco presses "Bevestigen en pagen"                (incident raised, ROL on duty paged,
                                                      escalation timer scheduled)
3. the paged ROL presses "Ik pak het op"             (acknowledged, timer cancelled, page
                                                      message edited, meldkamer told)
4. Caco: `/status`
5. Caco: `/sluit <nr>`                               (close asked)
6. Caco presses "Ja, sluiten"                        (closed, page messages edited)

Each database runs the cycle twice: in the production wiring (`scm_bot.instance.running`:
APScheduler with its in-memory job store, the inbox and delivery loops) and as `build()`
with the in-memory `ManualTimerScheduler` and only the delivery loop, to show what the
production wiring costs. On SQLite the units of work run on the event loop through
SQLAlchemy's synchronous engine (`storage.connection`), each beginning with `BEGIN
IMMEDIATE`; on PostgreSQL each begins with the region revision read (no pre-ping). A last
probe times `/status` against the number of open incidents.

    .venv/bin/python -m benchmarks.inbound_throughput [--incidents N]
"""

from __future__ import annotations

import argparse
import asyncio
import time
from collections import defaultdict
from collections.abc import AsyncIterator, Callable
from contextlib import AsyncExitStack, ExitStack, asynccontextmanager
from dataclasses import dataclass, field

from sqlalchemy import event

from benchmarks._common import (
    BenchTransport,
    Stopwatch,
    available_kinds,
    database,
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
from core.model import Origin
from core.region.file import parse_region
from scm_bot.app import App, build
from scm_bot.instance import running
from storage.database import make_engine
from storage.region import import_region

CACO = "caco-000"
EVENT_KINDS = ("alarm", "confirm", "ack", "status", "sluit", "sluit-ja")
WARMUP_INCIDENTS = 10
STATUS_OPEN = (1, 10, 50, 100)


@dataclass
class Run:
    kind: str
    scheduler: str
    events: int = 0
    seconds: float = 0.0
    latencies: list[float] = field(default_factory=list)
    handle: list[float] = field(default_factory=list)  # Router.handle part of each event
    by_kind: dict[str, list[float]] = field(default_factory=lambda: defaultdict(list))
    messages: int = 0
    statements: int = 0  # SQL statements executed by the units of work's engine
    # Statements + commits + rollbacks (also the pool's reset on connection return); on
    # SQLite each is one call into `sqlite3` on the loop, `BEGIN IMMEDIATE` among the
    # statements.
    round_trips: int = 0
    checkouts: int = 0  # transactions begun, i.e. units of work that ran a statement

    @property
    def label(self) -> str:
        return f"{self.kind}, {'production' if self.production else 'manual'}"

    @property
    def production(self) -> bool:
        return self.scheduler.startswith("APS")

    @property
    def rate(self) -> float:
        return self.events / self.seconds if self.seconds else 0.0


class Driver:
    """Sends events as people would and delivers after each, timing both together."""

    def __init__(self, app: App, transport: BenchTransport) -> None:
        self.app = app
        self.transport = transport
        self.paged: tuple[str, str] | None = None  # (person key, ack button data)
        transport.on_send = self._seen

    def _seen(self, _at: float, person: object, message: object) -> None:
        for button in getattr(message, "buttons", ()):
            if button.data.startswith("pg:") and button.data.endswith(":ack"):
                self.paged = (getattr(person, "key", ""), button.data)

    async def event(self, run: Run | None, label: str, event: InboundEvent) -> None:
        start = time.perf_counter()
        direct = await self.app.router.handle(event)
        handled = time.perf_counter()
        await self.app.deliverer.quiet()
        done = time.perf_counter()
        elapsed = done - start
        if direct:
            raise RuntimeError(f"{label}: unexpected direct reply {direct}")
        if run is not None:
            run.events += 1
            run.latencies.append(elapsed)
            run.handle.append(handled - start)
            run.by_kind[label].append(elapsed)

    async def say(self, run: Run | None, label: str, who: str, text: str) -> None:
        await self.event(run, label, parse_text(Sender(Origin.CONSOLE, who), text))

    async def press(self, run: Run | None, label: str, who: str, data: str) -> None:
        await self.event(run, label, ButtonEvent(Sender(Origin.CONSOLE, who), data))

    async def raise_alarm(self, run: Run | None, n: int) -> tuple[str, str]:
        self.paged = None
        await self.say(run, "alarm", CACO, f"/alarm Soest: gaslek Kerkstraat {n}")
        await self.press(run, "confirm", CACO, self.transport.button(CACO, "al:confirm."))
        if self.paged is None:
            raise RuntimeError("the confirmed alarm paged nobody")
        return self.paged

    async def cycle(self, run: Run | None, n: int) -> None:
        """One full incident: raise, acknowledge, status, close. `n` is its number."""
        rol, ack = await self.raise_alarm(run, n)
        await self.press(run, "ack", rol, ack)
        await self.say(run, "status", CACO, "/status")
        await self.say(run, "sluit", CACO, f"/sluit {n:04d}")
        await self.press(run, "sluit-ja", CACO, self.transport.button(CACO, "cl:"))


@asynccontextmanager
async def started(url: str, production: bool) -> AsyncIterator[tuple[App, BenchTransport]]:
    """The app as `scm-bot run` starts it (`running`: APScheduler in memory, the inbox and
    delivery loops), or built with the in-memory `ManualTimerScheduler` (and the same
    delivery loop; the driver hands events to `Router.handle` itself)."""
    transport = BenchTransport()
    setup = make_engine(url)
    await import_region(setup, parse_region(region_yaml(cacos=1)))
    await setup.dispose()
    if production:
        async with running(url, [transport], SystemClock()) as app:
            yield app, transport
        return
    app = build(make_engine(url), SystemClock(), [transport])
    loop = asyncio.create_task(app.deliverer.run())  # the delivery loop, as in production
    app.deliverer.wake()
    try:
        yield app, transport
    finally:
        loop.cancel()
        await asyncio.gather(loop, return_exceptions=True)
        await app.close()
        await app.engine.dispose()


@dataclass
class Subject:
    """One configuration under test, alive for the whole run so chunks can interleave."""

    run: Run
    app: App
    transport: BenchTransport
    driver: Driver
    next_incident: int = 1
    counts: dict[str, int] = field(default_factory=lambda: defaultdict(int))

    async def chunk(self, cycles: int, measured: bool) -> None:
        sends, before = self.transport.sends + self.transport.edits, dict(self.counts)
        clock = Stopwatch()
        for _ in range(cycles):
            await self.driver.cycle(self.run if measured else None, self.next_incident)
            self.next_incident += 1
        if measured:
            self.run.seconds += clock.elapsed()
            self.run.messages += self.transport.sends + self.transport.edits - sends
            diff = {k: v - before.get(k, 0) for k, v in self.counts.items()}
            self.run.statements += diff.get("statement", 0)
            self.run.round_trips += sum(diff.values()) - diff.get("checkout", 0)
            self.run.checkouts += diff.get("checkout", 0)


def count_round_trips(app: App, counts: dict[str, int]) -> None:
    """Count what the app's units of work send to the database: SQLAlchemy's events on
    their engine (SQLite: the synchronous engine they run on; PostgreSQL: the async
    engine's synchronous core)."""

    def counter(name: str) -> Callable[..., None]:
        def seen(*_args: object) -> None:
            counts[name] += 1

        return seen

    statements = app.uows.statement_engine
    assert statements is not None, "count after the first unit of work"
    event.listen(statements, "before_cursor_execute", counter("statement"))
    event.listen(statements, "commit", counter("commit"))
    event.listen(statements, "rollback", counter("rollback"))
    event.listen(statements.pool, "reset", counter("reset"))
    # A unit of work that runs a statement begins a transaction.
    event.listen(statements, "begin", counter("checkout"))


async def throughput(urls: dict[tuple[str, bool], str], incidents: int, rounds: int) -> list[Run]:
    """All configurations at once, measured in interleaved chunks (the machine is noisy)."""
    async with AsyncExitStack() as stack:
        subjects: list[Subject] = []
        for (kind, production), url in urls.items():
            app, transport = await stack.enter_async_context(started(url, production))
            run = Run(
                kind,
                "APScheduler in memory (`running`)"
                if production
                else "`ManualTimerScheduler` (`build()`)",
            )
            subjects.append(Subject(run, app, transport, Driver(app, transport)))
        for subject in subjects:
            await subject.chunk(WARMUP_INCIDENTS, measured=False)
            count_round_trips(subject.app, subject.counts)
        per_round = max(1, incidents // rounds)
        for _ in range(rounds):
            for subject in subjects:
                await subject.chunk(per_round, measured=True)
        return [s.run for s in subjects]


async def status_probe(url: str) -> dict[int, float]:
    """Median `/status` time (handle + delivery) with 1, 10, 50, 100 open incidents."""
    result: dict[int, float] = {}
    async with started(url, False) as (app, transport):
        driver = Driver(app, transport)
        opened = 0
        for target in STATUS_OPEN:
            while opened < target:
                opened += 1
                await driver.raise_alarm(None, opened)
            run = Run("", "")
            for _ in range(7):
                await driver.say(run, "status", CACO, "/status")
            result[target] = percentile(run.latencies, 50)
    return result


async def round_trips(url: str) -> tuple[float, float]:
    """The floor under every event: median seconds of one `SELECT 1` on an open connection
    of the units of work's engine, and of one empty unit of work (checkout, the revision
    read, the cached directory, return)."""
    async with started(url, False) as (app, _transport):
        single = await select_1_times(app, 300)
        uow_times: list[float] = []
        for _ in range(300):
            start = time.perf_counter()
            async with app.uows() as uow:
                await uow.directory.load()
            uow_times.append(time.perf_counter() - start)
    return percentile(single, 50), percentile(uow_times, 50)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--incidents",
        type=int,
        default=100,
        help="measured incident cycles per configuration (6 events each)",
    )
    parser.add_argument(
        "--rounds", type=int, default=5, help="interleaved chunks per configuration"
    )
    parser.add_argument("--no-readme", action="store_true", help="only print")
    args = parser.parse_args()
    quiet_logging()
    kinds = available_kinds()
    with ExitStack() as stack:
        urls = {
            (kind, production): stack.enter_context(database(kind))
            for kind in kinds
            for production in (True, False)
        }
        runs = asyncio.run(throughput(urls, args.incidents, args.rounds))
    for run in runs:
        print(
            f"{run.label:24} {run.events} events in {run.seconds:.2f} s = "
            f"{run.rate:.0f} events/s, p50 {ms(percentile(run.latencies, 50))} ms, "
            f"p99 {ms(percentile(run.latencies, 99))} ms"
        )
    probes: dict[str, dict[int, float]] = {}
    floors: dict[str, tuple[float, float]] = {}
    for kind in kinds:
        with database(kind) as url:
            probes[kind] = asyncio.run(status_probe(url))
            floors[kind] = asyncio.run(round_trips(url))
        print(
            f"{kind:10} /status p50 by open incidents: "
            + ", ".join(f"{k}: {ms(v)} ms" for k, v in probes[kind].items())
        )
    body = readme_body(runs, probes, floors, args.incidents, args.rounds)
    print()
    print(body)
    if not args.no_readme:
        update_readme("inbound_throughput", "Inbound throughput", body)


def readme_body(
    runs: list[Run],
    probes: dict[str, dict[int, float]],
    floors: dict[str, tuple[float, float]],
    incidents: int,
    rounds: int,
) -> str:
    production = {r.kind: r for r in runs if r.production}
    manual = {r.kind: r for r in runs if not r.production}
    rows = [
        [
            r.kind,
            r.scheduler,
            r.events,
            f"{r.seconds:.2f}",
            f"**{r.rate:.0f}**",
            ms(percentile(r.latencies, 50)),
            ms(percentile(r.latencies, 99)),
            ms(percentile(r.handle, 50)),
            ms(percentile([a - b for a, b in zip(r.latencies, r.handle, strict=True)], 50)),
            f"{r.statements / r.events:.1f}",
            f"{r.round_trips / r.events:.1f}",
            f"{r.checkouts / r.events:.1f}",
            f"{r.messages / r.events:.1f}",
        ]
        for r in runs
    ]
    kinds_rows = [
        [r.label]
        + [
            f"{ms(percentile(r.by_kind[k], 50))} / {ms(percentile(r.by_kind[k], 99))}"
            for k in EVENT_KINDS
        ]
        for r in runs
    ]
    lines = [
        machine().markdown(),
        "",
        f"{incidents} measured incident cycles per configuration ({incidents * len(EVENT_KINDS)}"
        f" events, after {WARMUP_INCIDENTS} warm-up cycles), one event at a time; every event "
        "is `Router.handle` plus delivering its outbox. The four configurations are alive at "
        f"once and measured in {rounds} interleaved chunks, so machine noise hits them alike. "
        'Region: 1 Caco, a ROL rotation of 3. "production" is the production wiring '
        "(`scm_bot.instance.running`: APScheduler with its in-memory job store, the inbox and "
        'delivery loops running); "manual" is `build()` with the in-memory '
        "`ManualTimerScheduler` and the same delivery loop. The driver hands each event to "
        "`Router.handle` itself. Each commit hands its messages to the delivery workers "
        "(`Deliverer.offer`), which commit the ledger's `sending` before each part and "
        "write the outcome with the row's next write (one commit per part plus one per "
        "row); the driver awaits `Deliverer.quiet()` after each event, so an event counts "
        "as done once its messages reached the transport. On SQLite the units of work run "
        "on the event loop through SQLAlchemy's synchronous engine, each beginning with "
        "`BEGIN IMMEDIATE`; on PostgreSQL (asyncpg, no pre-ping) each begins with the "
        "region revision read, which finds a dead pooled connection. DB round trips = statements, "
        "commits and rollbacks (and the pool's reset when a connection is returned); on "
        "SQLite each is one call into `sqlite3`.",
        "",
        table(
            [
                "DB",
                "timer scheduler",
                "events",
                "seconds",
                "events/s",
                "p50 ms",
                "p99 ms",
                "handle p50 ms",
                "deliver p50 ms",
                "SQL stmts/event",
                "DB round trips/event",
                "units of work/event",
                "msgs/event",
            ],
            rows,
        ),
        "",
        "p50 / p99 ms per event type (handle + delivery):",
        "",
        table(["run", *EVENT_KINDS], kinds_rows),
    ]
    sqlite = production.get("sqlite")
    if sqlite is not None:
        verdict = "met" if sqlite.rate >= 300 else "NOT met"
        lines += [
            "",
            f"**Target >= 300 events/s on SQLite (production wiring): {verdict}** "
            f"({sqlite.rate:.0f} events/s).",
        ]
    ratios = [
        f"{kind}: manual/production {manual[kind].rate / production[kind].rate:.2f}x"
        for kind in production
        if kind in manual and production[kind].rate
    ]
    if "sqlite" in production and "postgresql" in production:
        ratios.append(
            f"SQLite/PostgreSQL (production) "
            f"{production['sqlite'].rate / production['postgresql'].rate:.2f}x"
        )
    if ratios:
        lines += ["", "Ratios of events/s (same run): " + "; ".join(ratios) + "."]
    if floors:
        lines += [
            "",
            "Round-trip floor (median): one `SELECT 1` on an open connection of the units "
            "of work's engine (SQLite: the synchronous engine, on the loop; PostgreSQL: "
            "asyncpg), and one empty unit of work (checkout, `BEGIN IMMEDIATE` on SQLite, the "
            "region revision read, the cached directory, return):",
            "",
            table(
                ["DB", "SELECT 1 ms", "empty unit of work ms"],
                [[k, f"{v[0] * 1000:.2f}", f"{v[1] * 1000:.2f}"] for k, v in floors.items()],
            ),
        ]
    if probes:
        lines += [
            "",
            "`/status` (handle + delivery, median of 7) against open incidents:",
            "",
            table(
                ["DB", *(f"{k} open" for k in STATUS_OPEN)],
                [[kind, *(f"{ms(v)} ms" for v in p.values())] for kind, p in probes.items()],
            ),
        ]
    return "\n".join(lines)


if __name__ == "__main__":
    main()
