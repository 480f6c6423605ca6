"""The beleidsteam repository (core.bt.model.BtRepo) over the unit of work's connection."""

from __future__ import annotations

from collections.abc import Collection
from datetime import datetime
from typing import Any

from sqlalchemy import func, select, update

from core.bt.model import (
    Answer,
    Attendance,
    Callout,
    CalloutId,
    CalloutStatus,
    LogEntry,
    Member,
    MemberId,
    NewCallout,
    Record,
    RecordKind,
)
from core.model import AlertKind, IncidentId, PageId, PersonId
from storage.bt_tables import (
    BtAttendanceRow,
    BtCalloutRow,
    BtMemberRow,
    BtRecordRow,
    BtViewerRow,
)
from storage.connection import Conn
from storage.database import table
from storage.tables import AuditRow, RegionRow

CALLOUT = table(BtCalloutRow)
MEMBER = table(BtMemberRow)
ATTENDANCE = table(BtAttendanceRow)
VIEWER = table(BtViewerRow)
RECORD = table(BtRecordRow)
AUDIT = table(AuditRow)
REGION = table(RegionRow)


def _callout(r: Any) -> Callout:
    return Callout(
        id=CalloutId(r["id"]),
        incident_id=IncidentId(r["incident_id"]),
        team_key=r["team_key"],
        team_name=r["team_name"],
        kind=AlertKind(r["kind"]),
        convened_by=PersonId(r["convened_by"]),
        on_behalf_of=r["on_behalf_of"],
        gemeente_id=r["gemeente_id"],
        starts_at=r["starts_at"],
        place=r["place"],
        norm_at=r["norm_at"],
        created_at=r["created_at"],
        answer_minutes=r["answer_minutes"],
        status=CalloutStatus(r["status"]),
        board_due=r["board_due"],
    )


def _member(r: Any) -> Member:
    return Member(
        MemberId(r["id"]),
        CalloutId(r["callout_id"]),
        r["position"],
        r["function_key"],
        r["required"],
        r["page_id"],
        r["person_key"],
    )


def _record(r: Any) -> Record:
    return Record(
        id=r["id"],
        incident_id=IncidentId(r["incident_id"]),
        callout_id=CalloutId(r["callout_id"]),
        kind=RecordKind(r["kind"]),
        number=r["number"],
        text=r["text"],
        phase=r["phase"],
        by=PersonId(r["by"]),
        at=r["at"],
        owner=r["owner"],
        history=tuple((h[0], h[1], h[2]) for h in r["history"]),
    )


class SqlBtRepo:
    def __init__(self, conn: Conn) -> None:
        self.conn = conn

    async def add_callout(self, new: NewCallout) -> Callout:
        values = {
            "incident_id": new.incident_id,
            "team_key": new.team_key,
            "team_name": new.team_name,
            "kind": new.kind.value,
            "convened_by": new.convened_by,
            "on_behalf_of": new.on_behalf_of,
            "gemeente_id": new.gemeente_id,
            "starts_at": new.starts_at,
            "place": new.place,
            "norm_at": new.norm_at,
            "created_at": new.created_at,
            "answer_minutes": new.answer_minutes,
            "status": CalloutStatus.ACTIVE.value,
            "board_due": False,
        }
        result = await self.conn.execute(CALLOUT.insert().values(values).returning(CALLOUT.c.id))
        return _callout({**values, "id": result.scalar_one()})

    async def callout(self, callout_id: CalloutId, *, for_update: bool = False) -> Callout | None:
        stmt = select(CALLOUT).where(CALLOUT.c.id == callout_id)
        if for_update:
            stmt = stmt.with_for_update()
        row = (await self.conn.execute(stmt)).mappings().first()
        return _callout(row) if row else None

    async def callouts(self, incident_id: IncidentId) -> list[Callout]:
        stmt = select(CALLOUT).where(CALLOUT.c.incident_id == incident_id).order_by(CALLOUT.c.id)
        return [_callout(r) for r in (await self.conn.execute(stmt)).mappings()]

    async def active_callouts(self) -> list[Callout]:
        stmt = (
            select(CALLOUT)
            .where(CALLOUT.c.status == CalloutStatus.ACTIVE.value)
            .order_by(CALLOUT.c.id)
        )
        return [_callout(r) for r in (await self.conn.execute(stmt)).mappings()]

    async def set_status(self, callout_id: CalloutId, status: CalloutStatus) -> None:
        await self.conn.execute(
            update(CALLOUT).where(CALLOUT.c.id == callout_id).values(status=status.value)
        )

    async def set_board_due(self, callout_id: CalloutId, due: bool) -> bool:
        result = await self.conn.execute(
            update(CALLOUT)
            .where(CALLOUT.c.id == callout_id, CALLOUT.c.board_due.is_(not due))
            .values(board_due=due)
        )
        return bool(result.rowcount)

    async def add_member(
        self,
        callout_id: CalloutId,
        position: int,
        function_key: str,
        required: bool,
        person_key: str | None,
    ) -> Member:
        values = {
            "callout_id": callout_id,
            "position": position,
            "function_key": function_key,
            "required": required,
            "person_key": person_key,
            "page_id": None,
        }
        result = await self.conn.execute(MEMBER.insert().values(values).returning(MEMBER.c.id))
        return _member({**values, "id": result.scalar_one()})

    async def set_member_page(self, member_id: MemberId, page_id: PageId) -> None:
        await self.conn.execute(
            update(MEMBER).where(MEMBER.c.id == member_id).values(page_id=page_id)
        )

    async def members(self, callout_id: CalloutId) -> list[Member]:
        stmt = select(MEMBER).where(MEMBER.c.callout_id == callout_id).order_by(MEMBER.c.position)
        return [_member(r) for r in (await self.conn.execute(stmt)).mappings()]

    async def member(self, member_id: MemberId) -> Member | None:
        row = (
            (await self.conn.execute(select(MEMBER).where(MEMBER.c.id == member_id)))
            .mappings()
            .first()
        )
        return _member(row) if row else None

    async def member_by_page(self, page_id: PageId) -> Member | None:
        row = (
            (await self.conn.execute(select(MEMBER).where(MEMBER.c.page_id == page_id)))
            .mappings()
            .first()
        )
        return _member(row) if row else None

    async def set_attendance(self, attendance: Attendance) -> None:
        member = await self.member(attendance.member_id)
        assert member is not None
        await self.conn.execute(
            ATTENDANCE.delete().where(
                ATTENDANCE.c.member_id == attendance.member_id,
                ATTENDANCE.c.person_id == attendance.person_id,
            )
        )
        await self.conn.execute(
            ATTENDANCE.insert().values(
                callout_id=member.callout_id,
                member_id=attendance.member_id,
                person_id=attendance.person_id,
                answer=attendance.answer.value,
                eta=attendance.eta,
                at=attendance.at,
            )
        )

    async def attendance(self, callout_id: CalloutId) -> list[Attendance]:
        stmt = (
            select(ATTENDANCE)
            .where(ATTENDANCE.c.callout_id == callout_id)
            .order_by(ATTENDANCE.c.id)
        )
        return [
            Attendance(
                MemberId(r["member_id"]),
                PersonId(r["person_id"]),
                Answer(r["answer"]),
                r["eta"],
                r["at"],
            )
            for r in (await self.conn.execute(stmt)).mappings()
        ]

    async def add_viewer(self, callout_id: CalloutId, person_id: PersonId) -> bool:
        stmt = select(VIEWER.c.id).where(
            VIEWER.c.callout_id == callout_id, VIEWER.c.person_id == person_id
        )
        if (await self.conn.execute(stmt)).first() is not None:
            return False
        await self.conn.execute(VIEWER.insert().values(callout_id=callout_id, person_id=person_id))
        return True

    async def viewers(self, callout_id: CalloutId) -> list[PersonId]:
        stmt = select(VIEWER.c.person_id).where(VIEWER.c.callout_id == callout_id)
        return [PersonId(r[0]) for r in (await self.conn.execute(stmt.order_by(VIEWER.c.id)))]

    async def add_record(
        self,
        callout: Callout,
        numbered_with: Collection[CalloutId],
        kind: RecordKind,
        text: str,
        phase: str,
        by: PersonId,
        at: datetime,
        owner: PersonId | None = None,
    ) -> Record:
        last = select(func.max(RECORD.c.number)).where(
            RECORD.c.callout_id.in_([callout.id, *numbered_with]), RECORD.c.kind == kind.value
        )
        number = ((await self.conn.execute(last)).scalar_one_or_none() or 0) + 1
        values: dict[str, Any] = {
            "incident_id": callout.incident_id,
            "callout_id": callout.id,
            "kind": kind.value,
            "number": number,
            "text": text,
            "phase": phase,
            "by": by,
            "at": at,
            "owner": owner,
            "history": [],
        }
        result = await self.conn.execute(RECORD.insert().values(values).returning(RECORD.c.id))
        return _record({**values, "id": result.scalar_one()})

    async def records(self, incident_id: IncidentId) -> list[Record]:
        stmt = select(RECORD).where(RECORD.c.incident_id == incident_id).order_by(RECORD.c.id)
        return [_record(r) for r in (await self.conn.execute(stmt)).mappings()]

    async def revise(self, record: Record, text: str, by: PersonId, at: datetime) -> Record:
        earlier: list[tuple[str, int, str]] = [
            *record.history,
            (record.text, int(record.by), record.at.isoformat()),
        ]
        history = [list(h) for h in earlier]
        await self.conn.execute(
            update(RECORD)
            .where(RECORD.c.id == record.id)
            .values(text=text, by=by, at=at, history=history)
        )
        return Record(
            record.id,
            record.incident_id,
            record.callout_id,
            record.kind,
            record.number,
            text,
            record.phase,
            by,
            at,
            record.owner,
            tuple(earlier),
        )

    async def region_settings(self) -> dict[str, object] | None:
        row = (await self.conn.execute(select(REGION.c.settings))).first()
        return dict(row[0]) if row is not None else None

    async def log(self, public_id: str) -> list[LogEntry]:
        stmt = select(AUDIT).where(AUDIT.c.object == public_id).order_by(AUDIT.c.id)
        return [
            LogEntry(r["at"], r["actor"], r["action"], r["result"], r["origin"], r["detail"])
            for r in (await self.conn.execute(stmt)).mappings()
        ]
