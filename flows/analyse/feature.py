"""The analyse feature: filling turn by turn, co-editing, preview, publishing, re-reading.

Conversation state (one row per person) says which analyse and which field the person is
on, so a crash, a restart or a switch of phone or platform resumes at the same field. Every
answer is saved to the analyse before the next question is asked.
"""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import replace

from core.access import can, reads_analyses
from core.analyse.form import FieldType
from core.analyse.lookup import analyse_to_read, incident_to_fill
from core.analyse.model import Analyse
from core.analyse.render import value_text
from core.analyse.service import NUDGE, REMIND, AnalyseService
from core.analyse.team import im_on_duty, invite
from core.callbacks import (
    AnalyseStartButton,
    ConveneButton,
    FieldAction,
    FieldButton,
    JoinButton,
    MayorButton,
    ShareButton,
)
from core.errors import UserError
from core.i18n import t
from core.incidents.service import Incidents
from core.model import Capability, Incident, IncidentStatus
from core.timers import TimerHandler
from flows.analyse import step as analyse_step
from flows.analyse.state import FLOW, AnalyseState
from flows.registry import Command, Ctx, Flow, FlowInput, HelpLine, Registry

FLOW_COMMANDS = frozenset({"annuleer", "terug", "overslaan", "klaar", "wijzig", "overzicht"})
_INCIDENT_ID = re.compile(r"^([a-z]{2,8}-\d{4}-)?\d{3,5}$", re.IGNORECASE)


class AnalyseFeature:
    def __init__(self, service: AnalyseService, incidents: Incidents) -> None:
        self.service = service
        self.form = service.form
        self.incidents = incidents
        # "BT bijeenroepen" starts the convening (flows/bt/feature.py) when it is wired and
        # the region has a composition for it (False: it is only recorded, as before).
        self.convene: Callable[[Ctx, Incident], Awaitable[bool]] | None = None

    def register(self, registry: Registry) -> None:
        registry.add_command(
            Command(
                "analyse",
                self._analyse,
                aliases=("analysis",),
                help_lines=(
                    HelpLine("help.analyse_fill", _fills),
                    HelpLine("help.analyse_read", _reads),
                    HelpLine("help.analyse_invite", _fills),
                ),
            )
        )
        registry.add_command(
            Command(
                "deel",
                self._publish,
                aliases=("publish",),
                help_key="help.deel",
                shown_to=lambda p: can(p, Capability.FILL_ANALYSE),
            )
        )
        registry.add_command(Command("voorbeeld", self._preview, aliases=("preview",)))
        # Outside the conversation these reopen it (inside, the flow handles them).
        registry.add_command(Command("wijzig", self._edit, aliases=("edit",)))
        registry.add_command(Command("overzicht", self._overview_command, aliases=("overview",)))
        registry.add_flow(Flow(FLOW, self._flow, FLOW_COMMANDS))
        registry.add_button(FieldButton, self._field_button)
        registry.add_button(AnalyseStartButton, self._start_button)
        registry.add_button(JoinButton, self._join_button)
        registry.add_button(MayorButton, self._mayor_button)
        registry.add_button(ShareButton, self._share_button)
        registry.add_button(ConveneButton, self._bt_button)

    def timer_handlers(self) -> dict[str, TimerHandler]:
        return {REMIND: self.service.on_timer, NUDGE: self.service.on_timer}

    # --- finding the analyse ---------------------------------------------------------

    async def _current(self, ctx: Ctx) -> Analyse:
        """The analyse of the conversation, else the newest one this person edits."""
        if isinstance(ctx.state, AnalyseState):
            found = await ctx.tx.uow.analyses.get(ctx.state.analyse_id)
            if found is not None:
                return found
        for analyse in await ctx.tx.uow.analyses.for_editor(ctx.person.id):
            return analyse
        if not can(ctx.person, Capability.FILL_ANALYSE):
            raise _who_fills(ctx)
        raise UserError("analyse.none_yet")

    # --- commands --------------------------------------------------------------------

    async def _analyse(self, ctx: Ctx, args: str) -> None:
        words = args.split()
        head = words[0].lower() if words else ""
        rest = words[1:]
        if head in ("toon", "show"):
            ident, number = _ident_and_version(rest)
            await self.service.show(
                ctx.tx,
                ctx.person,
                await analyse_to_read(ctx.tx, self.service, ctx.person, ident),
                number,
            )
        elif head == "export":
            kind = rest[0].lower() if rest else ""
            ident, number = _ident_and_version(rest[1:])
            if kind not in ("md", "pdf", "kernbeeld"):
                raise UserError("analyse.export_usage")
            await self.service.export(
                ctx.tx,
                ctx.person,
                await analyse_to_read(ctx.tx, self.service, ctx.person, ident),
                kind,
                number,
            )
        elif head in ("uitnodigen", "invite"):
            await self._invite(ctx, " ".join(rest))
        else:
            if ctx.busy(FLOW):
                raise UserError("flow.other_busy")
            ident = args.strip()
            try:
                incident_id = (
                    (await self.incidents.find(ctx.tx, ctx.person, ident)).id
                    if ident
                    else await incident_to_fill(ctx.tx, ctx.person)
                )
            except UserError as error:
                if error.key == "analyse.which_incident" and not can(
                    ctx.person, Capability.FILL_ANALYSE
                ):
                    raise _who_fills(ctx) from None  # naming an incident would not help
                raise
            incident = await ctx.tx.uow.incidents.get(incident_id)
            assert incident is not None
            analyse = await self.service.start(ctx.tx, ctx.person, incident)
            await self._resume(ctx, analyse)

    async def _resume(self, ctx: Ctx, analyse: Analyse, key: str | None = None) -> None:
        values, _ = await self.service.current_values(ctx.tx, analyse)
        if key is None:
            # Resume where this person was, else at the first empty field.
            if isinstance(ctx.state, AnalyseState) and ctx.state.analyse_id == analyse.id:
                key = ctx.state.field
            else:
                empty = [f for f in self.form.fields if values.get(f.key) in (None, "", [])]
                key = (empty[0] if empty else self.form.fields[0]).key
        incident = await ctx.tx.uow.incidents.get(analyse.incident_id)
        assert incident is not None
        await ctx.say("analyse.started", id=incident.public_id, version=analyse.version + 1)
        await self._ask(ctx, analyse, key)

    async def _ask(
        self,
        ctx: Ctx,
        analyse: Analyse,
        key: str,
        picked: Sequence[str] | None = None,
        *,
        edit: bool | None = None,
    ) -> None:
        """Ask one field. `edit`: after /wijzig the flow goes on at the next empty field
        rather than through every later one (None: as the conversation was)."""
        field = self.form.field(key)
        assert field is not None
        index = self.form.index(key)
        fields = await ctx.tx.uow.analyses.fields(analyse.id)
        current = fields.get(key)
        lang = ctx.person.language
        if picked is None:
            picked = (
                [str(v) for v in current.value] if current and field.type is FieldType.MULTI else []
            )
        if edit is None:
            same = isinstance(ctx.state, AnalyseState) and ctx.state.analyse_id == analyse.id
            edit = same and isinstance(ctx.state, AnalyseState) and ctx.state.edit
        await self._leave(ctx)
        await ctx.set_state(AnalyseState(analyse.id, key, picked=tuple(picked), edit=edit))
        lines = [field.prompt.get(lang)]
        if field.help:
            lines.append(t(lang, "analyse.help_line", help=field.help.get(lang)))
        if current is not None:
            editor = ctx.tx.directory.people.get(current.editor_id)
            lines.append(
                t(
                    lang,
                    "analyse.current_value",
                    value=value_text(self.form, field, current.value, ctx.tx.directory, lang),
                    name=editor.name if editor else "?",
                )
            )
        buttons: list[tuple[str, str]] = []

        def data(action: FieldAction) -> str:
            return FieldButton(index, action).pack()

        def choice(i: int) -> str:
            return FieldButton(index, choice=i).pack()

        choices = self.form.choices_of(field)
        labels = self.form.choice_labels(field, lang)
        if field.type is FieldType.CHOICE:
            buttons += [(label, choice(i)) for i, label in enumerate(labels)]
        elif field.type is FieldType.MULTI:
            buttons += [
                (("✓ " if c in picked else "") + label, choice(i))
                for i, (c, label) in enumerate(zip(choices, labels, strict=True))
            ]
            buttons.append(("analyse.button_done", data(FieldAction.DONE)))
        elif field.type is FieldType.GEMEENTEN:
            incident = await ctx.tx.uow.incidents.get(analyse.incident_id)
            assert incident is not None
            if current is None:
                buttons += [
                    (ctx.tx.directory.gemeente(g).name, FieldButton(index, gemeente=g).pack())
                    for g in incident.gemeenten
                ]
        if current is not None and field.type is not FieldType.MULTI:
            buttons.append(("analyse.button_keep", data(FieldAction.KEEP)))
        buttons.append(("analyse.button_skip", data(FieldAction.SKIP)))
        required = t(lang, "analyse.required" if field.required else "analyse.optional")
        await ctx.tx.send(
            ctx.person,
            "analyse.question",
            buttons=tuple(buttons),
            title_key="analyse.question_title",
            number=index + 1,
            total=len(self.form.fields),
            label=field.label.get(lang),
            required=required,
            body="\n".join(lines),
        )

    async def _leave(self, ctx: Ctx) -> None:
        """Leaving a text field typed into but not finished with Klaar (for another field,
        /annuleer, /deel): the co-editors hear of the change now."""
        state = ctx.state
        if not isinstance(state, AnalyseState) or state.fresh:
            return
        analyse = await ctx.tx.uow.analyses.get(state.analyse_id)
        field = self.form.field(state.field)
        if analyse is not None and field is not None:
            await self.service.tell_editors(ctx.tx, analyse, ctx.person, field)
        ctx.state = replace(state, fresh=True)

    async def _overview(self, ctx: Ctx, analyse: Analyse, *, finished: bool = False) -> None:
        fields = await ctx.tx.uow.analyses.fields(analyse.id)
        lang = ctx.person.language
        lines = []
        for field in self.form.fields:
            current = fields.get(field.key)
            if current is not None:
                editor = ctx.tx.directory.people.get(current.editor_id)
                lines.append(
                    t(
                        lang,
                        "analyse.overview_filled",
                        label=field.label.get(lang),
                        name=editor.name if editor else "?",
                    )
                )
            elif field.required:
                lines.append(t(lang, "analyse.overview_missing", label=field.label.get(lang)))
            else:
                lines.append(t(lang, "analyse.overview_optional", label=field.label.get(lang)))
        key = "analyse.overview_done" if finished else "analyse.overview"
        await ctx.say(key, lines="\n".join(lines))

    # --- the conversation ------------------------------------------------------------

    async def _flow(self, ctx: Ctx, inp: FlowInput) -> None:
        await self._step(ctx, analyse_step.Input(text=inp.text, command=inp.command, args=inp.args))

    async def _field_button(self, ctx: Ctx, button: FieldButton) -> None:
        if not isinstance(ctx.state, AnalyseState):
            raise UserError("analyse.button_no_flow")
        await self._step(ctx, analyse_step.Input(button=button))

    async def _step(self, ctx: Ctx, inp: analyse_step.Input) -> None:
        """One turn of the conversation: load what the step looks at, run it, carry out
        its effects in order."""
        state = ctx.state
        assert isinstance(state, AnalyseState)
        analyse = await ctx.tx.uow.analyses.get(state.analyse_id)
        if analyse is None:
            if inp.button is None:
                await ctx.set_state(None)
            raise UserError("button.stale")
        values, _ = await self.service.current_values(ctx.tx, analyse)
        directory = ctx.tx.directory
        snapshot = analyse_step.Snapshot(
            self.form,
            values,
            directory.gemeenten,
            ctx.tx.now,
            directory.region.timezone,
            ctx.person.language,
        )
        for effect in analyse_step.step(state, inp, snapshot):
            await self._carry_out(ctx, analyse, effect)

    async def _carry_out(self, ctx: Ctx, analyse: Analyse, effect: analyse_step.Effect) -> None:
        match effect:
            case analyse_step.Ask(key, picked, edit):
                await self._ask(ctx, analyse, key, picked, edit=edit)
            case analyse_step.Save(key, value):
                field = self.form.field(key)
                assert field is not None
                await self.service.save(ctx.tx, analyse, ctx.person, field, value)
                await self.service.tell_editors(ctx.tx, analyse, ctx.person, field)
            case analyse_step.SaveText(key, text):
                field = self.form.field(key)
                assert field is not None and isinstance(ctx.state, AnalyseState)
                await self.service.save(ctx.tx, analyse, ctx.person, field, text)
                await ctx.set_state(replace(ctx.state, fresh=False))
                done = FieldButton(self.form.index(key), FieldAction.DONE).pack()
                await ctx.tx.send(
                    ctx.person, "analyse.saved_text", buttons=(("analyse.button_done", done),)
                )
            case analyse_step.Finish():
                await self._leave(ctx)
                await ctx.set_state(None)
                await self._overview(ctx, analyse, finished=True)
            case analyse_step.Pause():
                await self._leave(ctx)
                await ctx.set_state(None)
                await ctx.say("analyse.paused")
            case analyse_step.Overview():
                await self._overview(ctx, analyse)

    async def _edit(self, ctx: Ctx, args: str) -> None:
        if ctx.busy(FLOW):
            raise UserError("flow.other_busy")
        analyse = await self._current(ctx)
        await self.service.require_editor(ctx.tx, analyse, ctx.person, "edit")
        target = self.form.find(args, ctx.person.language)
        if target is None:
            keys = ", ".join(f.key for f in self.form.fields)
            raise UserError("analyse.unknown_field", name=args.strip(), keys=keys)
        await self._ask(ctx, analyse, target.key, edit=True)

    async def _overview_command(self, ctx: Ctx, _args: str) -> None:
        analyse = await self._current(ctx)
        await self.service.require_editor(ctx.tx, analyse, ctx.person, "overview")
        await self._overview(ctx, analyse)

    # --- co-editing ------------------------------------------------------------------

    async def _invite(self, ctx: Ctx, query: str) -> None:
        analyse = await self._current(ctx)
        incident = await self.service.require_editor(ctx.tx, analyse, ctx.person, "invite")
        directory = ctx.tx.directory
        if query.strip():
            q = query.strip().casefold()
            hits = [p for p in directory.people.values() if p.key == q or q in p.name.casefold()]
            if len(hits) != 1:
                raise UserError("analyse.invite_who", name=query.strip())
            invitee = hits[0]
        else:  # the IM on duty, by the roster
            found = await im_on_duty(ctx.tx, incident)
            if found is None:
                raise UserError("analyse.no_im_on_duty")
            invitee = found
        await invite(ctx.tx, analyse, incident, ctx.person, invitee)
        await ctx.say("analyse.invite_sent", name=invitee.name)

    async def _join_button(self, ctx: Ctx, button: JoinButton) -> None:
        analyse = await ctx.tx.uow.analyses.get(button.analyse)
        if analyse is None:
            raise UserError("button.stale")
        editors = {e.person_id: e for e in await ctx.tx.uow.analyses.editors(analyse.id)}
        mine = editors.get(ctx.person.id)
        if mine is None:
            raise UserError("analyse.not_invited")
        incident = await ctx.tx.uow.incidents.get(analyse.incident_id)
        assert incident is not None
        if incident.status is IncidentStatus.CLOSED:
            raise UserError("analyse.incident_closed", id=incident.public_id)
        inviter = ctx.tx.directory.people.get(mine.invited_by) if mine.invited_by else None
        if button.action == "no":
            await ctx.tx.audit(ctx.person, "analyse.invite_declined", incident.public_id)
            if inviter:
                await ctx.tx.send(inviter, "analyse.invite_declined", name=ctx.person.name)
            await ctx.say("analyse.invite_declined_you")
            return
        if ctx.busy(FLOW):
            raise UserError("flow.other_busy")
        await self.service.join(ctx.tx, analyse, incident, ctx.person)
        await self._resume(ctx, analyse)

    async def _start_button(self, ctx: Ctx, button: AnalyseStartButton) -> None:
        if ctx.busy(FLOW):
            raise UserError("flow.other_busy")
        incident = await ctx.tx.uow.incidents.get(button.incident)
        if incident is None:
            raise UserError("button.stale")
        analyse = await self.service.start(ctx.tx, ctx.person, incident)
        await self._resume(ctx, analyse)

    # --- preview and publishing ------------------------------------------------------

    async def _preview(self, ctx: Ctx, _args: str) -> None:
        analyse = await self._current(ctx)
        incident = await self.service.require_editor(ctx.tx, analyse, ctx.person, "preview")
        draft = await self.service.draft_version(ctx.tx, analyse, ctx.person)
        recipients = self.service.recipients(ctx.tx, draft)
        mayor = recipients[0] if recipients else ctx.person
        base = await self.service.last_seen(ctx.tx, analyse, mayor)
        sheet = self.service.sheet(ctx.tx, incident, draft, base)
        # Exactly what the (first) burgemeester gets, in their language; the buttons are
        # listed, not live, because this version does not exist yet.
        message = self.service.message(ctx.tx, sheet, analyse.id, mayor, buttons=False)
        names = ", ".join(p.name for p in recipients) or "—"
        buttons = " · ".join(
            t(mayor.language, f"analyse.button_{action}")
            for action in ("read", "call", "share", "bt")
        )
        await ctx.say("analyse.preview_intro", names=names, labels=buttons)
        await ctx.tx.send_message(ctx.person, message)
        missing = self.service.missing(draft.values)
        if missing:
            lines = self.service.missing_lines(missing, ctx.person.language)
            await ctx.say("analyse.preview_missing", fields=lines)

    async def _publish(self, ctx: Ctx, _args: str) -> None:
        analyse = await self._current(ctx)
        await self._leave(ctx)
        await self.service.publish(ctx.tx, analyse, ctx.person)
        if ctx.flow == FLOW:
            await ctx.set_state(None)

    # --- the burgemeester's buttons --------------------------------------------------

    async def _mayor_button(self, ctx: Ctx, button: MayorButton) -> None:
        await self.service.mayor_button(ctx.tx, ctx.person, button)

    async def _share_button(self, ctx: Ctx, button: ShareButton) -> None:
        await self.service.share(ctx.tx, ctx.person, button)

    async def _bt_button(self, ctx: Ctx, button: ConveneButton) -> None:
        if button.action == "yes":
            incident = await self.service.bt_incident(ctx.tx, ctx.person, button)
            if self.convene is None or not await self.convene(ctx, incident):
                await self.service.convene_bt(ctx.tx, ctx.person, button)
        else:
            await ctx.say("analyse.bt_not")


async def _fills(ctx: Ctx) -> bool:
    return can(ctx.person, Capability.FILL_ANALYSE)


async def _reads(ctx: Ctx) -> bool:
    return reads_analyses(ctx.tx.directory, ctx.person)


def _who_fills(ctx: Ctx) -> UserError:
    """The refusal for someone who fills in no analyse: who does, and, if they may, how to
    read one."""
    reads = reads_analyses(ctx.tx.directory, ctx.person)
    return UserError("analyse.only_editors_read" if reads else "analyse.only_editors")


def _ident_and_version(words: list[str]) -> tuple[str, int | None]:
    """["VRU-2026-0001", "2"] → ("VRU-2026-0001", 2); a short number is a version."""
    ident, number = "", None
    for word in words:
        if _INCIDENT_ID.match(word):
            ident = word
        elif word.isascii() and word.isdigit():  # not "²", which isdigit()
            number = int(word)
        else:
            raise UserError("analyse.show_usage")
    return ident, number
