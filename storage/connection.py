"""The connection the repositories talk to: `execute`, `commit` and the dialect.

That is SQLAlchemy's `AsyncConnection` (aiosqlite on SQLite, asyncpg on PostgreSQL), handed
out by `storage.uow.SqlUnitOfWorkFactory`; the protocol keeps the repositories to the part
they use.
"""

from __future__ import annotations

from typing import Any, Protocol

from sqlalchemy.engine import CursorResult, Dialect
from sqlalchemy.sql import Executable


class Conn(Protocol):
    @property
    def dialect(self) -> Dialect: ...

    async def execute(
        self, statement: Executable, parameters: Any = None, /
    ) -> CursorResult[Any]: ...

    async def commit(self) -> None: ...
