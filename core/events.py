"""Inbound events: what an adapter makes of a platform update, at the edge, at once."""

from __future__ import annotations

from dataclasses import dataclass

from core.model import Origin


@dataclass(frozen=True, slots=True)
class Sender:
    """Who sent it: a platform user id (for the console, a person key), and from which chat.

    `event_id` is the platform's id for this delivery (Telegram `update_id`, Slack event
    id); an event id seen before is ignored, so a redelivered update has exactly one effect.
    `chat_id` is where a reply to a stranger goes; `private` is False in groups/channels.
    """

    origin: Origin
    user_id: str
    event_id: str | None = None
    chat_id: str | None = None
    private: bool = True


@dataclass(frozen=True, slots=True)
class CommandEvent:
    sender: Sender
    name: str  # without the slash, lower case
    args: str = ""


@dataclass(frozen=True, slots=True)
class TextEvent:
    sender: Sender
    text: str


@dataclass(frozen=True, slots=True)
class ButtonEvent:
    sender: Sender
    data: str


InboundEvent = CommandEvent | TextEvent | ButtonEvent


def parse_text(sender: Sender, text: str) -> InboundEvent:
    """Turn typed text into a command (`/alarm Soest: ...`) or plain text."""
    stripped = text.strip()
    if stripped.startswith("/") and len(stripped) > 1:
        head, _, rest = stripped[1:].partition(" ")
        name = head.split("@", 1)[0].lower()  # Telegram appends @botname in groups
        return CommandEvent(sender, name, rest.strip())
    return TextEvent(sender, stripped)
