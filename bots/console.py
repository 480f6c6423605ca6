"""The console transport: an interactive terminal chat in which you act as anyone.

Every message shows who it is for; buttons get numbers you type to press them, as the
person you are acting as. `/als <persoon>` switches who you are.
"""

from __future__ import annotations

import asyncio
import contextlib
import sys
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, replace
from typing import TextIO

from core.errors import StorageError
from core.events import ButtonEvent, Sender, parse_text
from core.i18n import storage_failure_message
from core.messages import Message
from core.model import Directory, Language, Origin, Person
from core.ports import Part
from flows.router import Router

CONSOLE = "console"


@dataclass
class _Shown:
    person: Person
    message: Message


@dataclass(frozen=True)
class NumberedButton:
    person: Person  # whose message it is on
    label: str
    data: str


class ConsoleTransport:
    """Prints messages, labelled with the recipient unless it is you."""

    name = CONSOLE

    def __init__(self, out: TextIO | None = None) -> None:
        self.out = out or sys.stdout
        self.acting: Person | None = None
        self.buttons: dict[int, NumberedButton] = {}  # the number you type -> the button
        self._next_button = 1
        self._next_ref = 1
        self.shown: dict[str, _Shown] = {}
        self.clock_label: Callable[[], str] | None = None
        self._last_edit: dict[int, Message] = {}

    def reaches(self, person: Person) -> bool:
        return True

    def _label(self, person: Person, edited: bool) -> str:
        who = "jou" if self.acting and person.id == self.acting.id else person.name
        if person.is_chat:
            who = f"groep {person.name}"
        when = f"[{self.clock_label()}] " if self.clock_label else ""
        verb = "bijgewerkt, aan" if edited else "aan"
        return f"{when}── {verb} {who} ──"

    def _render(self, person: Person, message: Message, edited: bool) -> str:
        lines = [self._label(person, edited)]
        if message.title:
            lines.append(f"*{message.title}*")
        lines.append(message.text)
        if message.attachment is not None:
            size = len(message.attachment.content)
            lines.append(f"📎 {message.attachment.filename} ({size} bytes)")
        if message.buttons:
            labels = []
            for button in message.buttons:
                number = self._next_button
                self._next_button += 1
                self.buttons[number] = NumberedButton(person, button.label, button.data)
                labels.append(f"[{number}] {button.label}")
            lines.append("   ".join(labels))
        return "\n".join(lines) + "\n"

    def parts(self, message: Message) -> list[Part]:
        return [Part(0, editable=True)]  # text, buttons and the file's name in one print

    async def send_part(
        self,
        person: Person,
        message: Message,
        part: int,
        *,
        note: str | None = None,
        plain: bool = False,
    ) -> str:
        ref = str(self._next_ref)
        self._next_ref += 1
        self.shown[ref] = _Shown(person, message)
        if note:
            message = replace(message, text=f"{note}\n{message.text}")
        print(self._render(person, message, edited=False), file=self.out, flush=True)
        return ref

    async def edit(self, person: Person, ref: str, message: Message) -> None:
        self.shown[ref] = _Shown(person, message)
        if self._last_edit.get(person.id) == message:
            return  # several messages of one page updated alike: show it once
        self._last_edit[person.id] = message
        print(self._render(person, message, edited=True), file=self.out, flush=True)


class ConsoleSession:
    """Reads what you type, as the person you act as, and hands it to the router."""

    def __init__(
        self,
        router: Router,
        transport: ConsoleTransport,
        load_directory: Callable[[], Awaitable[Directory]],
        deliver: Callable[[], Awaitable[object]],
    ) -> None:
        self.router = router
        self.transport = transport
        self.load_directory = load_directory
        self.deliver = deliver

    async def act_as(self, query: str) -> str:
        """Switch persona by key, or by a unique part of the name."""
        directory = await self.load_directory()
        q = query.strip().casefold()
        person = directory.person_by_key(query.strip())
        if person is None:
            hits = [p for p in directory.people.values() if q and q in p.name.casefold()]
            person = hits[0] if len(hits) == 1 else None
            if len(hits) > 1:
                names = ", ".join(f"{p.key} ({p.name})" for p in hits[:8])
                return f"'{query}' past op meerdere personen: {names}"
        if person is None:
            return f"Onbekende persoon '{query}'. Typ /wie-zijn-er voor een lijst."
        self.transport.acting = person
        functions = ", ".join(sorted(person.functions)) or "-"
        return f"Je bent nu {person.name} [{person.key}] – functies: {functions}"

    async def people(self) -> str:
        directory = await self.load_directory()
        interesting = [
            p
            for p in directory.people.values()
            if not p.functions & {"gemeentesecretaris", "acb", "locoburgemeester"}
        ]
        rows = [
            f"  {p.key:28} {p.name} ({', '.join(sorted(p.functions))})"
            for p in sorted(interesting, key=lambda p: p.key)
        ]
        return "Personen (gemeentesecretarissen, ACB's en loco's weggelaten):\n" + "\n".join(rows)

    async def line(self, text: str) -> str | None:
        """Handle one typed line; returns console-only feedback, if any, or the answer
        when the database failed (nothing was saved; the next line tries again)."""
        try:
            return await self._line(text)
        except StorageError:
            acting = self.transport.acting
            return storage_failure_message(acting.language if acting else Language.NL).text

    async def _line(self, text: str) -> str | None:
        text = text.strip()
        if not text:
            return None
        if text.startswith("/als ") or text == "/als":
            return await self.act_as(text[4:])
        if text == "/wie-zijn-er":
            return await self.people()
        if self.transport.acting is None:
            return "Kies eerst wie je bent: /als <persoon> (bijvoorbeeld /als caco-carla)."
        sender = Sender(Origin.CONSOLE, self.transport.acting.key)
        if text.isascii() and text.isdigit():  # not "²", which isdigit()
            button = self.transport.buttons.get(int(text))
            if button is None:
                return f"Er is geen knop [{text}]."
            event = ButtonEvent(sender, button.data)
        else:
            event = parse_text(sender, text)  # type: ignore[assignment]
        direct = await self.router.handle(event)
        for message in direct:
            print(message.text, file=self.transport.out)
        # Saved; should delivering fail now, the messages wait in the outbox for the
        # delivery loop.
        with contextlib.suppress(StorageError):
            await self.deliver()
            # You as you are now (the line may have changed your language).
            you = self.transport.acting
            self.transport.acting = (await self.load_directory()).people.get(you.id, you)
        return None

    async def run(self, read: Callable[[str], Awaitable[str]] | None = None) -> None:
        """The interactive loop; ends on EOF or /quit."""
        reader = read or (lambda prompt: asyncio.to_thread(input, prompt))
        out = self.transport.out
        print(
            "scm-bot console. /als <persoon> om iemand te zijn, /wie-zijn-er voor de lijst, "
            "een nummer om een knop in te drukken, /quit om te stoppen.",
            file=out,
        )
        print(await self.line("/als caco-carla"), file=out)
        while True:
            who = self.transport.acting.key if self.transport.acting else "?"
            try:
                text = await reader(f"{who}> ")
            except EOFError:
                return
            if text.strip() in ("/quit", "/exit"):
                return
            feedback = await self.line(text)
            if feedback:
                print(feedback, file=out, flush=True)
