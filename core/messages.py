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


REDACTED = "[…]"  # what a secret reads as once the message is delivered


@dataclass(frozen=True, slots=True)
class Message:
    """Plain text (never markup: transports escape it) with an optional title, buttons and
    file.

    `secrets`: strings in the message that must not be kept once it is delivered (the token
    of a subscription URL). Storage blanks them out of the stored copy when the outbox row
    is finished (`redacted`).
    """

    text: str
    title: str | None = None
    buttons: tuple[Button, ...] = ()
    attachment: Attachment | None = None
    secrets: tuple[str, ...] = ()

    @property
    def file_only(self) -> bool:
        """A file and nothing else (no text, title or buttons): one request, the file."""
        return (
            self.attachment is not None
            and not self.buttons
            and not (self.title or "").strip()
            and not self.text.strip()
        )

    def redacted(self) -> Message:
        """This message with every secret replaced by `REDACTED`, and no secrets left."""

        def blank(value: str) -> str:
            for secret in filter(None, self.secrets):
                value = value.replace(secret, REDACTED)
            return value

        return Message(
            text=blank(self.text),
            title=blank(self.title) if self.title is not None else None,
            buttons=tuple(Button(blank(b.label), blank(b.data)) for b in self.buttons),
            attachment=self.attachment,
        )

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
        if self.secrets:
            data["secrets"] = list(self.secrets)
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
            secrets=tuple(data.get("secrets", ())),
        )
