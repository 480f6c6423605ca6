"""The roster repository: rotations (current and earlier), shifts, overrides, requests and
planned reminders, over the unit of work's connection."""

from __future__ import annotations

from collections.abc import Collection
from datetime import datetime, time
from typing import Any

from sqlalchemy import ColumnElement, and_, delete, select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert

from core.model import PersonId
from core.ports import CalendarFeed
from core.region.file import Settings as RegionSettings
from core.roster.model import (
    MAX_SPAN,
    Notice,
    Override,
    Piketregio,
    RosterRequest,
    RosterSettings,
    RotationDef,
    Shift,
)
from storage.connection import Conn
from storage.database import table
from storage.tables import (
    IcalTokenRow,
    RegionRow,
    RosterNoticeRow,
    RosterOverrideRow,
    RosterRequestRow,
    RosterRotationHistoryRow,
    RosterShiftRow,
    RotationRow,
    TimerRow,
)

REGION = table(RegionRow)
ROTATION = table(RotationRow)
HISTORY = table(RosterRotationHistoryRow)
SHIFT = table(RosterShiftRow)
OVERRIDE = table(RosterOverrideRow)
REQUEST = table(RosterRequestRow)
NOTICE = table(RosterNoticeRow)
TIMER = table(TimerRow)
ICAL_TOKEN = table(IcalTokenRow)


def settings_from_json(data: dict[str, Any]) -> RosterSettings:
    """The roster settings in the region's stored settings: read by the region file's own
    model; what the file leaves out keeps the roster's defaults."""
    spec = RegionSettings.model_validate(data)
    defaults = RosterSettings()
    return RosterSettings(
        swap_approval=bool(spec.swap_approval),
        reminder_time=(
            time.fromisoformat(spec.reminder_time) if spec.reminder_time else defaults.reminder_time
        ),
        piketregios=tuple(
            Piketregio(p.key, p.name, frozenset(p.gemeenten)) for p in spec.piketregios or []
        ),
        coordinator_scopes={
            key: tuple(scopes) for key, scopes in (spec.coordinator_scopes or {}).items()
        },
    )


class SqlRosterRepo:
    def __init__(self, conn: Conn) -> None:
        self.conn = conn
        self.changed = False  # whether this unit of work changed roster data

    async def _changed(self) -> None:
        """Roster data changed: bump the region revision, so cached rosters are reloaded."""
        if not self.changed:
            await self.conn.execute(update(REGION).values(revision=REGION.c.revision + 1))
        self.changed = True

    async def settings(self) -> RosterSettings:
        row = (await self.conn.execute(select(REGION.c.settings).limit(1))).scalar_one_or_none()
        return settings_from_json(row or {})

    async def rotations(self) -> list[RotationDef]:
        current = [
            RotationDef(
                r["function_key"],
                r["scope"],
                tuple(PersonId(i) for i in r["members"]),
                datetime.fromisoformat(r["start_local"]),
                r["shift_days"],
            )
            for r in (await self.conn.execute(select(ROTATION))).mappings()
        ]
        earlier = [
            RotationDef(
                r["function_key"],
                r["scope"],
                tuple(PersonId(i) for i in r["members"]),
                datetime.fromisoformat(r["start_local"]),
                r["shift_days"],
                r["valid_until"],
            )
            for r in (await self.conn.execute(select(HISTORY).order_by(HISTORY.c.id))).mappings()
        ]
        return current + earlier

    async def shifts(
        self, start: datetime, end: datetime, function_keys: Collection[str] | None = None
    ) -> list[Shift]:
        # Shifts are at most MAX_SPAN long, so the start index bounds the search.
        stmt = select(SHIFT).where(
            SHIFT.c.start_at < end, SHIFT.c.start_at > start - MAX_SPAN, SHIFT.c.end_at > start
        )
        if function_keys is not None:
            stmt = stmt.where(SHIFT.c.function_key.in_(list(function_keys)))
        return [
            Shift(
                r["id"],
                r["function_key"],
                r["scope"],
                PersonId(r["person_id"]),
                PersonId(r["backup_id"]) if r["backup_id"] is not None else None,
                r["start_at"],
                r["end_at"],
            )
            for r in (await self.conn.execute(stmt.order_by(SHIFT.c.start_at))).mappings()
        ]

    async def overrides(
        self, start: datetime, end: datetime, function_keys: Collection[str] | None = None
    ) -> list[Override]:
        stmt = select(OVERRIDE).where(
            OVERRIDE.c.start_at < end,
            OVERRIDE.c.start_at > start - MAX_SPAN,
            OVERRIDE.c.end_at > start,
        )
        if function_keys is not None:
            stmt = stmt.where(OVERRIDE.c.function_key.in_(list(function_keys)))
        return [
            Override(
                r["id"],
                r["function_key"],
                r["scope"],
                PersonId(r["replaced_id"]),
                PersonId(r["replacement_id"]),
                r["start_at"],
                r["end_at"],
                r["reason"],
            )
            for r in (await self.conn.execute(stmt.order_by(OVERRIDE.c.id))).mappings()
        ]

    async def add_shift(self, shift: Shift, by: str, at: datetime) -> int:
        result = await self.conn.execute(
            SHIFT.insert()
            .values(
                function_key=shift.function_key,
                scope=shift.scope,
                person_id=shift.person,
                backup_id=shift.backup,
                start_at=shift.start,
                end_at=shift.end,
                created_by=by,
                created_at=at,
            )
            .returning(SHIFT.c.id)
        )
        await self._changed()
        return int(result.scalar_one())

    async def add_override(self, override: Override, by: str, at: datetime) -> int:
        result = await self.conn.execute(
            OVERRIDE.insert()
            .values(
                function_key=override.function_key,
                scope=override.scope,
                replaced_id=override.replaced,
                replacement_id=override.replacement,
                start_at=override.start,
                end_at=override.end,
                reason=override.reason,
                created_by=by,
                created_at=at,
            )
            .returning(OVERRIDE.c.id)
        )
        await self._changed()
        return int(result.scalar_one())

    async def change_rotation(
        self, current: RotationDef, previous: RotationDef, at: datetime
    ) -> None:
        assert previous.valid_until is not None
        await self.conn.execute(
            HISTORY.insert().values(
                function_key=previous.function_key,
                scope=previous.scope,
                members=list(previous.members),
                start_local=previous.start.isoformat(timespec="minutes"),
                shift_days=previous.shift_days,
                valid_until=previous.valid_until,
                created_at=at,
            )
        )
        await self.conn.execute(
            update(ROTATION)
            .where(
                and_(
                    ROTATION.c.function_key == current.function_key,
                    ROTATION.c.scope == current.scope,
                )
            )
            .values(
                members=list(current.members),
                start_local=current.start.isoformat(timespec="minutes"),
                shift_days=current.shift_days,
            )
        )
        await self._changed()

    async def add_request(
        self, kind: str, person_id: PersonId, payload: dict[str, Any], at: datetime
    ) -> int:
        result = await self.conn.execute(
            REQUEST.insert()
            .values(
                kind=kind,
                person_id=person_id,
                status="open",
                payload=payload,
                created_at=at,
                updated_at=at,
            )
            .returning(REQUEST.c.id)
        )
        return int(result.scalar_one())

    async def request(self, request_id: int, *, for_update: bool = False) -> RosterRequest | None:
        stmt = select(REQUEST).where(REQUEST.c.id == request_id)
        if for_update:
            stmt = stmt.with_for_update()
        r = (await self.conn.execute(stmt)).mappings().first()
        if r is None:
            return None
        return RosterRequest(
            r["id"], r["kind"], PersonId(r["person_id"]), r["status"], r["payload"], r["created_at"]
        )

    async def set_request(
        self, request_id: int, status: str, payload: dict[str, Any], at: datetime
    ) -> None:
        await self.conn.execute(
            update(REQUEST)
            .where(REQUEST.c.id == request_id)
            .values(status=status, payload=payload, updated_at=at)
        )

    async def add_notice(
        self, kind: str, function_key: str, scope: str, person_id: PersonId, at: datetime
    ) -> int | None:
        insert = sqlite_insert if self.conn.dialect.name == "sqlite" else pg_insert
        stmt = (
            insert(NOTICE)
            .values(kind=kind, function_key=function_key, scope=scope, person_id=person_id, at=at)
            .on_conflict_do_nothing()
            .returning(NOTICE.c.id)
        )
        found = (await self.conn.execute(stmt)).scalar_one_or_none()
        return int(found) if found is not None else None

    async def notice(self, notice_id: int) -> Notice | None:
        r = (
            (await self.conn.execute(select(NOTICE).where(NOTICE.c.id == notice_id)))
            .mappings()
            .first()
        )
        if r is None:
            return None
        return Notice(
            r["id"], r["kind"], r["function_key"], r["scope"], PersonId(r["person_id"]), r["at"]
        )

    async def timer_pending(self, kind: str) -> bool:
        stmt = select(TIMER.c.id).where(TIMER.c.kind == kind, TIMER.c.status == "pending")
        return (await self.conn.execute(stmt.limit(1))).first() is not None


class SqlCalendarFeedRepo:
    """Calendar subscriptions (`core.ports.CalendarFeedRepo`): one row per person and
    calendar, holding the sha256 of its current token."""

    def __init__(self, conn: Conn) -> None:
        self.conn = conn

    @staticmethod
    def _feed(r: Any) -> CalendarFeed:
        return CalendarFeed(
            PersonId(r["person_id"]), r["kind"], r["function_key"], r["scope"], r["created_at"]
        )

    @staticmethod
    def _same(person_id: PersonId, kind: str, function_key: str, scope: str) -> ColumnElement[bool]:
        return and_(
            ICAL_TOKEN.c.person_id == person_id,
            ICAL_TOKEN.c.kind == kind,
            ICAL_TOKEN.c.function_key == function_key,
            ICAL_TOKEN.c.scope == scope,
        )

    async def put(self, feed: CalendarFeed, token_hash: str) -> bool:
        same = self._same(feed.person_id, feed.kind, feed.function_key, feed.scope)
        found = (
            await self.conn.execute(select(ICAL_TOKEN.c.id).where(same).with_for_update())
        ).scalar_one_or_none()
        if found is not None:
            await self.conn.execute(
                update(ICAL_TOKEN)
                .where(ICAL_TOKEN.c.id == found)
                .values(token_hash=token_hash, created_at=feed.created_at)
            )
            return True
        await self.conn.execute(
            ICAL_TOKEN.insert().values(
                token_hash=token_hash,
                person_id=feed.person_id,
                kind=feed.kind,
                function_key=feed.function_key,
                scope=feed.scope,
                created_at=feed.created_at,
            )
        )
        return False

    async def by_token(self, token_hash: str) -> CalendarFeed | None:
        stmt = select(ICAL_TOKEN).where(ICAL_TOKEN.c.token_hash == token_hash)
        r = (await self.conn.execute(stmt)).mappings().first()
        return self._feed(r) if r is not None else None

    async def of_person(self, person_id: PersonId) -> list[CalendarFeed]:
        stmt = (
            select(ICAL_TOKEN)
            .where(ICAL_TOKEN.c.person_id == person_id)
            .order_by(ICAL_TOKEN.c.created_at, ICAL_TOKEN.c.id)
        )
        return [self._feed(r) for r in (await self.conn.execute(stmt)).mappings()]

    async def remove(self, person_id: PersonId, kind: str, function_key: str, scope: str) -> bool:
        stmt = delete(ICAL_TOKEN).where(self._same(person_id, kind, function_key, scope))
        return (await self.conn.execute(stmt)).rowcount > 0
