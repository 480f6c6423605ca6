"""Retention (AVG): a daily job removes what the region may no longer keep.

`retention.daily` is a database timer like every other: it runs at 03:30 local time,
removes what is older than the periods (`RetentionPolicy`; the repository says what each
covers), audits what went, and schedules itself for the next night. Closed incidents
leave anonymous statistics behind (counts per month and kind, acknowledgement times); the
audit log has its own, longer period.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, time, timedelta
from zoneinfo import ZoneInfo

from core.model import Origin, Timer
from core.ports import RetentionCutoffs
from core.roster.model import to_utc
from core.tx import Core, Tx

RETENTION = "retention.daily"
RUN_AT = time(3, 30)  # a quiet hour, local time


@dataclass(frozen=True, slots=True)
class RetentionPolicy:
    """How long, in days: personal data and closed incidents, the audit log, and working
    data (handled inbound events, delivered messages, used link codes)."""

    days: int = 365
    audit_days: int = 1825
    transient_days: int = 30

    def cutoffs(self, now: datetime) -> RetentionCutoffs:
        return RetentionCutoffs(
            personal=now - timedelta(days=self.days),
            audit=now - timedelta(days=self.audit_days),
            transient=now - timedelta(days=self.transient_days),
        )


def next_run(now: datetime, tz: ZoneInfo) -> datetime:
    """The next 03:30 local after `now`."""
    day = now.astimezone(tz).date()
    at = to_utc(datetime.combine(day, RUN_AT), tz)
    if at <= now:
        at = to_utc(datetime.combine(day + timedelta(days=1), RUN_AT), tz)
    return at


class Retention:
    def __init__(self, policy: RetentionPolicy | None = None) -> None:
        self.policy = policy or RetentionPolicy()

    async def ensure(self, core: Core) -> None:
        """At start: make sure the job is planned (the first time it runs at once)."""
        async with core.transaction(Origin.SYSTEM) as tx:
            if not await tx.uow.roster.timer_pending(RETENTION):
                await tx.schedule(RETENTION, 0, tx.now)

    async def on_daily(self, tx: Tx, _timer: Timer) -> None:
        removed = await tx.uow.retention.purge(self.policy.cutoffs(tx.now))
        gone = {kind: n for kind, n in removed.items() if n}
        if gone:
            await tx.audit(
                "system",
                "retention.purged",
                "database",
                days=self.policy.days,
                audit_days=self.policy.audit_days,
                removed=gone,
            )
        await tx.schedule(RETENTION, 0, next_run(tx.now, tx.directory.region.timezone))
