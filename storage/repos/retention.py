"""Retention (`core.ports.RetentionRepo`): removing what the region may no longer keep.

A closed incident older than the period leaves the database with everything that hangs on
it (pages and who was paged, the analyse with its fields, versions and copies); what is
left of it is a line of anonymous counts in `statistic` (per month and kind: incidents,
pages, acknowledgements and their times). Rosters that ended, reminders planned from them
and conversations nobody touched for the period go too; the audit log keeps its own,
longer period. Handled inbox rows, delivered outbox rows with their ledger, seen event
ids, finished timers and used or expired link codes are working data: they go after a
short period.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC
from typing import Any

from sqlalchemy import ColumnElement, Table, delete, insert, select, update

from core.ports import RetentionCutoffs
from storage.bt_tables import (
    BtAttendanceRow,
    BtCalloutRow,
    BtMemberRow,
    BtRecordRow,
    BtViewerRow,
)
from storage.connection import Conn
from storage.database import table
from storage.tables import (
    AnalyseCopyRow,
    AnalyseEditorRow,
    AnalyseFieldRow,
    AnalyseRow,
    AnalyseVersionRow,
    AuditHorizonRow,
    AuditRow,
    ConversationRow,
    InboundEventRow,
    InboxRow,
    IncidentRow,
    LedgerRow,
    LinkAttemptRow,
    LinkCodeRow,
    OutboxRow,
    PageRow,
    PageTargetRow,
    RosterNoticeRow,
    RosterOverrideRow,
    RosterRequestRow,
    RosterShiftRow,
    StatisticRow,
    TimerRow,
)

INCIDENT, PAGE, TARGET = table(IncidentRow), table(PageRow), table(PageTargetRow)
ANALYSE, EDITOR, FIELD = table(AnalyseRow), table(AnalyseEditorRow), table(AnalyseFieldRow)
VERSION, COPY = table(AnalyseVersionRow), table(AnalyseCopyRow)
STATISTIC, AUDIT, CONVERSATION = table(StatisticRow), table(AuditRow), table(ConversationRow)
HORIZON = table(AuditHorizonRow)
INBOX, OUTBOX, LEDGER = table(InboxRow), table(OutboxRow), table(LedgerRow)
INBOUND, TIMER = table(InboundEventRow), table(TimerRow)
LINK_CODE, LINK_ATTEMPT = table(LinkCodeRow), table(LinkAttemptRow)
SHIFT, OVERRIDE = table(RosterShiftRow), table(RosterOverrideRow)
REQUEST, NOTICE = table(RosterRequestRow), table(RosterNoticeRow)


@dataclass
class _Month:
    incidents: int = 0
    pages: int = 0
    acknowledged: int = 0
    ack_seconds: float = 0.0
    ack_seconds_max: float = 0.0


class SqlRetentionRepo:
    def __init__(self, conn: Conn) -> None:
        self.conn = conn

    async def purge(self, cutoffs: RetentionCutoffs) -> dict[str, int]:
        removed = {"incidents": await self._incidents(cutoffs)}
        personal = cutoffs.personal
        for name, tbl, where in (
            ("roster_shifts", SHIFT, SHIFT.c.end_at < personal),
            ("roster_overrides", OVERRIDE, OVERRIDE.c.end_at < personal),
            (
                "roster_requests",
                REQUEST,
                (REQUEST.c.status != "open") & (REQUEST.c.updated_at < personal),
            ),
            ("roster_notices", NOTICE, NOTICE.c.at < personal),
            ("conversations", CONVERSATION, CONVERSATION.c.updated_at < personal),
        ):
            removed[name] = await self._delete(tbl, where)
        removed["audit"] = await self._audit(cutoffs)
        removed.update(await self._transient(cutoffs))
        return removed

    async def _delete(self, tbl: Table, where: ColumnElement[bool]) -> int:
        return int((await self.conn.execute(delete(tbl).where(where))).rowcount or 0)

    async def _audit(self, cutoffs: RetentionCutoffs) -> int:
        """Move the horizon the audit log's triggers allow deletes behind, then delete."""
        horizon = (await self.conn.execute(select(HORIZON.c.before))).scalar_one_or_none()
        if horizon is None:
            await self.conn.execute(insert(HORIZON).values(id=1, before=cutoffs.audit))
        elif horizon < cutoffs.audit:
            await self.conn.execute(update(HORIZON).values(before=cutoffs.audit))
        return await self._delete(AUDIT, AUDIT.c.at < cutoffs.audit)

    async def _incidents(self, cutoffs: RetentionCutoffs) -> int:
        """Closed incidents from before the cutoff: counted into `statistic`, then gone."""
        incidents = list(
            await self.conn.execute(
                select(INCIDENT.c.id, INCIDENT.c.kind, INCIDENT.c.created_at).where(
                    INCIDENT.c.status == "closed", INCIDENT.c.closed_at < cutoffs.personal
                )
            )
        )
        if not incidents:
            return 0
        ids = [row.id for row in incidents]
        pages = list(
            await self.conn.execute(
                select(PAGE.c.incident_id, PAGE.c.created_at, PAGE.c.acknowledged_at).where(
                    PAGE.c.incident_id.in_(ids)
                )
            )
        )
        await self._count(incidents, pages)
        await purge_incidents(self.conn, ids)
        analyses = select(ANALYSE.c.id).where(ANALYSE.c.incident_id.in_(ids))
        for tbl in (COPY, VERSION, FIELD, EDITOR):
            await self._delete(tbl, tbl.c.analyse_id.in_(analyses))
        await self._delete(ANALYSE, ANALYSE.c.incident_id.in_(ids))
        page_ids = select(PAGE.c.id).where(PAGE.c.incident_id.in_(ids))
        await self._delete(TARGET, TARGET.c.page_id.in_(page_ids))
        await self._delete(PAGE, PAGE.c.incident_id.in_(ids))
        return await self._delete(INCIDENT, INCIDENT.c.id.in_(ids))

    async def _count(self, incidents: Sequence[Any], pages: Sequence[Any]) -> None:
        months: dict[tuple[str, str], _Month] = {}
        where: dict[int, tuple[str, str]] = {}
        for row in incidents:
            key = (row.created_at.astimezone(UTC).strftime("%Y-%m"), row.kind)
            where[row.id] = key
            months.setdefault(key, _Month()).incidents += 1
        for page in pages:
            month = months[where[page.incident_id]]
            month.pages += 1
            if page.acknowledged_at is not None:
                waited = (page.acknowledged_at - page.created_at).total_seconds()
                month.acknowledged += 1
                month.ack_seconds += waited
                month.ack_seconds_max = max(month.ack_seconds_max, waited)
        for (month_key, kind), add in months.items():
            match = (STATISTIC.c.month == month_key) & (STATISTIC.c.kind == kind)
            old = (await self.conn.execute(select(STATISTIC).where(match))).first()
            if old is None:
                values = {"month": month_key, "kind": kind, **vars(add)}
                await self.conn.execute(insert(STATISTIC).values(values))
                continue
            await self.conn.execute(
                update(STATISTIC)
                .where(match)
                .values(
                    incidents=old.incidents + add.incidents,
                    pages=old.pages + add.pages,
                    acknowledged=old.acknowledged + add.acknowledged,
                    ack_seconds=old.ack_seconds + add.ack_seconds,
                    ack_seconds_max=max(old.ack_seconds_max, add.ack_seconds_max),
                )
            )

    async def _transient(self, cutoffs: RetentionCutoffs) -> dict[str, int]:
        before = cutoffs.transient
        finished = (OUTBOX.c.status != "pending") & (OUTBOX.c.created_at < before)
        await self._delete(LEDGER, LEDGER.c.outbox_id.in_(select(OUTBOX.c.id).where(finished)))
        return {
            "outbox": await self._delete(OUTBOX, finished),
            "inbox": await self._delete(
                INBOX, (INBOX.c.status != "pending") & (INBOX.c.received_at < before)
            ),
            "inbound_events": await self._delete(INBOUND, INBOUND.c.at < before),
            "timers": await self._delete(
                TIMER, (TIMER.c.status != "pending") & (TIMER.c.due_at < before)
            ),
            "link_codes": await self._delete(LINK_CODE, LINK_CODE.c.expires_at < before),
            "link_attempts": await self._delete(LINK_ATTEMPT, LINK_ATTEMPT.c.at < before),
        }


CALLOUT = table(BtCalloutRow)
MEMBER = table(BtMemberRow)
ATTENDANCE = table(BtAttendanceRow)
VIEWER = table(BtViewerRow)
RECORD = table(BtRecordRow)


async def purge_incidents(conn: Conn, incident_ids: list[int]) -> None:
    """Remove the BT rows of these incidents (retention, before their pages and the
    incidents themselves go)."""
    callouts = select(CALLOUT.c.id).where(CALLOUT.c.incident_id.in_(incident_ids))
    for tbl in (ATTENDANCE, VIEWER, MEMBER, RECORD):
        await conn.execute(tbl.delete().where(tbl.c.callout_id.in_(callouts)))
    await conn.execute(CALLOUT.delete().where(CALLOUT.c.incident_id.in_(incident_ids)))
