"""Delivery from the outbox: each part once and in order, errors classified, nothing lost,
one bad message or person never holding up the rest."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import timedelta

import pytest
from sqlalchemy.ext.asyncio import AsyncEngine

from core.clock import FakeClock
from core.errors import (
    MessageRejected,
    OutcomeUnknown,
    PlatformError,
    RateLimited,
    RecipientUnreachable,
)
from core.messages import Message
from core.model import Origin, Person
from core.ports import LedgerEntry, Part, PartStatus
from scm_bot.app import build
from tests.conftest import count
from tests.helpers import START, Harness, RecordingTransport, load_region

REPEAT = "🔁 "  # the mark of a repeat, in any language


async def send(harness: Harness, key: str, *messages: tuple[str, str | None]) -> None:
    """(text, topic) messages for `key`, queued in one commit."""
    async with harness.app.core.transaction(Origin.SYSTEM) as tx:
        person = tx.directory.person_by_key(key)
        assert person is not None
        for text, topic in messages:
            await tx.send_message(person, Message(text, None), topic=topic)
    await harness.app.deliverer.deliver_pending()


async def pending(harness: Harness) -> int:
    return await count(harness.app.engine, "outbox WHERE status = 'pending'")


class PartsTransport(RecordingTransport):
    """Sends a message in parts (its text split at "|"): each part its own message, the
    last one editable; failures can be scripted per part."""

    def __init__(self) -> None:
        super().__init__()
        self.part_failures: dict[int, list[Exception]] = {}
        self.sent_parts: list[str] = []

    def parts(self, message: Message) -> list[Part]:
        pieces = message.text.split("|")
        return [Part(i, editable=i == len(pieces) - 1) for i in range(len(pieces))]

    async def send_part(
        self,
        person: Person,
        message: Message,
        part: int,
        *,
        note: str | None = None,
        plain: bool = False,
    ) -> str:
        failures = self.part_failures.get(part)
        if failures:
            raise failures.pop(0)
        text = message.text.split("|")[part]
        self.sent_parts.append(f"{note} {text}" if note else text)
        return await self.send(person, Message(text))


# -- what the platform answers ---------------------------------------------------------------


async def test_a_failing_platform_is_retried_with_backoff_and_never_blamed_on_the_person(
    harness: Harness,
) -> None:
    harness.transport.failures_for["rol-b"] = [PlatformError("telegram: 502 Bad Gateway")] * 2
    await harness.raise_alarm()
    # Two refusals of the page to Bert: retried after 1 s and 2 s, no escalation meanwhile.
    assert harness.inbox("rol-b") == [] and harness.inbox("rol-c") == []
    harness.clock.advance(timedelta(seconds=1))
    await harness.app.deliverer.deliver_pending()
    harness.clock.advance(timedelta(seconds=2))
    await harness.app.deliverer.deliver_pending()
    assert "VRU-2026-0001" in harness.last("rol-b")
    assert harness.inbox("rol-c") == [], "the backup is not paged: Bert was never to blame"
    assert "onbereikbaar" not in harness.texts("caco")


async def test_a_rate_limit_waits_retry_after_for_that_chat_only(harness: Harness) -> None:
    harness.transport.failures_for["rol-b"] = [RateLimited(retry_after=30)]
    await harness.raise_alarm()
    assert harness.inbox("rol-b") == []  # paused for 30 s
    assert "ROL gepaged" in harness.texts("caco"), "the caco's messages kept flowing"
    await harness.say("caco", "/status")
    assert "Open incidenten" in (harness.inbox("caco")[-1].title or "")
    harness.clock.advance(timedelta(seconds=29))
    await harness.app.deliverer.deliver_pending()
    assert harness.inbox("rol-b") == []
    harness.clock.advance(timedelta(seconds=1))
    await harness.app.deliverer.deliver_pending()
    assert len(harness.inbox("rol-b")) == 1


async def test_a_blocked_person_is_skipped_for_this_page_and_paged_again_next_time(
    harness: Harness,
) -> None:
    harness.transport.failures_for["rol-b"] = [RecipientUnreachable("Forbidden: blocked")]
    await harness.raise_alarm()
    # Bert (on duty) blocked the bot: Cees (backup) is paged without waiting 10 minutes.
    assert harness.inbox("rol-c"), "the backup was paged at once"
    assert "Rol Bert is onbereikbaar (fake) als ROL" in harness.texts("caco")
    # Not excluded for good: the next alarm pages Bert again, and it reaches him.
    await harness.raise_alarm("Soest: tweede melding")
    assert "tweede melding" in harness.last("rol-b")


async def test_a_refused_page_is_sent_as_plain_text(harness: Harness) -> None:
    plain: list[bool] = []
    original = harness.transport.send_part

    async def send_part(person: Person, message: Message, part: int, **options: object) -> str:
        if message.buttons and person.key == "rol-b" and not options.get("plain"):
            plain.append(False)
            raise MessageRejected("telegram: BadRequest: can't parse entities")
        plain.append(bool(options.get("plain")))
        return await original(person, message, part)

    harness.transport.send_part = send_part  # type: ignore[method-assign]
    await harness.raise_alarm()
    assert "VRU-2026-0001" in harness.last("rol-b"), "the plain-text copy arrived"
    assert harness.inbox("rol-c") == [] and "afgeleverd" not in harness.texts("caco")


async def test_a_page_refused_even_as_plain_text_moves_on_and_the_caco_is_told(
    harness: Harness,
) -> None:
    harness.transport.failures_for["rol-b"] = [MessageRejected("400: can't parse")] * 2
    await harness.raise_alarm()
    assert "kon niet worden afgeleverd via fake" in harness.texts("caco")
    assert "VRU-2026-0001" in harness.last("rol-c"), "the backup is paged at once"
    await harness.raise_alarm("Soest: tweede melding")
    assert "tweede melding" in harness.last("rol-b"), "Bert is paged again next time"


async def test_a_refused_message_fails_alone_and_the_queue_behind_it_goes_on(
    harness: Harness,
) -> None:
    harness.transport.failures_for["caco"] = [MessageRejected("400: message is too long")]
    await send(harness, "caco", ("eerste", None), ("tweede", None))
    assert [m.text for m in harness.inbox("caco")] == ["tweede"]
    assert await count(harness.app.engine, "outbox WHERE status = 'failed'") == 1
    assert await pending(harness) == 0


async def test_a_message_that_breaks_the_sender_fails_alone(harness: Harness) -> None:
    """A bug while sending one message (an unpaired surrogate, say) must not block the
    person's queue for ever: that row fails and is logged, the rest goes out."""
    harness.transport.failures_for["caco"] = [RuntimeError("surrogates not allowed")]  # type: ignore[list-item]
    await send(harness, "caco", ("kapot \ud800", None), ("daarna", None))
    await send(harness, "rol-b", ("voor een ander", None))
    assert [m.text for m in harness.inbox("caco")] == ["daarna"]
    assert [m.text for m in harness.inbox("rol-b")] == ["voor een ander"]
    assert await pending(harness) == 0


async def test_a_persons_messages_keep_their_order_across_a_retry(harness: Harness) -> None:
    harness.transport.failures = [PlatformError("timeout")]
    await harness.say("caco", "/help")
    await harness.say("caco", "/status")
    assert harness.inbox("caco") == [], "the second waits for the first"
    harness.clock.advance(timedelta(seconds=1))
    await harness.app.deliverer.deliver_pending()
    texts = [m.text for m in harness.inbox("caco")]
    assert texts[0].startswith("Hallo") and texts[1] == "Er zijn geen open incidenten."


# -- parts, repeats and copies -----------------------------------------------------------------


async def test_a_multi_part_message_resumes_at_the_part_that_failed(harness: Harness) -> None:
    transport = PartsTransport()
    harness.app.deliverer.transports[:] = [transport]
    transport.part_failures[1] = [RateLimited(retry_after=5)] * 3
    await send(harness, "caco", ("een|twee|drie", None))
    for _ in range(3):
        assert transport.sent_parts == ["een"]
        harness.clock.advance(timedelta(seconds=5))
        await harness.app.deliverer.deliver_pending()
    assert transport.sent_parts == ["een", "twee", "drie"], "every part once, in order"
    assert await pending(harness) == 0


async def test_an_uncertain_send_is_repeated_marked_as_a_repeat(harness: Harness) -> None:
    transport = PartsTransport()
    harness.app.deliverer.transports[:] = [transport]
    transport.part_failures[0] = [OutcomeUnknown("telegram: TimedOut")]
    await send(harness, "caco", ("ALARM", "page:1"))
    harness.clock.advance(timedelta(seconds=1))
    await harness.app.deliverer.deliver_pending()
    assert transport.sent_parts == [
        "🔁 Herhaling: dit bericht is mogelijk al eerder aangekomen. ALARM"
    ]


async def test_a_send_cut_off_by_a_crash_is_repeated_marked_as_a_repeat(
    harness: Harness,
) -> None:
    """The process died between the send and its outcome: the ledger says "sending"."""
    async with harness.app.core.transaction(Origin.SYSTEM) as tx:
        bert = tx.directory.person_by_key("rol-b")
        assert bert is not None
        await tx.send_message(bert, Message("ALARM", None), topic="page:1")
    async with harness.app.uows() as uow:
        (item,) = await uow.outbox.pending(harness.clock.now(), 10)
    await harness.app.deliverer.close()
    async with harness.app.uows() as uow:
        entry = LedgerEntry(item.id, "fake", 0, PartStatus.SENDING, editable=True)
        await uow.outbox.record([entry], harness.clock.now())
        await uow.commit()
    await harness.app.deliverer.deliver_pending()
    (page,) = harness.inbox("rol-b")
    assert page.text.startswith(REPEAT) and page.text.endswith("ALARM")


async def test_acknowledging_edits_every_copy_of_the_page(harness: Harness) -> None:
    harness.transport.failures_for["rol-b"] = [OutcomeUnknown("TimedOut")]
    await harness.raise_alarm()
    harness.clock.advance(timedelta(seconds=1))
    await harness.app.deliverer.deliver_pending()
    await harness.advance(5)  # the page repeats to Bert
    copies = harness.inbox("rol-b")
    assert len(copies) == 2 and copies[0].text.startswith(REPEAT)
    await harness.press("rol-b", "I'll take it")
    first, repeat = harness.inbox("rol-b")[:2]
    assert harness.transport.edits == 2, "both copies were edited"
    assert first.buttons == () and repeat.buttons == (), "no live buttons left"


async def test_a_retry_on_one_transport_never_pages_twice_on_the_other(
    harness: Harness,
) -> None:
    second = RecordingTransport(name="second")
    harness.app.deliverer.transports.append(second)
    second.failures = [PlatformError("5xx")]
    await harness.raise_alarm()
    for _ in range(5):
        harness.clock.advance(timedelta(seconds=30))
        await harness.app.deliverer.deliver_pending()
    assert len(harness.inbox("rol-b")) == 1, "the working transport paged once"
    assert len(second.inbox("rol-b")) == 1, "the failing one paged once it recovered"
    assert await pending(harness) == 0


async def test_blocked_on_one_platform_but_paged_on_the_other_does_not_escalate(
    harness: Harness,
) -> None:
    slack = RecordingTransport(name="slack")
    harness.app.deliverer.transports.append(slack)
    harness.transport.failures_for["rol-b"] = [RecipientUnreachable("Forbidden: blocked")]
    await harness.raise_alarm()
    assert len(slack.inbox("rol-b")) == 1, "paged on the other platform"
    assert harness.inbox("rol-c") == [] and slack.inbox("rol-c") == [], "no escalation"
    assert "onbereikbaar" not in harness.texts("caco")


async def test_a_page_that_cannot_be_edited_leaves_its_reader_pageable(
    harness: Harness,
) -> None:
    await harness.raise_alarm()
    await harness.advance(10)  # Bert repeated, then Cees (backup) paged
    recorded = harness.transport.edit

    async def edit(person: Person, ref: str, message: Message) -> None:
        if person.key == "rol-b":
            raise MessageRejected("telegram: BadRequest: Message to edit not found")
        await recorded(person, ref, message)

    harness.transport.edit = edit  # type: ignore[method-assign]
    await harness.press("rol-c", "Ik pak het op")
    before = len(harness.inbox("rol-b"))
    await harness.raise_alarm("Soest: tweede melding")
    assert len(harness.inbox("rol-b")) == before + 1
    assert "onbereikbaar" not in harness.texts("caco")


async def test_an_edit_right_behind_its_send_edits_it(harness: Harness) -> None:
    async with harness.app.core.transaction(Origin.SYSTEM) as tx:
        caco = tx.directory.person_by_key("caco")
        assert caco is not None
        await tx.send_message(caco, Message("eerste", None), topic="t:1")
        await tx.send_message(caco, Message("tweede", None), topic="t:1", kind="edit")
    await harness.app.deliverer.deliver_pending()
    assert [m.text for m in harness.inbox("caco")] == ["tweede"]
    assert harness.transport.sends == 1 and harness.transport.edits == 1


async def test_a_delivered_page_is_marked_delivered_for_the_caco(harness: Harness) -> None:
    await harness.raise_alarm()
    async with harness.app.uows() as uow:
        (incident,) = await uow.incidents.open()
        pages = await uow.pages.for_incidents([incident.id])
        targets = await uow.pages.targets([p.id for p in pages])
    assert [t.delivered_at is not None for t in targets] == [True]


async def test_the_caco_sees_whether_each_page_was_delivered(harness: Harness) -> None:
    harness.transport.failures_for["rol-b"] = [PlatformError("telegram: 502 Bad Gateway")]
    await harness.raise_alarm()
    await harness.say("caco", "/status")
    assert "Rol Bert: gepaged, nog niet afgeleverd" in harness.last("caco")
    harness.clock.advance(timedelta(seconds=1))
    await harness.app.deliverer.deliver_pending()
    await harness.say("caco", "/status")
    assert "Rol Bert: gepaged, afgeleverd om 03:07, nog geen reactie" in harness.last("caco")


async def test_a_text_with_an_unpaired_surrogate_is_stored_and_delivered(
    harness: Harness,
) -> None:
    """What a platform sent may hold an unpaired surrogate; echoed back in a message it
    once crashed the sender every second and blocked the person's queue for ever."""
    await send(harness, "caco", ("kapot \ud800 bericht", None), ("daarna", None))
    assert [m.text for m in harness.inbox("caco")] == ["kapot ? bericht", "daarna"]
    assert await pending(harness) == 0


async def test_a_chat_that_fell_behind_gets_only_the_newest_edit_of_a_message(
    harness: Harness,
) -> None:
    """A board edited every second in a chat that had to wait: the edits queued meanwhile
    are replaced by the newest, and only that one goes out."""
    await send(harness, "caco", ("bord 1", "t:1"))
    harness.transport.failures = [RateLimited(1)]

    async def edit(text: str) -> None:
        async with harness.app.core.transaction(Origin.SYSTEM) as tx:
            caco = tx.directory.person_by_key("caco")
            assert caco is not None
            await tx.send_message(caco, Message(text, None), topic="t:1", kind="edit")
        await harness.app.deliverer.deliver_pending()

    await edit("bord 2")  # refused: waits a second
    await edit("bord 3")
    await send(harness, "caco", ("iets anders", None))
    await edit("bord 4")
    assert [m.text for m in harness.inbox("caco")] == ["bord 1"]
    harness.clock.advance(timedelta(seconds=1))
    await harness.app.deliverer.deliver_pending()
    assert [m.text for m in harness.inbox("caco")] == ["bord 4", "iets anders"]
    assert harness.transport.edits == 1
    assert await count(harness.app.engine, "outbox WHERE status = 'superseded'") == 2
    assert await pending(harness) == 0


# -- what goes first in a busy chat -----------------------------------------------------------


@dataclass
class GatedTransport(RecordingTransport):
    """Requests wait at a gate while it is closed, so a test can queue more for a chat while
    its worker is on a request; `requests` holds the texts in the order they went out."""

    closed: bool = False
    requests: list[str] = field(default_factory=list)
    arrived: asyncio.Queue[str] = field(default_factory=asyncio.Queue)
    go: asyncio.Semaphore = field(default_factory=lambda: asyncio.Semaphore(0))

    async def send(self, person: Person, message: Message) -> str:
        await self._turn(message.text)
        return await super().send(person, message)

    async def edit(self, person: Person, ref: str, message: Message) -> None:
        await self._turn(message.text)
        await super().edit(person, ref, message)

    async def _turn(self, text: str) -> None:
        if self.closed:
            await self.arrived.put(text)
            await self.go.acquire()
        self.requests.append(text)

    def open(self) -> None:
        self.closed = False
        for _ in range(self.arrived.qsize() + 1):  # whoever waits at the gate
            self.go.release()


@pytest.fixture
async def gated(engine: AsyncEngine) -> AsyncIterator[Harness]:
    await load_region(engine)
    clock = FakeClock(START)
    transport = GatedTransport()
    app = build(engine, clock, [transport])
    yield Harness(app, clock, transport)
    await app.close()


async def queue(harness: Harness, key: str, *messages: tuple[str, str | None, str]) -> None:
    """(text, topic, kind) messages for `key` in one commit; its delivery starts at once."""
    async with harness.app.core.transaction(Origin.SYSTEM) as tx:
        person = tx.directory.person_by_key(key)
        assert person is not None
        for text, topic, kind in messages:
            await tx.send_message(person, Message(text, None), topic=topic, kind=kind)


Row = tuple[str, str | None, str]
BOARD_1: Row = ("bord 1", "bt-board:1", "send")
PAGE_7: Row = ("oproep", "page:7", "send")


async def _at_the_gate(gated: Harness, shown: tuple[Row, ...], *queued: Row) -> GatedTransport:
    """The Caco's chat shows `shown`; then "je komt" and `queued` are queued in one commit,
    and the chat's worker is at the gate with "je komt"."""
    transport = gated.transport
    assert isinstance(transport, GatedTransport)
    await queue(gated, "caco", *shown)
    await gated.app.deliverer.deliver_pending()
    transport.closed = True
    await queue(gated, "caco", ("je komt", None, "send"), *queued)
    assert await transport.arrived.get() == "je komt"  # its worker is on it
    return transport


async def _member_answered(gated: Harness, card: str = "kaart:1") -> GatedTransport:
    """The Caco holds a board; an answer queues "je komt" and a card (the aandachtskaart
    under its own topic `bt-kaart:1`, else a message that is not reading for later) in the
    chat, and its worker is at the gate with "je komt"."""
    return await _at_the_gate(gated, (BOARD_1,), ("aandachtskaart", card, "send"))


async def test_a_board_edit_goes_ahead_of_the_messages_an_answer_queued(gated: Harness) -> None:
    """A viewer who is also a member answers: "je komt" and the aandachtskaart queue in
    their chat, which takes a message a second; the board edit that shows the answer comes
    next, not after them (an edit adds no message, so none changes its place)."""
    transport = await _member_answered(gated)
    await queue(gated, "caco", ("bord 2", "bt-board:1", "edit"))
    transport.open()
    await gated.app.deliverer.deliver_pending()
    assert transport.requests == ["bord 1", "je komt", "bord 2", "aandachtskaart"]
    assert [m.text for m in gated.inbox("caco")] == ["bord 2", "je komt", "aandachtskaart"]
    assert await pending(gated) == 0


async def test_a_board_edited_every_second_does_not_hold_back_a_members_own_messages(
    gated: Harness,
) -> None:
    """After an edit went ahead, the chat's next turn is its oldest new message: a board
    edited every second cannot keep a member's own messages from them."""
    transport = await _member_answered(gated)
    await queue(gated, "caco", ("bord 2", "bt-board:1", "edit"))
    transport.go.release()  # "je komt" goes
    delivering = asyncio.create_task(gated.app.deliverer.deliver_pending())
    assert await transport.arrived.get() == "bord 2"
    await queue(gated, "caco", ("bord 3", "bt-board:1", "edit"))
    transport.open()
    await delivering
    await gated.app.deliverer.deliver_pending()
    assert transport.requests == ["bord 1", "je komt", "bord 2", "aandachtskaart", "bord 3"]
    assert [m.text for m in gated.inbox("caco")] == ["bord 3", "je komt", "aandachtskaart"]


async def test_a_board_refreshed_while_the_chat_waited_keeps_its_place_in_the_queue(
    gated: Harness,
) -> None:
    """The board was refreshed before the member-viewer's own page was edited, and again
    after: the newest board replaces the first refresh and goes in its place, ahead of the
    page's edit, instead of waiting a turn behind it."""
    transport = await _at_the_gate(gated, (BOARD_1, PAGE_7))
    await queue(gated, "caco", ("bord 2", "bt-board:1", "edit"))
    await queue(gated, "caco", ("oproep: je komt", "page:7", "edit"))
    await queue(gated, "caco", ("bord 3", "bt-board:1", "edit"))
    transport.open()
    await gated.app.deliverer.deliver_pending()
    assert transport.requests == ["bord 1", "oproep", "je komt", "bord 3", "oproep: je komt"]
    assert await count(gated.app.engine, "outbox WHERE status = 'superseded'") == 1
    assert await pending(gated) == 0


async def test_a_board_edit_in_the_place_of_the_one_it_replaced_has_not_gone_ahead(
    gated: Harness,
) -> None:
    """A board edit that took the place of the one it replaced went ahead of nothing, though
    rows queued after the first refresh now follow it; so once the member-viewer's page edit
    went, the next board edit may go ahead of their card instead of waiting behind it."""
    transport = await _at_the_gate(gated, (BOARD_1, PAGE_7))
    await queue(gated, "caco", ("bord 2", "bt-board:1", "edit"))
    await queue(
        gated, "caco", ("oproep: je komt", "page:7", "edit"), ("aandachtskaart", "kaart:1", "send")
    )
    await queue(gated, "caco", ("bord 3", "bt-board:1", "edit"))
    transport.go.release()  # "je komt" goes
    delivering = asyncio.create_task(gated.app.deliverer.deliver_pending())
    assert await transport.arrived.get() == "bord 3"  # in the place of "bord 2"
    await queue(gated, "caco", ("bord 4", "bt-board:1", "edit"))
    transport.open()
    await delivering
    await gated.app.deliverer.deliver_pending()
    assert transport.requests == [
        "bord 1",
        "oproep",
        "je komt",
        "bord 3",
        "oproep: je komt",
        "bord 4",
        "aandachtskaart",
    ]
    assert await pending(gated) == 0


async def test_in_a_chat_holding_a_board_the_aandachtskaart_waits_while_the_board_changes(
    gated: Harness,
) -> None:
    """The aandachtskaart is for a meeting most of an hour away: in a chat that also holds
    the live board (the ROL's, the technisch voorzitter's) the board's edits go first while
    they keep coming, for at most 30 seconds; then the card goes."""
    transport = await _member_answered(gated, card="bt-kaart:1")
    await queue(gated, "caco", ("bord 2", "bt-board:1", "edit"))
    transport.go.release()  # "je komt" goes
    delivering = asyncio.create_task(gated.app.deliverer.deliver_pending())
    assert await transport.arrived.get() == "bord 2"
    await queue(gated, "caco", ("bord 3", "bt-board:1", "edit"))
    transport.go.release()  # "bord 2" goes
    assert await transport.arrived.get() == "bord 3"  # the card waits again
    gated.clock.advance(timedelta(seconds=30))
    await queue(gated, "caco", ("bord 4", "bt-board:1", "edit"))
    transport.open()
    await delivering
    await gated.app.deliverer.deliver_pending()
    assert transport.requests == [
        "bord 1",
        "je komt",
        "bord 2",
        "bord 3",
        "aandachtskaart",
        "bord 4",
    ]
    assert await pending(gated) == 0


async def test_a_board_edit_in_the_place_of_the_one_it_replaced_never_passes_a_page(
    gated: Harness,
) -> None:
    """A page queued between two refreshes of the board: the newer board edit does not take
    the first one's place ahead of the page, which goes at the chat's next turn."""
    transport = await _at_the_gate(gated, (BOARD_1,))
    await queue(gated, "caco", ("bord 2", "bt-board:1", "edit"))
    await queue(gated, "caco", ("OPROEP", "page:9", "send"))
    await queue(gated, "caco", ("bord 3", "bt-board:1", "edit"))
    transport.open()
    await gated.app.deliverer.deliver_pending()
    assert transport.requests == ["bord 1", "je komt", "OPROEP", "bord 3"]
    assert await pending(gated) == 0


async def test_the_waiting_aandachtskaart_holds_back_no_other_message(gated: Harness) -> None:
    """A reply queued behind the waiting aandachtskaart: the board edit may not pass it, so
    the card and then the reply go, instead of both waiting out the board's edits."""
    transport = await _member_answered(gated, card="bt-kaart:1")
    await queue(gated, "caco", ("bord 2", "bt-board:1", "edit"))
    transport.go.release()  # "je komt" goes
    delivering = asyncio.create_task(gated.app.deliverer.deliver_pending())
    assert await transport.arrived.get() == "bord 2"
    await queue(gated, "caco", ("Besluit 1 vastgelegd.", None, "send"))
    await queue(gated, "caco", ("bord 3", "bt-board:1", "edit"))
    transport.open()
    await delivering
    await gated.app.deliverer.deliver_pending()
    assert transport.requests == [
        "bord 1",
        "je komt",
        "bord 2",
        "aandachtskaart",
        "bord 3",
        "Besluit 1 vastgelegd.",
    ]


async def test_an_edit_never_goes_ahead_of_the_message_it_edits(harness: Harness) -> None:
    await send(harness, "caco", ("eerst", None), ("kaart", "kaart:1"))
    await queue(
        harness,
        "caco",
        ("daarna", None, "send"),
        ("kaart 2", "kaart:2", "send"),
        ("kaart 2 bijgewerkt", "kaart:2", "edit"),
    )
    await harness.app.deliverer.deliver_pending()
    texts = [m.text for m in harness.inbox("caco")]
    assert texts == ["eerst", "kaart", "daarna", "kaart 2 bijgewerkt"]
    assert harness.transport.sends == 4 and harness.transport.edits == 1
