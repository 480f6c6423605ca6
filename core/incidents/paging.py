"""Paging a piket function for an incident, and escalating until someone acknowledges.

A page walks its function's escalation policy: page the step's people, repeat after the
policy's interval, move on to the next step, and keep repeating the last step. "Kan niet"
moves on at once when everyone at the current step has declined. Each move is a database
timer, so the walk survives a restart. When the last step has nobody left to page, the page
stops (`PageStatus.NOBODY_LEFT`) and the Caco is told to arrange it by phone. Someone a
re-import took out of the region is no longer waited for: their open page is withdrawn.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterable
from dataclasses import replace

from core.callbacks import AnalyseStartButton
from core.i18n import fmt_time, t
from core.incidents.render import incident_summary, page_topic, send_alarm_page, step_label
from core.incidents.targets import nobody_left, piket_function, withdraw_removed
from core.incidents.view import PageView, Views, tell
from core.model import (
    AlertKind,
    EscalationStep,
    GemeenteId,
    Incident,
    IncidentStatus,
    Language,
    Origin,
    Page,
    PageId,
    PageStatus,
    PageTarget,
    Person,
    PersonId,
    PiketFunction,
    StepTarget,
    TargetStatus,
    Timer,
)
from core.roster.service import duties_for
from core.tx import Tx

ESCALATE = "page.escalate"
# Shown as "opgepakt door X via Slack" so people on the other platform know where.
PLATFORMS = {Origin.TELEGRAM: " via Telegram", Origin.SLACK: " via Slack"}
# Pages that can still be acknowledged (or declined).
OPEN = (PageStatus.ACTIVE, PageStatus.NOBODY_LEFT)
# Those a page no longer goes to: not again at a later step, nor in a repeat.
GONE = (TargetStatus.DECLINED, TargetStatus.UNREACHABLE, TargetStatus.WITHDRAWN)


def _waiting(tx: Tx, page: Page, targets: Iterable[PageTarget]) -> bool:
    """Whether someone paged at the page's current step, still in the region, may yet
    answer."""
    return any(
        x.step_index == page.step_index
        and x.status is TargetStatus.PAGED
        and x.person_id in tx.directory.people
        for x in targets
    )


async def _step_people(
    tx: Tx, function_key: str, step: EscalationStep, gemeenten: Iterable[GemeenteId] = ()
) -> list[Person]:
    d = tx.directory
    if step.target in (StepTarget.ON_DUTY, StepTarget.BACKUP):
        # The roster (rotation, explicit shifts, overrides) of the scope(s) responsible for
        # these gemeenten; a gap is nobody, so the page moves on to the next step.
        duties = await duties_for(tx, function_key, gemeenten, tx.now)
        on_duty = step.target is StepTarget.ON_DUTY
        ids = [x.on_duty if on_duty else x.backup for x in duties]
        return [d.people[i] for i in dict.fromkeys(ids) if i is not None and i in d.people]
    if step.target is StepTarget.FUNCTION:
        return d.with_function(step.value or "")
    person = d.person_by_key(step.value or "")
    return [person] if person else []


class Paging:
    def __init__(self) -> None:
        # Which pages are not the alarm's (set by the composition root): None for an
        # alarm page, whose walk this module tells the meldkamer about itself.
        self.views: Views | None = None

    async def _view(self, tx: Tx, page: Page) -> PageView | None:
        return await self.views(tx, page) if self.views is not None else None

    async def _function_of(self, tx: Tx, page: Page, view: PageView | None) -> PiketFunction:
        return await view.function(tx, page) if view else piket_function(tx, page.function_key)

    async def start(
        self,
        tx: Tx,
        incident: Incident,
        function_key: str,
        *,
        informing: bool | None = None,
        created: Callable[[Page], Awaitable[PageView | None]] | None = None,
    ) -> Page:
        """Page a function for the incident. `informing` (default: the incident's kind)
        asks only "Gezien"; `created` sees the page before anyone is paged and may give
        it a view (`PageView`)."""
        if informing is None:
            informing = incident.kind is AlertKind.ALERTERING
        status = PageStatus.INFORMED if informing else PageStatus.ACTIVE
        page = await tx.uow.pages.add(incident.id, function_key, status, tx.now)
        view = await created(page) if created is not None else None
        await self._page_step(tx, incident, page, step_index=0, attempt=1, targets=[], view=view)
        return page

    async def _page_step(
        self,
        tx: Tx,
        incident: Incident,
        page: Page,
        *,
        step_index: int,
        attempt: int,
        targets: list[PageTarget] | None = None,
        view: PageView | None = None,
    ) -> bool:
        """Page the people of a step. `targets`: who the page went to so far, if known.
        Whether anyone was paged (False: nobody is left, and the Caco has been told)."""
        function = await self._function_of(tx, page, view)
        policy = function.policy
        if targets is None:
            targets = await tx.uow.pages.targets([page.id])
        declined = {x.person_id for x in targets if x.status in GONE}
        gemeenten = await view.gemeenten(tx, page, incident) if view else incident.gemeenten
        people = [
            p
            for p in await _step_people(tx, function.key, policy.steps[step_index], gemeenten)
            if p.id not in declined
        ]
        if not people:
            step = policy.steps[step_index]
            await tx.audit(
                "system",
                "page.gap",
                incident.public_id,
                "nobody",
                function=function.key,
                step=step_index,
                page=page.id,
            )
            if step_index + 1 < len(policy.steps):
                await tell(
                    tx,
                    view,
                    incident,
                    page,
                    "meldkamer.nobody_at_step",
                    id=incident.public_id,
                    function=function.name,
                    step=lambda lang: step_label(tx, function, step, lang),
                )
                return await self._page_step(
                    tx,
                    incident,
                    page,
                    step_index=step_index + 1,
                    attempt=1,
                    targets=targets,
                    view=view,
                )
            await nobody_left(tx, incident, page, function, step_index, attempt, view)
            return False

        if (page.step_index, page.attempt) != (step_index, attempt):
            page = replace(page, step_index=step_index, attempt=attempt)
            await tx.uow.pages.update(page)
        informing = page.status is PageStatus.INFORMED
        known = {x.person_id for x in targets}
        for person in people:
            if person.id in known:
                await tx.uow.pages.set_target_status(page.id, person.id, TargetStatus.PAGED, tx.now)
            else:
                await tx.uow.pages.add_target(
                    PageTarget(page.id, person.id, step_index, TargetStatus.PAGED, tx.now)
                )
            if view is not None:
                await view.send_page(tx, incident, page, person, attempt)
            else:
                await send_alarm_page(tx, incident, page, function, person, attempt, informing)
            await tx.audit(
                person,
                "page.sent",
                incident.public_id,
                "ok",
                function=function.key,
                step=step_index,
                attempt=attempt,
                page=page.id,
            )

        names = ", ".join(p.name for p in people)
        if informing:
            key = "meldkamer.informed"
        elif attempt > 1:
            key = "meldkamer.repeated"
        elif step_index > 0:
            key = "meldkamer.escalated"
        else:
            key = "meldkamer.paged"
        await tell(
            tx,
            view,
            incident,
            page,
            key,
            id=incident.public_id,
            function=function.name,
            names=names,
            attempt=attempt,
            time=fmt_time(tx.now, tx.directory.region.timezone, Language.NL),
            step=lambda lang: step_label(tx, function, policy.steps[step_index], lang),
        )
        if not informing:
            await tx.schedule(ESCALATE, page.id, tx.now + policy.repeat_after)
        return True

    async def on_timer(self, tx: Tx, timer: Timer) -> None:
        page = await tx.uow.pages.get(timer.ref, for_update=True)  # type: ignore[arg-type]
        if page is None or page.status is not PageStatus.ACTIVE:
            return
        incident = await tx.uow.incidents.get(page.incident_id)
        if incident is None or incident.status is IncidentStatus.CLOSED:
            return
        view = await self._view(tx, page)
        function = await self._function_of(tx, page, view)
        policy = function.policy
        targets = await tx.uow.pages.targets([page.id])
        targets = await withdraw_removed(tx, incident, page, targets, view)
        left = any(
            x.step_index == page.step_index and x.status is TargetStatus.WITHDRAWN for x in targets
        )
        if left and not _waiting(tx, page, targets):
            # Those this step waited for left the region: on to the next step, no repeat.
            await self._move_on(tx, incident, page, function, targets, view)
            return
        last = len(policy.steps) - 1
        if page.attempt <= policy.repeats or page.step_index >= last:
            await self._page_step(
                tx,
                incident,
                page,
                step_index=min(page.step_index, last),
                attempt=page.attempt + 1,
                targets=targets,
                view=view,
            )
        else:
            await self._page_step(
                tx,
                incident,
                page,
                step_index=page.step_index + 1,
                attempt=1,
                targets=targets,
                view=view,
            )

    async def _move_on(
        self,
        tx: Tx,
        incident: Incident,
        page: Page,
        function: PiketFunction,
        targets: list[PageTarget] | None = None,
        view: PageView | None = None,
    ) -> bool:
        """Page the next step now (the last step: its people again, if any are left).
        Whether anyone was paged."""
        last = len(function.policy.steps) - 1
        return await self._page_step(
            tx,
            incident,
            page,
            step_index=min(page.step_index + 1, last),
            attempt=1 if page.step_index < last else page.attempt + 1,
            targets=targets,
            view=view,
        )

    async def answer(self, tx: Tx, person: Person, page: Page, action: str) -> None:
        """A paged person pressed one of the page's buttons."""
        incident = await tx.uow.incidents.get(page.incident_id)
        assert incident is not None
        view = await self._view(tx, page)
        found = await tx.uow.pages.targets([page.id])
        if page.status in OPEN and incident.status is IncidentStatus.OPEN:
            found = await withdraw_removed(tx, incident, page, found, view)
        targets = {x.person_id: x for x in found}
        mine = targets.get(person.id)
        if mine is None:
            await tx.audit(person, f"page.{action}", incident.public_id, "denied", page=page.id)
            await tx.send(person, "page.not_for_you")
            return
        if incident.status is IncidentStatus.CLOSED:
            await tx.send(person, "page.incident_closed", id=incident.public_id)
            return
        if page.status is PageStatus.ACKNOWLEDGED:
            by = tx.directory.person(page.acknowledged_by) if page.acknowledged_by else None
            await tx.send(
                person,
                "page.already_acknowledged",
                id=incident.public_id,
                name=by.name if by else "?",
            )
            return
        function = await self._function_of(tx, page, view)
        tz = tx.directory.region.timezone
        time = fmt_time(tx.now, tz, person.language)
        if action == "seen" and page.status is PageStatus.INFORMED:
            await tx.uow.pages.set_target_status(page.id, person.id, TargetStatus.SEEN, tx.now)
            await tx.audit(person, "page.seen", incident.public_id, page=page.id)
            await self._edit_page(
                tx,
                incident,
                page,
                function,
                [person],
                "page.status_seen",
                view,
                name=person.name,
                time=time,
            )
            await tell(
                tx,
                view,
                incident,
                page,
                "meldkamer.seen",
                id=incident.public_id,
                name=person.name,
                time=time,
            )
        elif action == "ack" and page.status in OPEN:
            await self._acknowledge(tx, incident, page, function, person, targets, view)
        elif action == "decline" and page.status in OPEN:
            if mine.status is TargetStatus.DECLINED:
                await tx.send(person, "page.already_declined", id=incident.public_id)
                return
            await self._decline(tx, incident, page, function, person, targets, view)
        else:
            await tx.send(person, "page.button_stale")

    async def _acknowledge(
        self,
        tx: Tx,
        incident: Incident,
        page: Page,
        function: PiketFunction,
        person: Person,
        targets: dict[PersonId, PageTarget],
        view: PageView | None = None,
    ) -> None:
        page = replace(
            page, status=PageStatus.ACKNOWLEDGED, acknowledged_by=person.id, acknowledged_at=tx.now
        )
        await tx.uow.pages.update(page)
        await tx.uow.pages.set_target_status(page.id, person.id, TargetStatus.ACKNOWLEDGED, tx.now)
        await tx.cancel_timers(ESCALATE, page.id)
        await tx.audit(
            person,
            "page.acknowledged",
            incident.public_id,
            function=function.key,
            waited_seconds=round((tx.now - page.created_at).total_seconds(), 3),
            page=page.id,
        )
        time = fmt_time(tx.now, tx.directory.region.timezone, Language.NL)
        everyone = [tx.directory.person(pid) for pid in targets]
        await self._edit_page(
            tx,
            incident,
            page,
            function,
            everyone,
            "page.status_acknowledged",
            view,
            name=person.name,
            time=time,
            via=PLATFORMS.get(tx.origin, ""),
        )
        if view is not None:
            await view.acknowledged(tx, incident, page, person)
        else:
            start = AnalyseStartButton(incident.id).pack()
            await tx.send(
                person,
                "page.you_acknowledged",
                id=incident.public_id,
                buttons=(("page.button_start_analyse", start),),
            )
        await tell(
            tx,
            view,
            incident,
            page,
            "meldkamer.acknowledged",
            id=incident.public_id,
            function=function.name,
            name=person.name,
            time=time,
        )

    async def _decline(
        self,
        tx: Tx,
        incident: Incident,
        page: Page,
        function: PiketFunction,
        person: Person,
        targets: dict[PersonId, PageTarget],
        view: PageView | None = None,
    ) -> None:
        await tx.uow.pages.set_target_status(page.id, person.id, TargetStatus.DECLINED, tx.now)
        await tx.audit(
            person, "page.declined", incident.public_id, function=function.key, page=page.id
        )
        time = fmt_time(tx.now, tx.directory.region.timezone, Language.NL)
        await tell(
            tx,
            view,
            incident,
            page,
            "meldkamer.declined",
            id=incident.public_id,
            function=function.name,
            name=person.name,
            time=time,
        )
        moved = await self._move_on_if_nobody_left(
            tx, incident, page, function, person, targets, view
        )
        await self._edit_declined(tx, incident, page, function, person, moved, view)

    async def _move_on_if_nobody_left(
        self,
        tx: Tx,
        incident: Incident,
        page: Page,
        function: PiketFunction,
        person: Person,
        targets: dict[PersonId, PageTarget],
        view: PageView | None = None,
    ) -> bool:
        """Escalate at once when nobody at the current step is left to answer (someone no
        longer in the region is not waited for). Whether anyone new was paged."""
        others = [x for pid, x in targets.items() if pid != person.id]
        if page.status is not PageStatus.ACTIVE or _waiting(tx, page, others):
            return False
        await tx.cancel_timers(ESCALATE, page.id)
        return await self._move_on(tx, incident, page, function, view=view)

    async def reopen(
        self, tx: Tx, incident: Incident, page: Page, person: Person, view: PageView | None
    ) -> None:
        """The person who acknowledged the page can no longer take it: it is open again
        and moves on to the next step at once, as if they had declined."""
        if page.status is not PageStatus.ACKNOWLEDGED or page.acknowledged_by != person.id:
            return
        page = replace(page, status=PageStatus.ACTIVE, acknowledged_by=None, acknowledged_at=None)
        await tx.uow.pages.update(page)
        await tx.uow.pages.set_target_status(page.id, person.id, TargetStatus.DECLINED, tx.now)
        function = await self._function_of(tx, page, view)
        await tx.audit(
            person, "page.reopened", incident.public_id, function=function.key, page=page.id
        )
        moved = await self._move_on(tx, incident, page, function, view=view)
        # Their own page no longer says they come, nor offers to take it back again.
        await self._edit_declined(tx, incident, page, function, person, moved, view)

    async def _edit_declined(
        self,
        tx: Tx,
        incident: Incident,
        page: Page,
        function: PiketFunction,
        person: Person,
        moved: bool,
        view: PageView | None,
    ) -> None:
        """The decliner's page says so; "er wordt doorgeschaald" only when it is true:
        someone else was paged just now (`moved`)."""
        await self._edit_page(
            tx,
            incident,
            page,
            function,
            [person],
            "page.status_declined" if moved else "page.status_declined_noted",
            view,
            name=person.name,
            time=fmt_time(tx.now, tx.directory.region.timezone, Language.NL),
        )

    async def unreachable(
        self, tx: Tx, person: Person, page_id: PageId, transport: str, *, refused: bool = False
    ) -> None:
        """A page could not be delivered to this person (they blocked the bot, or the
        platform refused the message): tell the meldkamer and move on at once instead of
        waiting out the timeout. Only this page: the next one tries them again."""
        page = await tx.uow.pages.get(page_id, for_update=True)
        if page is None or page.status is not PageStatus.ACTIVE:
            return
        incident = await tx.uow.incidents.get(page.incident_id)
        targets = {x.person_id: x for x in await tx.uow.pages.targets([page.id])}
        mine = targets.get(person.id)
        if incident is None or mine is None or mine.status is not TargetStatus.PAGED:
            return
        if incident.status is IncidentStatus.CLOSED:
            return
        view = await self._view(tx, page)
        function = await self._function_of(tx, page, view)
        await tx.uow.pages.set_target_status(page.id, person.id, TargetStatus.UNREACHABLE, tx.now)
        await tx.audit(
            person,
            "page.unreachable",
            incident.public_id,
            "failed",
            transport=transport,
            page=page.id,
        )
        await tell(
            tx,
            view,
            incident,
            page,
            "meldkamer.undelivered" if refused else "meldkamer.unreachable",
            id=incident.public_id,
            name=person.name,
            function=function.name,
            via=transport or "-",
            time=fmt_time(tx.now, tx.directory.region.timezone, Language.NL),
        )
        await self._move_on_if_nobody_left(tx, incident, page, function, person, targets, view)

    async def _edit_page(
        self,
        tx: Tx,
        incident: Incident,
        page: Page,
        function: PiketFunction,
        people: list[Person],
        status_key: str,
        view: PageView | None = None,
        **params: str,
    ) -> None:
        """Replace the page messages these people hold by the page text plus a status line
        (not for someone who left the region: `Tx.send` tells them nothing)."""
        if view is not None:
            await view.edit_page(tx, incident, page, people, status_key, **params)
            return
        for person in people:
            lang = person.language
            await tx.send(
                person,
                "page.edited",
                title_key="page.title_done",
                topic=page_topic(page),
                edit=True,
                summary=incident_summary(tx, incident, lang),
                function=function.name,
                status=t(lang, status_key, **params),
            )

    async def stop(self, tx: Tx, incident: Incident, closer: Person) -> None:
        """The incident closed: cancel open pages and their timers, update page messages."""
        time = fmt_time(tx.now, tx.directory.region.timezone, Language.NL)
        pages = await tx.uow.pages.for_incidents([incident.id])
        targets = await tx.uow.pages.targets([page.id for page in pages])
        for page in pages:
            await tx.cancel_timers(ESCALATE, page.id)
            if page.status in (*OPEN, PageStatus.INFORMED):
                await tx.uow.pages.update(replace(page, status=PageStatus.CANCELLED))
            view = await self._view(tx, page)
            function = await self._function_of(tx, page, view)
            people = [tx.directory.person(x.person_id) for x in targets if x.page_id == page.id]
            await self._edit_page(
                tx,
                incident,
                page,
                function,
                people,
                "page.status_closed",
                view,
                name=closer.name,
                time=time,
            )
