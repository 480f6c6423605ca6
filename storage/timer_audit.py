"""What the auditor (scm_bot.auditor) looks for: work that should have a timer and has none.

Each finding is something that would otherwise wait forever: an open page (an escalation
nobody acknowledged) without a pending escalation timer, the newest published analyse of an
open incident without its reminder for the next update, a planned roster reminder without
its timer, no pending daily roster check. Every query reads one snapshot.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import and_, func, select

from core.analyse.service import NUDGE
from core.incidents.paging import ESCALATE
from core.model import IncidentStatus, PageStatus
from core.roster.reminders import DAILY, NOTICE
from storage.connection import Conn
from storage.database import table
from storage.repos.directory import policy_from_json
from storage.tables import (
    AnalyseRow,
    AnalyseVersionRow,
    FunctionRow,
    IncidentRow,
    PageRow,
    PageTargetRow,
    RosterNoticeRow,
    TimerRow,
)

TIMER = table(TimerRow)
PAGE = table(PageRow)
TARGET = table(PageTargetRow)
INCIDENT = table(IncidentRow)
FUNCTION = table(FunctionRow)
ANALYSE = table(AnalyseRow)
VERSION = table(AnalyseVersionRow)
NOTICE_ROW = table(RosterNoticeRow)


@dataclass(frozen=True)
class PageWithoutTimer:
    page_id: int
    incident: str  # its public id
    paged_at: datetime | None  # the latest page sent
    repeat_after: timedelta


@dataclass(frozen=True)
class VersionWithoutReminder:
    version_row: int
    incident: str
    next_update_at: datetime


@dataclass(frozen=True)
class NoticeWithoutTimer:
    notice_id: int
    kind: str  # before | start | end
    at: datetime  # the start or end of the duty


def _no_timer(kind: str, ref: object, *statuses: str) -> object:
    return ~(
        select(TIMER.c.id)
        .where(TIMER.c.kind == kind, TIMER.c.ref == ref, TIMER.c.status.in_(statuses))
        .exists()
    )


async def pages_without_timer(conn: Conn) -> list[PageWithoutTimer]:
    """Open pages of open incidents with no pending escalation timer."""
    latest = (
        select(func.max(TARGET.c.paged_at)).where(TARGET.c.page_id == PAGE.c.id).scalar_subquery()
    )
    stmt = (
        select(PAGE.c.id, INCIDENT.c.public_id, latest.label("paged_at"), FUNCTION.c.escalation)
        .join(INCIDENT, INCIDENT.c.id == PAGE.c.incident_id)
        .join(FUNCTION, FUNCTION.c.key == PAGE.c.function_key, isouter=True)
        .where(
            PAGE.c.status == PageStatus.ACTIVE.value,
            INCIDENT.c.status == IncidentStatus.OPEN.value,
            _no_timer(ESCALATE, PAGE.c.id, "pending"),  # type: ignore[arg-type]
        )
        .order_by(PAGE.c.id)
    )
    found = []
    for row in await conn.execute(stmt):
        policy = policy_from_json(row.escalation or {})
        found.append(PageWithoutTimer(row.id, row.public_id, row.paged_at, policy.repeat_after))
    return found


async def versions_without_reminder(conn: Conn) -> list[VersionWithoutReminder]:
    """The newest published version of each open incident's analyse that names a next
    update and has no reminder for it, pending or fired."""
    stmt = (
        select(VERSION.c.id, INCIDENT.c.public_id, VERSION.c.next_update_at)
        .join(
            ANALYSE,
            and_(ANALYSE.c.id == VERSION.c.analyse_id, ANALYSE.c.version == VERSION.c.number),
        )
        .join(INCIDENT, INCIDENT.c.id == ANALYSE.c.incident_id)
        .where(
            VERSION.c.next_update_at.is_not(None),
            INCIDENT.c.status == IncidentStatus.OPEN.value,
            _no_timer(NUDGE, VERSION.c.id, "pending", "fired"),  # type: ignore[arg-type]
        )
        .order_by(VERSION.c.id)
    )
    return [
        VersionWithoutReminder(r.id, r.public_id, r.next_update_at)
        for r in await conn.execute(stmt)
    ]


async def notices_without_timer(conn: Conn, now: datetime) -> list[NoticeWithoutTimer]:
    """Planned roster reminders of duties still ahead with no timer, pending or fired."""
    stmt = (
        select(NOTICE_ROW.c.id, NOTICE_ROW.c.kind, NOTICE_ROW.c.at)
        .where(
            NOTICE_ROW.c.at > now,
            _no_timer(NOTICE, NOTICE_ROW.c.id, "pending", "fired"),  # type: ignore[arg-type]
        )
        .order_by(NOTICE_ROW.c.id)
    )
    return [NoticeWithoutTimer(r.id, r.kind, r.at) for r in await conn.execute(stmt)]


async def daily_check_pending(conn: Conn) -> bool:
    """Whether the daily roster check has a pending timer."""
    stmt = select(TIMER.c.id).where(TIMER.c.kind == DAILY, TIMER.c.status == "pending").limit(1)
    return (await conn.execute(stmt)).first() is not None


async def open_work(conn: Conn) -> int:
    """How many open pages there are (what the auditor looked at, for its heartbeat)."""
    stmt = (
        select(func.count())
        .select_from(PAGE)
        .join(INCIDENT, INCIDENT.c.id == PAGE.c.incident_id)
        .where(
            PAGE.c.status == PageStatus.ACTIVE.value,
            INCIDENT.c.status == IncidentStatus.OPEN.value,
        )
    )
    return int((await conn.execute(stmt)).scalar_one())
