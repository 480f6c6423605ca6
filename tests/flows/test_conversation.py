"""A conversation stored by an older version: it resumes when it still parses, and is ended
with a clear message when it does not, instead of failing every message the person sends."""

from __future__ import annotations

from typing import Any

from core.model import PersonId
from tests.helpers import Harness


async def _person_id(harness: Harness, key: str) -> PersonId:
    async with harness.app.uows() as uow:
        directory = await uow.directory.load()
    return next(p.id for p in directory.people.values() if p.key == key)


async def _store(harness: Harness, key: str, state: dict[str, Any]) -> None:
    person = await _person_id(harness, key)
    async with harness.app.uows() as uow:
        await uow.conversations.set(person, state, harness.clock.now())
        await uow.commit()


async def test_an_alarm_stored_before_drafts_and_one_liners_resumes(harness: Harness) -> None:
    # As an older version stored it: no "draft" and no "oneline".
    await _store(
        harness,
        "caco",
        {
            "flow": "alarm",
            "step": "description",
            "gemeenten": [1],
            "unresolved": [],
            "kind": "alarmering",
            "description": "",
            "location": "",
            "opschaling": "",
            "history": ["gemeente", "kind"],
        },
    )
    await harness.say("caco", "gaslek Kerkstraat")
    assert harness.last("caco") == "Locatie? (of Overslaan)"


async def test_a_stored_state_that_no_longer_parses_is_ended_with_a_message(
    harness: Harness,
) -> None:
    await _store(harness, "caco", {"flow": "alarm", "step": "weggehaalde-stap"})
    await harness.say("caco", "gaslek Kerkstraat")
    assert [m.text for m in harness.inbox("caco")] == [
        "Je gesprek met de bot kon na een update niet worden hervat en is afgebroken. "
        "Begin opnieuw."
    ]
    caco = await _person_id(harness, "caco")
    async with harness.app.uows() as uow:
        assert await uow.conversations.get(caco) is None
