"""The incidents feature: /alarm (guided or one line), /status, /sluit and the page buttons."""

from __future__ import annotations

import secrets

from core.access import can
from core.callbacks import AlarmButton, CloseButton, PageButton
from core.errors import UserError
from core.incidents.paging import ESCALATE, Paging
from core.incidents.service import Incidents
from core.model import Capability
from core.timers import TimerHandler
from flows.incidents import alarm
from flows.registry import Command, Ctx, Flow, FlowInput, Registry

FLOW_COMMANDS = frozenset({"annuleer", "terug", "overslaan"})


class IncidentsFeature:
    def __init__(self, paging: Paging, incidents: Incidents) -> None:
        self.paging = paging
        self.incidents = incidents

    def register(self, registry: Registry) -> None:
        registry.add_command(
            Command(
                "alarm",
                self._alarm,
                help_key="help.alarm",
                shown_to=lambda p: can(p, Capability.RAISE_ALERT),
            )
        )
        registry.add_command(Command("status", self._status, help_key="help.status"))
        registry.add_command(
            Command(
                "sluit",
                self._close,
                aliases=("close",),
                help_key="help.close",
                shown_to=lambda p: can(p, Capability.CLOSE_INCIDENT),
            )
        )
        registry.add_flow(Flow(alarm.FLOW, self._flow, FLOW_COMMANDS))
        registry.add_button(PageButton, self._page_button)
        registry.add_button(AlarmButton, self._alarm_button)
        registry.add_button(CloseButton, self._close_button)

    def timer_handlers(self) -> dict[str, TimerHandler]:
        return {ESCALATE: self.paging.on_timer}

    async def _alarm(self, ctx: Ctx, args: str) -> None:
        if not can(ctx.person, Capability.RAISE_ALERT):
            await ctx.tx.audit(ctx.person, "incident.raise", "alarm", "denied")
            raise UserError("access.denied_alarm")
        if ctx.flow == alarm.FLOW:
            raise UserError("alarm.already_busy")
        if ctx.busy():
            raise UserError("flow.other_busy")
        await self._apply(ctx, alarm.start(args, ctx.tx.directory, secrets.token_hex(4)))

    async def _status(self, ctx: Ctx, _args: str) -> None:
        await self.incidents.status(ctx.tx, ctx.person)

    async def _close(self, ctx: Ctx, args: str) -> None:
        await self.incidents.ask_close(ctx.tx, ctx.person, args)

    async def _flow(self, ctx: Ctx, inp: FlowInput) -> None:
        assert isinstance(ctx.state, alarm.AlarmState)
        state = ctx.state
        step_input = alarm.Input(text=inp.text, choice=inp.choice, command=inp.command)
        await self._apply(ctx, alarm.step(state, step_input, ctx.tx.directory))

    async def _apply(self, ctx: Ctx, result: alarm.Result) -> None:
        if result.raise_alert is not None:
            # Raise first: a refused alert (UserError) keeps the draft for another try.
            await self.incidents.raise_alert(ctx.tx, ctx.person, result.raise_alert)
        for say in result.says:
            await ctx.tx.send(ctx.person, say.key, buttons=say.buttons, **say.params)
        await ctx.set_state(result.state)

    async def _page_button(self, ctx: Ctx, button: PageButton) -> None:
        page = await ctx.tx.uow.pages.get(button.page, for_update=True)
        if page is None:
            raise UserError("button.stale")
        await self.paging.answer(ctx.tx, ctx.person, page, button.action)

    async def _alarm_button(self, ctx: Ctx, button: AlarmButton) -> None:
        if not isinstance(ctx.state, alarm.AlarmState) or button.draft != ctx.state.draft:
            raise UserError("alarm.button_no_flow")  # none being filled, or an earlier one
        await self._flow(ctx, FlowInput(choice=(button.step, button.value)))

    async def _close_button(self, ctx: Ctx, button: CloseButton) -> None:
        if button.action == "yes":
            await self.incidents.close(ctx.tx, ctx.person, button.incident)
        else:
            await ctx.say("close.kept")
