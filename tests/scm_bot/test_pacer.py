"""The pacer keeps a platform's limits per chat and overall, without real sleeping: a fake
clock suspends each sleeper until time is moved past its wake-up."""

from __future__ import annotations

import asyncio
from collections.abc import Coroutine
from typing import Any

from core.ports import DeliveryLimits
from scm_bot.pacer import Pacer


class FakeTime:
    def __init__(self, late: float = 0.0) -> None:
        self.now = 0.0
        self.late = late  # every sleeper wakes this much after its time (a busy loop)
        self._sleepers: list[tuple[float, asyncio.Future[None]]] = []

    def monotonic(self) -> float:
        return self.now

    async def sleep(self, seconds: float) -> None:
        wake: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._sleepers.append((self.now + seconds + self.late, wake))
        await wake

    async def sent_at(self, *waits: tuple[str, Coroutine[Any, Any, None]]) -> dict[str, float]:
        """Start the waits together and move time from one wake-up to the next; when each
        wait let its message go."""
        sent: dict[str, float] = {}

        async def timed(name: str, wait: Coroutine[Any, Any, None]) -> None:
            await wait
            sent[name] = round(self.now, 6)

        tasks = [asyncio.create_task(timed(name, wait)) for name, wait in waits]
        while not all(task.done() for task in tasks):
            for _ in range(5):  # allowed: yields only, so every task runs as far as it can
                await asyncio.sleep(0)
            if self._sleepers:
                self._sleepers.sort(key=lambda s: s[0])
                due, wake = self._sleepers.pop(0)
                self.now = max(self.now, due)
                wake.set_result(None)
        return sent


def pacer(clock: FakeTime, **limits: float) -> Pacer:
    return Pacer(DeliveryLimits(**limits), clock.monotonic, clock.sleep)


async def test_per_chat_interval_and_overall_rate() -> None:
    clock = FakeTime()
    p = pacer(clock, per_chat_interval=1.0, per_second=4.0)
    sent = await clock.sent_at(*((f"chat {c}", p.wait(c)) for c in (1, 2, 3, 4, 5)))
    # Five chats at 4/s overall: one every quarter second.
    assert sent == {"chat 1": 0, "chat 2": 0.25, "chat 3": 0.5, "chat 4": 0.75, "chat 5": 1.0}
    # Chat 1 sent at 0 may send again at 1.0; the next overall slot is 1.25.
    assert await clock.sent_at(("chat 1 again", p.wait(1))) == {"chat 1 again": 1.25}


async def test_late_wake_ups_do_not_slow_the_overall_rate() -> None:
    """A busy loop wakes each sender a little late: the slots keep their grid, so a long
    fan-out still averages the platform's rate instead of falling behind it."""
    clock = FakeTime(late=0.05)
    p = pacer(clock, per_chat_interval=1.0, per_second=4.0)
    sent = await clock.sent_at(*((f"chat {c}", p.wait(c)) for c in (1, 2, 3, 4, 5)))
    assert sent == {"chat 1": 0, "chat 2": 0.3, "chat 3": 0.55, "chat 4": 0.8, "chat 5": 1.05}


async def test_a_pause_holds_only_that_chat() -> None:
    clock = FakeTime()
    p = pacer(clock, per_chat_interval=0.0, per_second=1000.0)
    p.pause(7, 30)
    assert p.paused_for(7) == 30
    assert p.paused_for(8) == 0
    sent = await clock.sent_at(("chat 7", p.wait(7)), ("chat 8", p.wait(8)))
    assert sent == {"chat 7": 30.0, "chat 8": 0.0}


async def test_a_paced_group_never_holds_up_a_page_to_someone_else() -> None:
    clock = FakeTime()
    p = pacer(clock, per_chat_interval=1.0, per_second=29.0, per_group_interval=3.0)
    sent = await clock.sent_at(
        ("group 1", p.wait(-100, group=True)),
        ("group 2", p.wait(-100, group=True)),
        ("page", p.wait(42)),
    )
    # Telegram: about 20 a minute in a group; the page takes the next overall slot.
    assert sent["group 1"] == 0.0 and sent["group 2"] == 3.0
    assert sent["page"] < 0.1


async def test_a_group_is_spaced_by_its_own_stricter_interval() -> None:
    for group, spacing in ((True, 3.0), (False, 1.0)):
        clock = FakeTime()
        p = pacer(clock, per_chat_interval=1.0, per_second=1000.0, per_group_interval=3.0)
        first = await clock.sent_at(("1", p.wait(1, group=group)))
        second = await clock.sent_at(("2", p.wait(1, group=group)))
        assert second["2"] - first["1"] == spacing


async def test_a_page_takes_the_next_slot_before_messages_that_asked_earlier() -> None:
    clock = FakeTime()
    p = pacer(clock, per_chat_interval=0.0, per_second=1.0)
    sent = await clock.sent_at(
        *((f"chatter {c}", p.wait(c)) for c in range(1, 5)),
        ("page", p.wait(99, urgent=True)),
    )
    # One slot a second: the page asked last and goes first; the rest follow in order.
    assert sent == {
        "page": 0,
        "chatter 1": 1.0,
        "chatter 2": 2.0,
        "chatter 3": 3.0,
        "chatter 4": 4.0,
    }


async def test_other_messages_wait_while_a_page_is_on_its_way() -> None:
    """A page's request goes out before anything else is prepared: a message for someone
    else waits until the page is answered; a second page does not wait for the first."""
    clock = FakeTime()
    p = pacer(clock, per_chat_interval=0.0, per_second=1000.0)
    order: list[str] = []
    answered = asyncio.Event()

    async def page(chat: int, name: str) -> None:
        await p.wait(chat, urgent=True)
        async with p.page():
            order.append(f"{name} sent")
            await answered.wait()
        order.append(f"{name} answered")

    async def message() -> None:
        await p.wait(3)
        order.append("message sent")

    async def settle() -> None:
        for _ in range(5):
            await asyncio.sleep(0)  # yields only: everyone goes as far as they may

    tasks = [asyncio.create_task(page(1, "page 1")), asyncio.create_task(message())]
    await settle()
    assert order == ["page 1 sent"]
    clock.now = 1.0  # the next overall slot is free
    tasks.append(asyncio.create_task(page(2, "page 2")))
    await settle()
    assert order == ["page 1 sent", "page 2 sent"]
    answered.set()
    await asyncio.gather(*tasks)
    assert order == [
        "page 1 sent",
        "page 2 sent",
        "page 1 answered",
        "page 2 answered",
        "message sent",
    ]


async def test_a_chat_waits_a_whole_interval_after_its_last_request_was_answered() -> None:
    """A request that took long on its way (the ledger's commit, the network) must not reach
    the platform less than the chat's interval before the next one."""
    clock = FakeTime()
    p = pacer(clock, per_chat_interval=1.0, per_second=1000.0)
    assert await clock.sent_at(("first", p.wait(5))) == {"first": 0.0}
    clock.now = 0.4  # its answer came 0.4 s after its slot
    p.answered(5)
    sent = await clock.sent_at(("second", p.wait(5)), ("other chat", p.wait(6)))
    assert sent == {"second": 1.4, "other chat": 0.4}
