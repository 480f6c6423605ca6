"""Gaps and reminders, all through database timers.

- `roster.daily` runs once a day (07:00 local): it warns the coordinators about every function
  and scope with nobody on duty in the next 14 days, with nobody as backup where a page
  escalates to the backup, and about everyone on duty without a linked chat account, plans
  the reminders of the next two days, and schedules itself again.
- `roster.notice` timers each fire one planned reminder: the day before a duty (18:00 by
  default), at its start, and a note at its end. A reminder is sent only if the roster still
  says so when it fires, so a change made after planning never sends a wrong one.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, time, timedelta
from zoneinfo import ZoneInfo

from core.i18n import fmt_datetime, t
from core.model import Directory, Origin, Person, PersonId, StepTarget, Timer
from core.roster.effects import no_backup
from core.roster.model import REGIO, Key, Roster, RosterSettings, Segment, to_utc
from core.roster.service import (
    coordinators_of,
    duty_text,
    key_label,
    load_roster,
    person_name,
    roster_settings,
    runs,
)
from core.tx import Core, Tx

DAILY = "roster.daily"
NOTICE = "roster.notice"
DAILY_AT = time(7, 0)
GAP_DAYS = 14
PLAN_AHEAD = timedelta(hours=48)
ONE = timedelta(microseconds=1)


def linked(person: Person) -> bool:
    """Whether Telegram or Slack can reach the person (a linked chat account)."""
    return person.telegram_user_id is not None or bool(person.slack_user_id)


def next_daily(now: datetime, tz: ZoneInfo) -> datetime:
    """The next 07:00 local after `now`."""
    day = now.astimezone(tz).date()
    at = to_utc(datetime.combine(day, DAILY_AT), tz)
    if at <= now:
        at = to_utc(datetime.combine(day + timedelta(days=1), DAILY_AT), tz)
    return at


@dataclass(frozen=True, slots=True)
class Problem:
    key: Key
    gap: Segment | None = None
    unlinked: PersonId | None = None
    no_backup: tuple[datetime, datetime] | None = None


def pages_backup(directory: Directory, function_key: str) -> bool:
    """Whether a page for the function escalates to its backup (then a missing one matters)."""
    function = directory.functions.get(function_key)
    return function is not None and any(
        step.target == StepTarget.BACKUP for step in function.policy.steps
    )


class RosterReminders:
    def __init__(self, reaches: Callable[[Person], bool] = linked) -> None:
        """`reaches`: whether a running transport reaches a person; the daily check warns
        about people on duty it does not (in the console, which reaches everyone: nobody)."""
        self.reaches = reaches

    async def ensure(self, core: Core) -> None:
        """At start: make sure the daily check is planned (it runs at once the first time)."""
        async with core.transaction(Origin.SYSTEM) as tx:
            await self.ensure_in(tx)

    async def ensure_in(self, tx: Tx) -> None:
        if not await tx.uow.roster.timer_pending(DAILY):
            await tx.schedule(DAILY, 0, tx.now)

    async def on_daily(self, tx: Tx, _timer: Timer) -> None:
        if tx.directory.people:  # nothing to check before a region is imported
            await self.check(tx)
            await self.plan(tx)
        tz = tx.directory.region.timezone
        await tx.schedule(DAILY, 0, next_daily(tx.now, tz))

    async def check(self, tx: Tx) -> int:
        """Warn the coordinators about gaps, missing backups and unlinked people on duty;
        returns how many problems were found."""
        start, end = tx.now, tx.now + timedelta(days=GAP_DAYS)
        roster = await load_roster(tx, start, end)
        settings = await roster_settings(tx)
        d = tx.directory
        tz = d.region.timezone
        keys = roster.known_keys() | {(f, REGIO) for f in d.region.alarm_functions}
        warnings: dict[PersonId, list[Problem]] = {}
        found = 0
        for key in sorted(keys):
            segments = roster.timeline(*key, start, end)
            gaps = [s for s in segments if s.duty.on_duty is None]
            unlinked = sorted(
                {
                    s.duty.on_duty
                    for s in segments
                    if s.duty.on_duty is not None
                    and s.duty.on_duty in d.people
                    and not self.reaches(d.people[s.duty.on_duty])
                }
            )
            alone = no_backup(segments) if pages_backup(d, key[0]) else []
            problems = [Problem(key, gap=g) for g in gaps]
            problems += [Problem(key, no_backup=span) for span in alone]
            problems += [Problem(key, unlinked=pid) for pid in unlinked]
            if not problems:
                continue
            found += len(problems)
            for coordinator in coordinators_of(d, settings, key[1]):
                warnings.setdefault(coordinator.id, []).extend(problems)
            await tx.audit(
                "system",
                "roster.check",
                f"{key[0]}@{key[1]}",
                "warned",
                gaps=len(gaps),
                no_backup=len(alone),
                unlinked=[person_name(d, pid) for pid in unlinked],
            )
        for coordinator_id, items in warnings.items():
            coordinator = d.people[coordinator_id]
            lang = coordinator.language
            lines = []
            for problem in items:
                label = key_label(d, settings, problem.key, lang)
                if problem.gap is not None:
                    lines.append(
                        t(
                            lang,
                            "roster.check.gap",
                            label=label,
                            start=fmt_datetime(problem.gap.start, tz, lang),
                            end=fmt_datetime(problem.gap.end, tz, lang),
                        )
                    )
                elif problem.no_backup is not None:
                    lines.append(
                        t(
                            lang,
                            "roster.check.no_backup",
                            label=label,
                            start=fmt_datetime(problem.no_backup[0], tz, lang),
                            end=fmt_datetime(problem.no_backup[1], tz, lang),
                        )
                    )
                else:
                    name = person_name(d, problem.unlinked)
                    lines.append(t(lang, "roster.check.unlinked", label=label, name=name))
            await tx.send(coordinator, "roster.check.text", days=GAP_DAYS, lines="\n".join(lines))
        return found

    async def plan(self, tx: Tx, keys: set[Key] | None = None) -> int:
        """Plan the reminders of the next two days (idempotent); returns how many are new."""
        now = tx.now
        horizon = now + PLAN_AHEAD
        # Far enough to see whole duties that start or end within the horizon.
        start, end = now, horizon + timedelta(hours=40)
        roster = await load_roster(tx, start, end)
        settings = await roster_settings(tx)
        tz = tx.directory.region.timezone
        planned = 0
        for key in sorted(keys or roster.known_keys()):
            for run in runs(roster.timeline(*key, start, end)):
                due: list[tuple[str, datetime, datetime]] = []
                if now < run.start <= horizon:
                    due.append(("start", run.start, run.start))
                before = day_before(run.start, settings, tz)
                if now < before <= horizon and before < run.start and run.start > now:
                    due.append(("before", run.start, before))
                if now < run.end <= horizon and run.end < end:
                    due.append(("end", run.end, run.end))
                for kind, at, when in due:
                    notice_id = await tx.uow.roster.add_notice(kind, key[0], key[1], run.person, at)
                    if notice_id is not None:
                        await tx.schedule(NOTICE, notice_id, when)
                        planned += 1
        return planned

    async def on_changed(self, tx: Tx, key: Key) -> None:
        await self.plan(tx, {key})
        await self.ensure_in(tx)

    async def on_notice(self, tx: Tx, timer: Timer) -> None:
        notice = await tx.uow.roster.notice(timer.ref)
        if notice is None:
            return
        d = tx.directory
        person = d.people.get(notice.person_id)
        if person is None:
            return
        key = (notice.function_key, notice.scope)
        at = notice.at
        roster = await load_roster(tx, at - ONE, at + timedelta(days=40), [key[0]])
        before, after = roster.duty(*key, at - ONE), roster.duty(*key, at)
        if notice.kind in ("before", "start"):
            still = after.on_duty == person.id and before.on_duty != person.id
        else:
            still = before.on_duty == person.id and after.on_duty != person.id
        if not still:
            await tx.audit(person, f"roster.notice.{notice.kind}", f"{key[0]}@{key[1]}", "skipped")
            return
        settings = await roster_settings(tx)
        tz = d.region.timezone
        until = _run_end(roster, key, at, person)
        duty = after if notice.kind != "end" else before
        await tx.send(
            person,
            f"roster.notice.{notice.kind}",
            label=lambda lang: key_label(d, settings, key, lang),
            start=lambda lang: fmt_datetime(at, tz, lang),
            end=lambda lang: fmt_datetime(until, tz, lang),
            duty=lambda lang: duty_text(d, duty, lang),
            next=lambda lang: duty_text(d, after, lang),
        )
        await tx.audit(person, f"roster.notice.{notice.kind}", f"{key[0]}@{key[1]}")


def day_before(start: datetime, settings: RosterSettings, tz: ZoneInfo) -> datetime:
    local = start.astimezone(tz).date()
    return to_utc(datetime.combine(local - timedelta(days=1), settings.reminder_time), tz)


def _run_end(roster: Roster, key: Key, at: datetime, person: Person) -> datetime:
    for run in runs(roster.timeline(*key, at, at + timedelta(days=40))):
        if run.person == person.id and run.start == at:
            return run.end
    return at
