"""The auditor: every minute, on the leader, a check that nothing waits without a timer.

Timers are rows, created in the same transaction as the work that needs them, so a page
without its escalation timer should never happen. The auditor is the net under that: it
looks for open pages without a pending escalation timer, the newest analyse version
without its reminder, planned roster reminders without a timer and a missing daily roster
check (`storage.timer_audit`), creates the missing timer (due when it would have been due,
or now if that passed), logs and audits each repair, and writes its heartbeat (the
`heartbeat` row "auditor", shown by /healthz). It runs in one transaction, fenced like the
timers: a deposed leader repairs nothing.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from datetime import datetime

import structlog

from core.analyse.service import NUDGE
from core.incidents.paging import ESCALATE
from core.model import Origin
from core.roster.reminders import DAILY, NOTICE, day_before, next_daily
from core.roster.service import roster_settings
from core.tx import Core, Tx
from storage.timer_audit import (
    daily_check_pending,
    notices_without_timer,
    open_work,
    pages_without_timer,
    versions_without_reminder,
)
from storage.uow import SqlUnitOfWork, SqlUnitOfWorkFactory

log = structlog.get_logger(__name__)
AUDIT_EVERY = 60.0  # seconds between two audits
HEARTBEAT = "auditor"


@dataclass(frozen=True)
class Repair:
    """A timer the auditor created."""

    kind: str
    ref: int
    due_at: datetime
    about: str  # an incident id, or what else the timer is for


class Auditor:
    def __init__(self, core: Core, uows: SqlUnitOfWorkFactory) -> None:
        self.core = core
        self.uows = uows

    async def run(self, every: float = AUDIT_EVERY) -> None:
        """Audit every `every` seconds (until cancelled; the first one after `every`: a
        new leader fires what is overdue first); a failed audit is logged and the next
        one tries again."""
        while True:
            await asyncio.sleep(every)
            try:
                await self.audit()
            except Exception:
                log.exception("auditor.failed")

    async def audit(self) -> list[Repair]:
        """One audit: repair what is missing, write the heartbeat; what was repaired."""
        async with self.core.transaction(Origin.SYSTEM) as tx:
            uow = tx.uow
            assert isinstance(uow, SqlUnitOfWork)  # the auditor reads the tables themselves
            if self.uows.fence is not None:
                await self.uows.fence.check(uow.conn)  # only the leader repairs
            repairs = await self._find(tx, uow)
            for repair in repairs:
                await tx.schedule(repair.kind, repair.ref, repair.due_at)
                log.warning(
                    "auditor.repaired",
                    kind=repair.kind,
                    ref=repair.ref,
                    about=repair.about,
                    due_at=repair.due_at.isoformat(),
                )
                await tx.audit(
                    "system",
                    "auditor.repaired",
                    repair.about,
                    "timer created",
                    kind=repair.kind,
                    ref=repair.ref,
                    due_at=repair.due_at.isoformat(),
                )
            checked = await open_work(uow.conn)
            detail = {"open_pages": checked, "repaired": len(repairs)}
            await uow.heartbeats.beat(HEARTBEAT, tx.now, detail)
        log.info("auditor.ran", **detail)
        return repairs

    async def _find(self, tx: Tx, uow: SqlUnitOfWork) -> list[Repair]:
        now = tx.now
        repairs: list[Repair] = []
        for page in await pages_without_timer(uow.conn):
            # When its next step would have been due: the latest page sent, plus the wait.
            due = page.paged_at + page.repeat_after if page.paged_at is not None else now
            repairs.append(Repair(ESCALATE, page.page_id, max(due, now), page.incident))
        for version in await versions_without_reminder(uow.conn):
            due = max(version.next_update_at, now)
            repairs.append(Repair(NUDGE, version.version_row, due, version.incident))
        notices = await notices_without_timer(uow.conn, now)
        if notices:
            settings = await roster_settings(tx)
            tz = tx.directory.region.timezone
            for notice in notices:
                when = day_before(notice.at, settings, tz) if notice.kind == "before" else notice.at
                about = f"roster.notice.{notice.kind}"
                repairs.append(Repair(NOTICE, notice.notice_id, max(when, now), about))
        if tx.directory.people and not await daily_check_pending(uow.conn):
            due = next_daily(now, tx.directory.region.timezone)
            repairs.append(Repair(DAILY, 0, due, "roster.daily"))
        return repairs
