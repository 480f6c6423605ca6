"""Render-neutral outgoing messages; each transport renders them in its own way."""

from __future__ import annotations

import base64
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True, slots=True)
class Button:
    label: str
    data: str  # an encoded `core.callbacks.CallbackData`, at most 64 bytes


@dataclass(frozen=True, slots=True)
class Attachment:
    """A file sent with a message (a PDF of the analyse, an .ics roster)."""

    filename: str
    mime_type: str
    content: bytes


@dataclass(frozen=True, slots=True)
class Message:
    """Plain text (never markup: transports escape it) with an optional title, buttons and
    file."""

    text: str
    title: str | None = None
    buttons: tuple[Button, ...] = ()
    attachment: Attachment | None = None

    def to_json(self) -> dict[str, Any]:
        data: dict[str, Any] = {
            "text": self.text,
            "title": self.title,
            "buttons": [[b.label, b.data] for b in self.buttons],
        }
        if self.attachment is not None:
            data["attachment"] = {
                "filename": self.attachment.filename,
                "mime_type": self.attachment.mime_type,
                "content": base64.b64encode(self.attachment.content).decode(),
            }
        return data

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Message:
        file = data.get("attachment")
        return cls(
            text=data["text"],
            title=data.get("title"),
            buttons=tuple(Button(label, payload) for label, payload in data.get("buttons", [])),
            attachment=Attachment(
                file["filename"], file["mime_type"], base64.b64decode(file["content"])
            )
            if file
            else None,
        )
