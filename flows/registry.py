"""What a feature contributes to the router: commands, buttons, a conversation flow.

Each feature (incidents, the analyse, rosters, ...) registers its own parts, so features
grow side by side without editing one central table.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any, Protocol, TypeVar

from core.callbacks import ButtonData
from core.model import Person
from core.timers import TimerHandler
from core.tx import Tx
from flows.conversation import GIVES_WAY, ConversationState, dump


@dataclass(frozen=True, slots=True)
class FlowInput:
    """What a person gave an active conversation: typed text, a button, or a flow command."""

    text: str | None = None
    choice: tuple[str, str] | None = None  # (step, value) from a button
    command: str | None = None  # canonical name, e.g. "annuleer"
    args: str = ""


@dataclass
class Ctx:
    """One person's turn inside one transaction."""

    tx: Tx
    person: Person
    state: ConversationState | None  # the active conversation, if any

    @property
    def flow(self) -> str | None:
        return self.state.flow if self.state else None

    def busy(self, flow: str | None = None) -> bool:
        """In the middle of a conversation other than `flow`, one that does not give way
        (`conversation.GIVES_WAY`: starting something else simply ends that one)."""
        return (
            self.state is not None
            and self.state.flow != flow
            and not isinstance(self.state, GIVES_WAY)
        )

    async def say(self, key: str, **params: Any) -> None:
        await self.tx.send(self.person, key, **params)

    async def set_state(self, state: ConversationState | None) -> None:
        self.state = state
        stored = dump(state) if state is not None else None
        await self.tx.uow.conversations.set(self.person.id, stored, self.tx.now)


CommandHandler = Callable[[Ctx, str], Awaitable[None]]
B = TypeVar("B", bound=ButtonData)
ButtonHandler = Callable[[Ctx, B], Awaitable[None]]
FlowHandler = Callable[[Ctx, FlowInput], Awaitable[None]]


Allowed = Callable[[Ctx], Awaitable[bool]]


@dataclass(frozen=True)
class HelpLine:
    """One line of /help, shown only to who may do what it describes (`shown_if`)."""

    key: str  # catalog key
    shown_if: Allowed | None = None


@dataclass(frozen=True)
class Command:
    name: str  # the Dutch name, without slash
    handler: CommandHandler
    aliases: tuple[str, ...] = ()  # English and other spellings
    help_key: str | None = None  # catalog key of its line in /help
    # Lines for parts of the command that fewer people may use (`/analyse uitnodigen`).
    help_lines: tuple[HelpLine, ...] = ()
    shown_to: Callable[[Person], bool] = lambda _person: True
    # When who may use it depends on more than the person (e.g. region settings).
    shown_if: Allowed | None = None


@dataclass(frozen=True)
class Flow:
    name: str
    handler: FlowHandler
    # Commands that belong to the conversation while it is active (e.g. annuleer, terug).
    commands: frozenset[str] = field(default_factory=frozenset)


class Registry(Protocol):
    def add_command(self, command: Command) -> None: ...
    def add_button(self, kind: type[B], handler: ButtonHandler[B]) -> None: ...
    def add_flow(self, flow: Flow) -> None: ...


class Feature(Protocol):
    def register(self, registry: Registry) -> None: ...
    def timer_handlers(self) -> dict[str, TimerHandler]: ...
