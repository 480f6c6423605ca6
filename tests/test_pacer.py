"""The pacer keeps a platform's limits per chat and overall, without real sleeping."""

from __future__ import annotations

import asyncio

from core.delivery import Pacer
from core.ports import DeliveryLimits


class FakeTime:
    def __init__(self) -> None:
        self.now = 0.0
        self.slept: list[float] = []

    def monotonic(self) -> float:
        return self.now

    async def sleep(self, seconds: float) -> None:
        self.slept.append(round(seconds, 6))


async def test_per_chat_interval_and_overall_rate() -> None:
    clock = FakeTime()
    pacer = Pacer(
        DeliveryLimits(per_chat_interval=1.0, per_second=4.0), clock.monotonic, clock.sleep
    )
    await asyncio.gather(*(pacer.wait(chat) for chat in (1, 2, 3, 4, 5)))
    # Five chats at 4/s overall: slots at 0, .25, .5, .75, 1.0.
    assert clock.slept == [0.25, 0.5, 0.75, 1.0]
    clock.slept.clear()
    await pacer.wait(1)  # chat 1 sent at 0: next allowed at 1.0, overall slot at 1.25
    assert clock.slept == [1.25]


async def test_a_pause_holds_only_that_chat() -> None:
    clock = FakeTime()
    pacer = Pacer(
        DeliveryLimits(per_chat_interval=0.0, per_second=1000.0), clock.monotonic, clock.sleep
    )
    pacer.pause(7, 30)
    assert pacer.paused_for(7) == 30
    assert pacer.paused_for(8) == 0
    await pacer.wait(8)
    assert clock.slept == []
    await pacer.wait(7)
    assert clock.slept == [30.0]


async def test_a_group_is_spaced_by_its_own_stricter_interval() -> None:
    limits = DeliveryLimits(per_chat_interval=1.0, per_second=1000.0, per_group_interval=3.0)
    slept = {}
    for group in (True, False):
        clock = FakeTime()
        pacer = Pacer(limits, clock.monotonic, clock.sleep)
        await pacer.wait(1, group=group)
        await pacer.wait(1, group=group)
        slept[group] = clock.slept
    # Telegram: about 20 a minute in a group; a private chat keeps its one second.
    assert slept == {True: [3.0], False: [1.0]}
