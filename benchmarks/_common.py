"""Shared helpers for the benchmark scripts: throwaway databases, the machine, the README.

Nothing here is product code. Every database is created for one run and dropped after it.
"""

from __future__ import annotations

import logging
import math
import os
import platform
import re
import shutil
import sqlite3
import sys
import tempfile
import time
import uuid
from collections import Counter
from collections.abc import Callable, Iterator, MutableMapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import psycopg
import structlog
from sqlalchemy import text

from core.messages import Message
from core.model import Person
from core.ports import Part
from storage.database import migrate

if TYPE_CHECKING:
    from scm_bot.app import App

PG_ADMIN_URL = os.environ.get("SCM_BENCH_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/test")
README = Path(__file__).parent / "README.md"
KINDS = ("sqlite", "postgresql")

INTRO = """\
# Benchmarks

Scripts (not tests) that measure the bot's hot paths, on SQLite and PostgreSQL side by side
in one run, because the machine they run on is shared and noisy: compare the figures within
a section (ratios), not across sections. Every script creates its own throwaway databases (a
temp SQLite file; `scm_bench_<random>` on the PostgreSQL server at `SCM_BENCH_POSTGRES_URL`,
default `postgresql://postgres@127.0.0.1:5432/test`), migrates them, drops them at the end,
and rewrites its own section below. Run them from the repository root, one at a time:

```
.venv/bin/python -m benchmarks.inbound_throughput          # ~1 min
.venv/bin/python -m benchmarks.page_latency                # ~4 min
.venv/bin/python -m benchmarks.timer_lateness --postgres   # ~8 min
.venv/bin/python -m benchmarks.telegram_latency            # ~1 min
.venv/bin/python -m benchmarks.telegram_fanout             # ~1.5 min
.venv/bin/python -m benchmarks.roster_who                  # ~2 min
.venv/bin/python -m benchmarks.failover                    # ~15 min
.venv/bin/python -m benchmarks.bt_callout                  # ~2.5 min
```

What each one measures, and its target:

- `inbound_throughput` (issue "Core spine"): inbound events per second through
  `Router.handle` plus delivery of the outbox each event queues (fake in-memory transport),
  one incident cycle after another. Target: **at least 300 events/s on SQLite**.
- `page_latency` (Core spine): with 100 incidents open at once (paged, unanswered, their
  escalations pending), further alerts confirmed at a steady rate; the time from handing the
  confirm button to `Inbox.accept` (as the chat adapters do) until the transport's `send()`
  gets the page, through the production wiring (`scm_bot.instance.running`). Target: **p99 at
  most 50 ms**. Bursts of 10 and 100 simultaneous confirms are reported as stress rows.
- `timer_lateness` (Core spine): 10,000 pending escalation timers through the real
  APScheduler path (in-memory jobs, rebuilt from the timer rows); lateness (fired - due)
  p50/p99 of those that fall due in the window, and the time to fire 10,000 overdue timers
  after a restart. Targets: **p99 lateness at most 1 s**; **10,000 overdue timers fired
  within 10 s of a restart on PostgreSQL** (issue 12). All 10,000 due within 20 s is
  reported as a stress row.
- `telegram_latency` (Telegram and Slack transports): alert -> page through the real
  python-telegram-bot stack against a fake Bot API on loopback, side by side with a bare
  python-telegram-bot app that only relays one message. Target: **at most 1.5x the bare app**.
- `telegram_fanout` (Telegram and Slack transports): 300 pages to 300 chats, the fake Bot API
  enforcing 30 messages/s. Target: **within 11 s (1.1x the 10 s minimum), no 429 left
  unhandled, nothing lost**.
- `roster_who` (Piket rosters): `/wie` resolution with 500 people, 50 functions and five
  years of shifts and overrides. Target: **p99 at most 5 ms**.
- `failover` (issue 16): two `scm-bot run` processes on PostgreSQL; the time from the
  leader's SIGKILL to the standby's first page over 20 failovers, and a 50-incident scenario
  with one and two instances (throughput, peak memory). Target: **p99 at most 10 s**.
- `bt_callout` (issue 15, the beleidsteam): a call-out of a 60-function composition on
  Telegram and Slack together, the fakes enforcing the platforms' limits. Targets: **every
  page within 1.2x the theoretical minimum**, **no board edit refused for the per-chat
  limit**, **the board showing an answer within 2 s (p99)**.

Logging: warnings and errors are counted (and the first few printed on one line) instead of
rendered by the CLI's console renderer; each section lists what was logged. All numbers
below are real runs of the scripts on the machine named in each section.
"""


# --- logging -------------------------------------------------------------------------------


LOG_COUNTS: Counter[str] = Counter()
PRINT_FIRST = 3  # of each kind of warning or error, the rest is only counted


def _count_structlog(
    _logger: object, method: str, event: MutableMapping[str, Any]
) -> MutableMapping[str, Any]:
    key = f"{method}: {event.get('event')}"
    LOG_COUNTS[key] += 1
    if LOG_COUNTS[key] <= PRINT_FIRST:
        exc = event.get("exc_info")
        error = sys.exc_info()[1] if exc is True else exc
        detail = {k: v for k, v in event.items() if k not in ("event", "exc_info")}
        print(
            f"[log] {key} {detail} {type(error).__name__ + ': ' + str(error) if error else ''}",
            file=sys.stderr,
        )
    raise structlog.DropEvent


class _CountingHandler(logging.Handler):
    def emit(self, record: logging.LogRecord) -> None:
        key = f"{record.levelname.lower()}: {record.name}: {str(record.msg)[:60]}"
        LOG_COUNTS[key] += 1
        if LOG_COUNTS[key] <= PRINT_FIRST:
            error = record.exc_info[1] if record.exc_info else None
            print(
                f"[log] {key} {type(error).__name__ + ': ' + str(error) if error else ''}",
                file=sys.stderr,
            )


def quiet_logging() -> None:
    """Warnings and errors (structlog and stdlib, e.g. APScheduler and asyncio) are counted
    in LOG_COUNTS and the first few of each kind printed in one line. The CLI's console
    renderer is not used: it renders every exception as a rich traceback, which blocks the
    event loop for 0.1-1 s each and would swamp what is measured."""
    logging.basicConfig(level=logging.WARNING, handlers=[_CountingHandler()], force=True)
    structlog.configure(
        processors=[_count_structlog],
        wrapper_class=structlog.make_filtering_bound_logger(logging.WARNING),
    )


def log_summary() -> str:
    """`kind: n` for everything counted, or "none"."""
    return "; ".join(f"`{k}` x{n}" for k, n in LOG_COUNTS.most_common()) or "none"


# --- databases -----------------------------------------------------------------------------


def postgres_available() -> bool:
    try:
        with psycopg.connect(PG_ADMIN_URL, autocommit=True, connect_timeout=3):
            return True
    except psycopg.OperationalError:
        return False


@contextmanager
def sqlite_database() -> Iterator[str]:
    """A migrated SQLite file in a temp directory, removed afterwards."""
    directory = Path(tempfile.mkdtemp(prefix="scm_bench_"))
    try:
        url = f"sqlite:///{directory / 'bench.sqlite'}"
        migrate(url)
        yield url
    finally:
        shutil.rmtree(directory, ignore_errors=True)


@contextmanager
def postgres_database() -> Iterator[str]:
    """A migrated database `scm_bench_<random>` on the PostgreSQL server, dropped afterwards."""
    name = f"scm_bench_{uuid.uuid4().hex[:10]}"
    with psycopg.connect(PG_ADMIN_URL, autocommit=True, connect_timeout=3) as admin:
        admin.execute(f'CREATE DATABASE "{name}"')
    try:
        url = f"{PG_ADMIN_URL.rsplit('/', 1)[0]}/{name}"
        migrate(url)
        yield url
    finally:
        with psycopg.connect(PG_ADMIN_URL, autocommit=True) as admin:
            admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@contextmanager
def database(kind: str) -> Iterator[str]:
    if kind == "sqlite":
        with sqlite_database() as url:
            yield url
    elif kind == "postgresql":
        with postgres_database() as url:
            yield url
    else:
        raise ValueError(kind)


def available_kinds() -> list[str]:
    if postgres_available():
        return list(KINDS)
    print(f"PostgreSQL unreachable at {PG_ADMIN_URL}: SQLite only", file=sys.stderr)
    return ["sqlite"]


# --- a fake transport ------------------------------------------------------------------------


@dataclass
class Sent:
    at: float  # time.perf_counter() when send() was called
    person: str
    message: Message


class BenchTransport:
    """An in-memory transport: reaches everyone, keeps each person's newest message with
    buttons, timestamps every send, and calls `on_send` (for latency probes)."""

    name = "fake"

    def __init__(self) -> None:
        self.sends = 0
        self.edits = 0
        self.with_buttons: dict[str, Message] = {}
        self.log: list[Sent] = []
        self.keep_log = False
        self.on_send: Callable[[float, Person, Message], None] | None = None

    def reaches(self, person: Person) -> bool:
        return True

    def parts(self, message: Message) -> list[Part]:
        return [Part(0, editable=True)]  # the whole message in one send

    async def send_part(
        self,
        person: Person,
        message: Message,
        part: int,
        *,
        note: str | None = None,
        plain: bool = False,
    ) -> str:
        return await self.send(person, message)

    async def send(self, person: Person, message: Message) -> str:
        at = time.perf_counter()
        self.sends += 1
        if message.buttons:
            self.with_buttons[person.key] = message
        if self.keep_log:
            self.log.append(Sent(at, person.key, message))
        if self.on_send is not None:
            self.on_send(at, person, message)
        return f"{self.name}-{self.sends}"

    async def edit(self, person: Person, ref: str, message: Message) -> None:
        self.edits += 1

    def button(self, person: str, prefix: str) -> str:
        """The data of the first button starting with `prefix` on `person`'s newest message
        with buttons."""
        message = self.with_buttons.get(person)
        for b in message.buttons if message else ():
            if b.data.startswith(prefix):
                return b.data
        raise LookupError(f"no button {prefix!r} for {person}")


# --- regions -------------------------------------------------------------------------------


def region_yaml(cacos: int = 1, rol_members: int = 3) -> str:
    """A region file with `cacos` Caco people (`caco-000`, ...), a ROL rotation of
    `rol_members` people, and the escalation of the test region. Every name is fictional."""
    lines = [
        "region: {code: VRU, name: Veiligheidsregio Bench, timezone: Europe/Amsterdam}",
        "settings: {alarm_functions: [rol]}",
        "functions:",
        "  - key: rol",
        "    name: ROL",
        "    escalation: {repeat_after_minutes: 5, repeats: 1,"
        " steps: [on_duty, backup, {function: coordinator}]}",
        "  - {key: coordinator, name: Piketcoördinator}",
        "people:",
    ]
    lines += [
        f"  - {{key: caco-{i:03d}, name: Caco {i:03d}, functions: [caco]}}" for i in range(cacos)
    ]
    lines += [
        f"  - {{key: rol-{i:02d}, name: Rol {i:02d}, functions: [rol]}}" for i in range(rol_members)
    ]
    lines += [
        "  - {key: coord, name: Coord Cor, functions: [coordinator]}",
        "  - {key: bgm-soest, name: Burgemeester Soest, functions: [burgemeester]}",
        "gemeenten:",
        "  - {key: soest, name: Soest, burgemeester: bgm-soest}",
        "  - {key: de-bilt, name: De Bilt}",
        "  - {key: utrecht, name: Utrecht}",
        "rotations:",
        "  - {function: rol, members: ["
        + ", ".join(f"rol-{i:02d}" for i in range(rol_members))
        + '], start: "2026-01-05T08:00:00", shift_days: 7}',
    ]
    return "\n".join(lines) + "\n"


# --- statistics ----------------------------------------------------------------------------


async def select_1_times(app: App, n: int) -> list[float]:
    """Seconds of each of `n` `SELECT 1` on one open connection of the engine the units of
    work use: on SQLite SQLAlchemy's synchronous engine, on the event loop's own thread
    (`storage.connection`); on PostgreSQL the async engine (asyncpg)."""
    times: list[float] = []
    if app.engine.dialect.name == "sqlite":
        with app.uows.statement_engine.connect() as conn:
            for _ in range(n):
                start = time.perf_counter()
                conn.execute(text("SELECT 1"))
                times.append(time.perf_counter() - start)
        return times
    async with app.engine.connect() as aconn:
        for _ in range(n):
            start = time.perf_counter()
            await aconn.execute(text("SELECT 1"))
            times.append(time.perf_counter() - start)
    return times


def percentile(values: Sequence[float], p: float) -> float:
    """The p-th percentile (0..100), linear between closest ranks."""
    if not values:
        return math.nan
    ordered = sorted(values)
    rank = (len(ordered) - 1) * p / 100
    low, high = math.floor(rank), math.ceil(rank)
    if low == high or math.isinf(ordered[high]):  # inf stands for "never happened"
        return ordered[high]
    return ordered[low] + (ordered[high] - ordered[low]) * (rank - low)


def ms(seconds: float) -> str:
    return f"{seconds * 1000:.1f}"


class Stopwatch:
    def __init__(self) -> None:
        self.start = time.perf_counter()

    def elapsed(self) -> float:
        return time.perf_counter() - self.start


# --- the machine and the README ------------------------------------------------------------


def _cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def _ram_gib() -> str:
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                return f"{int(line.split()[1]) / 1024 / 1024:.1f} GiB"
    except OSError:
        pass
    return "?"


def _postgres_version() -> str:
    try:
        with psycopg.connect(PG_ADMIN_URL, autocommit=True, connect_timeout=3) as conn:
            row = conn.execute("SHOW server_version").fetchone()
            return str(row[0]) if row else "?"
    except psycopg.OperationalError:
        return "unreachable"


@dataclass(frozen=True)
class Machine:
    cpu: str
    cores: int
    ram: str
    python: str
    system: str
    sqlite: str
    postgres: str
    date: str
    load: str

    def markdown(self) -> str:
        return (
            f"Machine: {self.cpu}, {self.cores} cores, {self.ram} RAM; {self.system}; "
            f"Python {self.python}; SQLite {self.sqlite}; PostgreSQL {self.postgres} "
            f"(loopback). Run {self.date}; load average (1/5/15 min) at the end of the run "
            f"{self.load} (a shared machine)."
        )


def machine() -> Machine:
    return Machine(
        cpu=_cpu_model(),
        cores=os.cpu_count() or 0,
        ram=_ram_gib(),
        python=platform.python_version(),
        system=platform.platform(),
        sqlite=sqlite3.sqlite_version,
        postgres=_postgres_version(),
        date=datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"),
        load=" / ".join(f"{x:.1f}" for x in os.getloadavg()),
    )


def table(headers: Sequence[str], rows: Sequence[Sequence[object]]) -> str:
    out = ["| " + " | ".join(headers) + " |", "|" + "---|" * len(headers)]
    out += ["| " + " | ".join(str(c) for c in row) + " |" for row in rows]
    return "\n".join(out)


def update_readme(name: str, title: str, body: str) -> None:
    """Replace (or append) the section `name` of benchmarks/README.md; the rest stays."""
    begin, end = f"<!-- BEGIN {name} -->", f"<!-- END {name} -->"
    section = f"{begin}\n## {title}\n\n{body.strip()}\n{end}"
    text = README.read_text("utf-8") if README.exists() else INTRO
    pattern = re.compile(re.escape(begin) + r".*?" + re.escape(end), re.DOTALL)
    if pattern.search(text):
        text = pattern.sub(lambda _m: section, text)
    else:
        text = text.rstrip("\n") + "\n\n" + section + "\n"
    README.write_text(text, "utf-8")
    print(f"\nUpdated section '{name}' of {README}")
