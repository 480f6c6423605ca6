"""The strategische analyse: its editors, field values, published versions and copies."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import select, update

from core.analyse.model import Analyse, AnalyseId, Copy, Editor, FieldValue, Version
from core.model import (
    IncidentId,
    PersonId,
)
from storage.connection import Conn
from storage.database import table
from storage.tables import (
    AnalyseCopyRow,
    AnalyseEditorRow,
    AnalyseFieldRow,
    AnalyseRow,
    AnalyseVersionRow,
)

ANALYSE = table(AnalyseRow)
ANALYSE_EDITOR = table(AnalyseEditorRow)
ANALYSE_FIELD = table(AnalyseFieldRow)
ANALYSE_VERSION = table(AnalyseVersionRow)
ANALYSE_COPY = table(AnalyseCopyRow)


def _analyse(row: Any) -> Analyse:
    return Analyse(
        id=AnalyseId(row["id"]),
        incident_id=IncidentId(row["incident_id"]),
        created_by=PersonId(row["created_by"]),
        created_at=row["created_at"],
        version=row["version"],
        bt_convened_by=row["bt_convened_by"],
        bt_convened_at=row["bt_convened_at"],
    )


def _version(row: Any) -> Version:
    return Version(
        number=row["number"],
        values=row["values"],
        editors=row["editors"],
        published_by=PersonId(row["published_by"]),
        published_at=row["published_at"],
        next_update_at=row["next_update_at"],
    )


def _copy(row: Any) -> Copy:
    return Copy(
        analyse_id=AnalyseId(row["analyse_id"]),
        number=row["number"],
        person_id=PersonId(row["person_id"]),
        kind=row["kind"],
        shared_by=row["shared_by"],
        at=row["at"],
        read_at=row["read_at"],
    )


class SqlAnalyseRepo:
    def __init__(self, conn: Conn) -> None:
        self.conn = conn

    async def by_incident(self, incident_id: IncidentId) -> Analyse | None:
        stmt = select(ANALYSE).where(ANALYSE.c.incident_id == incident_id)
        row = (await self.conn.execute(stmt)).mappings().first()
        return _analyse(row) if row else None

    async def get(self, analyse_id: AnalyseId, *, for_update: bool = False) -> Analyse | None:
        stmt = select(ANALYSE).where(ANALYSE.c.id == analyse_id)
        if for_update:
            stmt = stmt.with_for_update()
        row = (await self.conn.execute(stmt)).mappings().first()
        return _analyse(row) if row else None

    async def create(self, incident_id: IncidentId, by: PersonId, at: datetime) -> Analyse:
        result = await self.conn.execute(
            ANALYSE.insert()
            .values(incident_id=incident_id, created_by=by, created_at=at, version=0)
            .returning(ANALYSE.c.id)
        )
        analyse_id = AnalyseId(result.scalar_one())
        await self.set_editor(Editor(analyse_id, by, None, True, at))
        return Analyse(analyse_id, incident_id, by, at, 0)

    async def for_editor(self, person_id: PersonId) -> list[Analyse]:
        stmt = (
            select(ANALYSE)
            .join(ANALYSE_EDITOR, ANALYSE_EDITOR.c.analyse_id == ANALYSE.c.id)
            .where(ANALYSE_EDITOR.c.person_id == person_id, ANALYSE_EDITOR.c.joined.is_(True))
            .order_by(ANALYSE.c.id.desc())
        )
        return [_analyse(r) for r in (await self.conn.execute(stmt)).mappings()]

    async def editors(self, analyse_id: AnalyseId) -> list[Editor]:
        stmt = select(ANALYSE_EDITOR).where(ANALYSE_EDITOR.c.analyse_id == analyse_id)
        return [
            Editor(
                AnalyseId(r["analyse_id"]),
                PersonId(r["person_id"]),
                r["invited_by"],
                r["joined"],
                r["at"],
            )
            for r in (await self.conn.execute(stmt.order_by(ANALYSE_EDITOR.c.at))).mappings()
        ]

    async def set_editor(self, editor: Editor) -> None:
        await self.conn.execute(
            ANALYSE_EDITOR.delete().where(
                ANALYSE_EDITOR.c.analyse_id == editor.analyse_id,
                ANALYSE_EDITOR.c.person_id == editor.person_id,
            )
        )
        await self.conn.execute(
            ANALYSE_EDITOR.insert().values(
                analyse_id=editor.analyse_id,
                person_id=editor.person_id,
                invited_by=editor.invited_by,
                joined=editor.joined,
                at=editor.at,
            )
        )

    async def fields(self, analyse_id: AnalyseId) -> dict[str, FieldValue]:
        stmt = select(ANALYSE_FIELD).where(ANALYSE_FIELD.c.analyse_id == analyse_id)
        return {
            r["key"]: FieldValue(r["value"], PersonId(r["editor_id"]), r["updated_at"])
            for r in (await self.conn.execute(stmt)).mappings()
        }

    async def set_field(
        self, analyse_id: AnalyseId, key: str, value: Any, editor: PersonId, at: datetime
    ) -> None:
        await self.clear_field(analyse_id, key)
        await self.conn.execute(
            ANALYSE_FIELD.insert().values(
                analyse_id=analyse_id, key=key, value=value, editor_id=editor, updated_at=at
            )
        )

    async def clear_field(self, analyse_id: AnalyseId, key: str) -> None:
        await self.conn.execute(
            ANALYSE_FIELD.delete().where(
                ANALYSE_FIELD.c.analyse_id == analyse_id, ANALYSE_FIELD.c.key == key
            )
        )

    async def publish(self, analyse_id: AnalyseId, version: Version) -> int:
        result = await self.conn.execute(
            ANALYSE_VERSION.insert()
            .values(
                analyse_id=analyse_id,
                number=version.number,
                values=version.values,
                editors=version.editors,
                published_by=version.published_by,
                published_at=version.published_at,
                next_update_at=version.next_update_at,
            )
            .returning(ANALYSE_VERSION.c.id)
        )
        await self.conn.execute(
            update(ANALYSE).where(ANALYSE.c.id == analyse_id).values(version=version.number)
        )
        return int(result.scalar_one())

    async def version(self, analyse_id: AnalyseId, number: int) -> Version | None:
        stmt = select(ANALYSE_VERSION).where(
            ANALYSE_VERSION.c.analyse_id == analyse_id, ANALYSE_VERSION.c.number == number
        )
        row = (await self.conn.execute(stmt)).mappings().first()
        return _version(row) if row else None

    async def version_by_row(self, row_id: int) -> tuple[AnalyseId, Version] | None:
        stmt = select(ANALYSE_VERSION).where(ANALYSE_VERSION.c.id == row_id)
        row = (await self.conn.execute(stmt)).mappings().first()
        return (AnalyseId(row["analyse_id"]), _version(row)) if row else None

    async def add_copy(self, copy: Copy) -> None:
        await self.conn.execute(
            ANALYSE_COPY.insert().values(
                analyse_id=copy.analyse_id,
                number=copy.number,
                person_id=copy.person_id,
                kind=copy.kind,
                shared_by=copy.shared_by,
                at=copy.at,
                read_at=copy.read_at,
            )
        )

    async def copies(self, analyse_id: AnalyseId) -> list[Copy]:
        stmt = select(ANALYSE_COPY).where(ANALYSE_COPY.c.analyse_id == analyse_id)
        return [
            _copy(r) for r in (await self.conn.execute(stmt.order_by(ANALYSE_COPY.c.id))).mappings()
        ]

    async def mark_read(
        self, analyse_id: AnalyseId, number: int, person_id: PersonId, at: datetime
    ) -> bool:
        stmt = (
            update(ANALYSE_COPY)
            .where(
                ANALYSE_COPY.c.analyse_id == analyse_id,
                ANALYSE_COPY.c.number == number,
                ANALYSE_COPY.c.person_id == person_id,
                ANALYSE_COPY.c.read_at.is_(None),
            )
            .values(read_at=at)
        )
        return (await self.conn.execute(stmt)).rowcount > 0

    async def convene_bt(self, analyse_id: AnalyseId, by: PersonId, at: datetime) -> None:
        await self.conn.execute(
            update(ANALYSE)
            .where(ANALYSE.c.id == analyse_id)
            .values(bt_convened_by=by, bt_convened_at=at)
        )
