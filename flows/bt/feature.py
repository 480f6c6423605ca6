"""The beleidsteam feature: /bt (convene, call out, the board), the members' answers,
/besluit, /actie, /besluiten and /logboek, and the call-out's timers."""

from __future__ import annotations

import secrets
from collections.abc import Awaitable, Callable
from datetime import datetime
from typing import Protocol

from core.analyse.service import AnalyseService
from core.bt import board, logbook
from core.bt.callbacks import LATER, BtAnswerButton, BtFlowButton
from core.bt.callout import NORM, REMIND, Callouts
from core.bt.kaart import Kaart
from core.bt.model import MemberId
from core.bt.records import Records
from core.bt.requests import Request, find_incident, is_incident_ref, parse_start, plan_text
from core.bt.team import gemeenten_of, team, team_of_kind
from core.errors import UserError
from core.i18n import fmt_datetime, t
from core.incidents.paging import Paging
from core.incidents.service import Incidents
from core.model import CACO, AlertKind, GemeenteId, Incident, IncidentId, Language, PersonId
from core.region.teams import TeamKind
from core.timers import TimerHandler
from flows.bt import convening as bt
from flows.registry import Command, Ctx, Flow, FlowInput, Registry

FLOW_COMMANDS = frozenset({"annuleer", "terug"})
CONVENE_WORDS = {"bijeenroepen", "convene", "oproepen", "callout", "call-out"}
STATUS_WORDS = {"status", "bord", "board"}


class FlowStale(Exception):
    """The team or the incident of a convening under way is gone."""


class AnalyseHooks(Protocol):
    """What the beleidsteam hooks into of the analyse feature (`flows.analyse.feature`)."""

    service: AnalyseService
    convene: Callable[[Ctx, Incident], Awaitable[bool]] | None


class BtFeature:
    def __init__(self, callouts: Callouts, records: Records) -> None:
        self.callouts = callouts
        self.records = records

    @classmethod
    def wired(cls, paging: Paging, incidents: Incidents, analyse: AnalyseHooks) -> BtFeature:
        """The feature, hooked into what it extends: member pages are paging's (their view
        is ours), closing the incident ends its call-outs, a new analyse version reaches
        the members who come, and "BT bijeenroepen" starts the convening."""
        kaart = Kaart(analyse.service.form)
        callouts = Callouts(paging, kaart)
        feature = cls(callouts, Records())
        paging.views = callouts.view_of
        incidents.on_close.append(callouts.close)
        analyse.service.on_publish.append(kaart.new_version)

        async def convene(ctx: Ctx, incident: Incident) -> bool:
            if await team_of_kind(ctx.tx, TeamKind.GBT) is None:
                return False  # no composition configured: recorded only
            await feature.start(ctx, incident, None)
            return True

        analyse.convene = convene
        return feature

    def register(self, registry: Registry) -> None:
        registry.add_command(Command("bt", self._bt, aliases=("team",), help_key="help.bt"))
        registry.add_command(
            Command("besluit", self._decide, aliases=("decision",), help_key="help.besluit")
        )
        registry.add_command(
            Command("actie", self._action, aliases=("action",), help_key="help.actie")
        )
        registry.add_command(
            Command("besluiten", self._list, aliases=("decisions",), help_key="help.besluiten")
        )
        registry.add_command(
            Command("logboek", self._log, aliases=("logbook",), help_key="help.logboek")
        )
        registry.add_flow(Flow(bt.FLOW, self._flow, FLOW_COMMANDS))
        registry.add_flow(Flow(bt.ETA_FLOW, self._eta, frozenset({"annuleer"})))
        registry.add_button(BtAnswerButton, self._answer)
        registry.add_button(BtFlowButton, self._flow_button)

    def timer_handlers(self) -> dict[str, TimerHandler]:
        return {
            board.REFRESH: board.on_timer,
            NORM: self.callouts.on_norm,
            REMIND: self.callouts.on_remind,
        }

    # --- /bt ----------------------------------------------------------------------------

    async def _bt(self, ctx: Ctx, args: str) -> None:
        words = args.split()
        first = words[0].lower() if words else ""
        if first in STATUS_WORDS or not words:
            await board.status(ctx.tx, ctx.person, " ".join(words[1:]))
            return
        if first not in CONVENE_WORDS:
            raise UserError("bt.usage")
        incident: Incident | None = None
        team_key: str | None = None
        for word in words[1:]:
            if is_incident_ref(word):
                incident = await find_incident(ctx.tx, word)
                if incident is None:
                    raise UserError("bt.unknown_incident", id=word)
            else:
                team_key = word.lower()
        await self.start(ctx, incident, team_key)

    async def start(self, ctx: Ctx, incident: Incident | None, team_key: str | None) -> None:
        """Begin convening (also from the burgemeester's "BT bijeenroepen" button)."""
        if ctx.flow == bt.FLOW:
            raise UserError("bt.already_busy")
        if ctx.busy():
            raise UserError("flow.other_busy")
        begun = await self.callouts.begin(ctx.tx, ctx.person, incident, team_key)
        state = bt.BtState(
            draft=secrets.token_hex(4),
            incident_id=begun.incident.id,
            team_key=begun.team.key,
            on_behalf_of=begun.on_behalf_of,
            gemeente_id=begun.gemeente_id,
        )
        await ctx.say(
            "bt.start",
            team=begun.team.name,
            id=begun.incident.public_id,
            behalf=_behalf(ctx, begun.on_behalf_of),
        )
        await self._apply(ctx, bt.start(state, await self._snapshot(ctx, state)), state)

    async def _snapshot(self, ctx: Ctx, state: bt.BtState) -> bt.Snapshot:
        spec = await team(ctx.tx, state.team_key)
        incident = await ctx.tx.uow.incidents.get(IncidentId(state.incident_id))
        if spec is None or incident is None:
            raise FlowStale()
        gemeenten = gemeenten_of(
            incident, GemeenteId(state.gemeente_id) if state.gemeente_id else None
        )
        keys = [ctx.tx.directory.gemeente(g).key for g in gemeenten]
        return bt.Snapshot(
            now=ctx.tx.now,
            tz=ctx.tx.directory.region.timezone,
            language=ctx.person.language,
            norm_minutes=spec.norm,
            functions=tuple(m.function for m in spec.members_for(keys)),
            directory=ctx.tx.directory,
            may_choose_kind=CACO in ctx.person.functions,
        )

    def _request(self, state: bt.BtState) -> Request:
        return Request(
            incident_id=IncidentId(state.incident_id),
            team_key=state.team_key,
            kind=state.kind,
            on_behalf_of=PersonId(state.on_behalf_of) if state.on_behalf_of else None,
            gemeente_id=GemeenteId(state.gemeente_id) if state.gemeente_id else None,
            starts_at=datetime.fromisoformat(state.starts_at),
            place=state.place,
            added=state.added,
            dropped=state.dropped,
        )

    async def _apply(self, ctx: Ctx, result: bt.Result, state: bt.BtState) -> None:
        for say in result.says:
            if say.params is not None:
                await ctx.tx.send(ctx.person, say.key, buttons=say.buttons, **say.params)
            else:
                await ctx.tx.send(ctx.person, say.key, buttons=say.buttons)
        new = result.state
        if isinstance(result.effect, bt.Convene) and new is not None:
            callout = await self.callouts.convene(ctx.tx, ctx.person, self._request(new))
            await self._mark_analyse(ctx, callout.incident_id)
            new = None
        elif isinstance(result.effect, bt.Preview) and new is not None:
            snap = await self._snapshot(ctx, new)
            planned = await self.callouts.plan(ctx.tx, self._request(new))
            spec = await team(ctx.tx, new.team_key)
            assert spec is not None  # the snapshot checked it
            await ctx.say(
                "bt.confirm",
                buttons=bt.confirm_buttons(new, snap),
                team=spec.name,
                start=lambda lang: _when(ctx, new.starts_at, lang),
                place=new.place,
                kind=lambda lang: _kind(lang, new.kind),
                composition=plan_text(ctx.tx, planned, ctx.person),
            )
        await ctx.set_state(new)

    async def _mark_analyse(self, ctx: Ctx, incident_id: IncidentId) -> None:
        """The analyse's status line ("BT bijeengeroepen door …") says so too."""
        analyse = await ctx.tx.uow.analyses.by_incident(incident_id)
        if analyse is not None and analyse.bt_convened_at is None:
            await ctx.tx.uow.analyses.convene_bt(analyse.id, ctx.person.id, ctx.tx.now)

    async def _flow(self, ctx: Ctx, inp: FlowInput) -> None:
        assert isinstance(ctx.state, bt.BtState)
        state = ctx.state
        step_input = bt.Input(text=inp.text, command=inp.command)
        await self._step(ctx, state, step_input)

    async def _flow_button(self, ctx: Ctx, button: BtFlowButton) -> None:
        if not isinstance(ctx.state, bt.BtState) or ctx.state.draft != button.draft:
            raise UserError("bt.button_no_flow")
        await self._step(ctx, ctx.state, bt.Input(button=button.value))

    async def _step(self, ctx: Ctx, state: bt.BtState, step_input: bt.Input) -> None:
        """One step of the convening. A team or incident that went away meanwhile (a region
        import, a removed incident) ends the flow, committed, so nobody stays stuck in it."""
        try:
            snapshot = await self._snapshot(ctx, state)
        except FlowStale:
            await ctx.set_state(None)
            await ctx.say("bt.flow_stale")
            return
        await self._apply(ctx, bt.step(state, step_input, snapshot), state)

    # --- answers ------------------------------------------------------------------------

    async def _answer(self, ctx: Ctx, button: BtAnswerButton) -> None:
        asking = isinstance(ctx.state, bt.BtEtaState) and ctx.state.member_id == button.member
        if not await self.callouts.answer(ctx.tx, ctx.person, button):
            if asking:  # answered with a button: no time left to type
                await ctx.set_state(None)
            return
        # "Ik kom later": a time, typed or chosen. Someone in the middle of something else
        # (the ROL filling in the analyse) can choose; their typing stays with that.
        choices = tuple((f"bt.button_{a}", BtAnswerButton(button.member, a).pack()) for a in LATER)
        if ctx.busy(bt.ETA_FLOW):
            await ctx.say("bt.ask_eta_busy", buttons=choices)
            return
        await ctx.set_state(bt.BtEtaState(member_id=button.member))
        await ctx.say("bt.ask_eta", buttons=choices)

    async def _eta(self, ctx: Ctx, inp: FlowInput) -> None:
        assert isinstance(ctx.state, bt.BtEtaState)
        if inp.command == "annuleer":
            await ctx.set_state(None)
            await ctx.say("bt.eta_cancelled")
            return
        tz = ctx.tx.directory.region.timezone
        eta = parse_start(inp.text or "", ctx.tx.now, tz)
        try:
            await self.callouts.coming(ctx.tx, ctx.person, MemberId(ctx.state.member_id), eta)
        except UserError as error:
            if error.key != "bt.incident_closed":
                raise  # a time that cannot be: asked again
            # The call-out is over: nothing left to ask (nothing was written before this).
            await ctx.set_state(None)
            await ctx.say(error.key, **error.params)
            return
        await ctx.set_state(None)

    # --- records and the logbook --------------------------------------------------------

    async def _decide(self, ctx: Ctx, args: str) -> None:
        await self.records.decide(ctx.tx, ctx.person, args)

    async def _action(self, ctx: Ctx, args: str) -> None:
        await self.records.action(ctx.tx, ctx.person, args)

    async def _list(self, ctx: Ctx, args: str) -> None:
        await self.records.list(ctx.tx, ctx.person, args)

    async def _log(self, ctx: Ctx, args: str) -> None:
        await logbook.show(ctx.tx, ctx.person, args)


def _kind(lang: Language, kind: AlertKind) -> str:
    return t(lang, f"kind.{kind.value}")


def _when(ctx: Ctx, iso: str, lang: Language) -> str:
    return fmt_datetime(datetime.fromisoformat(iso), ctx.tx.directory.region.timezone, lang)


def _behalf(ctx: Ctx, person_id: PersonId | None) -> Callable[[Language], str] | str:
    if person_id is None:
        return ""
    name = ctx.tx.directory.person(person_id).name
    return lambda lang: t(lang, "bt.start_behalf", name=name)
