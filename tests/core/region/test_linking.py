"""Account linking with one-time codes: good, expired, reused and guessed codes."""

from __future__ import annotations

from datetime import timedelta

from core.events import CommandEvent, Sender
from core.model import Origin
from core.region.linking import MAX_FAILED_PER_HOUR, create_invite, new_code
from tests.helpers import Harness

TG = Sender(Origin.TELEGRAM, "5550001", chat_id="5550001")


async def _invite(harness: Harness, key: str = "rol-a", hours: int = 24) -> str:
    async with harness.app.core.transaction(Origin.CLI) as tx:
        person = tx.directory.person_by_key(key)
        assert person is not None
        invite = await create_invite(tx, person, timedelta(hours=hours))
    return invite.code


async def test_codes_carry_enough_randomness() -> None:
    codes = {new_code() for _ in range(1000)}
    assert len(codes) == 1000
    assert all(len(c) == 16 and c.isalnum() and c.isupper() for c in codes)  # 80 bits


async def test_a_good_code_links_once(harness: Harness) -> None:
    code = await _invite(harness)
    replies = await harness.app.router.handle(CommandEvent(TG, "start", code))
    assert replies == []
    await harness.app.deliverer.deliver_pending()
    assert "Je Telegram-account is gekoppeld" in harness.last("rol-a")
    async with harness.app.uows() as uow:
        person = (await uow.directory.load()).person_by_key("rol-a")
    assert person is not None and person.telegram_user_id == 5550001
    # Now linked: the same account gets real answers.
    await harness.app.router.handle(CommandEvent(TG, "status"))
    await harness.app.deliverer.deliver_pending()
    assert harness.last("rol-a") == "Er zijn geen open incidenten."
    # The code was single use.
    other = Sender(Origin.SLACK, "U0OTHER", chat_id="D1")
    replies = await harness.app.router.handle(CommandEvent(other, "koppel", code))
    assert [r.text for r in replies] == [
        "Die koppelcode is ongeldig, al gebruikt of verlopen. Vraag je piketcoördinator "
        "om een nieuwe."
    ]
    async with harness.app.uows() as uow:
        actions = [(r.action, r.result) for r in await uow.audit.all()]
    assert ("link.linked", "ok") in actions
    assert ("link.attempt", "denied: invalid or expired") in actions


async def test_an_expired_code_is_refused(harness: Harness) -> None:
    code = await _invite(harness, hours=24)
    harness.clock.advance(timedelta(hours=24, seconds=1))
    replies = await harness.app.router.handle(CommandEvent(TG, "start", code))
    assert "ongeldig, al gebruikt of verlopen" in replies[0].text


async def test_guessing_is_limited_per_account(harness: Harness) -> None:
    code = await _invite(harness)
    for _ in range(MAX_FAILED_PER_HOUR):
        replies = await harness.app.router.handle(CommandEvent(TG, "start", "AAAAAAAAAAAAAAAA"))
        assert "ongeldig" in replies[0].text
    # Even the right code is refused now, for an hour.
    replies = await harness.app.router.handle(CommandEvent(TG, "start", code))
    assert replies[0].text == "Te veel mislukte pogingen. Probeer het over een uur opnieuw."
    harness.clock.advance(timedelta(hours=1, seconds=1))
    replies = await harness.app.router.handle(CommandEvent(TG, "start", code))
    assert replies == []


async def test_a_code_in_a_group_is_refused(harness: Harness) -> None:
    code = await _invite(harness)
    group = Sender(Origin.TELEGRAM, "5550001", chat_id="-100123", private=False)
    replies = await harness.app.router.handle(CommandEvent(group, "start", code))
    assert "privégesprek" in replies[0].text
    replies = await harness.app.router.handle(CommandEvent(TG, "start", code))
    assert replies == [], "the code still works in private"


async def test_registered_people_get_nothing_in_groups(harness: Harness) -> None:
    code = await _invite(harness, "caco")
    await harness.app.router.handle(CommandEvent(TG, "start", code))
    group = Sender(Origin.TELEGRAM, "5550001", chat_id="-100123", private=False)
    replies = await harness.app.router.handle(CommandEvent(group, "status"))
    assert [r.text for r in replies] == [
        "Over incidenten praat ik alleen in een privégesprek. Stuur me een direct bericht."
    ]
