"""Raising, showing and closing incidents."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, replace

from core.access import can, visible_incidents
from core.analyse.form import Form
from core.analyse.incident import status_of, tell_closed
from core.callbacks import CloseButton
from core.errors import UserError
from core.i18n import fmt_time, t
from core.incidents.paging import Paging
from core.incidents.render import incident_summary
from core.incidents.targets import piket_function
from core.meldkamer import tell_meldkamer
from core.model import (
    AlertKind,
    Capability,
    GemeenteId,
    Incident,
    IncidentId,
    IncidentStatus,
    Language,
    Page,
    PageId,
    PageStatus,
    PageTarget,
    Person,
    TargetStatus,
)
from core.ports import NewIncident
from core.tx import Tx

OPSCHALING = ("GRIP 1", "GRIP 2", "GRIP 3", "GRIP 4", "SPC", "MCP")
MAX_DESCRIPTION = 1000


@dataclass(frozen=True, slots=True)
class AlertDraft:
    kind: AlertKind
    gemeenten: tuple[GemeenteId, ...]
    description: str
    location: str = ""
    opschaling: str = ""


class Incidents:
    def __init__(self, paging: Paging, form: Form) -> None:
        self.paging = paging
        self.form = form  # the analyse's form: /status shows what the analyse says
        # What else ends with the incident (the BT's call-outs), in the closing transaction.
        self.on_close: list[Callable[[Tx, Incident, Person], Awaitable[None]]] = []

    async def raise_alert(self, tx: Tx, caco: Person, draft: AlertDraft) -> Incident:
        if not can(caco, Capability.RAISE_ALERT):
            raise UserError("access.denied_alarm")
        if not draft.gemeenten:
            raise UserError("alarm.no_gemeente")
        if not draft.description.strip():
            raise UserError("alarm.empty_description")
        incident = await tx.uow.incidents.add(
            NewIncident(
                kind=draft.kind,
                description=draft.description.strip()[:MAX_DESCRIPTION],
                location=draft.location.strip(),
                opschaling=draft.opschaling,
                gemeenten=tuple(draft.gemeenten),
                created_by=caco.id,
                created_at=tx.now,
            ),
            f"{tx.directory.region.code}-{tx.now.astimezone(tx.directory.region.timezone).year}",
        )
        await tx.audit(
            caco,
            "incident.raised",
            incident.public_id,
            kind=incident.kind.value,
            gemeenten=[tx.directory.gemeente(g).key for g in incident.gemeenten],
        )
        # The groups following these gemeenten see the incident before its first page step
        # (delivery still hands pages out first).
        for chat in tx.directory.chats_for(incident.gemeenten):
            await tx.send(
                chat,
                "meldkamer.raised",
                summary=lambda lang: incident_summary(tx, incident, lang),
            )
        # Pages first: they are queued, and so delivered, before the Caco's confirmation.
        for function_key in tx.directory.region.alarm_functions:
            await self.paging.start(tx, incident, function_key)
        await tx.send(
            caco,
            "alarm.raised",
            id=incident.public_id,
            kind=lambda lang: t(lang, f"kind.{incident.kind.value}"),
        )
        return incident

    async def find(self, tx: Tx, person: Person, ident: str) -> Incident:
        """Look an incident up by its readable id (case-insensitive, the year may be left out
        as in "0042"), only among those the person may see."""
        ident = ident.strip().upper()
        if not ident:
            raise UserError("incident.id_missing")
        candidates = await tx.uow.incidents.open()
        paged = await self._paged_in(tx, person, candidates)
        visible = visible_incidents(tx.directory, person, candidates, paged)
        exact = next((i for i in visible if i.public_id == ident), None)
        if exact is None:
            tail = [i for i in visible if i.public_id.endswith("-" + ident.lstrip("-"))]
            exact = tail[0] if len(tail) == 1 else None
        if exact is None:
            raise UserError("incident.not_found", id=ident)
        return exact

    async def _board(
        self, tx: Tx, incidents: list[Incident]
    ) -> tuple[dict[IncidentId, list[Page]], dict[PageId, list[PageTarget]]]:
        """The pages of these incidents and whom each went to: two queries for all."""
        pages = await tx.uow.pages.for_incidents([i.id for i in incidents])
        pages_of: dict[IncidentId, list[Page]] = {}
        for page in pages:
            pages_of.setdefault(page.incident_id, []).append(page)
        targets_of: dict[PageId, list[PageTarget]] = {}
        for target in await tx.uow.pages.targets([page.id for page in pages]):
            targets_of.setdefault(target.page_id, []).append(target)
        return pages_of, targets_of

    async def _paged_in(self, tx: Tx, person: Person, incidents: list[Incident]) -> set[IncidentId]:
        return _paged(person, *await self._board(tx, incidents))

    async def status(self, tx: Tx, person: Person) -> None:
        incidents = await tx.uow.incidents.open()
        pages_of, targets_of = await self._board(tx, incidents)
        visible = visible_incidents(
            tx.directory, person, incidents, _paged(person, pages_of, targets_of)
        )
        lang = person.language
        if not visible:
            await tx.send(person, "status.none")
            return
        blocks = []
        for incident in visible:
            opschaling, analyse_lines = await status_of(tx, self.form, incident, lang)
            if opschaling is not None:  # the analyse's word on the opschaling is the newest
                incident = replace(incident, opschaling=opschaling)
            block = self._status_block(
                tx, incident, pages_of.get(incident.id, []), targets_of, lang
            )
            blocks.append("\n".join([block, *analyse_lines]))
        await tx.send(
            person,
            "status.list",
            title_key="status.title",
            count=len(visible),
            incidents="\n\n".join(blocks),
        )

    def _status_block(
        self,
        tx: Tx,
        incident: Incident,
        pages: list[Page],
        targets_of: dict[PageId, list[PageTarget]],
        lang: Language,
    ) -> str:
        tz = tx.directory.region.timezone
        lines = [incident_summary(tx, incident, lang)]
        for page in pages:
            function = piket_function(tx, page.function_key)
            if page.status is PageStatus.ACKNOWLEDGED and page.acknowledged_by is not None:
                who = tx.directory.person(page.acknowledged_by).name
                at = fmt_time(page.acknowledged_at or tx.now, tz, lang)
                state = t(lang, "status.page_acknowledged", name=who, time=at)
            elif page.status is PageStatus.INFORMED:
                state = t(lang, "status.page_informed")
            elif page.status is PageStatus.NOBODY_LEFT:
                state = t(lang, "status.page_nobody_left")
            else:
                # A re-import may have shortened the policy: never a step it does not have.
                step = min(page.step_index + 1, len(function.policy.steps))
                state = t(lang, "status.page_waiting", step=step, attempt=page.attempt)
            lines.append(t(lang, "status.page_line", function=function.name, state=state))
            for target in targets_of.get(page.id, []):
                person = tx.directory.person(target.person_id)  # also if no longer in the region
                answer = t(lang, f"status.target_{target.status.value}")
                if target.status is TargetStatus.PAGED and target.delivered_at is not None:
                    # Accepted by the platform: on the phone, not only handed out.
                    at = fmt_time(target.delivered_at, tz, lang)
                    answer = t(lang, "status.target_delivered", time=at)
                if target.status is TargetStatus.PAGED and not person.active:
                    answer = t(lang, "status.target_gone")  # not yet withdrawn
                if target.status is not TargetStatus.PAGED and target.answered_at:
                    answer += " " + fmt_time(target.answered_at, tz, lang)
                lines.append(t(lang, "status.target_line", name=person.name, answer=answer))
        return "\n".join(lines)

    async def ask_close(self, tx: Tx, person: Person, ident: str) -> None:
        if not can(person, Capability.CLOSE_INCIDENT):
            await tx.audit(person, "incident.close", ident, "denied")
            raise UserError("access.denied_close")
        incident = await self.find(tx, person, ident)
        yes = CloseButton(incident.id, "yes").pack()
        no = CloseButton(incident.id, "no").pack()
        await tx.send(
            person,
            "close.confirm",
            id=incident.public_id,
            buttons=(("close.button_yes", yes), ("close.button_no", no)),
        )

    async def close(self, tx: Tx, person: Person, incident_id: int) -> None:
        if not can(person, Capability.CLOSE_INCIDENT):
            await tx.audit(person, "incident.close", str(incident_id), "denied")
            raise UserError("access.denied_close")
        incident = await tx.uow.incidents.get(incident_id, for_update=True)  # type: ignore[arg-type]
        if incident is None:
            raise UserError("button.stale")
        if incident.status is IncidentStatus.CLOSED:
            raise UserError("close.already_closed", id=incident.public_id)
        await tx.uow.incidents.close(incident.id, person.id, tx.now)
        await self.paging.stop(tx, incident, person)
        for hook in self.on_close:
            await hook(tx, incident, person)
        await tell_closed(tx, incident, person)
        await tx.audit(person, "incident.closed", incident.public_id)
        time = fmt_time(tx.now, tx.directory.region.timezone, Language.NL)
        await tell_meldkamer(
            tx,
            "close.done_meldkamer",
            chats_of=incident,
            id=incident.public_id,
            name=person.name,
            time=time,
        )
        if not can(person, Capability.RAISE_ALERT):
            await tx.send(person, "close.done", id=incident.public_id)


def _paged(
    person: Person,
    pages_of: dict[IncidentId, list[Page]],
    targets_of: dict[PageId, list[PageTarget]],
) -> set[IncidentId]:
    """The incidents with a page that went to `person`."""
    return {
        incident_id
        for incident_id, pages in pages_of.items()
        if any(x.person_id == person.id for page in pages for x in targets_of.get(page.id, []))
    }
