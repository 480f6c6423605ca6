"""One-time link codes (stored as hashes) and the failed attempts to use them."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import func, select, update

from core.model import (
    PersonId,
)
from storage.connection import Conn
from storage.database import table
from storage.tables import (
    LinkAttemptRow,
    LinkCodeRow,
)

LINK_CODE = table(LinkCodeRow)
LINK_ATTEMPT = table(LinkAttemptRow)


class SqlLinkRepo:
    def __init__(self, conn: Conn) -> None:
        self.conn = conn

    async def add(
        self, code_hash: str, person_id: PersonId, at: datetime, expires_at: datetime
    ) -> None:
        await self.conn.execute(
            LINK_CODE.insert().values(
                code_hash=code_hash, person_id=person_id, created_at=at, expires_at=expires_at
            )
        )

    async def take(self, code_hash: str, now: datetime, used_by: str) -> PersonId | None:
        stmt = (
            update(LINK_CODE)
            .where(
                LINK_CODE.c.code_hash == code_hash,
                LINK_CODE.c.used_at.is_(None),
                LINK_CODE.c.expires_at > now,
            )
            .values(used_at=now, used_by=used_by)
            .returning(LINK_CODE.c.person_id)
        )
        person_id = (await self.conn.execute(stmt)).scalar_one_or_none()
        return PersonId(person_id) if person_id is not None else None

    async def record_failure(self, who: str, at: datetime) -> None:
        await self.conn.execute(LINK_ATTEMPT.insert().values(who=who, at=at))

    async def failures_since(self, who: str, since: datetime) -> int:
        stmt = (
            select(func.count())
            .select_from(LINK_ATTEMPT)
            .where(LINK_ATTEMPT.c.who == who, LINK_ATTEMPT.c.at >= since)
        )
        return int((await self.conn.execute(stmt)).scalar_one())
