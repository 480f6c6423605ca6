"""Where the database time of a path goes: every unit of work, seen through SQLAlchemy events.

Nothing here changes what the bot does: it only listens to SQLAlchemy's public pool and
connection events (`checkout`, `checkin`, `reset`, `before_cursor_execute`,
`after_cursor_execute`, `commit`, `rollback`) on the engine of the app's units of work
(`app.uows.statement_engine`) and stamps them with `time.perf_counter()`. A unit of
work of the bot (`storage.uow.SqlUnitOfWorkFactory`) is one pool checkout -> checkin; its
statements say what it was (`kind`). On SQLite every unit of work begins with `BEGIN
IMMEDIATE`; on PostgreSQL with the read of the region's revision (`storage.uow`, the
liveness check); `classify` looks past both.

Driver calls ("round trips") are counted from those events:

- PostgreSQL (asyncpg): one per statement, a `BEGIN` before the first statement of a
  transaction, and the `COMMIT` or `ROLLBACK` that ends an open one (no pre-ping: the unit
  of work's first statement finds a dead connection, see `storage.uow`).
- SQLite: statements run on the event loop's own thread (`storage.connection`), so a
  "round trip" is one call into `sqlite3`: every statement (the `BEGIN IMMEDIATE` that
  starts a unit of work included), commit and rollback.
"""

from __future__ import annotations

import math
import re
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import Engine, event

_VERB = re.compile(r"^\s*(\w+)")
_TABLE = re.compile(r"\b(?:FROM|INTO|UPDATE)\s+\"?(\w+)", re.IGNORECASE)


def describe(statement: str) -> str:
    """`SELECT outbox`, `INSERT inbox`, `UPDATE ledger`, ...: the verb and first table."""
    verb = _VERB.match(statement)
    table = _TABLE.search(statement)
    return f"{verb.group(1).upper() if verb else '?'} {table.group(1) if table else '-'}"


@dataclass
class Statement:
    at: float
    what: str  # describe()
    # A `status` bound parameter, if any (ledger and outbox writes); of a ledger write of
    # several rows (outcomes written with the next part's "sending"), "sending" if any.
    status: str | None
    event_id: str | None = None  # the `event_id` parameter (inbox and inbound_event inserts)
    rows: bool = False  # it returned rows
    count: bool = False  # a count(*) (the benchmarks' own polls; the bot does not count)
    begins: bool = False  # the first statement of a transaction (asyncpg sends BEGIN)


@dataclass
class Unit:
    """One pool checkout -> checkin of the bot's engine."""

    conn: int
    start: float  # checked out
    end: float = math.nan  # checked in
    statements: list[Statement] = field(default_factory=list)
    commits: int = 0
    rollbacks: int = 0  # rollbacks that ended an open transaction
    idle_rollbacks: int = 0  # rollbacks with nothing open (the pool's reset after a commit)
    kind: str = ""

    @property
    def duration(self) -> float:
        return self.end - self.start

    def round_trips(self, dialect: str) -> int:
        n = len(self.statements)
        if dialect == "postgresql":
            begins = sum(1 for s in self.statements if s.begins)
            return n + begins + self.commits + self.rollbacks
        return n + self.commits + self.rollbacks

    def whats(self) -> list[str]:
        return [s.what for s in self.statements]

    def event_ids(self) -> set[str]:
        return {s.event_id for s in self.statements if s.event_id is not None}


Classifier = Callable[[Unit], str]


class SqlTrace:
    """Records every unit of work on `engine` while `recording` is true."""

    def __init__(self, engine: Engine, dialect: str, classify: Classifier) -> None:
        self.engine = engine
        self.dialect = dialect
        self.classify = classify
        self.units: list[Unit] = []
        self.recording = False
        self._open: dict[int, Unit] = {}
        self._in_tx: dict[int, bool] = {}
        self._fresh: set[int] = set()
        sync = engine
        event.listen(sync, "connect", self._connect)
        event.listen(sync, "checkout", self._checkout)
        event.listen(sync, "checkin", self._checkin)
        event.listen(sync, "reset", self._reset)
        event.listen(sync, "before_cursor_execute", self._before)
        event.listen(sync, "after_cursor_execute", self._after)
        event.listen(sync, "commit", self._commit)
        event.listen(sync, "rollback", self._rollback)

    def detach(self) -> None:
        sync = self.engine
        for name, fn in (
            ("connect", self._connect),
            ("checkout", self._checkout),
            ("checkin", self._checkin),
            ("reset", self._reset),
            ("before_cursor_execute", self._before),
            ("after_cursor_execute", self._after),
            ("commit", self._commit),
            ("rollback", self._rollback),
        ):
            event.remove(sync, name, fn)

    @staticmethod
    def _key_of(conn: Any) -> int:
        return id(conn.connection.dbapi_connection)

    def _connect(self, dbapi_connection: Any, _record: Any) -> None:
        self._fresh.add(id(dbapi_connection))

    def _checkout(self, dbapi_connection: Any, _record: Any, _proxy: Any) -> None:
        key = id(dbapi_connection)
        self._fresh.discard(key)
        self._in_tx[key] = False
        if self.recording:
            unit = Unit(key, time.perf_counter())
            self._open[key] = unit

    def _checkin(self, dbapi_connection: Any, _record: Any) -> None:
        unit = self._open.pop(id(dbapi_connection), None)
        if unit is not None:
            unit.end = time.perf_counter()
            unit.kind = self.classify(unit)
            self.units.append(unit)

    def _reset(self, dbapi_connection: Any, _record: Any, state: Any) -> None:
        key = id(dbapi_connection)
        unit = self._open.get(key)
        if unit is not None and not getattr(state, "transaction_was_reset", False):
            if self._in_tx.get(key):
                unit.rollbacks += 1
            else:
                unit.idle_rollbacks += 1
        self._in_tx[key] = False

    def _before(
        self, conn: Any, _cursor: Any, statement: str, _params: Any, ctx: Any, _many: bool
    ) -> None:
        key = self._key_of(conn)
        unit = self._open.get(key)
        if unit is not None:
            # The statement's parameters by name (the DBAPI's own are positional).
            compiled = getattr(ctx, "compiled_parameters", None) or [{}]
            first = compiled[0] if isinstance(compiled[0], dict) else {}
            statuses = [
                p.get("status", p.get("new_status")) for p in compiled if isinstance(p, dict)
            ]
            status = "sending" if "sending" in statuses else statuses[0] if statuses else None
            event_id = first.get("event_id")
            unit.statements.append(
                Statement(
                    time.perf_counter(),
                    describe(statement),
                    status if isinstance(status, str) else None,
                    event_id if isinstance(event_id, str) else None,
                    count="count(" in statement.lower(),
                    begins=not self._in_tx.get(key, False),
                )
            )
        self._in_tx[key] = True

    def _after(
        self, conn: Any, cursor: Any, _statement: str, _params: Any, _ctx: Any, _many: bool
    ) -> None:
        unit = self._open.get(self._key_of(conn))
        if unit is not None and unit.statements:
            unit.statements[-1].rows = cursor.description is not None

    def _commit(self, conn: Any) -> None:
        key = self._key_of(conn)
        unit = self._open.get(key)
        if unit is not None:
            unit.commits += 1
        self._in_tx[key] = False

    def _rollback(self, conn: Any) -> None:
        key = self._key_of(conn)
        unit = self._open.get(key)
        if unit is not None:
            if self._in_tx.get(key):
                unit.rollbacks += 1
            else:
                unit.idle_rollbacks += 1
        self._in_tx[key] = False

    def between(self, start: float, end: float) -> list[Unit]:
        """Units that started in [start, end], in order."""
        return [u for u in self.units if start <= u.start <= end]

    def clear(self) -> None:
        self.units.clear()

    def bot_units(self) -> list[Unit]:
        """The units recorded, without the benchmark's own polls."""
        return [u for u in self.units if u.kind != POLL]


# What the bot's units of work are, told by their statements.
STORE = "inbox store"
READ = "inbox read"
HANDLE = "handling transaction"
FINISH = "inbox finish"
DISPATCH = "delivery dispatch query"
SENDING = 'ledger "sending" commit'  # with the outcome of the row's part before, if any
SENT = "ledger outcome commit"  # outcomes alone (the bot writes them with the next write)
ROW_DONE = "outbox row finished"  # with its last part's outcome
REPORT = "delivery report (page target delivered)"
POLL = "the benchmark's own poll"
OTHER = "other"


BEGIN = "BEGIN -"  # SQLite's `BEGIN IMMEDIATE`, the first statement of a unit of work there
REVISION = "SELECT region"  # the revision read (first on PostgreSQL; the directory's)


def classify(unit: Unit) -> str:
    """The kind of one of the bot's units of work, from its statements (after a leading
    `BEGIN IMMEDIATE` and revision read)."""
    statements = unit.statements
    if statements and statements[0].what == BEGIN:
        statements = statements[1:]
    if statements and statements[0].what == REVISION:
        statements = statements[1:]
    whats = [s.what for s in statements]
    if not whats:
        return "empty"
    if all(s.count for s in statements):
        return POLL
    if "INSERT inbox" in whats:
        return STORE
    if any(w.endswith("inbound_event") for w in whats):
        return HANDLE  # it also marks the event's inbox row done
    if "UPDATE inbox" in whats:
        return FINISH  # refused events
    if whats[0] == "SELECT inbox":
        return READ
    if any(w == "SELECT outbox" for w in whats) and not any(
        w.startswith(("INSERT", "UPDATE")) for w in whats
    ):
        return DISPATCH
    if all(w.endswith("ledger") for w in whats):
        statuses = {s.status for s in statements}
        return SENDING if "sending" in statuses else SENT
    if any(w == "UPDATE outbox" for w in whats) and all(
        w.endswith(("outbox", "ledger")) for w in whats
    ):
        return ROW_DONE
    if any(w.endswith("page_target") for w in whats):
        return REPORT
    return OTHER + ": " + ", ".join(dict.fromkeys(whats))


@dataclass
class Path:
    """The units of work on one page's path (`PATH`), and the others on the way."""

    units: list[Unit]  # store, handle, sending
    off_path: Counter[str]  # other units of work that started on the way, by kind
    off_path_time: float  # and the time they held a connection


# The path of one page, in order: its event stored (`Inbox.accept`); handled (the inbox
# hands a fresh event over without reading the table); the ledger's "sending" commit just
# before the request (the handling commit hands the page row to a worker at once,
# `Deliverer.offer`, without a dispatch query). An inbox read or a dispatch query on the
# way (the table read every second, a person whose worker was busy) counts as off the path.
PATH = (STORE, HANDLE, SENDING)


def follow(units: list[Unit], event_id: str, t0: float, paged_at: float) -> Path | None:
    """The units of work on the path of the page that event `event_id` caused, followed
    back from its send at `paged_at` (the last "sending" commit before it); `t0` is when
    the event was handed in."""
    by_event = [u for u in units if event_id in u.event_ids()]
    store = next((u for u in by_event if u.kind == STORE), None)
    handle = next((u for u in by_event if u.kind == HANDLE), None)
    if store is None or handle is None:
        return None
    sendings = [
        u for u in units if u.kind == SENDING and handle.end <= u.start and u.end <= paged_at
    ]
    if not sendings:
        return None
    path = [store, handle, max(sendings, key=lambda u: u.end)]
    on_path = {id(u) for u in path}
    others = [u for u in units if t0 <= u.start <= paged_at and id(u) not in on_path]
    return Path(
        path,
        Counter(u.kind.split(":")[0] for u in others),
        sum(u.duration for u in others),
    )
