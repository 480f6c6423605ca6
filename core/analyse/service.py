"""The strategische analyse: filled by the ROL and IM, published to the burgemeester(s) of
the affected gemeenten, versioned, re-read, shared, and feeding the BT kernbeeld.

Who may see what is decided here, in one place (`readable_versions`): editors and the Caco
see every version; anyone else only the versions they received (as burgemeester of an
affected gemeente, or as a copy shared from that gemeente's share list).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import replace
from datetime import datetime, timedelta
from typing import Any

from core.analyse.form import Form, FormField
from core.analyse.model import Analyse, AnalyseId, Answer, Copy, Editor, Version
from core.analyse.render import Sheet, chat_text, markdown, pdf, title
from core.analyse.team import EDITOR_FUNCTIONS, caller, im_on_duty, invite_im_on_duty
from core.callbacks import (
    MAYOR_ACTIONS,
    ConveneButton,
    MayorButton,
    ShareButton,
    VersionButton,
)
from core.errors import UserError
from core.i18n import fmt_time, t
from core.meldkamer import tell_meldkamer
from core.messages import Attachment, Button, Message
from core.model import (
    CACO,
    GemeenteId,
    Incident,
    IncidentStatus,
    Language,
    Person,
    PersonId,
    Timer,
)
from core.tx import Tx

REMIND = "analyse.remind"
NUDGE = "analyse.nudge"
REMIND_BEFORE = timedelta(minutes=10)


def topic(analyse_id: AnalyseId) -> str:
    return f"analyse:{analyse_id}"


class AnalyseService:
    def __init__(self, form: Form) -> None:
        self.form = form
        # Who else hears of a new version (the BT members who come), in its transaction.
        self.on_publish: list[Callable[[Tx, Incident, Version], Awaitable[None]]] = []

    # --- who may do what -------------------------------------------------------------

    async def is_editor(self, tx: Tx, analyse: Analyse, person: Person) -> bool:
        return any(
            e.person_id == person.id and e.joined for e in await tx.uow.analyses.editors(analyse.id)
        )

    async def _involved(
        self, tx: Tx, incident: Incident, analyse: Analyse | None, person: Person
    ) -> bool:
        """Acknowledged the incident's page, or, with a function that fills analyses: paged
        for it, invited to its analyse, or the IM on duty (who helps the ROL from the start)."""
        pages = await tx.uow.pages.for_incidents([incident.id])
        if any(page.acknowledged_by == person.id for page in pages):
            return True
        if not person.functions & EDITOR_FUNCTIONS:
            return False
        targets = await tx.uow.pages.targets([page.id for page in pages])
        if any(x.person_id == person.id for x in targets):
            return True
        if analyse is not None and any(
            e.person_id == person.id for e in await tx.uow.analyses.editors(analyse.id)
        ):
            return True
        im = await im_on_duty(tx, incident)
        return im is not None and im.id == person.id

    async def readable_versions(self, tx: Tx, analyse: Analyse, person: Person) -> set[int]:
        """Editors and the Caco read every version; the burgemeester of an affected gemeente
        (and the locoburgemeester while acting) every version for that gemeente, also those
        from before they took office; anyone else the copies they received."""
        everything = set(range(1, analyse.version + 1))
        if CACO in person.functions or await self.is_editor(tx, analyse, person):
            return everything
        readable = {
            c.number for c in await tx.uow.analyses.copies(analyse.id) if c.person_id == person.id
        }
        if tx.directory.gemeenten_of_mayor(person.id):
            for number in sorted(everything - readable):
                version = await tx.uow.analyses.version(analyse.id, number)
                if version is not None and self._is_recipient(tx, person, version):
                    readable.add(number)
        return readable

    # --- filling ---------------------------------------------------------------------

    async def start(self, tx: Tx, person: Person, incident: Incident) -> Analyse:
        """Start the incident's analyse, or join it again; refuses the uninvolved."""
        if incident.status is IncidentStatus.CLOSED:
            raise UserError("analyse.incident_closed", id=incident.public_id)
        analyse = await tx.uow.analyses.by_incident(incident.id)
        if analyse is not None and await self.is_editor(tx, analyse, person):
            return analyse
        if not await self._involved(tx, incident, analyse, person):
            await tx.audit(person, "analyse.start", incident.public_id, "denied")
            raise UserError("analyse.not_editor", id=incident.public_id)
        if analyse is None:
            analyse = await tx.uow.analyses.create(incident.id, person.id, tx.now)
            await self._prefill(tx, analyse, incident, person)
            await tx.audit(person, "analyse.started", incident.public_id)
            await invite_im_on_duty(tx, analyse, incident, person)
        else:
            await self.join(tx, analyse, incident, person)
        return analyse

    async def join(self, tx: Tx, analyse: Analyse, incident: Incident, person: Person) -> None:
        """The person co-edits from now on; whoever invited them hears it."""
        mine = next(
            (e for e in await tx.uow.analyses.editors(analyse.id) if e.person_id == person.id),
            None,
        )
        invited_by = mine.invited_by if mine is not None else None
        await tx.uow.analyses.set_editor(Editor(analyse.id, person.id, invited_by, True, tx.now))
        await tx.audit(person, "analyse.joined", incident.public_id)
        inviter = tx.directory.people.get(invited_by) if invited_by is not None else None
        if inviter is not None:
            await tx.send(inviter, "analyse.invite_accepted", name=person.name)

    async def _prefill(self, tx: Tx, analyse: Analyse, incident: Incident, person: Person) -> None:
        for field in self.form.fields:
            value: Answer | None = None
            if field.prefill == "gemeenten":
                value = [int(g) for g in incident.gemeenten]
            elif field.prefill == "opschaling" and incident.opschaling in self.form.choices_of(
                field
            ):
                value = incident.opschaling
            if value:
                await tx.uow.analyses.set_field(analyse.id, field.key, value, person.id, tx.now)

    async def require_editor(
        self, tx: Tx, analyse: Analyse, person: Person, action: str
    ) -> Incident:
        incident = await tx.uow.incidents.get(analyse.incident_id)
        assert incident is not None
        if not await self.is_editor(tx, analyse, person):
            await tx.audit(person, f"analyse.{action}", incident.public_id, "denied")
            raise UserError("analyse.not_editor", id=incident.public_id)
        if incident.status is IncidentStatus.CLOSED:
            raise UserError("analyse.incident_closed", id=incident.public_id)
        return incident

    async def save(
        self, tx: Tx, analyse: Analyse, person: Person, field: FormField, value: Answer | None
    ) -> None:
        """Store one field (last write wins, its editor recorded)."""
        incident = await self.require_editor(tx, analyse, person, "edit")
        if value in (None, "", []):
            await tx.uow.analyses.clear_field(analyse.id, field.key)
        else:
            await tx.uow.analyses.set_field(analyse.id, field.key, value, person.id, tx.now)
        await tx.audit(person, "analyse.field", incident.public_id, field=field.key)

    async def tell_editors(
        self, tx: Tx, analyse: Analyse, person: Person, field: FormField
    ) -> None:
        """Co-editors see who changed what."""
        for editor in await tx.uow.analyses.editors(analyse.id):
            other = tx.directory.people.get(editor.person_id)
            if other is None or other.id == person.id or not editor.joined:
                continue
            await tx.send(
                other, "analyse.changed_by", name=person.name, field=field.label.get(other.language)
            )

    def missing(self, values: dict[str, Answer]) -> list[FormField]:
        return [f for f in self.form.fields if f.required and values.get(f.key) in (None, "", [])]

    def missing_lines(self, fields: list[FormField], lang: Language) -> str:
        """One line per empty field: its label and the /wijzig that fills it."""
        return "\n".join(
            t(lang, "analyse.missing_line", label=f.label.get(lang), field=f.key) for f in fields
        )

    async def current_values(
        self, tx: Tx, analyse: Analyse
    ) -> tuple[dict[str, Answer], dict[str, int]]:
        fields = await tx.uow.analyses.fields(analyse.id)
        return (
            {k: v.value for k, v in fields.items()},
            {k: int(v.editor_id) for k, v in fields.items()},
        )

    async def draft_version(self, tx: Tx, analyse: Analyse, person: Person) -> Version:
        values, editors = await self.current_values(tx, analyse)
        next_update = values.get("volgende_update")
        return Version(
            analyse.version + 1,
            values,
            editors,
            person.id,
            tx.now,
            datetime.fromisoformat(str(next_update)) if next_update else None,
        )

    # --- publishing ------------------------------------------------------------------

    def recipients(self, tx: Tx, version: Version) -> list[Person]:
        """The burgemeester of every affected gemeente, and the locoburgemeester when acting."""
        ids: dict[PersonId, None] = {}
        gemeenten = {GemeenteId(int(g)) for g in version.values.get("gemeenten", [])}
        for gemeente in tx.directory.gemeenten:
            if gemeente.id not in gemeenten:
                continue
            if gemeente.burgemeester is not None:
                ids[gemeente.burgemeester] = None
            if gemeente.loco_acting and gemeente.locoburgemeester is not None:
                ids[gemeente.locoburgemeester] = None
        return [tx.directory.people[i] for i in ids if i in tx.directory.people]

    def sheet(
        self, tx: Tx, incident: Incident, version: Version, base: Version | None = None
    ) -> Sheet:
        return Sheet(incident, version, self.form, tx.directory, base)

    def message(
        self,
        tx: Tx,
        sheet: Sheet,
        analyse_id: AnalyseId,
        person: Person,
        *,
        buttons: bool,
        kind: str = "published",
    ) -> Message:
        lang = person.language
        number = sheet.version.number
        row: tuple[Button, ...] = ()
        if buttons:
            row = tuple(
                Button(
                    t(lang, f"analyse.button_{action}"),
                    MayorButton(analyse_id, number, action).pack(),
                )
                for action in MAYOR_ACTIONS
            )
        elif kind == "shared":
            read = MayorButton(analyse_id, number, "read").pack()
            row = (Button(t(lang, "analyse.button_read"), read),)
        name = f"analyse-{sheet.incident.public_id}-v{sheet.version.number}.pdf"
        return Message(
            text=chat_text(sheet, lang),
            title=title(sheet, lang),
            buttons=row,
            attachment=Attachment(name, "application/pdf", pdf(sheet, lang)),
        )

    async def last_seen(self, tx: Tx, analyse: Analyse, person: Person) -> Version | None:
        """The version this person last read (or, never having read one, last received)."""
        copies = [c for c in await tx.uow.analyses.copies(analyse.id) if c.person_id == person.id]
        read = [c.number for c in copies if c.read_at is not None]
        number = max(read) if read else max((c.number for c in copies), default=None)
        return await tx.uow.analyses.version(analyse.id, number) if number else None

    async def publish(self, tx: Tx, analyse: Analyse, person: Person) -> Version:
        incident = await self.require_editor(tx, analyse, person, "publish")
        analyse = await tx.uow.analyses.get(analyse.id, for_update=True) or analyse
        version = await self.draft_version(tx, analyse, person)
        missing = self.missing(version.values)
        if missing:
            raise UserError("analyse.missing", fields=self.missing_lines(missing, person.language))
        if version.next_update_at is not None and version.next_update_at <= tx.now:
            raise UserError("analyse.next_update_past")
        previous = await tx.uow.analyses.version(analyse.id, analyse.version)
        if previous is not None and previous.values == version.values:
            raise UserError("analyse.nothing_changed", version=previous.number)
        row_id = await tx.uow.analyses.publish(analyse.id, version)
        recipients = self.recipients(tx, version)
        for mayor in recipients:
            base = await self.last_seen(tx, analyse, mayor)
            sheet = self.sheet(tx, incident, version, base)
            await tx.send_message(
                mayor,
                self.message(tx, sheet, analyse.id, mayor, buttons=True),
                topic=topic(analyse.id),
            )
            await tx.uow.analyses.add_copy(
                Copy(analyse.id, version.number, mayor.id, "published", None, tx.now)
            )
        await tx.audit(
            person,
            "analyse.published",
            incident.public_id,
            version=version.number,
            to=[p.key for p in recipients],
        )
        names = ", ".join(p.name for p in recipients) or "—"
        for editor in await tx.uow.analyses.editors(analyse.id):
            other = tx.directory.people.get(editor.person_id)
            if other is not None and editor.joined:
                await tx.send(
                    other,
                    "analyse.published",
                    id=incident.public_id,
                    version=version.number,
                    names=names,
                )
        await tell_meldkamer(
            tx,
            "analyse.published_meldkamer",
            chats_of=incident,
            id=incident.public_id,
            version=version.number,
            names=names,
        )
        if version.next_update_at is not None:
            if version.next_update_at - REMIND_BEFORE > tx.now:
                await tx.schedule(REMIND, row_id, version.next_update_at - REMIND_BEFORE)
            await tx.schedule(NUDGE, row_id, version.next_update_at)
        for hook in self.on_publish:
            await hook(tx, incident, version)
        return version

    # --- the burgemeester's buttons --------------------------------------------------

    async def _copy_of(
        self, tx: Tx, person: Person, button: VersionButton
    ) -> tuple[Analyse, Incident, Version]:
        analyse = await tx.uow.analyses.get(button.analyse)
        if analyse is None:
            raise UserError("button.stale")
        if button.version not in await self.readable_versions(tx, analyse, person):
            await tx.audit(person, "analyse.button", button.ref, "denied")
            raise UserError("analyse.not_yours")
        incident = await tx.uow.incidents.get(analyse.incident_id)
        version = await tx.uow.analyses.version(analyse.id, button.version)
        assert incident is not None and version is not None
        return analyse, incident, version

    def _is_recipient(self, tx: Tx, person: Person, version: Version) -> bool:
        return person in self.recipients(tx, version)

    async def mayor_button(self, tx: Tx, person: Person, button: MayorButton) -> None:
        analyse, incident, version = await self._copy_of(tx, person, button)
        action = button.action
        time = fmt_time(tx.now, tx.directory.region.timezone, Language.NL)
        if action == "read":
            if await tx.uow.analyses.mark_read(analyse.id, version.number, person.id, tx.now):
                await tx.audit(person, "analyse.read", incident.public_id, version=version.number)
                await self._tell_rol_and_caco(
                    tx,
                    analyse,
                    "analyse.read_receipt",
                    id=incident.public_id,
                    name=person.name,
                    version=version.number,
                    time=time,
                )
            await tx.send(person, "analyse.read_thanks", version=version.number)
            return
        if not self._is_recipient(tx, person, version):  # shared copies only get "Gelezen"
            raise UserError("analyse.not_yours")
        if action in ("call", "bt") and incident.status is IncidentStatus.CLOSED:
            raise UserError(f"analyse.closed_{action}", id=incident.public_id)
        if action == "call":
            # One person calls back (the ROL), so the burgemeester knows whose call to expect.
            callee = await caller(tx, analyse, incident)
            if callee is None:
                raise UserError("analyse.call_nobody")
            await tx.audit(person, "analyse.call_me", incident.public_id, callee=callee.key)
            await tx.send(
                callee,
                "analyse.call_request",
                title_key="analyse.call_title",
                id=incident.public_id,
                name=person.name,
                time=time,
            )
            await tell_meldkamer(
                tx,
                "analyse.call_meldkamer",
                id=incident.public_id,
                name=person.name,
                time=time,
                callee=callee.name,
            )
            await tx.send(person, "analyse.call_sent", name=callee.name)
        elif action == "share":
            people = self.share_list(tx, person, version)
            if not people:
                raise UserError("analyse.share_nobody")
            buttons = tuple(
                (p.name, ShareButton(analyse.id, version.number, p.id).pack()) for p in people
            )
            await tx.send(person, "analyse.share_pick", buttons=buttons, version=version.number)
        else:  # "bt"
            buttons = (
                ("analyse.button_bt_yes", ConveneButton(analyse.id, version.number, "yes").pack()),
                ("analyse.button_bt_no", ConveneButton(analyse.id, version.number, "no").pack()),
            )
            await tx.send(person, "analyse.bt_confirm", buttons=buttons, id=incident.public_id)

    def share_list(self, tx: Tx, person: Person, version: Version) -> list[Person]:
        """The share lists of the affected gemeenten where this person is (acting) mayor."""
        own = tx.directory.gemeenten_of_mayor(person.id)
        affected = {GemeenteId(int(g)) for g in version.values.get("gemeenten", [])}
        ids: dict[PersonId, None] = {}
        for gemeente in tx.directory.gemeenten:
            if gemeente.id in own & affected:
                ids.update(dict.fromkeys(gemeente.share_with))
        return [tx.directory.people[i] for i in ids if i in tx.directory.people]

    async def share(self, tx: Tx, person: Person, button: ShareButton) -> None:
        analyse, incident, version = await self._copy_of(tx, person, button)
        if not self._is_recipient(tx, person, version):
            raise UserError("analyse.not_yours")
        target = next(
            (p for p in self.share_list(tx, person, version) if p.id == button.person), None
        )
        if target is None:
            await tx.audit(
                person, "analyse.share", incident.public_id, "denied", target=str(button.person)
            )
            raise UserError("analyse.share_not_allowed")
        base = await self.last_seen(tx, analyse, target)
        sheet = self.sheet(tx, incident, version, base)
        await tx.send_message(
            target,
            self.message(tx, sheet, analyse.id, target, buttons=False, kind="shared"),
            topic=topic(analyse.id),
        )
        await tx.uow.analyses.add_copy(
            Copy(analyse.id, version.number, target.id, "shared", person.id, tx.now)
        )
        await tx.audit(
            person, "analyse.shared", incident.public_id, version=version.number, to=target.key
        )
        await tx.send(target, "analyse.shared_note", name=person.name)
        await self._tell_newer(tx, analyse, incident, target, version.number)
        await tx.send(person, "analyse.shared_done", name=target.name)

    async def _tell_newer(
        self, tx: Tx, analyse: Analyse, incident: Incident, person: Person, number: int
    ) -> None:
        """Under an older version: that a newer one exists, and how to get it."""
        if number >= analyse.version:
            return
        if analyse.version in await self.readable_versions(tx, analyse, person):
            key = "analyse.newer_readable"
        else:
            key = "analyse.newer_not_shared"
        await tx.send(person, key, version=number, newest=analyse.version, id=incident.public_id)

    async def bt_incident(self, tx: Tx, person: Person, button: ConveneButton) -> Incident:
        """The incident a burgemeester's "BT bijeenroepen" is for, if it may be convened
        from this copy (the convening itself is `core.bt`)."""
        _analyse, incident, version = await self._copy_of(tx, person, button)
        if not self._is_recipient(tx, person, version):
            raise UserError("analyse.not_yours")
        if incident.status is IncidentStatus.CLOSED:
            raise UserError("analyse.closed_bt", id=incident.public_id)
        return incident

    async def convene_bt(self, tx: Tx, person: Person, button: ConveneButton) -> None:
        analyse, incident, version = await self._copy_of(tx, person, button)
        if not self._is_recipient(tx, person, version):
            raise UserError("analyse.not_yours")
        if incident.status is IncidentStatus.CLOSED:
            raise UserError("analyse.closed_bt", id=incident.public_id)
        if analyse.bt_convened_at is not None:
            raise UserError("analyse.bt_already")
        await tx.uow.analyses.convene_bt(analyse.id, person.id, tx.now)
        await tx.audit(person, "analyse.bt_convened", incident.public_id, version=version.number)
        time = fmt_time(tx.now, tx.directory.region.timezone, Language.NL)
        await self._tell_rol_and_caco(
            tx, analyse, "analyse.bt_convened", id=incident.public_id, name=person.name, time=time
        )
        await tx.send(person, "analyse.bt_recorded")

    async def _tell_rol(self, tx: Tx, analyse: Analyse, key: str, **params: Any) -> None:
        for editor in await tx.uow.analyses.editors(analyse.id):
            person = tx.directory.people.get(editor.person_id)
            if person is not None and editor.joined:
                await tx.send(person, key, **params)

    async def _tell_rol_and_caco(self, tx: Tx, analyse: Analyse, key: str, **params: Any) -> None:
        await self._tell_rol(tx, analyse, key, **params)
        await tell_meldkamer(tx, key, **params)

    # --- re-reading and exports ------------------------------------------------------

    async def show(self, tx: Tx, person: Person, analyse: Analyse, number: int | None) -> None:
        readable = await self.readable_versions(tx, analyse, person)
        incident = await tx.uow.incidents.get(analyse.incident_id)
        assert incident is not None
        if not readable:
            await tx.audit(person, "analyse.show", incident.public_id, "denied")
            raise UserError("analyse.nothing_to_show", id=incident.public_id)
        number = number or max(readable)
        if number not in readable:
            raise UserError(
                "analyse.no_such_version",
                version=number,
                versions=", ".join(map(str, sorted(readable))),
            )
        version = await tx.uow.analyses.version(analyse.id, number)
        assert version is not None
        base = await tx.uow.analyses.version(analyse.id, number - 1) if number > 1 else None
        sheet = self.sheet(tx, incident, version, base)
        message = self.message(tx, sheet, analyse.id, person, buttons=False)
        await tx.send_message(person, replace(message, attachment=None), topic=topic(analyse.id))
        await self._tell_newer(tx, analyse, incident, person, number)
        await tx.audit(person, "analyse.shown", incident.public_id, version=number)

    async def export(
        self, tx: Tx, person: Person, analyse: Analyse, kind: str, number: int | None
    ) -> None:
        readable = await self.readable_versions(tx, analyse, person)
        incident = await tx.uow.incidents.get(analyse.incident_id)
        assert incident is not None
        if not readable:
            raise UserError("analyse.nothing_to_show", id=incident.public_id)
        number = number or max(readable)
        if number not in readable:
            raise UserError(
                "analyse.no_such_version",
                version=number,
                versions=", ".join(map(str, sorted(readable))),
            )
        version = await tx.uow.analyses.version(analyse.id, number)
        assert version is not None
        sheet = self.sheet(tx, incident, version)
        lang = person.language
        stem = f"{incident.public_id}-v{number}"
        if kind == "md":
            file = Attachment(f"analyse-{stem}.md", "text/markdown", markdown(sheet, lang).encode())
        elif kind == "pdf":
            file = Attachment(f"analyse-{stem}.pdf", "application/pdf", pdf(sheet, lang))
        elif kind == "kernbeeld":
            file = Attachment(
                f"kernbeeld-{stem}.md",
                "text/markdown",
                markdown(sheet, lang, kernbeeld=True).encode(),
            )
        else:
            raise UserError("analyse.export_usage")
        await tx.send(person, "analyse.export_ready", attachment=file, name=file.filename)
        await tx.audit(person, "analyse.exported", incident.public_id, version=number, kind=kind)

    # --- reminders -------------------------------------------------------------------

    async def on_timer(self, tx: Tx, timer: Timer) -> None:
        found = await tx.uow.analyses.version_by_row(timer.ref)
        if found is None:
            return
        analyse_id, version = found
        analyse = await tx.uow.analyses.get(analyse_id)
        if analyse is None or analyse.version > version.number:
            return  # a newer version went out
        incident = await tx.uow.incidents.get(analyse.incident_id)
        if incident is None or incident.status is IncidentStatus.CLOSED:
            return
        assert version.next_update_at is not None
        key = "analyse.remind" if timer.kind == REMIND else "analyse.nudge"
        for editor in await tx.uow.analyses.editors(analyse.id):
            person = tx.directory.people.get(editor.person_id)
            if person is None or not editor.joined:
                continue
            await tx.send(
                person,
                key,
                id=incident.public_id,
                version=version.number + 1,
                time=fmt_time(
                    version.next_update_at, tx.directory.region.timezone, person.language
                ),
            )
        await tx.audit("system", timer.kind, incident.public_id, version=version.number)
