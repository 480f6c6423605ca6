"""Convening a beleidsteam and calling it out: every function resolved from the roster and
paged through `core.incidents.paging` (the same walk, repeats and escalation as the alarm), answered
with "Ik kom" and an arrival estimate or "Ik kom niet".

A member page walks on duty, then backup: "Ik kom niet", or no answer within the team's
`answer_minutes`, pages that function's backup at once. A function the roster has nobody
for is called out anyway and shown as a gap. The pages of a call-out are the pages of its
incident, so closing the incident stops them like any other.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from core.bt import board
from core.bt.callbacks import ETA_MINUTES, LATER, AnswerAction, BtAnswerButton
from core.bt.kaart import Kaart
from core.bt.model import (
    Answer,
    Attendance,
    Callout,
    CalloutId,
    CalloutStatus,
    Member,
    MemberId,
    NewCallout,
)
from core.bt.requests import (
    PageParams,
    Planned,
    Request,
    Start,
    phase,
)
from core.bt.team import (
    coming,
    gemeenten_of,
    mayors,
    meldkamer_side,
    team,
    teams,
)
from core.errors import UserError
from core.i18n import fmt_datetime, fmt_time, t
from core.incidents.paging import Paging
from core.incidents.render import incident_summary, page_topic
from core.messages import Message
from core.model import (
    CACO,
    ROL,
    AlertKind,
    EscalationPolicy,
    EscalationStep,
    GemeenteId,
    Incident,
    IncidentStatus,
    Page,
    PageStatus,
    Person,
    PersonId,
    PiketFunction,
    StepTarget,
    TargetStatus,
    Timer,
)
from core.region.teams import TeamKind, TeamSpec
from core.roster.service import duties_for
from core.tx import Tx

NORM = "bt.norm"
REMIND = "bt.remind"
REMIND_BEFORE = timedelta(minutes=15)
VOORZITTER = "voorzitter-vr"  # the voorzitter veiligheidsregio, who convenes the RBT


def note_topic(callout: Callout) -> str:
    """What a call-out tells one person once (never edited): every message of a BT carries
    a topic naming it, so what reached whom can be checked (the access tests)."""
    return f"bt-note:{callout.id}"


class Callouts:
    """Convening, calling out and the answers; also the `PageView` of member pages."""

    def __init__(self, paging: Paging, kaart: Kaart) -> None:
        self.paging = paging
        self.kaart = kaart

    # --- who convenes what ------------------------------------------------------------

    async def begin(
        self, tx: Tx, person: Person, incident: Incident | None, team_key: str | None
    ) -> Start:
        """Check that `person` may convene (or call out) a team for the incident; the team
        is the named one, else the one their function convenes."""
        if incident is None:
            incident = await self._incident_for(tx, person)
        if incident.status is IncidentStatus.CLOSED:
            raise UserError("bt.incident_closed", id=incident.public_id)
        d = tx.directory
        own = d.gemeenten_of_mayor(person.id) & set(incident.gemeenten)
        voorzitter = VOORZITTER in person.functions
        chosen = await team(tx, team_key) if team_key else None
        if team_key and chosen is None:
            names = ", ".join(t.key for t in await teams(tx)) or "—"
            raise UserError("bt.unknown_team", name=team_key, teams=names)
        if chosen is None:
            kind = TeamKind.RBT if voorzitter and not own else TeamKind.GBT
            chosen = next((x for x in await teams(tx) if x.kind is kind), None)
            if chosen is None:
                raise UserError("bt.no_team", kind=kind.value)
        gemeente, on_behalf = await self._who(tx, person, incident, chosen, own)
        for other in await tx.uow.bt.callouts(incident.id):
            if (
                other.status is CalloutStatus.ACTIVE
                and other.team_key == chosen.key
                and (other.gemeente_id == gemeente)
            ):
                by = d.person(other.convened_by).name
                raise UserError(
                    "bt.already_underway",
                    team=chosen.name,
                    id=incident.public_id,
                    name=by,
                    time=fmt_time(other.created_at, d.region.timezone, person.language),
                )
        return Start(incident, chosen, on_behalf, gemeente)

    async def _who(
        self, tx: Tx, person: Person, incident: Incident, chosen: TeamSpec, own: set[GemeenteId]
    ) -> tuple[GemeenteId | None, PersonId | None]:
        """Whether `person` may convene `chosen`: the gemeente whose team it is (None for a
        regional team) and the burgemeester convened for (the ROL convenes on their behalf)."""
        caco = CACO in person.functions
        voorzitter = VOORZITTER in person.functions
        on_behalf: PersonId | None = None
        gemeente: GemeenteId | None = None
        if chosen.kind is TeamKind.RBT:
            if not (voorzitter or caco):
                await tx.audit(person, "bt.convene", incident.public_id, "denied", team=chosen.key)
                raise UserError("bt.rbt_only_voorzitter")
            if await phase(tx, incident) != "GRIP 4":
                raise UserError("bt.rbt_needs_grip4", id=incident.public_id)
        elif chosen.kind is TeamKind.ROT:
            if not (caco or ROL in person.functions):
                await tx.audit(person, "bt.convene", incident.public_id, "denied", team=chosen.key)
                raise UserError("bt.only_caco", team=chosen.name)
        elif own:
            gemeente = sorted(own)[0]
        elif ROL in person.functions:
            gemeente, on_behalf = self._mayor_of(tx, incident)
        elif caco:
            gemeente, _mayor = self._mayor_of(tx, incident)
        else:
            await tx.audit(person, "bt.convene", incident.public_id, "denied", team=chosen.key)
            raise UserError("bt.not_allowed")
        return gemeente, on_behalf

    def _mayor_of(self, tx: Tx, incident: Incident) -> tuple[GemeenteId, PersonId]:
        """The ROL (or the Caco) convenes for the burgemeester of the first affected
        gemeente that has one."""
        for g in incident.gemeenten:
            found = mayors(tx.directory, g)
            if found:
                return g, found[0].id
        raise UserError("bt.no_mayor", id=incident.public_id)

    async def _incident_for(self, tx: Tx, person: Person) -> Incident:
        """Without an incident named: the one open incident this person is concerned with."""
        open_ = await tx.uow.incidents.open()
        own = tx.directory.gemeenten_of_mayor(person.id)
        if own and not meldkamer_side(person):
            open_ = [i for i in open_ if own & set(i.gemeenten)]
        if len(open_) == 1:
            return open_[0]
        if not open_:
            raise UserError("bt.no_open_incident")
        raise UserError("bt.which_incident", ids=", ".join(i.public_id for i in open_))

    # --- the composition ------------------------------------------------------------

    async def plan(self, tx: Tx, request: Request) -> list[Planned]:
        """The composition with who the roster has on duty now for each function."""
        incident = await tx.uow.incidents.get(request.incident_id)
        spec = await team(tx, request.team_key)
        if incident is None or spec is None:
            raise UserError("bt.flow_stale")
        gemeenten = gemeenten_of(incident, request.gemeente_id)
        keys = [tx.directory.gemeente(g).key for g in gemeenten]
        found: list[Planned] = []
        for m in spec.members_for(keys):
            if m.function in request.dropped:
                continue
            on_duty = backup = None
            for duty in await duties_for(tx, m.function, gemeenten, tx.now):
                on_duty = on_duty or tx.directory.people.get(duty.on_duty or PersonId(0))
                backup = backup or tx.directory.people.get(duty.backup or PersonId(0))
            found.append(Planned(m.function, m.required, None, on_duty, backup))
        for key in request.added:
            person = tx.directory.person_by_key(key)
            if person is not None:
                found.append(Planned("", False, key, person, None))
        return found

    # --- calling out ------------------------------------------------------------------

    async def convene(self, tx: Tx, person: Person, request: Request) -> Callout:
        """Confirmed: store the call-out, page every function, send the first boards."""
        incident = await tx.uow.incidents.get(request.incident_id, for_update=True)
        if incident is None:
            raise UserError("bt.flow_stale")
        start = await self.begin(tx, person, incident, request.team_key)
        if request.starts_at <= tx.now - timedelta(minutes=1):
            raise UserError(
                "when.past",
                text=fmt_time(request.starts_at, tx.directory.region.timezone, person.language),
            )
        spec = start.team
        planned = await self.plan(tx, request)
        callout = await tx.uow.bt.add_callout(
            NewCallout(
                incident_id=incident.id,
                team_key=spec.key,
                team_name=spec.name,
                kind=request.kind,
                convened_by=person.id,
                on_behalf_of=start.on_behalf_of,
                gemeente_id=start.gemeente_id,
                starts_at=request.starts_at,
                place=request.place,
                norm_at=tx.now + timedelta(minutes=spec.norm),
                created_at=tx.now,
                answer_minutes=spec.answer_minutes,
            )
        )
        behalf = tx.directory.person(start.on_behalf_of).key if start.on_behalf_of else None
        await tx.audit(
            person,
            "bt.convened",
            incident.public_id,
            team=spec.key,
            kind=request.kind.value,
            on_behalf_of=behalf,
            starts_at=request.starts_at.isoformat(),
            place=request.place,
            functions=[p.person_key or p.function_key for p in planned],
            callout=callout.id,
        )
        informing = request.kind is AlertKind.ALERTERING
        for position, p in enumerate(planned):
            member = await tx.uow.bt.add_member(
                callout.id, position, p.function_key or "persoon", p.required, p.person_key
            )

            async def created(page: Page, member: Member = member) -> Callouts:
                await tx.uow.bt.set_member_page(member.id, page.id)
                return self

            key = p.function_key or "persoon"
            await self.paging.start(tx, incident, key, informing=informing, created=created)
        await tx.schedule(NORM, callout.id, callout.norm_at)
        if callout.starts_at - REMIND_BEFORE > tx.now:
            await tx.schedule(REMIND, callout.id, callout.starts_at - REMIND_BEFORE)
        # The convener is told first: the board that follows is what the notice points to.
        await tx.send(
            person,
            "bt.convened",
            team=callout.team_name,
            kind=lambda lang: t(lang, f"kind.{callout.kind.value}"),
        )
        await board.show(tx, callout, edit=False)
        return callout

    # --- the PageView of member pages ----------------------------------------------

    async def _member_of(self, tx: Tx, page: Page) -> tuple[Member, Callout]:
        member = await tx.uow.bt.member_by_page(page.id)
        assert member is not None
        callout = await tx.uow.bt.callout(member.callout_id)
        assert callout is not None
        return member, callout

    async def view_of(self, tx: Tx, page: Page) -> Callouts | None:
        """The view of a page: this one for a member page, None for the alarm's."""
        return self if await tx.uow.bt.member_by_page(page.id) is not None else None

    async def function(self, tx: Tx, page: Page) -> PiketFunction:
        member, callout = await self._member_of(tx, page)
        if member.person_key is not None:
            steps: tuple[EscalationStep, ...] = (
                EscalationStep(StepTarget.PERSON, member.person_key),
            )
        else:
            steps = (EscalationStep(StepTarget.ON_DUTY), EscalationStep(StepTarget.BACKUP))
        policy = EscalationPolicy(steps, timedelta(minutes=callout.answer_minutes), repeats=0)
        return PiketFunction(page.function_key, board.function_label(tx, member), policy)

    async def gemeenten(self, tx: Tx, page: Page, incident: Incident) -> tuple[GemeenteId, ...]:
        _member, callout = await self._member_of(tx, page)
        return gemeenten_of(incident, callout.gemeente_id)

    async def send_page(
        self, tx: Tx, incident: Incident, page: Page, person: Person, attempt: int
    ) -> None:
        member, callout = await self._member_of(tx, page)
        if callout.kind is AlertKind.ALERTERING:
            actions: tuple[AnswerAction, ...] = ("seen",)
        else:
            actions = ("15", "30", "60", "later", "not")
        buttons = tuple((f"bt.button_{a}", BtAnswerButton(member.id, a).pack()) for a in actions)
        await tx.send(
            person,
            "bt.page_informed" if callout.kind is AlertKind.ALERTERING else "bt.page",
            title_key="bt.page_title_repeat" if attempt > 1 else "bt.page_title",
            buttons=buttons,
            topic=page_topic(page),
            **self._page_params(tx, incident, callout, member),
        )

    def _page_params(
        self, tx: Tx, incident: Incident, callout: Callout, member: Member
    ) -> PageParams:
        tz = tx.directory.region.timezone
        convener = tx.directory.person(callout.convened_by).name
        return PageParams(
            team=callout.team_name,
            summary=lambda lang: incident_summary(tx, incident, lang),
            function=board.function_label(tx, member),
            start=lambda lang: fmt_datetime(callout.starts_at, tz, lang),
            place=callout.place,
            convener=convener,
        )

    async def edit_page(
        self,
        tx: Tx,
        incident: Incident,
        page: Page,
        people: list[Person],
        status_key: str,
        **params: str,
    ) -> None:
        member, callout = await self._member_of(tx, page)
        key = {
            "page.status_acknowledged": "bt.status_coming",
            "page.status_declined": "bt.status_not_coming",
            "page.status_declined_noted": "bt.status_not_coming",
            "page.status_seen": "bt.status_seen",
            "page.status_closed": "page.status_closed",
        }.get(status_key, status_key)
        # Who said "Ik kom" keeps one button: plans change, and the function is open again.
        after_all = (("bt.button_not_after_all", BtAnswerButton(member.id, "not").pack()),)
        for person in people:
            coming_now = key == "bt.status_coming" and person.id == page.acknowledged_by
            await tx.send(
                person,
                "bt.page_edited",
                title_key="bt.page_title",
                buttons=after_all if coming_now else (),
                topic=page_topic(page),
                edit=True,
                status=lambda lang, key=key: t(lang, key, **params),
                **self._page_params(tx, incident, callout, member),
            )

    async def acknowledged(self, tx: Tx, incident: Incident, page: Page, person: Person) -> None:
        """Sent with the answer instead (`answer`): nothing here."""

    async def tell(
        self, tx: Tx, incident: Incident, page: Page, key: str, **params: object
    ) -> None:
        """Every step shows on the board; only "nobody left" is said, to the convener and
        the Caco, who arrange it by phone."""
        member, callout = await self._member_of(tx, page)
        if key == "meldkamer.nobody_left":
            people = {tx.directory.person(callout.convened_by), *tx.directory.with_function(CACO)}
            for person in sorted(people, key=lambda p: p.name):
                await tx.send(
                    person,
                    "bt.nobody_left",
                    topic=note_topic(callout),
                    id=incident.public_id,
                    team=callout.team_name,
                    function=board.function_label(tx, member),
                )
        await board.changed(tx, callout)

    # --- answers ----------------------------------------------------------------------

    async def answer(self, tx: Tx, person: Person, button: BtAnswerButton) -> bool:
        """A member's answer. Returns True when a time must still be typed ("later")."""
        member = await tx.uow.bt.member(button.member)
        if member is None or member.page_id is None:
            raise UserError("button.stale")
        callout = await tx.uow.bt.callout(member.callout_id)
        page = await tx.uow.pages.get(member.page_id, for_update=True)
        assert callout is not None and page is not None
        incident = await tx.uow.incidents.get(callout.incident_id)
        assert incident is not None
        targets = {x.person_id: x for x in await tx.uow.pages.targets([page.id])}
        if person.id not in targets:
            await tx.audit(person, "bt.answer", incident.public_id, "denied")
            raise UserError("page.not_for_you")
        if incident.status is IncidentStatus.CLOSED or callout.status is CalloutStatus.ENDED:
            raise UserError("bt.incident_closed", id=incident.public_id)
        if button.action in LATER and targets[person.id].status is TargetStatus.DECLINED:
            # A time chosen on the question, after "Ik kom niet": the backup is paged.
            raise UserError("bt.later_after_not", team=callout.team_name)
        if button.action == "later":
            return True
        if button.action == "seen":
            await self.paging.answer(tx, person, page, "seen")
            await self._record(tx, incident, callout, member, person, Answer.SEEN, None)
            return False
        if button.action == "not":
            await self.not_coming(tx, incident, callout, member, page, person)
            return False
        await self.coming(
            tx, person, member.id, tx.now + timedelta(minutes=ETA_MINUTES[button.action])
        )
        return False

    async def coming(self, tx: Tx, person: Person, member_id: MemberId, eta: datetime) -> None:
        """ "Ik kom", arriving at `eta`: the page is taken (its escalation stops), the board
        shows it, and the first time the aandachtskaart goes out."""
        member = await tx.uow.bt.member(member_id)
        assert member is not None and member.page_id is not None
        callout = await tx.uow.bt.callout(member.callout_id)
        page = await tx.uow.pages.get(member.page_id, for_update=True)
        assert callout is not None and page is not None
        incident = await tx.uow.incidents.get(callout.incident_id)
        assert incident is not None
        if incident.status is IncidentStatus.CLOSED or callout.status is CalloutStatus.ENDED:
            raise UserError("bt.incident_closed", id=incident.public_id)
        if eta <= tx.now - timedelta(minutes=1):
            raise UserError(
                "when.past", text=fmt_time(eta, tx.directory.region.timezone, person.language)
            )
        before = {p.id for p in await coming(tx, callout)}
        if page.status in (PageStatus.ACTIVE, PageStatus.NOBODY_LEFT):
            await self.paging.answer(tx, person, page, "ack")
        await self._record(tx, incident, callout, member, person, Answer.COMING, eta)
        tz = tx.directory.region.timezone
        lang = person.language
        noted = t(
            lang,
            "bt.you_come",
            tx.directory.register(person),
            team=callout.team_name,
            eta=fmt_time(eta, tz, lang),
            start=fmt_datetime(callout.starts_at, tz, lang),
        )
        if person.id in before:  # a new arrival time
            await tx.send_message(person, Message(noted), topic=note_topic(callout))
        else:  # the card opens with it: one message fewer in a busy chat
            await self.kaart.send(tx, incident, callout, person, noted)

    async def not_coming(
        self,
        tx: Tx,
        incident: Incident,
        callout: Callout,
        member: Member,
        page: Page,
        person: Person,
    ) -> None:
        if page.status in (PageStatus.ACTIVE, PageStatus.NOBODY_LEFT):
            await self.paging.answer(tx, person, page, "decline")
        elif page.acknowledged_by == person.id:
            # They said they would come and no longer can: the function is open again.
            await self.paging.reopen(tx, incident, page, person, self)
        await self._record(tx, incident, callout, member, person, Answer.NOT_COMING, None)
        after = await tx.uow.pages.get(page.id)
        nobody = after is not None and after.status is PageStatus.NOBODY_LEFT
        await tx.send(
            person,
            "bt.you_dont_come_nobody_left" if nobody else "bt.you_dont_come",
            topic=note_topic(callout),
            team=callout.team_name,
        )

    async def _record(
        self,
        tx: Tx,
        incident: Incident,
        callout: Callout,
        member: Member,
        person: Person,
        answer: Answer,
        eta: datetime | None,
    ) -> None:
        await tx.uow.bt.set_attendance(Attendance(member.id, person.id, answer, eta, tx.now))
        await tx.audit(
            person,
            f"bt.{answer.value}",
            incident.public_id,
            team=callout.team_key,
            function=member.person_key or member.function_key,
            eta=eta.isoformat() if eta else None,
            callout=callout.id,
        )
        await board.changed(tx, callout)

    # --- timers -----------------------------------------------------------------------

    async def on_norm(self, tx: Tx, timer: Timer) -> None:
        """The norm time: the convener and the Caco hear which required functions have
        nobody coming."""
        callout, incident = await self._live(tx, timer)
        if callout is None or incident is None:
            return
        missing = board.missing_required(await board.lines(tx, callout))
        names = [board.function_label(tx, x.member) for x in missing]
        await tx.audit(
            "system",
            "bt.norm",
            incident.public_id,
            team=callout.team_key,
            missing=names,
            callout=callout.id,
        )
        if not missing:
            return
        people = {tx.directory.person(callout.convened_by), *tx.directory.with_function(CACO)}
        if callout.on_behalf_of is not None:
            people.add(tx.directory.person(callout.on_behalf_of))
        for person in sorted(people, key=lambda p: p.name):
            await tx.send(
                person,
                "bt.norm_missing",
                topic=note_topic(callout),
                team=callout.team_name,
                id=incident.public_id,
                functions=", ".join(names),
            )

    async def on_remind(self, tx: Tx, timer: Timer) -> None:
        """15 minutes before the start: everyone who said they come."""
        callout, incident = await self._live(tx, timer)
        if callout is None or incident is None:
            return
        tz = tx.directory.region.timezone
        people = await coming(tx, callout)
        for person in people:
            await tx.send(
                person,
                "bt.remind",
                topic=note_topic(callout),
                team=callout.team_name,
                start=fmt_time(callout.starts_at, tz, person.language),
                place=callout.place,
            )
        to = [p.key for p in people]
        await tx.audit("system", "bt.reminded", incident.public_id, to=to, callout=callout.id)

    async def _live(self, tx: Tx, timer: Timer) -> tuple[Callout | None, Incident | None]:
        callout = await tx.uow.bt.callout(CalloutId(timer.ref))
        if callout is None or callout.status is not CalloutStatus.ACTIVE:
            return None, None
        incident = await tx.uow.incidents.get(callout.incident_id)
        if incident is None or incident.status is IncidentStatus.CLOSED:
            return None, None
        return callout, incident

    async def close(self, tx: Tx, incident: Incident, closer: Person) -> None:
        """The incident closed: its call-outs end, their timers stop, boards say so."""
        for callout in await tx.uow.bt.callouts(incident.id):
            if callout.status is not CalloutStatus.ACTIVE:
                continue
            await tx.uow.bt.set_status(callout.id, CalloutStatus.ENDED)
            for kind in (NORM, REMIND, board.REFRESH):
                await tx.cancel_timers(kind, callout.id)
            ended = await tx.uow.bt.callout(callout.id)
            assert ended is not None
            await board.show(tx, ended)
