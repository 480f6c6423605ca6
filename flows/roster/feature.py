"""The rosters feature: /wie, /rooster, /mijnpiket, /vervang, /dienst, /rotatie, /ruil, their
confirmation and swap buttons, the daily check and reminder timers, and the calendars behind
subscription URLs (/rooster abonneer)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from core.callbacks import ChangeButton, SwapButton
from core.model import Origin, Person
from core.roster.commands import RosterCommands
from core.roster.feeds import WORDS, RosterFeeds
from core.roster.reminders import DAILY, NOTICE, RosterReminders
from core.roster.service import coordinator_scopes, roster_settings
from core.timers import TimerHandler
from core.tx import Core, Tx
from flows.registry import Command, Ctx, HelpLine, Registry
from flows.roster import text as roster_text

Handler = Callable[[Tx, Person, str], Awaitable[None]]


async def _coordinates(ctx: Ctx) -> bool:
    """A coordinator by function, or of some scopes through the region's roster settings."""
    return coordinator_scopes(ctx.person, await roster_settings(ctx.tx)) is not None


async def _holds_piket(ctx: Ctx) -> bool:
    return ctx.tx.directory.holds_piket(ctx.person)


class RosterFeature:
    def __init__(
        self, feed_url: str | None = None, reaches: Callable[[Person], bool] | None = None
    ) -> None:
        """`feed_url`: the public base URL of the calendar server (None: not running);
        `reaches`: whether a running transport reaches a person (default: a linked chat
        account)."""
        self.reminders = RosterReminders(reaches) if reaches else RosterReminders()
        self.commands = RosterCommands(on_change=self.reminders.on_changed)
        self.feeds = RosterFeeds(feed_url)

    def register(self, registry: Registry) -> None:
        c = self.commands
        for name, handler, aliases, shown_if in (
            ("wie", c.who, ("who",), None),
            ("rooster", self._rooster, ("roster",), None),
            ("mijnpiket", c.mine, ("myduty", "mijndienst"), _holds_piket),
            ("ruil", self._swap, ("swap",), _holds_piket),
            ("vervang", self._replace, ("replace",), _coordinates),
            ("dienst", self._shift, ("shift",), _coordinates),
            ("rotatie", self._rotation, ("rotation",), None),
        ):

            async def run(ctx: Ctx, args: str, handler: Handler = handler) -> None:
                await handler(ctx.tx, ctx.person, args)

            registry.add_command(
                Command(
                    name,
                    run,
                    aliases=aliases,
                    help_key=f"roster.help.{name}",
                    # Everyone may view a rotation; only a coordinator may change it.
                    help_lines=(HelpLine("roster.help.rotatie_wijzig", _coordinates),)
                    if name == "rotatie"
                    else (),
                    shown_if=shown_if,
                )
            )
        registry.add_button(ChangeButton, self._change_button)
        registry.add_button(SwapButton, self._swap_button)

    async def _rooster(self, tx: Tx, person: Person, args: str) -> None:
        """/rooster …, or /rooster abonneer|opzeggen|abonnementen … (calendar subscriptions)."""
        word, *rest = args.split(maxsplit=1) or [""]
        if word.lower() in WORDS:
            await self.feeds.command(tx, person, word.lower(), " ".join(rest))
        else:
            await self.commands.rooster(tx, person, args)

    async def _replace(self, tx: Tx, person: Person, args: str) -> None:
        await self.commands.ask_replace(tx, person, roster_text.readings(args, roster_text.REPLACE))

    async def _shift(self, tx: Tx, person: Person, args: str) -> None:
        await self.commands.ask_shift(tx, person, roster_text.readings(args, roster_text.SHIFT))

    async def _swap(self, tx: Tx, person: Person, args: str) -> None:
        await self.commands.ask_swap(tx, person, roster_text.swap_readings(args))

    async def _rotation(self, tx: Tx, person: Person, args: str) -> None:
        line = roster_text.rotation_line(args)
        await self.commands.rotation(tx, person, line.which, line.action, line.target)

    def timer_handlers(self) -> dict[str, TimerHandler]:
        return {DAILY: self.reminders.on_daily, NOTICE: self.reminders.on_notice}

    async def _change_button(self, ctx: Ctx, button: ChangeButton) -> None:
        await self.commands.answer_change(ctx.tx, ctx.person, button)

    async def _swap_button(self, ctx: Ctx, button: SwapButton) -> None:
        await self.commands.answer_swap(ctx.tx, ctx.person, button)


class RosterCalendars:
    """The calendar behind a subscription URL, each fetch in a transaction of its own; what
    the HTTP server (bots.ical_server) asks."""

    def __init__(self, core: Core, feeds: RosterFeeds | None = None) -> None:
        self.core = core
        self.feeds = feeds or RosterFeeds()

    async def calendar(self, token: str) -> bytes | None:
        async with self.core.transaction(Origin.SYSTEM) as tx:
            return await self.feeds.calendar(tx, token)
