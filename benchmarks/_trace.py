"""Where the database time of a path goes: every unit of work, seen through SQLAlchemy events.

Nothing here changes what the bot does: it only listens to SQLAlchemy's public pool and
connection events (`checkout`, `checkin`, `reset`, `before_cursor_execute`,
`after_cursor_execute`, `commit`, `rollback`) on the engine of the app's units of work
(`app.uows.statement_engine`) and stamps them with `time.perf_counter()`. A unit of
work of the bot (`storage.uow.SqlUnitOfWorkFactory`) is one pool checkout -> checkin; its
statements say what it was (`kind`).

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
    status: str | None  # a `status` bound parameter, if any (ledger and outbox updates)
    event_id: str | None = None  # the `event_id` parameter (inbox and inbound_event inserts)
    rows: bool = False  # it returned rows (aiosqlite fetches them in one more call)
    count: bool = False  # a count(*) (the benchmarks' own polls; the bot does not count)
    begins: bool = False  # the first statement of a transaction (asyncpg sends BEGIN)


@dataclass
class Unit:
    """One pool checkout -> checkin of the bot's engine."""

    conn: int
    start: float  # checked out (after the pre-ping, if any)
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
            status = first.get("status", first.get("new_status"))
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
SENDING = 'ledger "sending" commit'
SENT = 'ledger "sent" commit'
ROW_DONE = "outbox row finished"
REPORT = "delivery report (page target delivered)"
POLL = "the benchmark's own poll"
OTHER = "other"


def classify(unit: Unit) -> str:
    """The kind of one of the bot's units of work, from its statements."""
    whats = unit.whats()
    if not whats:
        return "empty"
    if all(s.count for s in unit.statements):
        return POLL
    if "INSERT inbox" in whats:
        return STORE
    if "UPDATE inbox" in whats:
        return FINISH
    if whats[0] == "SELECT inbox":
        return READ
    if any(w.endswith("inbound_event") for w in whats):
        return HANDLE
    if any(w == "SELECT outbox" for w in whats) and not any(
        w.startswith(("INSERT", "UPDATE")) for w in whats
    ):
        return DISPATCH
    if all(w.endswith("ledger") for w in whats):
        statuses = {s.status for s in unit.statements}
        return SENDING if "sending" in statuses else SENT
    if any(w == "UPDATE outbox" for w in whats) and all(
        w.endswith(("outbox", "ledger")) for w in whats
    ):
        return ROW_DONE
    if any(w.endswith("page_target") for w in whats):
        return REPORT
    return OTHER + ": " + ", ".join(dict.fromkeys(whats))
