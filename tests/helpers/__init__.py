"""Shared fakes and the test harness: no network, no sleeping, time moved by hand."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from pathlib import Path
from typing import Protocol
from zoneinfo import ZoneInfo

from sqlalchemy.ext.asyncio import AsyncEngine

from core.clock import FakeClock
from core.errors import DeliveryError
from core.events import ButtonEvent, Sender, parse_text
from core.messages import Message
from core.model import Origin, Person, TimerId
from core.ports import Part, Transport
from core.region.file import parse_region
from scm_bot.app import App, build
from storage.region import import_region

TZ = ZoneInfo("Europe/Amsterdam")
REGION_FILE = Path(__file__).parent.parent / "data" / "region.yaml"
START = datetime(2026, 11, 24, 3, 7, tzinfo=TZ)


@dataclass
class Screen:
    """One message as the person sees it now (after any edits)."""

    ref: str
    message: Message


@dataclass
class RecordingTransport:
    """A fake transport: remembers every message per person and can be made to fail."""

    name: str = "fake"
    screens: dict[str, list[Screen]] = field(default_factory=dict)
    sends: int = 0
    edits: int = 0
    failures: list[DeliveryError] = field(default_factory=list)
    failures_for: dict[str, list[DeliveryError]] = field(default_factory=dict)
    unreachable: set[str] = field(default_factory=set)

    def reaches(self, person: Person) -> bool:
        return person.key not in self.unreachable

    def parts(self, message: Message) -> list[Part]:
        return [Part(0, editable=True)]

    async def send_part(
        self,
        person: Person,
        message: Message,
        part: int,
        *,
        note: str | None = None,
        plain: bool = False,
    ) -> str:
        if note:
            message = replace(message, text=f"{note}\n{message.text}")
        return await self.send(person, message)

    async def send(self, person: Person, message: Message) -> str:
        if self.failures:
            raise self.failures.pop(0)
        if self.failures_for.get(person.key):
            raise self.failures_for[person.key].pop(0)
        self.sends += 1
        ref = f"{self.name}-{self.sends}"
        self.screens.setdefault(person.key, []).append(Screen(ref, message))
        return ref

    async def edit(self, person: Person, ref: str, message: Message) -> None:
        if self.failures:
            raise self.failures.pop(0)
        self.edits += 1
        for screen in self.screens.get(person.key, []):
            if screen.ref == ref:
                screen.message = message

    def inbox(self, key: str) -> list[Message]:
        return [s.message for s in self.screens.get(key, [])]


async def send_all(transport: Transport, person: Person, message: Message) -> str:
    """Send every part of a message in order, as delivery does; the reference of the part
    that edits reach."""
    ref: str | None = None
    for part in transport.parts(message):
        sent = await transport.send_part(person, message, part.index)
        if part.editable:
            ref = sent
    assert ref is not None, "every message has a part that edits reach"
    return ref


class Harness:
    def __init__(self, app: App, clock: FakeClock, transport: RecordingTransport) -> None:
        self.app = app
        self.clock = clock
        self.transport = transport

    async def say(self, who: str, text: str, origin: Origin = Origin.CONSOLE) -> list[Message]:
        direct = await self.app.router.handle(parse_text(Sender(origin, who), text))
        await self.app.deliverer.deliver_pending()
        return direct

    async def press(self, who: str, label: str, *, on: str | None = None) -> list[Message]:
        """Press the newest button called `label` on `on`'s screen (default: `who`'s)."""
        data = self.button(on or who, label)
        direct = await self.app.router.handle(ButtonEvent(Sender(Origin.CONSOLE, who), data))
        await self.app.deliverer.deliver_pending()
        return direct

    async def press_data(self, who: str, data: str) -> list[Message]:
        direct = await self.app.router.handle(ButtonEvent(Sender(Origin.CONSOLE, who), data))
        await self.app.deliverer.deliver_pending()
        return direct

    def button(self, who: str, label: str) -> str:
        for message in reversed(self.transport.inbox(who)):
            for button in message.buttons:
                if button.label == label:
                    return button.data
        raise AssertionError(f"no button {label!r} for {who}: {self.texts(who)}")

    async def advance(self, minutes: float) -> None:
        """Move time forward as it would really pass: each timer fires at its own due
        time, so timers it schedules within the window fire too."""
        target = self.clock.now() + timedelta(minutes=minutes)
        stuck: set[TimerId] = set()
        while True:
            async with self.app.uows() as uow:
                pending = await uow.timers.pending()
            due = [t for t in pending if t.due_at <= target]
            if not due:
                break
            now_due = {t.id for t in due if t.due_at <= self.clock.now()}
            if now_due and now_due == stuck:  # settled, and the same timers did not fire
                raise AssertionError(f"timers due but not fired: {sorted(stuck)}")
            stuck = now_due
            self.clock.set(max(self.clock.now(), min(t.due_at for t in due)))
            await self.app.settle()
        self.clock.set(target)
        await self.app.settle()

    def inbox(self, who: str) -> list[Message]:
        return self.transport.inbox(who)

    def last(self, who: str) -> str:
        messages = self.inbox(who)
        assert messages, f"{who} got nothing"
        return messages[-1].text

    def texts(self, who: str) -> str:
        return "\n---\n".join(
            (f"[{m.title}] " if m.title else "") + m.text for m in self.inbox(who)
        )

    async def raise_alarm(self, line: str = "Soest: gaslek Kerkstraat") -> None:
        await self.say("caco", f"/alarm {line}")
        await self.press("caco", "Bevestigen en pagen")


async def load_region(engine: AsyncEngine, text: str | None = None) -> None:
    await import_region(engine, parse_region(text or REGION_FILE.read_text("utf-8")))


async def make_harness(
    engine: AsyncEngine, *, region: str | None = None, clock: FakeClock | None = None
) -> Harness:
    """A harness on `engine`; the caller closes its app (the `new_harness` fixture does)."""
    await load_region(engine, region)
    clock = clock or FakeClock(START)
    transport = RecordingTransport()
    app = build(engine, clock, [transport])
    return Harness(app, clock, transport)


class NewHarness(Protocol):
    """The `new_harness` fixture: a harness on the test's engine with its own region or
    clock, closed at the end of the test."""

    async def __call__(
        self, *, region: str | None = None, clock: FakeClock | None = None
    ) -> Harness: ...


async def dispose(engine: AsyncEngine) -> None:
    """End of a test: stop what it left running (delivery workers may hold a connection),
    then close the engine, so no connection outlives the test."""
    current = asyncio.current_task()
    leftovers = [task for task in asyncio.all_tasks() if task is not current]
    for task in leftovers:
        task.cancel()
    await asyncio.gather(*leftovers, return_exceptions=True)
    await engine.dispose()
