"""Incidents, numbered per prefix, and their pages and page targets."""

from __future__ import annotations

from collections.abc import Callable, Collection
from datetime import datetime
from typing import Any

from sqlalchemy import Table, and_, bindparam, select, update
from sqlalchemy.sql import Executable

from core.model import (
    AlertKind,
    GemeenteId,
    Incident,
    IncidentId,
    IncidentStatus,
    Page,
    PageId,
    PageStatus,
    PageTarget,
    PersonId,
    TargetStatus,
)
from core.ports import (
    NewIncident,
)
from storage.connection import Conn
from storage.database import per_dialect, table
from storage.tables import (
    CounterRow,
    IncidentRow,
    PageRow,
    PageTargetRow,
)

COUNTER = table(CounterRow)
INCIDENT = table(IncidentRow)
PAGE = table(PageRow)
TARGET = table(PageTargetRow)

_PAGES_OF = (
    select(PAGE).where(PAGE.c.incident_id.in_(bindparam("ids", expanding=True))).order_by(PAGE.c.id)
)

_TARGETS_OF = (
    select(TARGET)
    .where(TARGET.c.page_id.in_(bindparam("ids", expanding=True)))
    .order_by(TARGET.c.page_id, TARGET.c.paged_at)
)

_ADD_INCIDENT = INCIDENT.insert().returning(INCIDENT.c.id)

_ADD_PAGE = PAGE.insert().returning(PAGE.c.id)

_ADD_TARGET = TARGET.insert()

_UPDATE_PAGE = (
    update(PAGE)
    .where(PAGE.c.id == bindparam("page_id"))
    .values(
        status=bindparam("new_status"),
        step_index=bindparam("new_step"),
        attempt=bindparam("new_attempt"),
        acknowledged_by=bindparam("by"),
        acknowledged_at=bindparam("at", type_=PAGE.c.acknowledged_at.type),
    )
)


def _next_number_upsert(insert: Callable[[Table], Any]) -> Executable:
    """The next number of a counter (created at 1): one statement."""
    new = insert(COUNTER).values(name=bindparam("name"), value=1)
    return new.on_conflict_do_update(  # type: ignore[no-any-return]
        index_elements=[COUNTER.c.name], set_={"value": COUNTER.c.value + 1}
    ).returning(COUNTER.c.value)


_NEXT_NUMBER = per_dialect(_next_number_upsert)


def _incident(row: Any) -> Incident:
    return Incident(
        id=IncidentId(row["id"]),
        public_id=row["public_id"],
        kind=AlertKind(row["kind"]),
        description=row["description"],
        location=row["location"],
        opschaling=row["opschaling"],
        gemeenten=tuple(GemeenteId(g) for g in row["gemeenten"]),
        status=IncidentStatus(row["status"]),
        created_by=PersonId(row["created_by"]),
        created_at=row["created_at"],
        closed_at=row["closed_at"],
        closed_by=row["closed_by"],
    )


class SqlIncidentRepo:
    def __init__(self, conn: Conn) -> None:
        self.conn = conn

    async def _next_number(self, prefix: str) -> int:
        stmt = _NEXT_NUMBER[self.conn.dialect.name]
        return int((await self.conn.execute(stmt, {"name": f"incident:{prefix}"})).scalar_one())

    async def add(self, new: NewIncident, prefix: str) -> Incident:
        number = await self._next_number(prefix)
        values: dict[str, Any] = {
            "public_id": f"{prefix}-{number:04d}",
            "kind": new.kind.value,
            "description": new.description,
            "location": new.location,
            "opschaling": new.opschaling,
            "gemeenten": list(new.gemeenten),
            "status": IncidentStatus.OPEN.value,
            "created_by": new.created_by,
            "created_at": new.created_at,
        }
        result = await self.conn.execute(_ADD_INCIDENT, values)
        return _incident(
            {**values, "id": result.scalar_one(), "closed_at": None, "closed_by": None}
        )

    async def get(self, incident_id: IncidentId, *, for_update: bool = False) -> Incident | None:
        stmt = select(INCIDENT).where(INCIDENT.c.id == incident_id)
        if for_update:
            stmt = stmt.with_for_update()
        row = (await self.conn.execute(stmt)).mappings().first()
        return _incident(row) if row else None

    async def by_public_id(self, public_id: str) -> Incident | None:
        stmt = select(INCIDENT).where(INCIDENT.c.public_id == public_id)
        row = (await self.conn.execute(stmt)).mappings().first()
        return _incident(row) if row else None

    async def numbered(self, number: str) -> list[Incident]:
        if not number.isascii() or not number.isdigit():
            return []  # digits only: nothing for LIKE to read as a wildcard
        stmt = select(INCIDENT).where(INCIDENT.c.public_id.like(f"%-{number}"))
        rows = await self.conn.execute(stmt.order_by(INCIDENT.c.id.desc()))
        return [_incident(r) for r in rows.mappings()]

    async def open(self) -> list[Incident]:
        stmt = select(INCIDENT).where(INCIDENT.c.status == IncidentStatus.OPEN.value)
        return [
            _incident(r) for r in (await self.conn.execute(stmt.order_by(INCIDENT.c.id))).mappings()
        ]

    async def close(self, incident_id: IncidentId, by: PersonId, at: datetime) -> None:
        await self.conn.execute(
            update(INCIDENT)
            .where(INCIDENT.c.id == incident_id)
            .values(status=IncidentStatus.CLOSED.value, closed_by=by, closed_at=at)
        )


def _page(row: Any) -> Page:
    return Page(
        id=PageId(row["id"]),
        incident_id=IncidentId(row["incident_id"]),
        function_key=row["function_key"],
        status=PageStatus(row["status"]),
        step_index=row["step_index"],
        attempt=row["attempt"],
        created_at=row["created_at"],
        acknowledged_by=row["acknowledged_by"],
        acknowledged_at=row["acknowledged_at"],
    )


class SqlPageRepo:
    def __init__(self, conn: Conn) -> None:
        self.conn = conn

    async def add(
        self, incident_id: IncidentId, function_key: str, status: PageStatus, at: datetime
    ) -> Page:
        values: dict[str, Any] = {
            "incident_id": incident_id,
            "function_key": function_key,
            "status": status.value,
            "step_index": 0,
            "attempt": 1,  # its first attempt at the first step (`Paging.start`)
            "created_at": at,
        }
        result = await self.conn.execute(_ADD_PAGE, values)
        return _page(
            {**values, "id": result.scalar_one(), "acknowledged_by": None, "acknowledged_at": None}
        )

    async def get(self, page_id: PageId, *, for_update: bool = False) -> Page | None:
        stmt = select(PAGE).where(PAGE.c.id == page_id)
        if for_update:
            stmt = stmt.with_for_update()
        row = (await self.conn.execute(stmt)).mappings().first()
        return _page(row) if row else None

    async def for_incidents(self, incident_ids: Collection[IncidentId]) -> list[Page]:
        if not incident_ids:
            return []
        result = await self.conn.execute(_PAGES_OF, {"ids": list(incident_ids)})
        return [_page(r) for r in result.mappings()]

    async def update(self, page: Page) -> None:
        row = {
            "page_id": page.id,
            "new_status": page.status.value,
            "new_step": page.step_index,
            "new_attempt": page.attempt,
            "by": page.acknowledged_by,
            "at": page.acknowledged_at,
        }
        await self.conn.execute(_UPDATE_PAGE, row)

    async def add_target(self, target: PageTarget) -> None:
        row = {
            "page_id": target.page_id,
            "person_id": target.person_id,
            "step_index": target.step_index,
            "status": target.status.value,
            "paged_at": target.paged_at,
            "answered_at": target.answered_at,
        }
        await self.conn.execute(_ADD_TARGET, row)

    async def targets(self, page_ids: Collection[PageId]) -> list[PageTarget]:
        if not page_ids:
            return []
        result = await self.conn.execute(_TARGETS_OF, {"ids": list(page_ids)})
        return [
            PageTarget(
                PageId(r["page_id"]),
                PersonId(r["person_id"]),
                r["step_index"],
                TargetStatus(r["status"]),
                r["paged_at"],
                r["answered_at"],
                r["delivered_at"],
            )
            for r in result.mappings()
        ]

    async def set_target_status(
        self, page_id: PageId, person_id: PersonId, status: TargetStatus, at: datetime
    ) -> None:
        values: dict[str, Any] = {"status": status.value}
        if status is TargetStatus.PAGED:
            values["paged_at"] = at
            values["delivered_at"] = None  # paged again: not delivered yet
        else:
            values["answered_at"] = at
        await self.conn.execute(
            update(TARGET)
            .where(and_(TARGET.c.page_id == page_id, TARGET.c.person_id == person_id))
            .values(**values)
        )

    async def set_target_delivered(
        self, page_id: PageId, person_id: PersonId, at: datetime
    ) -> None:
        await self.conn.execute(
            update(TARGET)
            .where(and_(TARGET.c.page_id == page_id, TARGET.c.person_id == person_id))
            .values(delivered_at=at)
        )
