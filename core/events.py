"""Inbound events: what an adapter makes of a platform update, at the edge, at once."""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any

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


def clean(text: str) -> str:
    """`text` as every database stores it: an unpaired surrogate (a platform may send one in
    its JSON) or a NUL (PostgreSQL refuses it in text and JSON) becomes a question mark."""
    return text.encode("utf-8", "replace").decode("utf-8").replace("\x00", "?")


def storable(event: InboundEvent) -> InboundEvent:
    """The event with every text in it storable, so what it says can be kept and echoed."""
    sender = replace(
        event.sender,
        user_id=clean(event.sender.user_id),
        event_id=event.sender.event_id and clean(event.sender.event_id),
        chat_id=event.sender.chat_id and clean(event.sender.chat_id),
    )
    match event:
        case CommandEvent(name=name, args=args):
            return CommandEvent(sender, clean(name), clean(args))
        case TextEvent(text=text):
            return TextEvent(sender, clean(text))
        case ButtonEvent(data=data):
            return ButtonEvent(sender, clean(data))
    return event


def event_to_json(event: InboundEvent) -> dict[str, Any]:
    """The event as JSON, for the inbox (`event_from_json` reads it back)."""
    sender = event.sender
    data: dict[str, Any] = {
        "origin": sender.origin.value,
        "user_id": clean(sender.user_id),
        "event_id": sender.event_id and clean(sender.event_id),
        "chat_id": sender.chat_id and clean(sender.chat_id),
        "private": sender.private,
    }
    match event:
        case CommandEvent(name=name, args=args):
            data.update(type="command", name=clean(name), args=clean(args))
        case TextEvent(text=text):
            data.update(type="text", text=clean(text))
        case ButtonEvent(data=payload):
            data.update(type="button", data=clean(payload))
    return data


def event_from_json(data: dict[str, Any]) -> InboundEvent:
    sender = Sender(
        Origin(data["origin"]),
        str(data["user_id"]),
        data.get("event_id"),
        data.get("chat_id"),
        bool(data.get("private", True)),
    )
    kind = data["type"]
    if kind == "command":
        return CommandEvent(sender, str(data["name"]), str(data.get("args", "")))
    if kind == "button":
        return ButtonEvent(sender, str(data["data"]))
    return TextEvent(sender, str(data["text"]))
