"""The audit log: who did what, with which result, from where."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select

from core.model import (
    Origin,
)
from core.ports import (
    AuditRecord,
)
from storage.connection import Conn
from storage.database import table
from storage.tables import (
    AuditRow,
)

AUDIT = table(AuditRow)

_ADD_AUDIT = AUDIT.insert()


def _audit_values(record: AuditRecord) -> dict[str, Any]:
    return {
        "at": record.at,
        "actor": record.actor,
        "action": record.action,
        "object": record.object,
        "result": record.result,
        "origin": record.origin.value,
        "detail": record.detail,
    }


class SqlAuditRepo:
    def __init__(self, conn: Conn) -> None:
        self.conn = conn

    async def append_many(self, records: list[AuditRecord]) -> None:
        rows = [_audit_values(record) for record in records]
        if rows:
            await self.conn.execute(_ADD_AUDIT, rows)

    async def all(self) -> list[AuditRecord]:
        rows = (await self.conn.execute(select(AUDIT).order_by(AUDIT.c.id))).mappings()
        return [
            AuditRecord(
                r["at"],
                r["actor"],
                r["action"],
                r["object"],
                r["result"],
                Origin(r["origin"]),
                r["detail"],
            )
            for r in rows
        ]
