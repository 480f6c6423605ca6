"""Paging a piket function for an incident, and escalating until someone acknowledges.

A page walks its function's escalation policy: page the step's people, repeat after the
policy's interval, move on to the next step, and keep repeating the last step. "Kan niet"
moves on at once when everyone at the current step has declined. Each move is a database
timer, so the walk survives a restart. When the last step has nobody left to page, the page
stops (`PageStatus.NOBODY_LEFT`) and the Caco is told to arrange it by phone. Someone a
re-import took out of the region is no longer waited for: their open page is withdrawn.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import replace

from core.callbacks import AnalyseStartButton, PageAction, PageButton
from core.i18n import fmt_time, t
from core.incidents.render import incident_summary, page_topic, step_label
from core.meldkamer import tell_meldkamer
from core.model import (
    AlertKind,
    EscalationPolicy,
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
DEFAULT_POLICY = EscalationPolicy(steps=(EscalationStep(StepTarget.ON_DUTY),))
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


def _function(tx: Tx, key: str) -> PiketFunction:
    function = tx.directory.functions.get(key)
    return function or PiketFunction(key, tx.directory.function_name(key), DEFAULT_POLICY)


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
    async def start(self, tx: Tx, incident: Incident, function_key: str) -> Page:
        informing = incident.kind is AlertKind.ALERTERING
        status = PageStatus.INFORMED if informing else PageStatus.ACTIVE
        page = await tx.uow.pages.add(incident.id, function_key, status, tx.now)
        await self._page_step(tx, incident, page, step_index=0, attempt=1, targets=[])
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
    ) -> bool:
        """Page the people of a step. `targets`: who the page went to so far, if known.
        Whether anyone was paged (False: nobody is left, and the Caco has been told)."""
        function = _function(tx, page.function_key)
        policy = function.policy
        if targets is None:
            targets = await tx.uow.pages.targets([page.id])
        declined = {x.person_id for x in targets if x.status in GONE}
        people = [
            p
            for p in await _step_people(
                tx, function.key, policy.steps[step_index], incident.gemeenten
            )
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
            )
            if step_index + 1 < len(policy.steps):
                await tell_meldkamer(
                    tx,
                    "meldkamer.nobody_at_step",
                    chats_of=incident,
                    id=incident.public_id,
                    function=function.name,
                    step=lambda lang: step_label(tx, function, step, lang),
                )
                return await self._page_step(
                    tx, incident, page, step_index=step_index + 1, attempt=1, targets=targets
                )
            await self._nobody_left(tx, incident, page, function, step_index, attempt)
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
            await self._send_page(tx, incident, page, function, person, attempt, informing)
            await tx.audit(
                person,
                "page.sent",
                incident.public_id,
                "ok",
                function=function.key,
                step=step_index,
                attempt=attempt,
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
        await tell_meldkamer(
            tx,
            key,
            chats_of=incident,
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

    async def _nobody_left(
        self,
        tx: Tx,
        incident: Incident,
        page: Page,
        function: PiketFunction,
        step_index: int,
        attempt: int,
    ) -> None:
        """The last step has nobody left to page: everyone declined, could not be reached
        or is not there. Nothing repeats (there is nobody to repeat to); the Caco is told,
        once, to arrange it by phone. A page someone still holds may yet be acknowledged."""
        status = PageStatus.NOBODY_LEFT if page.status is PageStatus.ACTIVE else page.status
        await tx.uow.pages.update(
            replace(page, status=status, step_index=step_index, attempt=attempt)
        )
        await tx.audit(
            "system", "page.nobody_left", incident.public_id, "nobody", function=function.key
        )
        await tell_meldkamer(
            tx,
            "meldkamer.nobody_left",
            chats_of=incident,
            id=incident.public_id,
            function=function.name,
        )

    async def _withdraw_removed(
        self, tx: Tx, incident: Incident, page: Page, targets: list[PageTarget]
    ) -> list[PageTarget]:
        """Withdraw the open page of everyone a re-import took out of the region: the page
        no longer waits for them and the meldkamer hears it. The targets as they are now."""
        d = tx.directory
        function = _function(tx, page.function_key)
        now: list[PageTarget] = []
        for x in targets:
            if x.status is TargetStatus.PAGED and x.person_id not in d.people:
                await tx.uow.pages.set_target_status(
                    page.id, x.person_id, TargetStatus.WITHDRAWN, tx.now
                )
                former = d.former.get(x.person_id)
                await tx.audit(
                    former.key if former else str(x.person_id),
                    "page.withdrawn",
                    incident.public_id,
                    "not in the region",
                    function=function.key,
                )
                await tell_meldkamer(
                    tx,
                    "meldkamer.withdrawn",
                    chats_of=incident,
                    id=incident.public_id,
                    name=former.name if former else "?",
                    function=function.name,
                )
                x = replace(x, status=TargetStatus.WITHDRAWN, answered_at=tx.now)
            now.append(x)
        return now

    async def _send_page(
        self,
        tx: Tx,
        incident: Incident,
        page: Page,
        function: PiketFunction,
        person: Person,
        attempt: int,
        informing: bool,
    ) -> None:
        def data(action: PageAction) -> str:
            return PageButton(page.id, action).pack()

        if informing:
            buttons: tuple[tuple[str, str], ...] = (("page.button_seen", data("seen")),)
            title = "page.title_informing"
        else:
            buttons = (("page.button_ack", data("ack")), ("page.button_decline", data("decline")))
            title = "page.title_repeat" if attempt > 1 else "page.title"
        await tx.send(
            person,
            "page.body",
            title_key=title,
            buttons=buttons,
            topic=page_topic(page),
            summary=lambda lang: incident_summary(tx, incident, lang),
            function=function.name,
            attempt=attempt,
        )

    async def on_timer(self, tx: Tx, timer: Timer) -> None:
        page = await tx.uow.pages.get(timer.ref, for_update=True)  # type: ignore[arg-type]
        if page is None or page.status is not PageStatus.ACTIVE:
            return
        incident = await tx.uow.incidents.get(page.incident_id)
        if incident is None or incident.status is IncidentStatus.CLOSED:
            return
        function = _function(tx, page.function_key)
        policy = function.policy
        targets = await tx.uow.pages.targets([page.id])
        targets = await self._withdraw_removed(tx, incident, page, targets)
        left = any(
            x.step_index == page.step_index and x.status is TargetStatus.WITHDRAWN for x in targets
        )
        if left and not _waiting(tx, page, targets):
            # Those this step waited for left the region: on to the next step, no repeat.
            await self._move_on(tx, incident, page, function, targets)
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
            )
        else:
            await self._page_step(
                tx, incident, page, step_index=page.step_index + 1, attempt=1, targets=targets
            )

    async def _move_on(
        self,
        tx: Tx,
        incident: Incident,
        page: Page,
        function: PiketFunction,
        targets: list[PageTarget] | None = None,
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
        )

    async def answer(self, tx: Tx, person: Person, page: Page, action: str) -> None:
        """A paged person pressed one of the page's buttons."""
        incident = await tx.uow.incidents.get(page.incident_id)
        assert incident is not None
        found = await tx.uow.pages.targets([page.id])
        if page.status in OPEN and incident.status is IncidentStatus.OPEN:
            found = await self._withdraw_removed(tx, incident, page, found)
        targets = {x.person_id: x for x in found}
        mine = targets.get(person.id)
        if mine is None:
            await tx.audit(person, f"page.{action}", incident.public_id, "denied")
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
        function = _function(tx, page.function_key)
        tz = tx.directory.region.timezone
        time = fmt_time(tx.now, tz, person.language)
        if action == "seen" and page.status is PageStatus.INFORMED:
            await tx.uow.pages.set_target_status(page.id, person.id, TargetStatus.SEEN, tx.now)
            await tx.audit(person, "page.seen", incident.public_id)
            await self._edit_page(
                tx,
                incident,
                page,
                function,
                [person],
                "page.status_seen",
                name=person.name,
                time=time,
            )
            await tell_meldkamer(
                tx,
                "meldkamer.seen",
                chats_of=incident,
                id=incident.public_id,
                name=person.name,
                time=time,
            )
        elif action == "ack" and page.status in OPEN:
            await self._acknowledge(tx, incident, page, function, person, targets)
        elif action == "decline" and page.status in OPEN:
            if mine.status is TargetStatus.DECLINED:
                await tx.send(person, "page.already_declined", id=incident.public_id)
                return
            await self._decline(tx, incident, page, function, person, targets)
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
    ) -> None:
        page = replace(
            page, status=PageStatus.ACKNOWLEDGED, acknowledged_by=person.id, acknowledged_at=tx.now
        )
        await tx.uow.pages.update(page)
        await tx.uow.pages.set_target_status(page.id, person.id, TargetStatus.ACKNOWLEDGED, tx.now)
        await tx.cancel_timers(ESCALATE, page.id)
        await tx.audit(person, "page.acknowledged", incident.public_id, function=function.key)
        time = fmt_time(tx.now, tx.directory.region.timezone, Language.NL)
        everyone = [tx.directory.person(pid) for pid in targets]
        await self._edit_page(
            tx,
            incident,
            page,
            function,
            everyone,
            "page.status_acknowledged",
            name=person.name,
            time=time,
            via=PLATFORMS.get(tx.origin, ""),
        )
        start = AnalyseStartButton(incident.id).pack()
        await tx.send(
            person,
            "page.you_acknowledged",
            id=incident.public_id,
            buttons=(("page.button_start_analyse", start),),
        )
        await tell_meldkamer(
            tx,
            "meldkamer.acknowledged",
            chats_of=incident,
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
    ) -> None:
        await tx.uow.pages.set_target_status(page.id, person.id, TargetStatus.DECLINED, tx.now)
        await tx.audit(person, "page.declined", incident.public_id, function=function.key)
        time = fmt_time(tx.now, tx.directory.region.timezone, Language.NL)
        await tell_meldkamer(
            tx,
            "meldkamer.declined",
            chats_of=incident,
            id=incident.public_id,
            function=function.name,
            name=person.name,
            time=time,
        )
        moved = await self._move_on_if_nobody_left(tx, incident, page, function, person, targets)
        # "Er wordt doorgeschaald" only when it is true: someone else was paged just now.
        await self._edit_page(
            tx,
            incident,
            page,
            function,
            [person],
            "page.status_declined" if moved else "page.status_declined_noted",
            name=person.name,
            time=time,
        )

    async def _move_on_if_nobody_left(
        self,
        tx: Tx,
        incident: Incident,
        page: Page,
        function: PiketFunction,
        person: Person,
        targets: dict[PersonId, PageTarget],
    ) -> bool:
        """Escalate at once when nobody at the current step is left to answer (someone no
        longer in the region is not waited for). Whether anyone new was paged."""
        others = [x for pid, x in targets.items() if pid != person.id]
        if page.status is not PageStatus.ACTIVE or _waiting(tx, page, others):
            return False
        await tx.cancel_timers(ESCALATE, page.id)
        return await self._move_on(tx, incident, page, function)

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
        function = _function(tx, page.function_key)
        await tx.uow.pages.set_target_status(page.id, person.id, TargetStatus.UNREACHABLE, tx.now)
        await tx.audit(
            person, "page.unreachable", incident.public_id, "failed", transport=transport
        )
        await tell_meldkamer(
            tx,
            "meldkamer.undelivered" if refused else "meldkamer.unreachable",
            chats_of=incident,
            id=incident.public_id,
            name=person.name,
            function=function.name,
            via=transport or "-",
            time=fmt_time(tx.now, tx.directory.region.timezone, Language.NL),
        )
        await self._move_on_if_nobody_left(tx, incident, page, function, person, targets)

    async def _edit_page(
        self,
        tx: Tx,
        incident: Incident,
        page: Page,
        function: PiketFunction,
        people: list[Person],
        status_key: str,
        **params: str,
    ) -> None:
        """Replace the page messages these people hold by the page text plus a status line
        (not for someone who left the region: `Tx.send` tells them nothing)."""
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
            function = _function(tx, page.function_key)
            people = [tx.directory.person(x.person_id) for x in targets if x.page_id == page.id]
            await self._edit_page(
                tx,
                incident,
                page,
                function,
                people,
                "page.status_closed",
                name=closer.name,
                time=time,
            )
