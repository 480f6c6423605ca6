"""Routes every inbound event: who is it, which command, flow or button, in one transaction.

Features register their commands, buttons and conversation flows (see `flows.registry`).
Bad input raises `UserError`: the transaction is rolled back and the explanation is sent in a
fresh one, so a rejected command never changes anything.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import replace
from typing import Any

import structlog

from core.callbacks import ButtonData, prefix_of
from core.errors import UserError
from core.events import ButtonEvent, CommandEvent, InboundEvent, Sender, TextEvent, storable
from core.i18n import t
from core.messages import Message
from core.model import Directory, Language, Origin, Person
from core.region.linking import LINK_COMMANDS, try_link
from core.tx import Core, Tx
from flows import conversation
from flows.conversation import ConversationState
from flows.registry import B, ButtonHandler, Command, Ctx, Feature, Flow, FlowInput, HelpLine

log = structlog.get_logger(__name__)
# English spellings of the commands that belong to conversations.
FLOW_ALIASES = {
    "cancel": "annuleer",
    "stop": "annuleer",
    "back": "terug",
    "skip": "overslaan",
    "done": "klaar",
    "edit": "wijzig",
    "overview": "overzicht",
    "preview": "voorbeeld",
}
LANGUAGES = {
    "nl": Language.NL,
    "nederlands": Language.NL,
    "en": Language.EN,
    "english": Language.EN,
    "engels": Language.EN,
}


def _link_code(event: InboundEvent) -> str:
    if isinstance(event, CommandEvent) and event.name in LINK_COMMANDS:
        return event.args.strip()
    return ""


def _describe(event: InboundEvent) -> str:
    """What an event asked for, for the audit trail (a command without its free text)."""
    match event:
        case CommandEvent(name=name):
            return f"/{name}"
        case ButtonEvent(data=data):
            return f"button {data}"
    return "text"


def resolve(directory: Directory, sender: Sender) -> Person | None:
    """The registered person behind a platform identity; None for strangers."""
    if sender.origin is Origin.TELEGRAM:
        if not re.fullmatch(r"-?[0-9]{1,19}", sender.user_id):  # not "²", which isdigit()
            return None
        return directory.person_by_telegram(int(sender.user_id))
    if sender.origin is Origin.SLACK:
        return directory.person_by_slack(sender.user_id)
    return directory.person_by_key(sender.user_id)


class Router:
    def __init__(self, core: Core, features: Iterable[Feature] = ()) -> None:
        self.core = core
        self._commands: dict[str, Command] = {}
        self._order: list[Command] = []
        # prefix → (kind, handler); each handler takes the kind it was registered with.
        self._buttons: dict[str, tuple[type[ButtonData], ButtonHandler[Any]]] = {}
        self._flows: dict[str, Flow] = {}
        self.add_command(
            Command(
                "help",
                self._help,
                aliases=("hulp", "start", "koppel", "link"),
                help_key="help.help",
            )
        )
        self.add_command(
            Command("taal", self._language, aliases=("language",), help_key="help.taal")
        )
        for feature in features:
            feature.register(self)

    def add_command(self, command: Command) -> None:
        for name in (command.name, *command.aliases):
            if name in self._commands:
                raise ValueError(f"command /{name} registered twice")
            self._commands[name] = command
        self._order.append(command)

    def add_button(self, kind: type[B], handler: ButtonHandler[B]) -> None:
        if kind.prefix in self._buttons:
            raise ValueError(f"button prefix {kind.prefix!r} registered twice")
        self._buttons[kind.prefix] = (kind, handler)

    def add_flow(self, flow: Flow) -> None:
        self._flows[flow.name] = flow

    async def handle(self, event: InboundEvent) -> list[Message]:
        """Handle one event. Returns replies for a sender who is not registered (who gets
        nothing else); everything for registered people goes through the outbox.

        Raises `StorageError` when the database fails: nothing of the event was saved, and
        the caller tells the person (`core.i18n.storage_failure_message`) or tries again."""
        event = storable(event)
        origin = event.sender.origin
        event_id = event.sender.event_id
        try:
            async with self.core.transaction(origin) as tx:
                if event_id and not await tx.uow.inbound.first_time(origin, event_id, tx.now):
                    log.info("inbound.duplicate", origin=origin.value, event_id=event_id)
                    return []
                chat = None
                if not event.sender.private and event.sender.chat_id:
                    chat = tx.directory.chat_by(origin, event.sender.chat_id)
                if chat is not None and origin.value in chat.unreachable:
                    # The bot hears the configured group again: it was added back.
                    await tx.uow.directory.set_unreachable(chat.id, origin.value, False)
                    await tx.audit(chat, "delivery.reachable", origin.value)
                person = resolve(tx.directory, event.sender)
                if person is None and _link_code(event):
                    return await try_link(tx, event.sender, _link_code(event))
                if person is None:
                    who = f"{origin.value}:{event.sender.user_id}"
                    await tx.audit(who, "access", "bot", "denied: not registered")
                    if not event.sender.private:
                        return []  # answering every stranger in a group would spam it
                    return [Message(t(Language.NL, "access.not_registered"))]
                if origin.value in person.unreachable:  # they are back: reachable again
                    await tx.uow.directory.set_unreachable(person.id, origin.value, False)
                if not event.sender.private:
                    # Incident data never goes to a group: answer in private only.
                    chat_id = event.sender.chat_id or "?"
                    await tx.audit(
                        person, "access", "group chat", "denied: not private", chat=chat_id
                    )
                    # The id to put under `chats:` in the region file, should it follow.
                    log.info("inbound.group_command", origin=origin.value, chat_id=chat_id)
                    key = "access.chat_commands" if chat is not None else "access.private_only"
                    return [Message(t(person.language, key))]
                await self._route(tx, person, event)
        except UserError as error:
            async with self.core.transaction(origin) as tx:
                if event_id:
                    await tx.uow.inbound.first_time(origin, event_id, tx.now)
                person = resolve(tx.directory, event.sender)
                assert person is not None
                # The refusal's own audit row went with the rollback: this one says what was
                # asked and why it was refused.
                await tx.audit(
                    person,
                    "input.rejected",
                    error.key,
                    "rejected",
                    request=_describe(event),
                    **{k: v for k, v in error.params.items() if isinstance(v, str | int)},
                )
                if error.key == conversation.UNREADABLE_KEY:
                    await tx.uow.conversations.set(person.id, None, tx.now)
                await tx.send(person, error.key, **error.params)
        return []

    async def _route(self, tx: Tx, person: Person, event: InboundEvent) -> None:
        ctx = Ctx(tx, person, await _conversation(tx, person))
        flow = self._flows.get(ctx.flow or "")
        match event:
            case CommandEvent(name=name, args=args):
                name = FLOW_ALIASES.get(name, name)
                if flow is not None and name in flow.commands:
                    await flow.handler(ctx, FlowInput(command=name, args=args))
                    return
                command = self._commands.get(name)
                if command is None:
                    if any(name in f.commands for f in self._flows.values()):
                        raise UserError("command.no_flow", name=name)
                    raise UserError("command.unknown", name=name)
                await command.handler(ctx, args)
            case TextEvent(text=text):
                if flow is None:
                    raise UserError("text.unexpected")
                await flow.handler(ctx, FlowInput(text=text))
            case ButtonEvent(data=data):
                kind, handler = self._buttons.get(prefix_of(data), (None, None))
                button = kind.unpack(data) if kind is not None else None
                if button is None or handler is None:
                    raise UserError("button.stale")
                await handler(ctx, button)

    async def _help(self, ctx: Ctx, _args: str) -> None:
        """Only what this person may do: a command they may not use is left out, and so is
        a part of one that only others may use."""
        lang = ctx.person.language
        register = ctx.tx.directory.register(ctx.person)
        lines: list[str] = []
        for c in self._order:
            if not c.shown_to(ctx.person) or (c.shown_if is not None and not await c.shown_if(ctx)):
                continue
            own = (HelpLine(c.help_key),) if c.help_key else ()
            for line in (*own, *c.help_lines):
                if line.shown_if is None or await line.shown_if(ctx):
                    lines.append(t(lang, line.key, register))
        await ctx.say("help.text", name=ctx.person.name, commands="\n".join(lines))

    async def _language(self, ctx: Ctx, args: str) -> None:
        language = LANGUAGES.get(args.strip().lower())
        if language is None:
            raise UserError("language.usage")
        await ctx.tx.uow.directory.set_language(ctx.person.id, language.value)
        await ctx.tx.audit(ctx.person, "person.language", ctx.person.key, language=language.value)
        await ctx.tx.send(replace(ctx.person, language=language), "language.set")


async def _conversation(tx: Tx, person: Person) -> ConversationState | None:
    """The person's active conversation. One stored by an older version that no longer
    parses is refused (the refusal ends it, see `handle`) rather than failing every message
    the person sends; what they sent was meant for it, so it is not handled otherwise."""
    state = conversation.load(await tx.uow.conversations.get(person.id))
    if isinstance(state, conversation.Unreadable):
        log.warning("conversation.unreadable", person=person.key)
        raise UserError(conversation.UNREADABLE_KEY)
    return state
