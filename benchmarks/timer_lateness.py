"""Timer lateness with 10,000 pending escalations through the real APScheduler path.

The app runs as `scm-bot run` runs it (`scm_bot.app.running`: `ApsTimerScheduler`, whose
`BackgroundScheduler` and SQLAlchemy job store (same database) live in their own threads,
`SystemClock`, the real `TimerRunner`). The only addition is a trivial timer kind,
`bench.noop`, registered on the runner, whose handler records `now - due_at`; so this
measures scheduling and firing, not paging. The job store's (synchronous) calls are counted,
and timed when one is made on the event loop's thread, where it would block every chat.

1. Lateness, target scenario: 10,000 timers pending (`--timers`), created through the real
   path (`Tx.schedule` in the transaction, `ApsTimerScheduler.schedule` after commit, 250
   per transaction, in random order). 2,000 of them (`--firing`) are due evenly over 60 s
   (`--spread`; ~33 firings/s, the rate at which 10,000 escalations with the default
   5-minute repeat fall due), starting once scheduling is done (the lead is calibrated on
   200 timers first); the rest are due 1-2 hours later and stay pending throughout.
   Reported over the firing ones: lateness p50/p99/max, event-loop lag while they fire,
   and the job store's calls on the event loop.
2. Lateness, stress (for information; `--no-stress` skips it): all 10,000 due within 20 s
   (500 firings/s).
3. Restart: with the app stopped, 10,000 timer rows are inserted with due times in the
   past; the app is started: `ApsTimerScheduler.start` fires the overdue rows straight from
   the table through `TimerRunner.run_due`, then reconciles the job store with the rows that
   are still pending. Reported: wall time until all 10,000 handlers ran.

    .venv/bin/python -m benchmarks.timer_lateness [--timers 10000] [--firing 2000]
        [--spread 60] [--no-stress] [--postgres]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import math
import random
import threading
import time
from collections import defaultdict
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any
from unittest import mock

from apscheduler.jobstores.sqlalchemy import SQLAlchemyJobStore

import scm_bot.app
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
from core.region_file import parse_region
from core.tx import Tx
from scm_bot.app import App, running
from scm_bot.scheduling import ApsTimerScheduler
from storage.database import make_engine
from storage.region import import_region
from storage.uow import SqlUnitOfWorkFactory

KIND = "bench.noop"
CALIBRATE = "bench.calibrate"
BATCH = 250
STALL = 35.0  # seconds without a single firing: give up (a failed firing retries after 30 s)
DRAIN = 45.0  # seconds after the last due time to wait for the rest
STRESS_SPREAD = 20.0  # seconds over which every timer falls due in the stress scenario
LATE = 1.0  # the target: p99 lateness at most this many seconds


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


class JobStoreClock:
    """Times the job store's synchronous calls made on the event loop's thread (where they
    would block every chat); calls from the scheduler's own threads are counted apart."""

    METHODS = (
        "add_job",
        "update_job",
        "remove_job",
        "lookup_job",
        "get_due_jobs",
        "get_next_run_time",
        "get_all_jobs",
    )

    def __init__(self) -> None:
        self.calls: dict[str, int] = defaultdict(int)
        self.seconds: dict[str, float] = defaultdict(float)
        self.off_loop: dict[str, int] = defaultdict(int)

    def reset(self) -> None:
        self.calls.clear()
        self.seconds.clear()
        self.off_loop.clear()

    def total(self) -> float:
        return sum(self.seconds.values())

    def summary(self) -> str:
        on_loop = ", ".join(
            f"{name} {self.calls[name]:,}x {self.seconds[name]:.1f} s"
            for name in sorted(self.seconds, key=lambda n: -self.seconds[n])
        )
        off_loop = ", ".join(f"{name} {count:,}x" for name, count in sorted(self.off_loop.items()))
        return f"on the event loop: {on_loop or 'none'}; in scheduler threads: {off_loop or 'none'}"

    @contextlib.contextmanager
    def installed(self) -> Iterator[None]:
        with contextlib.ExitStack() as stack:
            for name in self.METHODS:
                stack.enter_context(
                    mock.patch.object(
                        SQLAlchemyJobStore,
                        name,
                        self._timed(name, getattr(SQLAlchemyJobStore, name)),
                    )
                )
            yield

    def _timed(self, name: str, method: Callable[..., Any]) -> Callable[..., Any]:
        def timed(store: SQLAlchemyJobStore, *args: Any, **kwargs: Any) -> Any:
            if threading.current_thread() is not threading.main_thread():
                self.off_loop[name] += 1
                return method(store, *args, **kwargs)
            start = time.perf_counter()
            try:
                return method(store, *args, **kwargs)
            finally:
                self.calls[name] += 1
                self.seconds[name] += time.perf_counter() - start

        return timed


@contextlib.asynccontextmanager
async def app_running(url: str, fired: Fired, clock: JobStoreClock) -> AsyncIterator[App]:
    """`scm_bot.app.running`, with `bench.noop` registered on the runner before start (so
    the overdue timers fired during start find their handler), job store calls timed."""
    original = scm_bot.app.build

    def build(*args: Any, **kwargs: Any) -> App:
        app = original(*args, **kwargs)
        app.runner.handlers[KIND] = fired.handler
        return app

    with mock.patch.object(scm_bot.app, "build", build), clock.installed():
        async with running(url, [BenchTransport()], SystemClock()) as app:
            yield app


def aps(app: App) -> ApsTimerScheduler:
    scheduler = app.core.scheduler
    assert isinstance(scheduler, ApsTimerScheduler)
    return scheduler


async def settled_at(scheduler: ApsTimerScheduler) -> datetime:
    await scheduler.settled()
    return datetime.now(UTC)


async def schedule(
    app: App, kind: str, dues: list[datetime], added: dict[int, datetime] | None = None
) -> float:
    """Create timers (ref = index in `dues`) through the real path; returns the wall time
    until every row is committed and every job is in the job store (its adds run in the
    scheduler's job-store thread). `added` gets, per ref, when its job existed (its batch's
    adds had reached the job store; noted by the loop, so at most a loop turn late)."""
    scheduler = aps(app)
    start = time.perf_counter()
    marks: list[tuple[range, asyncio.Task[datetime]]] = []
    for offset in range(0, len(dues), BATCH):
        refs = range(offset, min(offset + BATCH, len(dues)))
        async with app.core.transaction(Origin.SYSTEM) as tx:
            for ref in refs:
                await tx.schedule(kind, ref, dues[ref])
        if added is not None:
            marks.append((refs, asyncio.create_task(settled_at(scheduler))))
    await scheduler.settled()
    seconds = time.perf_counter() - start
    if added is not None:
        for refs, mark in marks:
            added.update(dict.fromkeys(refs, await mark))
    return seconds


async def calibrate(app: App, count: int = 200) -> float:
    """Seconds per scheduled timer (row + job), on `count` far-future timers, cancelled
    again afterwards."""
    far = datetime.now(UTC) + timedelta(hours=1)
    seconds = await schedule(app, CALIBRATE, [far] * count)
    async with app.core.transaction(Origin.SYSTEM) as tx:
        for ref in range(count):
            await tx.cancel_timers(CALIBRATE, ref)
    await aps(app).settled()
    return seconds / count


async def wait_fired(fired: Fired, deadline: float) -> bool:
    """Wait until every expected timer fired; give up at `deadline` (perf_counter) or when
    nothing fired for STALL seconds. True when all fired."""
    count, since = fired.hits, time.perf_counter()
    while not fired.done.is_set():
        now = time.perf_counter()
        if now >= deadline or now - since >= STALL:
            return False
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(fired.done.wait(), 0.5)
        if fired.hits != count:
            count, since = fired.hits, time.perf_counter()
    return True


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


async def overdue_jobs(app: App) -> int:
    """Jobs in the job store that are due now (the roster reminder job is not)."""
    scheduler = app.core.scheduler
    assert isinstance(scheduler, ApsTimerScheduler)
    await scheduler.settled()
    now = datetime.now(UTC)
    jobs = await asyncio.to_thread(scheduler.scheduler.get_jobs)
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
    stalled: bool = False
    unfired_at_end: int = 0
    fired_early: int = 0  # timers due later that fired in the window (should be 0)
    loop_lag: list[float] = field(default_factory=list)
    window: float = 0.0  # seconds from the first due time until the wait ended
    jobstore_blocked: float = 0.0  # seconds in job-store calls on the loop in that window
    jobstore_summary: str = ""
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
    restart_jobstore_blocked: float = 0.0
    restart_jobstore_summary: str = ""
    overdue_jobs_left: int | None = None

    def scenarios(self) -> list[Lateness]:
        return [self.target] + ([self.stress] if self.stress else [])


async def lateness_phase(url: str, phase: Lateness) -> None:
    fired, clock = Fired(), JobStoreClock()
    async with app_running(url, fired, clock) as app:
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
        phase.schedule_seconds = await schedule(app, KIND, dues, added)
        await asyncio.sleep(max(0.0, (base - datetime.now(UTC)).total_seconds()))
        lag = LoopLag()
        lag.start()
        clock.reset()
        window_start = time.perf_counter()
        deadline = time.perf_counter() + (last_due - datetime.now(UTC)).total_seconds() + DRAIN
        if await wait_fired(fired, deadline):
            phase.last_fired_after = (datetime.now(UTC) - last_due).total_seconds()
        else:
            phase.stalled = True
        phase.window = time.perf_counter() - window_start
        phase.jobstore_blocked, phase.jobstore_summary = clock.total(), clock.summary()
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
    fired, clock = Fired(), JobStoreClock()
    fired.expect(set(range(result.timers)))
    engine = make_engine(url)
    uows = SqlUnitOfWorkFactory(engine)
    now = datetime.now(UTC)
    async with uows() as uow:
        for ref in range(result.timers):
            due = now - timedelta(seconds=60 * (result.timers - ref) / result.timers)
            await uow.timers.add(KIND, ref, due)
        await uow.commit()
    await engine.dispose()
    start = time.perf_counter()
    async with app_running(url, fired, clock) as app:
        result.start_seconds = time.perf_counter() - start
        result.fired_during_start = len(fired.firings)
        if await wait_fired(fired, time.perf_counter() + 90):
            result.restart_all_fired = time.perf_counter() - start
        await aps(app).settled()  # the job store calls asked for so far are all counted
        result.restart_jobstore_blocked = clock.total()
        result.restart_jobstore_summary = clock.summary()
        result.restart_fired = len(fired.firings)
        await asyncio.sleep(0.5)  # let the last firings commit
        result.overdue_jobs_left = await overdue_jobs(app)


async def load_region(url: str) -> None:
    setup = make_engine(url)
    await import_region(setup, parse_region(region_yaml(cacos=1)))
    await setup.dispose()


def fmt_s(value: float | None) -> str:
    return "-" if value is None else f"{value:.1f}"


def print_lateness(kind: str, phase: Lateness) -> None:
    print(
        f"{kind:10} {phase.scenario:6}: {phase.pending:,} pending, {phase.fired}/{phase.firing} "
        f"due over {phase.spread:.0f} s fired{' (stalled)' if phase.stalled else ''}, "
        f"p50 {late_ms(phase.p(50))} ms, p99 {late_ms(phase.p(99))} ms, "
        f"max {late_ms(phase.p(100))} ms; scheduling {phase.schedule_seconds:.1f} s; job store "
        f"calls on the event loop {phase.jobstore_blocked:.1f} s of {phase.window:.1f} s "
        f"({phase.jobstore_summary})"
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
        f"{fmt_s(result.restart_all_fired)} s; job store {result.restart_jobstore_summary}"
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
        help="also PostgreSQL (adds ~4-5 minutes on a 2-core machine)",
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
    if r.stalled and r.fired < r.firing:
        all_fired = f"stalled (nothing fired for {STALL:.0f} s)"
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
        f"{r.jobstore_blocked:.1f} s of {r.window:.1f} s",
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


def readme_body(
    results: list[Result], logs: dict[str, str], comparison: list[Result] | None = None
) -> str:
    first = results[0]
    t = first.target
    lines = [
        machine().markdown(),
        "",
        f"Lateness: {t.pending:,} timers created through `Tx.schedule` + "
        f"`ApsTimerScheduler.schedule` ({BATCH} per transaction, in random order; the job "
        "store adds run in the scheduler's job-store thread), due times starting after "
        "scheduling is expected to finish. **The target row is the target scenario**: "
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
        + "Lateness = handler start - due_at (or - the time its job reached the job store, if "
        "that was later), over the timers due in the window; one that never fired counts as "
        "infinitely late. Loop lag = how late a 10 ms sleep woke while they fired; "
        '"job store calls on the event loop" = time the event loop spent inside APScheduler\'s '
        "synchronous job-store calls in that window (calls in the scheduler's threads are "
        "only counted, below).",
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
                "job store calls on the event loop",
                "all fired, s after last due",
            ],
            [lateness_row(r.kind, s) for r in results for s in r.scenarios()],
        ),
        "",
        f"Restart: with the app stopped, {first.timers:,} timer rows are inserted with due "
        "times spread over the last minute (they fell due during the outage; the job store "
        "holds no job for them), then the app is started: `ApsTimerScheduler.start` fires "
        "the overdue rows straight from the table through `TimerRunner.run_due` (one "
        "transaction per timer, on the event loop), then, in its job-store thread, reconciles "
        "the job store with the rows still pending and starts the scheduler; no jobs are added "
        "or removed for the overdue rows. Times from entering `running()`.",
        "",
        table(
            [
                "DB",
                "start() returned after s",
                "fired during start()",
                "all fired after s",
                "job store calls on the event loop, s",
                "overdue jobs left",
                "fired total",
            ],
            [
                [
                    r.kind,
                    f"{r.start_seconds:.1f}",
                    f"{r.fired_during_start:,}",
                    f"**{fmt_s(r.restart_all_fired)}**",
                    f"{r.restart_jobstore_blocked:.1f}",
                    r.overdue_jobs_left,
                    f"{r.restart_fired:,}/{r.timers:,}",
                ]
                for r in results
            ],
        ),
        "",
        "Job-store calls (count; time only for calls on the event loop):",
        "",
    ]
    for r in results:
        lines += [
            f"- {r.kind}, {s.scenario}, while firing: {s.jobstore_summary or 'none'}"
            for s in r.scenarios()
        ]
        lines += [f"- {r.kind}, restart: {r.restart_jobstore_summary or 'none'}"]
    lines += ["", "Logged (warnings and errors):", ""]
    lines += [f"- {kind}: {summary}" for kind, summary in logs.items()]
    for r in results:
        lines += ["", verdict(r.kind, r.target)]
        if r.stress is not None:
            lines += ["", verdict(r.kind, r.stress)]
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
