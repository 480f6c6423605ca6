"""Delivery after commit: retried on transient errors, never twice, nothing lost."""

from __future__ import annotations

import asyncio
from datetime import timedelta

import pytest

from core.delivery import Deliverer
from core.errors import PermanentDeliveryError, RateLimited, TransientDeliveryError
from core.events import ButtonEvent, Sender, parse_text
from core.messages import Message
from core.model import Origin, Person
from core.ports import DeliveryLimits
from tests.conftest import count
from tests.helpers import Harness, RecordingTransport


async def test_transient_failure_is_retried_with_backoff(harness: Harness) -> None:
    harness.transport.failures = [TransientDeliveryError("timeout")] * 2
    await harness.say("caco", "/help")
    assert harness.inbox("caco") == []  # failed once: retried after 1 s
    harness.clock.advance(timedelta(seconds=1))
    await harness.app.deliverer.deliver_pending()  # failed again: retried after 2 s
    harness.clock.advance(timedelta(seconds=1))
    await harness.app.deliverer.deliver_pending()
    assert harness.inbox("caco") == []
    harness.clock.advance(timedelta(seconds=1))
    await harness.app.deliverer.deliver_pending()
    assert "Hallo Caco Test" in harness.last("caco")


async def test_a_committed_message_goes_out_without_waiting_for_the_table(
    harness: Harness,
) -> None:
    """The commit hands its rows to the delivery workers: no dispatch reads them back."""
    await harness.app.deliverer.deliver_pending()  # the first dispatch (after a start)
    await harness.app.router.handle(parse_text(Sender(Origin.CONSOLE, "caco"), "/help"))
    await harness.app.deliverer.settle()
    assert "Hallo Caco Test" in harness.last("caco")
    assert await count(harness.app.engine, "outbox WHERE status = 'pending'") == 0


async def test_rate_limit_waits_retry_after(harness: Harness) -> None:
    harness.transport.failures = [RateLimited(retry_after=7)]
    await harness.say("caco", "/help")
    harness.clock.advance(timedelta(seconds=6))
    await harness.app.deliverer.deliver_pending()
    assert harness.inbox("caco") == []
    harness.clock.advance(timedelta(seconds=1))
    await harness.app.deliverer.deliver_pending()
    assert len(harness.inbox("caco")) == 1


async def test_a_retry_never_pages_twice(harness: Harness) -> None:
    """With two transports, one failing: the retry only repeats the failed one."""
    second = RecordingTransport(name="second")
    harness.app.deliverer.transports.append(second)
    second.failures = [TransientDeliveryError("5xx")]
    await harness.raise_alarm()
    assert len(harness.inbox("rol-b")) == 1
    assert second.inbox("rol-b") == [] or len(second.inbox("rol-b")) == 1
    for _ in range(5):
        harness.clock.advance(timedelta(seconds=30))
        await harness.app.deliverer.deliver_pending()
    assert len(harness.inbox("rol-b")) == 1, "the working transport paged once"
    assert len(second.inbox("rol-b")) == 1, "the failing one paged once it recovered"
    assert await count(harness.app.engine, "outbox WHERE status = 'pending'") == 0


async def test_a_crash_mid_message_keeps_what_already_went_out(harness: Harness) -> None:
    """Something unexpected breaks off a row after one transport delivered it: that delivery
    is still recorded, so the next round sends only what is missing."""
    second = RecordingTransport(name="second")
    harness.app.deliverer.transports.append(second)
    second.failures_for["caco"] = [RuntimeError("bug")]  # type: ignore[list-item]
    with pytest.raises(RuntimeError):
        await harness.say("caco", "/help")
    assert len(harness.inbox("caco")) == 1 and second.inbox("caco") == []
    await harness.app.deliverer.deliver_pending()
    assert len(harness.inbox("caco")) == 1, "not sent twice"
    assert len(second.inbox("caco")) == 1
    assert await count(harness.app.engine, "outbox WHERE status = 'pending'") == 0


async def test_permanent_failure_is_not_retried_forever(harness: Harness) -> None:
    harness.transport.failures = [PermanentDeliveryError("blocked")]
    await harness.say("caco", "/help")
    harness.clock.advance(timedelta(minutes=5))
    await harness.app.deliverer.deliver_pending()
    assert harness.inbox("caco") == []
    assert await count(harness.app.engine, "outbox WHERE status = 'pending'") == 0
    assert await count(harness.app.engine, "delivery WHERE failed") == 1


async def test_rejected_input_commits_nothing_but_the_answer(harness: Harness) -> None:
    await harness.say("rol-a", "/alarm Soest: gaslek")
    assert await count(harness.app.engine, "outbox") == 1
    assert await count(harness.app.engine, "incident") == 0


async def test_blocked_person_escalates_at_once_and_the_caco_is_told(harness: Harness) -> None:
    harness.transport.name = "console"  # so that writing from the console clears it
    await harness.say("caco", "/alarm Soest: gaslek")
    harness.transport.failures_for["rol-b"] = [PermanentDeliveryError("Forbidden: blocked")]
    await harness.press("caco", "Bevestigen en pagen")
    # Bert (on duty) blocked the bot: Cees (backup) is paged without waiting 10 minutes.
    assert harness.inbox("rol-c"), "the backup was paged at once"
    assert "Rol Bert is onbereikbaar (console) als ROL" in harness.texts("caco")
    async with harness.app.uows() as uow:
        bert = (await uow.directory.load()).person_by_key("rol-b")
    assert bert is not None and bert.unreachable == frozenset({"console"})
    # When Bert writes again, he is reachable again.
    await harness.say("rol-b", "/status")
    assert harness.inbox("rol-b")


async def test_blocked_on_one_platform_but_paged_on_the_other_does_not_escalate(
    harness: Harness,
) -> None:
    """Bert blocked the bot on one platform but got the page on the other: he has it, so
    the page waits for his answer instead of moving on to the backup."""
    slack = RecordingTransport(name="slack")
    harness.app.deliverer.transports.append(slack)
    await harness.say("caco", "/alarm Soest: gaslek")
    harness.transport.failures_for["rol-b"] = [PermanentDeliveryError("Forbidden: blocked")]
    await harness.press("caco", "Bevestigen en pagen")
    assert len(slack.inbox("rol-b")) == 1, "paged on the other platform"
    assert harness.inbox("rol-c") == [] and slack.inbox("rol-c") == [], "no escalation"
    assert not any("onbereikbaar" in text for text in harness.texts("caco"))
    async with harness.app.uows() as uow:
        bert = (await uow.directory.load()).person_by_key("rol-b")
    assert bert is not None and bert.unreachable == frozenset({"fake"})


async def test_a_page_message_that_cannot_be_edited_leaves_its_reader_pageable(
    harness: Harness,
) -> None:
    """Bert deleted his page; when Cees takes it, Telegram refuses to edit Bert's copy. That
    says nothing about reaching Bert: the next alarm pages him as usual."""
    await harness.raise_alarm()
    await harness.advance(10)  # Bert repeated, then Cees (backup) paged
    recorded = harness.transport.edit

    async def edit(person: Person, ref: str, message: Message) -> None:
        if person.key == "rol-b":
            raise PermanentDeliveryError("telegram: BadRequest: Message to edit not found")
        await recorded(person, ref, message)

    harness.transport.edit = edit  # type: ignore[method-assign]
    await harness.press("rol-c", "Ik pak het op")
    async with harness.app.uows() as uow:
        bert = (await uow.directory.load()).person_by_key("rol-b")
    assert bert is not None and bert.unreachable == frozenset()
    before = len(harness.inbox("rol-b"))
    await harness.raise_alarm("Soest: tweede melding")
    assert len(harness.inbox("rol-b")) == before + 1
    assert "tweede melding" in harness.last("rol-b")
    assert not any("onbereikbaar" in text for text in harness.texts("caco"))


async def test_a_rate_limited_chat_does_not_hold_up_others(harness: Harness) -> None:
    transport = harness.transport
    transport.failures_for["rol-b"] = [RateLimited(retry_after=30)]
    await harness.raise_alarm()
    assert transport.inbox("rol-b") == []  # paused for 30 s
    assert "ROL gepaged" in harness.texts("caco"), "the caco's messages kept flowing"
    await harness.say("caco", "/status")
    assert "Open incidenten" in (harness.inbox("caco")[-1].title or "")
    harness.clock.advance(timedelta(seconds=30))
    await harness.app.deliverer.deliver_pending()
    assert len(transport.inbox("rol-b")) == 1


async def test_a_persons_messages_keep_their_order_across_a_retry(harness: Harness) -> None:
    harness.transport.failures = [TransientDeliveryError("timeout")]
    await harness.say("caco", "/help")
    await harness.say("caco", "/status")
    assert harness.inbox("caco") == [], "the second waits for the first"
    harness.clock.advance(timedelta(seconds=1))
    await harness.app.deliverer.deliver_pending()
    texts = [m.text for m in harness.inbox("caco")]
    assert texts[0].startswith("Hallo") and texts[1] == "Er zijn geen open incidenten."


class HeldPages(RecordingTransport):
    """Holds every page in `send` until the test lets it go, noting what went out meanwhile."""

    def __init__(self) -> None:
        super().__init__()
        self.release = asyncio.Event()
        self.during_page: list[str] = []
        self.paging = False

    async def send(self, person: Person, message: Message) -> str:
        if any(b.data.endswith(":ack") for b in message.buttons):
            self.paging = True
            await self.release.wait()
            self.paging = False
        elif self.paging:
            self.during_page.append(person.key)
        return await super().send(person, message)


async def test_other_messages_wait_while_a_page_goes_out(harness: Harness) -> None:
    """The confirm queues the ROL's page and the Caco's two messages in one commit: nothing
    else goes out while the page is on its way."""
    held = HeldPages()
    harness.app.deliverer.transports[:] = [held]
    await harness.app.router.handle(
        parse_text(Sender(Origin.CONSOLE, "caco"), "/alarm Soest: gaslek Kerkstraat")
    )
    await harness.app.deliverer.settle()
    confirm = next(b.data for b in held.inbox("caco")[-1].buttons if "confirm" in b.data)
    await harness.app.router.handle(ButtonEvent(Sender(Origin.CONSOLE, "caco"), confirm))
    delivering = asyncio.create_task(harness.app.deliverer.settle())
    for _ in range(20):  # allowed: yields only, so the workers run as far as they can
        await asyncio.sleep(0)
    assert held.paging and held.inbox("rol-b") == []
    assert held.during_page == [] and len(held.inbox("caco")) == 1, "the Caco waits"
    held.release.set()
    await delivering
    assert len(held.inbox("rol-b")) == 1 and len(held.inbox("caco")) == 3
    assert held.during_page == []


async def yields(n: int = 20) -> None:
    for _ in range(n):  # allowed: yields only, so every task runs as far as it can
        await asyncio.sleep(0)


class Parked:
    """A pacer's sleep that lasts until the test lets it end (time never moves)."""

    def __init__(self) -> None:
        self.over = asyncio.Event()
        self.sleeping = 0

    async def sleep(self, _seconds: float) -> None:
        self.sleeping += 1
        try:
            await self.over.wait()
        finally:
            self.sleeping -= 1


async def send(harness: Harness, key: str, *messages: tuple[str, str | None]) -> None:
    """(text, topic) messages for `key`, queued in one commit."""
    async with harness.app.core.transaction(Origin.SYSTEM) as tx:
        person = tx.directory.person_by_key(key)
        assert person is not None
        for text, topic in messages:
            await tx.send_message(person, Message(text, None), topic=topic)


async def test_after_pages_waits_while_a_page_is_being_sent(harness: Harness) -> None:
    """What can wait (the answer to the button, the job store) waits while the page its
    commit queued is being sent: the page's worker starts before it."""
    held = HeldPages()
    deliverer = harness.app.deliverer
    deliverer.transports[:] = [held]
    caco = Sender(Origin.CONSOLE, "caco")
    await harness.app.router.handle(parse_text(caco, "/alarm Soest: gaslek Kerkstraat"))
    await deliverer.settle()
    confirm = next(b.data for b in held.inbox("caco")[-1].buttons if "confirm" in b.data)
    await harness.app.router.handle(ButtonEvent(caco, confirm))
    waiting = asyncio.create_task(deliverer.after_pages())  # as the bot's answer does
    await yields()
    assert held.paging and not waiting.done()
    held.release.set()
    await yields()
    assert waiting.done() and len(held.inbox("rol-b")) == 1
    await deliverer.settle()


async def test_a_page_waiting_for_its_chats_turn_holds_nothing_up(harness: Harness) -> None:
    """A page to a chat that must wait (paced, or a 429) does not keep other work waiting."""
    transport = RecordingTransport()
    transport.limits = DeliveryLimits(per_chat_interval=60.0, per_second=1000.0)  # type: ignore[attr-defined]
    parked = Parked()
    deliverer = Deliverer(
        harness.app.core, [transport], monotonic=lambda: 1000.0, sleep=parked.sleep
    )
    harness.app.core.on_outbox = deliverer.offer
    await deliverer.dispatch()  # primed: commits hand their rows over at once
    await send(harness, "rol-b", ("Goedemorgen", None))
    await deliverer.settle()  # Bert's chat is now paced for 60 s
    await send(harness, "rol-b", ("ALARM", "page:1"))
    waiting = asyncio.create_task(deliverer.after_pages())
    await yields()
    assert parked.sleeping == 1 and waiting.done(), "the page waits for its turn, nothing else"
    assert [m.text for m in transport.inbox("rol-b")] == ["Goedemorgen"]
    await deliverer.close()


async def test_a_message_ahead_of_its_persons_own_page_does_not_wait_for_it(
    harness: Harness, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A person's message and then their page, in one commit: the message goes out at once
    (the page is behind it in the same queue), and the page right after it."""
    monkeypatch.setattr("core.delivery.PAGES_FIRST_AT_MOST", 30.0)
    deliverer = harness.app.deliverer
    await deliverer.dispatch()  # primed: commits hand their rows over at once
    await send(harness, "rol-b", ("Goedemorgen", None), ("ALARM", "page:1"))
    await yields()
    assert [m.text for m in harness.inbox("rol-b")] == ["Goedemorgen", "ALARM"]
    await deliverer.settle()


async def test_a_page_handed_over_while_its_persons_worker_finishes_goes_out(
    harness: Harness,
) -> None:
    """Bert's worker has sent his last message and waits for its outcome to commit when a
    page for him is handed over: the same worker sends it, rather than leaving it in the
    table for the next dispatch (a second later)."""
    deliverer = harness.app.deliverer
    await deliverer.dispatch()  # primed: commits hand their rows over at once
    await send(harness, "rol-b", ("Goedemorgen", None))
    async with harness.app.core.transaction(Origin.SYSTEM) as tx:
        bert = tx.directory.person_by_key("rol-b")
        assert bert is not None
        # Meanwhile the worker sends it; on SQLite its outcome waits for this transaction.
        await yields()
        await tx.send_message(bert, Message("ALARM", None), topic="page:1")
    await deliverer.settle()  # the workers finish; no dispatch reads the table
    assert [m.text for m in harness.inbox("rol-b")] == ["Goedemorgen", "ALARM"]


async def test_an_edit_right_behind_its_send_edits_it(harness: Harness) -> None:
    """A send and an edit of the same topic, for one person, in one commit: the worker sends
    the first and edits it (the edit waits for the send's outcome to be committed), rather
    than sending the edit as a second message."""
    async with harness.app.core.transaction(Origin.SYSTEM) as tx:
        caco = tx.directory.person_by_key("caco")
        assert caco is not None
        await tx.send_message(caco, Message("eerste", None), topic="t:1")
        await tx.send_message(caco, Message("tweede", None), topic="t:1", kind="edit")
    await harness.app.deliverer.settle()
    assert [m.text for m in harness.inbox("caco")] == ["tweede"]
    assert harness.transport.sends == 1 and harness.transport.edits == 1
