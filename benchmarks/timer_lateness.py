"""Timer lateness with 10,000 pending escalations through the real APScheduler path.

The app runs as `scm-bot run` runs it (`scm_bot.instance.running`: `ApsTimerScheduler`, an
`AsyncIOScheduler` on the event loop with its in-memory job store and a reconcile every
few seconds, `SystemClock`, the real `TimerRunner`). The only addition is a trivial timer
kind, `bench.noop`, registered on the runner, whose handler records `now - due_at`; so this
measures scheduling and firing, not paging. The scheduler's calls after each commit
(`ApsTimerScheduler.schedule`, on the event loop) are timed, and the timers the reconcile
fired (rather than their job) are counted.

1. Lateness, target scenario: 10,000 timers pending (`--timers`), created through the real
   path (`Tx.schedule` in the transaction, `ApsTimerScheduler.schedule` after commit, 250
   per transaction, in random order). 2,000 of them (`--firing`) are due evenly over 60 s
   (`--spread`; ~33 firings/s, the rate at which 10,000 escalations with the default
   5-minute repeat fall due), starting once scheduling is done (the lead is calibrated on
   200 timers first); the rest are due 1-2 hours later and stay pending throughout.
   Reported over the firing ones: lateness p50/p99/max, event-loop lag while they fire,
   and how many of them the reconcile fired.
2. Lateness, stress (for information; `--no-stress` skips it): all 10,000 due within 20 s
   (500 firings/s).
3. Restart: with the app stopped, 10,000 timer rows are inserted with due times in the
   past; the app is started: `ApsTimerScheduler.start` fires the overdue rows straight from
   the table through `TimerRunner.run_due` (a few at a time), then adds a job for every row
   still pending. Reported: wall time until all 10,000 handlers ran. Target: **within 10 s
   on PostgreSQL**.

    .venv/bin/python -m benchmarks.timer_lateness [--timers 10000] [--firing 2000]
        [--spread 60] [--no-stress] [--postgres]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import math
import random
import time
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any
from unittest import mock

import scm_bot.app
import scm_bot.instance
from benchmarks._common import (
    LOG_COUNTS,
    BenchTransport,
    available_kinds,
    database,
    log_summary,
    machine,
    ms,
    percentile,
    quiet_logging,
    region_yaml,
    table,
    update_readme,
)
from core.clock import SystemClock
from core.model import Origin, Timer
from core.region.file import parse_region
from core.tx import Tx
from scm_bot.app import App
from scm_bot.instance import running
from scm_bot.scheduling import FIRING_AT_ONCE, ApsTimerScheduler
from storage.database import make_engine
from storage.region import import_region
from storage.uow import SqlUnitOfWorkFactory

KIND = "bench.noop"
CALIBRATE = "bench.calibrate"
BATCH = 250
STALL = 35.0  # seconds without a single firing: give up
DRAIN = 45.0  # seconds after the last due time to wait for the rest
STRESS_SPREAD = 20.0  # seconds over which every timer falls due in the stress scenario
LATE = 1.0  # the target: p99 lateness at most this many seconds
RESTART_TARGET = 10.0  # the target: 10,000 overdue timers fired within this, on PostgreSQL
# The figures before the timer rows became the only truth (persistent SQLAlchemy job store
# in a BackgroundScheduler's threads, `run_due` one timer at a time; commit 78a935c, same
# machine, load average 0.8 at the end of that run): restart all fired, s; target and
# stress p99 lateness, ms.
BEFORE = {
    "sqlite": {"restart": 2.8, "target p99": 3.4, "stress p99": 5.5},
    "postgresql": {"restart": 16.4, "target p99": 6.4, "stress p99": 118.5},
}


class Fired:
    """The trivial handler: records (ref, due, fired at) of every firing."""

    def __init__(self) -> None:
        self.firings: list[tuple[int, datetime, datetime]] = []
        self.expected: set[int] = set()
        self.hits = 0  # firings of expected refs
        self.done = asyncio.Event()

    def expect(self, refs: set[int]) -> None:
        self.firings.clear()
        self.expected = set(refs)
        self.hits = 0
        self.done.clear()

    async def handler(self, tx: Tx, timer: Timer) -> None:
        due = timer.due_at if timer.due_at.tzinfo else timer.due_at.replace(tzinfo=UTC)
        self.firings.append((timer.ref, due, datetime.now(UTC)))
        if timer.ref in self.expected:
            self.hits += 1
            if self.hits >= len(self.expected):
                self.done.set()


class SchedulerCalls:
    """Times the scheduler's calls after each commit (`schedule` and `cancel`, on the event
    loop, inside the handling of an event) and counts the timers the reconcile fired."""

    def __init__(self) -> None:
        self.calls = 0
        self.seconds = 0.0
        self.by_reconcile = 0

    def reset(self) -> None:
        self.calls, self.seconds, self.by_reconcile = 0, 0.0, 0

    @contextlib.contextmanager
    def installed(self) -> Iterator[None]:
        schedule, cancel = ApsTimerScheduler.schedule, ApsTimerScheduler.cancel
        reconcile = ApsTimerScheduler.reconcile

        def timed(method: Callable[..., None]) -> Callable[..., None]:
            def call(scheduler: ApsTimerScheduler, *args: Any) -> None:
                start = time.perf_counter()
                try:
                    method(scheduler, *args)
                finally:
                    self.calls += 1
                    self.seconds += time.perf_counter() - start

            return call

        async def counted(scheduler: ApsTimerScheduler) -> int:
            fired = await reconcile(scheduler)
            self.by_reconcile += fired
            return fired

        with (
            mock.patch.object(ApsTimerScheduler, "schedule", timed(schedule)),
            mock.patch.object(ApsTimerScheduler, "cancel", timed(cancel)),
            mock.patch.object(ApsTimerScheduler, "reconcile", counted),
        ):
            yield

    def per_call_us(self) -> float:
        return self.seconds / self.calls * 1e6 if self.calls else math.nan


@contextlib.asynccontextmanager
async def app_running(url: str, fired: Fired, calls: SchedulerCalls) -> AsyncIterator[App]:
    """`scm_bot.instance.running`, with `bench.noop` registered on the runner before start (so
    the overdue timers fired during start find their handler), the scheduler's calls timed."""
    original = scm_bot.app.build

    def build(*args: Any, **kwargs: Any) -> App:
        app = original(*args, **kwargs)
        app.runner.handlers[KIND] = fired.handler
        return app

    with mock.patch.object(scm_bot.instance, "build", build), calls.installed():
        async with running(url, [BenchTransport()], SystemClock()) as app:
            yield app


def aps(app: App) -> ApsTimerScheduler:
    scheduler = app.core.scheduler
    assert isinstance(scheduler, ApsTimerScheduler)
    return scheduler


async def schedule(
    app: App, kind: str, dues: list[datetime], added: dict[int, datetime] | None = None
) -> float:
    """Create timers (ref = index in `dues`) through the real path; returns the wall time
    until every row is committed and every job added (the jobs of a transaction are added
    right after its commit). `added` gets, per ref, when its job existed."""
    start = time.perf_counter()
    for offset in range(0, len(dues), BATCH):
        refs = range(offset, min(offset + BATCH, len(dues)))
        async with app.core.transaction(Origin.SYSTEM) as tx:
            for ref in refs:
                await tx.schedule(kind, ref, dues[ref])
        if added is not None:
            added.update(dict.fromkeys(refs, datetime.now(UTC)))
    return time.perf_counter() - start


async def calibrate(app: App, count: int = 200) -> float:
    """Seconds per scheduled timer (row + job), on `count` far-future timers, cancelled
    again afterwards."""
    far = datetime.now(UTC) + timedelta(hours=1)
    seconds = await schedule(app, CALIBRATE, [far] * count)
    async with app.core.transaction(Origin.SYSTEM) as tx:
        for ref in range(count):
            await tx.cancel_timers(CALIBRATE, ref)
    return seconds / count


async def wait_fired(fired: Fired, deadline: float) -> str | None:
    """Wait until every expected timer fired; give up at `deadline` (perf_counter) or when
    nothing fired for STALL seconds. None when all fired, else why it gave up."""
    count, since = fired.hits, time.perf_counter()
    while not fired.done.is_set():
        now = time.perf_counter()
        if now - since >= STALL:
            return f"stalled (nothing fired for {STALL:.0f} s)"
        if now >= deadline:
            return "deadline"
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(fired.done.wait(), 0.5)
        if fired.hits != count:
            count, since = fired.hits, time.perf_counter()
    return None


class LoopLag:
    """How late a 10 ms sleep wakes up: the event loop's responsiveness."""

    def __init__(self) -> None:
        self.samples: list[float] = []
        self._task: asyncio.Task[None] | None = None

    async def _run(self) -> None:
        while True:
            start = time.perf_counter()
            await asyncio.sleep(0.01)
            self.samples.append(time.perf_counter() - start - 0.01)

    def start(self) -> None:
        self._task = asyncio.create_task(self._run())

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)


def overdue_jobs(app: App) -> int:
    """Jobs that are due now (the roster reminder's and the reconcile's are not)."""
    now = datetime.now(UTC)
    jobs = aps(app).scheduler.get_jobs()
    return sum(1 for job in jobs if job.next_run_time is not None and job.next_run_time <= now)


@dataclass
class Lateness:
    """One lateness scenario: `pending` timers, of which `firing` fall due evenly over
    `spread` seconds (the others 1-2 hours later)."""

    scenario: str  # "target" or "stress"
    pending: int
    firing: int
    spread: float
    per_schedule: float = 0.0  # seconds per timer, calibration
    schedule_seconds: float = 0.0
    lateness: list[float] = field(default_factory=list)  # fired - max(due, job added)
    due_too_early: int = 0  # due before their job existed (the lead was too short)
    fired: int = 0  # firing ones that fired
    gave_up: str | None = None  # why the wait ended before all fired
    unfired_at_end: int = 0
    fired_early: int = 0  # timers due later that fired in the window (should be 0)
    loop_lag: list[float] = field(default_factory=list)
    window: float = 0.0  # seconds from the first due time until the wait ended
    schedule_call_us: float = 0.0  # per `ApsTimerScheduler.schedule` call while scheduling
    by_reconcile: int = 0  # timers the reconcile fired (rather than their job) in the window
    last_fired_after: float | None = None  # last due time -> all fired

    def p(self, p: float) -> float:
        """Percentile over every firing timer; one that never fired counts as infinitely
        late."""
        values = self.lateness + [math.inf] * self.unfired_at_end
        return percentile(values, p) if values else math.nan

    def rate(self) -> float:
        return self.firing / self.spread if self.spread else math.inf

    def label(self) -> str:
        name = "**target**" if self.scenario == "target" else "stress (for information)"
        return (
            f"{name}: {self.pending:,} pending, {self.firing:,} due over {self.spread:.0f} s "
            f"({self.rate():.0f}/s)"
        )


@dataclass
class Result:
    kind: str
    timers: int
    target: Lateness
    stress: Lateness | None
    # restart
    start_seconds: float = 0.0  # entering running() -> it yielded
    fired_during_start: int = 0
    restart_all_fired: float | None = None
    restart_fired: int = 0
    overdue_jobs_left: int | None = None

    def scenarios(self) -> list[Lateness]:
        return [self.target] + ([self.stress] if self.stress else [])


async def lateness_phase(url: str, phase: Lateness) -> None:
    fired, calls = Fired(), SchedulerCalls()
    async with app_running(url, fired, calls) as app:
        phase.per_schedule = await calibrate(app)
        lead = phase.per_schedule * phase.pending * 2 + 3.0
        base = datetime.now(UTC) + timedelta(seconds=lead)
        firing = [
            base + timedelta(seconds=phase.spread * i / phase.firing) for i in range(phase.firing)
        ]
        later = phase.pending - phase.firing
        pending = [
            base + timedelta(seconds=phase.spread, hours=1 + j / later) for j in range(later)
        ]
        dues = firing + pending
        random.Random(1).shuffle(dues)
        window_end = base + timedelta(seconds=phase.spread)
        expected = {ref for ref, due in enumerate(dues) if due < window_end}
        last_due = max(dues[ref] for ref in expected)
        fired.expect(expected)
        added: dict[int, datetime] = {}
        calls.reset()
        phase.schedule_seconds = await schedule(app, KIND, dues, added)
        phase.schedule_call_us = calls.per_call_us()
        await asyncio.sleep(max(0.0, (base - datetime.now(UTC)).total_seconds()))
        lag = LoopLag()
        lag.start()
        calls.reset()
        window_start = time.perf_counter()
        deadline = time.perf_counter() + (last_due - datetime.now(UTC)).total_seconds() + DRAIN
        phase.gave_up = await wait_fired(fired, deadline)
        if phase.gave_up is None:
            phase.last_fired_after = (datetime.now(UTC) - last_due).total_seconds()
        elif phase.gave_up == "deadline":
            phase.gave_up = f"not all within {DRAIN:.0f} s of the last due time"
        phase.window = time.perf_counter() - window_start
        phase.by_reconcile = calls.by_reconcile
        await lag.stop()
        phase.loop_lag = lag.samples
        phase.lateness = [
            (at - max(due, added[ref])).total_seconds()
            for ref, due, at in fired.firings
            if ref in expected
        ]
        phase.fired = len(phase.lateness)
        phase.fired_early = len(fired.firings) - phase.fired
        phase.due_too_early = sum(1 for ref in expected if dues[ref] < added[ref])
        phase.unfired_at_end = phase.firing - phase.fired
        await asyncio.sleep(0.5)  # let the last firings commit before the app stops


async def restart_phase(url: str, result: Result) -> None:
    """While the app is stopped, insert the timer rows with due times in the past (as if
    they fell due during the outage); then start the app and time until all fired."""
    fired, calls = Fired(), SchedulerCalls()
    fired.expect(set(range(result.timers)))
    engine = make_engine(url)
    now = datetime.now(UTC)
    async with SqlUnitOfWorkFactory(engine) as uows, uows() as uow:
        for ref in range(result.timers):
            due = now - timedelta(seconds=60 * (result.timers - ref) / result.timers)
            await uow.timers.add(KIND, ref, due)
        await uow.commit()
    await engine.dispose()
    start = time.perf_counter()
    async with app_running(url, fired, calls) as app:
        result.start_seconds = time.perf_counter() - start
        result.fired_during_start = len(fired.firings)
        if await wait_fired(fired, time.perf_counter() + 90) is None:
            result.restart_all_fired = time.perf_counter() - start
        result.restart_fired = len(fired.firings)
        await asyncio.sleep(0.5)  # let the last firings commit
        result.overdue_jobs_left = overdue_jobs(app)


async def load_region(url: str) -> None:
    setup = make_engine(url)
    await import_region(setup, parse_region(region_yaml(cacos=1)))
    await setup.dispose()


def fmt_s(value: float | None) -> str:
    return "-" if value is None else f"{value:.1f}"


def print_lateness(kind: str, phase: Lateness) -> None:
    print(
        f"{kind:10} {phase.scenario:6}: {phase.pending:,} pending, {phase.fired}/{phase.firing} "
        f"due over {phase.spread:.0f} s fired{f' ({phase.gave_up})' if phase.gave_up else ''}, "
        f"p50 {late_ms(phase.p(50))} ms, p99 {late_ms(phase.p(99))} ms, "
        f"max {late_ms(phase.p(100))} ms; scheduling {phase.schedule_seconds:.1f} s "
        f"({phase.schedule_call_us:.0f} us per schedule() call); fired by the reconcile "
        f"{phase.by_reconcile:,}"
    )


def measure(kind: str, timers: int, firing: int, spread: float, stress: bool) -> Result:
    """Every phase on a fresh database."""
    result = Result(
        kind,
        timers,
        Lateness("target", timers, max(1, min(firing, timers)), spread),
        Lateness("stress", timers, timers, STRESS_SPREAD) if stress else None,
    )
    for phase in result.scenarios():
        with database(kind) as url:
            asyncio.run(load_region(url))
            asyncio.run(lateness_phase(url, phase))
        print_lateness(kind, phase)
    with database(kind) as url:
        asyncio.run(load_region(url))
        asyncio.run(restart_phase(url, result))
    print(
        f"{kind:10} restart: start() {result.start_seconds:.1f} s, all fired after "
        f"{fmt_s(result.restart_all_fired)} s (before: {BEFORE[kind]['restart']:.1f} s)"
    )
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--timers", type=int, default=10_000, help="timers pending")
    parser.add_argument(
        "--firing",
        type=int,
        default=2_000,
        help="of those, how many fall due within --spread (target scenario)",
    )
    parser.add_argument(
        "--spread",
        type=float,
        default=60.0,
        help="seconds the firing ones' due times are spread over (target scenario)",
    )
    parser.add_argument(
        "--no-stress",
        action="store_true",
        help=f"skip the stress scenario (all timers due within {STRESS_SPREAD:.0f} s)",
    )
    parser.add_argument(
        "--postgres",
        action="store_true",
        help="also PostgreSQL (adds ~4 minutes on a 2-core machine)",
    )
    parser.add_argument("--no-readme", action="store_true", help="only print")
    args = parser.parse_args()
    quiet_logging()
    kinds = available_kinds() if args.postgres else ["sqlite"]
    results = []
    logs = {}
    for kind in kinds:
        LOG_COUNTS.clear()
        results.append(measure(kind, args.timers, args.firing, args.spread, not args.no_stress))
        logs[kind] = log_summary()
    body = readme_body(results, logs)
    print()
    print(body)
    if not args.no_readme:
        # One section per database, so a SQLite-only run keeps the PostgreSQL figures.
        for result in results:
            update_readme(
                f"timer_lateness_{result.kind}",
                f"Timer lateness ({result.kind})",
                readme_body([result], {result.kind: logs[result.kind]}, comparison=results),
            )


def late_ms(seconds: float) -> str:
    return "never" if math.isinf(seconds) else ms(seconds)


def lateness_row(kind: str, r: Lateness) -> list[object]:
    nan = math.nan
    if r.gave_up and r.fired < r.firing:
        all_fired = r.gave_up
    else:
        all_fired = "not all" if r.last_fired_after is None else f"{r.last_fired_after:.1f}"
    return [
        kind,
        r.label(),
        f"{r.fired:,}/{r.firing:,}",
        f"**{late_ms(r.p(50))}**",
        f"**{late_ms(r.p(99))}**",
        late_ms(r.p(100)),
        f"{ms(percentile(r.lateness, 50))} / {ms(max(r.lateness, default=nan))}",
        f"{sum(1 for x in r.lateness if x > LATE) + r.unfired_at_end:,}",
        f"{r.pending / r.schedule_seconds:.0f}" if r.schedule_seconds else "-",
        f"{ms(percentile(r.loop_lag, 99))} / {ms(max(r.loop_lag, default=nan))}",
        f"{r.schedule_call_us:.0f}",
        f"{r.by_reconcile:,}",
        all_fired,
    ]


def verdict(kind: str, r: Lateness) -> str:
    p99 = r.p(99)
    met = p99 <= LATE
    figures = (
        f"p99 {'never fired' if math.isinf(p99) else f'{p99:.2f} s'}, "
        f"{r.fired:,}/{r.firing:,} fired"
        + (
            f"; {r.due_too_early:,} timers were due before their job was added"
            if r.due_too_early
            else ""
        )
        + (f"; {r.fired_early:,} timers due later fired early" if r.fired_early else "")
    )
    if r.scenario == "target":
        return (
            f"**Target p99 lateness <= {LATE:.0f} s, {kind} (target scenario: {r.pending:,} "
            f"pending, {r.firing:,} due over {r.spread:.0f} s): "
            f"{'met' if met else 'NOT met'}** ({figures})."
        )
    return (
        f"Stress row, {kind} (for information, not the target scenario: all {r.pending:,} "
        f"due within {r.spread:.0f} s, {r.rate():.0f} firings/s): p99 "
        f"{'within' if met else '**over**'} the {LATE:.0f} s bound ({figures})."
    )


def before_after(results: list[Result]) -> str:
    """The figures before the timer rows became the only truth, next to these."""
    rows = []
    for r in results:
        before = BEFORE[r.kind]
        rows.append(
            [
                r.kind,
                f"{r.timers:,} overdue timers fired after a restart, s",
                f"{before['restart']:.1f}",
                f"**{fmt_s(r.restart_all_fired)}**",
            ]
        )
        for s in r.scenarios():
            rows.append(
                [
                    r.kind,
                    f"{s.scenario} p99 lateness, ms",
                    f"{before[s.scenario + ' p99']:.1f}",
                    late_ms(s.p(99)),
                ]
            )
    return table(["DB", "figure", "before (persistent job store)", "after"], rows)


def restart_verdict(r: Result) -> str:
    figure = fmt_s(r.restart_all_fired)
    if r.kind != "postgresql":
        return f"Restart, {r.kind}: all {r.timers:,} overdue timers fired after {figure} s."
    met = r.restart_all_fired is not None and r.restart_all_fired <= RESTART_TARGET
    return (
        f"**Target: {r.timers:,} overdue timers fired after a restart within "
        f"{RESTART_TARGET:.0f} s on PostgreSQL: {'met' if met else 'NOT met'}** ({figure} s; "
        f"before: {BEFORE[r.kind]['restart']:.1f} s)."
    )


def readme_body(
    results: list[Result], logs: dict[str, str], comparison: list[Result] | None = None
) -> str:
    first = results[0]
    t = first.target
    lines = [
        machine().markdown(),
        "",
        "The timer rows are the only truth: APScheduler's `AsyncIOScheduler` (in-memory job "
        "store, on the event loop) triggers them and is rebuilt from the rows at start; a "
        "reconcile every few seconds fires any pending row that is overdue. Before and after "
        "(before: the persistent SQLAlchemy job store in a `BackgroundScheduler`'s threads, "
        "`run_due` one timer at a time; commit 78a935c, same machine, load average 0.8 at the "
        "end of that run; compare the load average of this run above):",
        "",
        before_after(results),
        "",
        f"Lateness: {t.pending:,} timers created through `Tx.schedule` + "
        f"`ApsTimerScheduler.schedule` ({BATCH} per transaction, in random order; the jobs of a "
        "transaction are added right after its commit), due times starting after scheduling "
        "is expected to finish. **The target row is the target scenario**: "
        f"{t.pending:,} escalations pending, of which {t.firing:,} fall due evenly over "
        f"{t.spread:.0f} s ({t.rate():.0f}/s; 10,000 escalations with the default 5-minute "
        "repeat fall due at about 33/s); the others are due 1-2 hours later and stay pending "
        "throughout. "
        + (
            f"The stress row, reported for information only, makes all {first.stress.pending:,} "
            f"fall due within {first.stress.spread:.0f} s ({first.stress.rate():.0f}/s). "
            if first.stress
            else ""
        )
        + "Lateness = handler start - due_at (or - the time its job was added, if that was "
        "later), over the timers due in the window; one that never fired counts as infinitely "
        "late. Loop lag = how late a 10 ms sleep woke while they fired; `schedule()` = the "
        "scheduler's call after the commit, per timer, on the event loop; fired by the "
        "reconcile = timers due in the window that the reconcile fired before their job did.",
        "",
        table(
            [
                "DB",
                "scenario",
                "fired",
                "p50 ms",
                "p99 ms",
                "max ms",
                "fired ones: p50 / max ms",
                "late > 1 s",
                "scheduled/s (row + job)",
                "loop lag p99 / max ms",
                "`schedule()` us per call",
                "fired by the reconcile",
                "all fired, s after last due",
            ],
            [lateness_row(r.kind, s) for r in results for s in r.scenarios()],
        ),
        "",
        f"Restart: with the app stopped, {first.timers:,} timer rows are inserted with due "
        "times spread over the last minute (they fell due during the outage), then the app is "
        "started: `ApsTimerScheduler.start` fires the overdue rows straight from the table "
        f"through `TimerRunner.run_due` ({FIRING_AT_ONCE} at a time: one transaction per timer, "
        "on the event loop; on SQLite their units of work take turns), then adds a job for "
        "every row still pending and starts the scheduler and the reconcile. Times from "
        "entering `running()`.",
        "",
        table(
            [
                "DB",
                "start() returned after s",
                "fired during start()",
                "all fired after s",
                "before, s",
                "overdue jobs left",
                "fired total",
            ],
            [
                [
                    r.kind,
                    f"{r.start_seconds:.1f}",
                    f"{r.fired_during_start:,}",
                    f"**{fmt_s(r.restart_all_fired)}**",
                    f"{BEFORE[r.kind]['restart']:.1f}",
                    r.overdue_jobs_left,
                    f"{r.restart_fired:,}/{r.timers:,}",
                ]
                for r in results
            ],
        ),
    ]
    lines += ["", "Logged (warnings and errors):", ""]
    lines += [f"- {kind}: {summary}" for kind, summary in logs.items()]
    for r in results:
        lines += ["", verdict(r.kind, r.target)]
        if r.stress is not None:
            lines += ["", verdict(r.kind, r.stress)]
        lines += ["", restart_verdict(r)]
    by = {r.kind: r for r in comparison or results}
    if "sqlite" in by and "postgresql" in by:
        s, p = by["sqlite"], by["postgresql"]
        parts = []
        if p.target.schedule_seconds:
            ratio = s.target.schedule_seconds / p.target.schedule_seconds
            parts.append(f"scheduling time {ratio:.2f}x")
        if s.restart_all_fired and p.restart_all_fired:
            parts.append(f"restart all-fired {s.restart_all_fired / p.restart_all_fired:.2f}x")
        if parts:
            lines += ["", "Ratios (same run), SQLite/PostgreSQL: " + "; ".join(parts) + "."]
    return "\n".join(lines)


if __name__ == "__main__":
    main()
