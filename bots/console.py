"""The console transport: an interactive terminal chat in which you act as anyone.

Every message shows who it is for. Buttons get numbers: a number alone presses a button of
the latest question put to the person you act as (otherwise it is text, like `112`);
`/knop <nummer>` presses any button still open on their messages, and `/knoppen` shows those
again. The console keeps its buttons in its folder (under the data directory), so they work
after a restart too, and saves every attachment there, printing its path. `/als <persoon>`
switches who you are.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import re
import sys
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, TextIO

from core.errors import StorageError
from core.events import ButtonEvent, InboundEvent, Sender, parse_text
from core.i18n import storage_failure_message, t
from core.messages import Attachment, Message
from core.model import CACO, Directory, Language, Origin, Person
from core.ports import Part
from flows.router import Router

CONSOLE = "console"
STATE_FILE = "knoppen.json"  # the buttons on screen, for /knoppen after a restart
ATTACHMENTS = "bijlagen"


@dataclass(frozen=True)
class NumberedButton:
    person_key: str  # whose message it is on
    label: str
    data: str


@dataclass
class _Shown:
    """A message as it is on screen now, with the numbers of its buttons."""

    person_key: str
    headline: str
    numbers: list[int] = field(default_factory=list)
    seq: int = 0  # when it was last printed: the latest with buttons is the open question


def _headline(message: Message) -> str:
    lines = (message.title or message.text).strip().splitlines()
    return lines[0][:100] if lines else ""


def _safe_name(filename: str) -> str:
    """A file name that stays inside its folder."""
    name = re.sub(r"[^\w.-]+", "_", Path(filename.replace("\\", "/")).name).lstrip(".")
    return name or "bijlage"


class ConsoleTransport:
    """Prints messages, labelled with the recipient unless it is you.

    `folder` (the console's folder under the data directory) keeps the attachments and the
    buttons on screen; without one, attachments are only named and buttons live as long as
    the process."""

    name = CONSOLE

    def __init__(self, out: TextIO | None = None, folder: Path | None = None) -> None:
        self.out = out or sys.stdout
        self.folder = folder
        self.acting: Person | None = None
        self.buttons: dict[int, NumberedButton] = {}  # the number you type -> the button
        self.shown: dict[str, _Shown] = {}
        self.clock_label: Callable[[], str] | None = None
        self._next_button = 1
        self._next_ref = 1
        self._seq = 0
        self._last_edit: dict[int, Message] = {}
        self._load()

    def reaches(self, person: Person) -> bool:
        return True

    @property
    def language(self) -> Language:
        return self.acting.language if self.acting else Language.NL

    def _label(self, person: Person, edited: bool) -> str:
        you = self.acting is not None and person.id == self.acting.id
        who = t(Language.NL, "console.you") if you else person.name
        if person.is_chat:
            who = t(Language.NL, "console.group", name=person.name)
        when = f"[{self.clock_label()}] " if self.clock_label else ""
        return when + t(Language.NL, "console.label_edited" if edited else "console.label", who=who)

    def _show(self, ref: str, person: Person, message: Message, *, numbered: bool) -> list[int]:
        """Record the message under `ref` as it is now; its buttons get new numbers (an
        edit replaces the buttons, as in a chat app) unless `numbered` is False."""
        old = self.shown.get(ref)
        for number in old.numbers if old else []:
            self.buttons.pop(number, None)
        numbers = []
        for button in message.buttons if numbered else ():
            numbers.append(self._next_button)
            self.buttons[self._next_button] = NumberedButton(person.key, button.label, button.data)
            self._next_button += 1
        self._seq += 1
        self.shown[ref] = _Shown(person.key, _headline(message), numbers, self._seq)
        self._save()
        return numbers

    def _render(self, person: Person, message: Message, numbers: list[int], edited: bool) -> str:
        lines = [self._label(person, edited)]
        if message.title:
            lines.append(f"*{message.title}*")
        lines.append(message.text)
        if message.attachment is not None:
            lines.append(self._attachment_line(person, message.attachment))
        if numbers:
            lines.append(
                "   ".join(
                    f"[{n}] {b.label}" for n, b in zip(numbers, message.buttons, strict=True)
                )
            )
        return "\n".join(lines) + "\n"

    def _attachment_line(self, person: Person, attachment: Attachment) -> str:
        size = len(attachment.content)
        if self.folder is None:
            return t(
                self.language, "console.attachment_unsaved", filename=attachment.filename, size=size
            )
        path = self._store(person, attachment)
        return t(
            self.language, "console.attachment", filename=attachment.filename, size=size, path=path
        )

    def _store(self, person: Person, attachment: Attachment) -> Path:
        """Save the file under the folder, per recipient; an earlier file of the same name
        and other content is kept (the new one gets a number)."""
        assert self.folder is not None
        folder = (self.folder / ATTACHMENTS / _safe_name(person.key)).resolve()
        folder.mkdir(parents=True, exist_ok=True)
        name = Path(_safe_name(attachment.filename))
        path = folder / name
        n = 1
        while path.exists() and path.read_bytes() != attachment.content:
            n += 1
            path = folder / f"{name.stem}-{n}{name.suffix}"
        path.write_bytes(attachment.content)
        return path

    def parts(self, message: Message) -> list[Part]:
        return [Part(0, editable=True)]  # text, buttons and the file in one print

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
        if note:
            message = replace(message, text=f"{note}\n{message.text}")
        numbers = self._show(ref, person, message, numbered=True)
        print(self._render(person, message, numbers, edited=False), file=self.out, flush=True)
        return ref

    async def edit(self, person: Person, ref: str, message: Message) -> None:
        if self._last_edit.get(person.id) == message:
            # Several messages of one page updated alike: shown once, buttons and all.
            self._show(ref, person, message, numbered=False)
            return
        self._last_edit[person.id] = message
        numbers = self._show(ref, person, message, numbered=True)
        print(self._render(person, message, numbers, edited=True), file=self.out, flush=True)

    def open_messages(self, person_key: str) -> list[_Shown]:
        """The person's messages with buttons on screen, oldest first."""
        mine = [s for s in self.shown.values() if s.person_key == person_key and s.numbers]
        return sorted(mine, key=lambda s: s.seq)

    def question_button(self, person_key: str, number: int) -> NumberedButton | None:
        """The button with this number on the person's latest message with buttons."""
        mine = self.open_messages(person_key)
        return self.buttons.get(number) if mine and number in mine[-1].numbers else None

    def open_button(self, person_key: str, number: int) -> NumberedButton | None:
        button = self.buttons.get(number)
        return button if button is not None and button.person_key == person_key else None

    def _save(self) -> None:
        if self.folder is None:
            return
        state = {
            "next_ref": self._next_ref,
            "next_button": self._next_button,
            "seq": self._seq,
            "open": {
                ref: {
                    "person": shown.person_key,
                    "headline": shown.headline,
                    "seq": shown.seq,
                    "buttons": [
                        [n, self.buttons[n].label, self.buttons[n].data] for n in shown.numbers
                    ],
                }
                for ref, shown in self.shown.items()
                if shown.numbers
            },
        }
        self.folder.mkdir(parents=True, exist_ok=True)
        temporary = self.folder / f"{STATE_FILE}.tmp"
        temporary.write_text(json.dumps(state, ensure_ascii=False), "utf-8")
        temporary.replace(self.folder / STATE_FILE)

    def _load(self) -> None:
        """The buttons on screen when the console last ran; an unreadable file is no
        reason not to start (the buttons are then gone, as before)."""
        if self.folder is None:
            return
        with contextlib.suppress(OSError, ValueError, TypeError, KeyError, AttributeError):
            state: dict[str, Any] = json.loads((self.folder / STATE_FILE).read_text("utf-8"))
            shown, buttons = {}, {}
            for ref, item in state["open"].items():
                numbers = []
                for number, label, data in item["buttons"]:
                    buttons[int(number)] = NumberedButton(item["person"], str(label), str(data))
                    numbers.append(int(number))
                shown[str(ref)] = _Shown(item["person"], item["headline"], numbers, item["seq"])
            self._next_ref, self._next_button = int(state["next_ref"]), int(state["next_button"])
            self._seq = int(state["seq"])
            self.shown, self.buttons = shown, buttons


def terminal_reader() -> Callable[[str], Awaitable[str]]:
    """Reads a line from the terminal. With readline loaded, input() reads the terminal
    in raw mode: a pasted answer longer than the terminal's line buffer (4095 characters
    in canonical mode, the rest silently dropped) arrives whole."""
    with contextlib.suppress(ImportError):  # not on every platform
        import readline  # noqa: F401

    async def read(prompt: str) -> str:
        return await asyncio.to_thread(input, prompt)

    return read


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
                return t(Language.NL, "console.ambiguous", query=query, names=names)
        if person is None:
            return t(Language.NL, "console.unknown_person", query=query)
        self.transport.acting = person
        functions = ", ".join(sorted(person.functions)) or "-"
        return t(
            Language.NL, "console.acting", name=person.name, key=person.key, functions=functions
        )

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
        return t(Language.NL, "console.people", rows="\n".join(rows))

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
        acting = self.transport.acting
        if acting is None:
            return t(Language.NL, "console.choose_first")
        if text in ("/knoppen", "/buttons"):
            return self.open_buttons(acting)
        sender = Sender(Origin.CONSOLE, acting.key)
        button: NumberedButton | None = None
        if text.split(maxsplit=1)[0] in ("/knop", "/button"):
            number = text.split(maxsplit=1)[1:]
            if not (number and number[0].isascii() and number[0].isdigit()):
                return t(acting.language, "console.button_usage")
            button = self.transport.open_button(acting.key, int(number[0]))
            if button is None:
                return t(acting.language, "console.no_button", number=int(number[0]))
        elif text.isascii() and text.isdigit():  # not "²", which isdigit()
            # A button of the open question; otherwise the number is an answer (`112`).
            button = self.transport.question_button(acting.key, int(text))
        if button is not None:
            event: InboundEvent = ButtonEvent(sender, button.data)
        else:
            event = parse_text(sender, text)
        direct = await self.router.handle(event)
        for message in direct:
            print(message.text, file=self.transport.out)
        # Saved; should delivering fail now, the messages wait in the outbox for the
        # delivery loop.
        with contextlib.suppress(StorageError):
            await self.deliver()
            # You as you are now (the line may have changed your language).
            self.transport.acting = (await self.load_directory()).people.get(acting.id, acting)
        return None

    def open_buttons(self, person: Person) -> str:
        """`/knoppen`: the buttons still open on the person's messages, latest last."""
        lines = []
        for shown in self.transport.open_messages(person.key):
            labels = "   ".join(f"[{n}] {self.transport.buttons[n].label}" for n in shown.numbers)
            lines += [f"• {shown.headline}", f"  {labels}"]
        if not lines:
            return t(person.language, "console.no_open_buttons")
        return "\n".join([t(person.language, "console.open_buttons"), *lines])

    async def start(self) -> str:
        """Act as the region's first Caco (in the order of the region file)."""
        directory = await self.load_directory()
        cacos = [p for p in directory.people.values() if CACO in p.functions and not p.is_chat]
        if not cacos:
            return t(Language.NL, "console.no_caco")
        return await self.act_as(min(cacos, key=lambda p: p.id).key)

    async def run(self, read: Callable[[str], Awaitable[str]] | None = None) -> None:
        """The interactive loop; ends on EOF or /quit."""
        reader = read or terminal_reader()
        out = self.transport.out
        print(t(Language.NL, "console.banner"), file=out)
        print(await self.start(), file=out)
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
