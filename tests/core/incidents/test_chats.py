"""Groups and channels configured in the region file: they follow the meldkamer's stream
for their gemeenten, and nothing else about an incident goes to a group."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
import yaml
from sqlalchemy.ext.asyncio import AsyncEngine

from core.clock import FakeClock
from core.errors import DeliveryError, RecipientUnreachable, RegionFileError
from core.events import Sender, parse_text
from core.model import Origin
from core.region.file import dump_region, parse_region
from scm_bot.app import build
from storage.region import export_region, import_region
from tests.helpers import (
    REGION_FILE,
    START,
    Harness,
    NewHarness,
    RecordingTransport,
    load_region,
)

MELDKAMER_GROUP = -1001000000001
SOEST_GROUP = -1001000000002


def region_with_chats(*, extra: list[dict[str, object]] | None = None) -> str:
    data = yaml.safe_load(REGION_FILE.read_text("utf-8"))
    for person in data["people"]:
        if person["key"] == "caco":
            person["telegram_user_id"] = 1001
    data["chats"] = [
        {
            "key": "meldkamer-groep",
            "name": "Meldkamer VRU",
            "telegram_chat_id": MELDKAMER_GROUP,
            "slack_channel_id": "C0MELDKAMER",
        },
        {
            "key": "soest-groep",
            "name": "Crisisteam Soest",
            "gemeenten": ["soest"],
            "language": "en",
            "telegram_chat_id": SOEST_GROUP,
        },
        {"key": "debilt-groep", "name": "Crisisteam De Bilt", "gemeenten": ["de-bilt"]}
        | {"slack_channel_id": "G0DEBILT"},
        *(extra or []),
    ]
    return yaml.safe_dump(data, sort_keys=False, allow_unicode=True)


@pytest.fixture
async def h(engine: AsyncEngine) -> AsyncIterator[Harness]:
    """The recording transport stands in for Telegram, where the group messages come from."""
    await load_region(engine, region_with_chats())
    clock = FakeClock(START)
    transport = RecordingTransport(name="telegram")
    async with build(engine, clock, [transport]) as app:
        yield Harness(app, clock, transport)


async def in_group(h: Harness, chat_id: int, text: str, user_id: int = 1001) -> list[str]:
    sender = Sender(Origin.TELEGRAM, str(user_id), chat_id=str(chat_id), private=False)
    replies = await h.app.router.handle(parse_text(sender, text))
    await h.app.deliverer.deliver_pending()
    return [m.text for m in replies]


# The stream ---------------------------------------------------------------------------------


async def test_a_group_follows_the_alarm_of_its_gemeenten_and_no_other(h: Harness) -> None:
    await h.raise_alarm("Soest: gaslek Kerkstraat")
    stream = h.texts("meldkamer-groep")
    assert stream.startswith("Nieuw incident:")
    assert "VRU-2026-0001" in stream and "gaslek Kerkstraat" in stream
    assert "ROL gepaged – Rol Bert" in stream
    soest = h.texts("soest-groep")
    assert soest.startswith("New incident:")  # the group's own language
    assert "ROL paged – Rol Bert" in soest
    assert h.inbox("debilt-groep") == []  # De Bilt's group hears nothing of Soest

    await h.advance(6)  # Bert does not answer: repeated
    await h.press("rol-b", "I'll take it")
    await h.say("caco", "/sluit VRU-2026-0001")
    await h.press("caco", "Ja, sluiten")
    stream = h.texts("meldkamer-groep")
    assert "opgepakt door Rol Bert" in stream
    assert "gesloten" in stream.lower()
    # A group only reads along: it never gets a button to press.
    for key in ("meldkamer-groep", "soest-groep"):
        assert all(not m.buttons for m in h.inbox(key))
    assert h.inbox("debilt-groep") == []
    # The Caco still gets every step in private, as before.
    assert "opgepakt door Rol Bert" in h.texts("caco")


async def test_an_incident_in_two_gemeenten_reaches_both_groups_once(h: Harness) -> None:
    await h.raise_alarm("Soest, De Bilt: stroomstoring")
    for key in ("meldkamer-groep", "soest-groep", "debilt-groep"):
        raised = [m for m in h.inbox(key) if "incident" in m.text.lower().split(":")[0]]
        assert len(raised) == 1, h.texts(key)


async def test_without_configured_chats_nothing_goes_to_a_group(new_harness: NewHarness) -> None:
    h = await new_harness()
    await h.raise_alarm()
    assert set(h.transport.screens) <= {"caco", "rol-b"}


# A group the bot can no longer reach --------------------------------------------------------


async def test_an_unreachable_group_is_reported_once_and_comes_back(h: Harness) -> None:
    kicked: list[DeliveryError] = [RecipientUnreachable("Forbidden: kicked")] * 10
    h.transport.failures_for["meldkamer-groep"] = kicked
    await h.raise_alarm("Soest: gaslek")
    warnings = [m.text for m in h.inbox("caco") if "niet meer bereikbaar" in m.text]
    assert len(warnings) == 1 and "Meldkamer VRU" in warnings[0]
    assert h.inbox("meldkamer-groep") == []
    # The page itself went on as usual (Bert reads English).
    assert "CALL-OUT VRU-2026-0001" in h.last("rol-b")

    # Further messages are not even tried, and the Caco is not told again.
    tried = 10 - len(kicked)
    await h.press("rol-b", "I'll take it")
    assert 10 - len(kicked) == tried
    assert len([m for m in h.inbox("caco") if "niet meer bereikbaar" in m.text]) == 1
    kicked.clear()

    # The bot hears the group again (someone typed a command there): it is reachable.
    await in_group(h, MELDKAMER_GROUP, "/status")
    directory = await h.app.directory()
    chat = next(c for c in directory.chats.values() if c.key == "meldkamer-groep")
    assert chat.unreachable == frozenset()
    await h.raise_alarm("Soest: tweede melding")
    assert "tweede melding" in h.texts("meldkamer-groep")


async def test_re_importing_the_region_file_clears_the_mark(
    engine: AsyncEngine, h: Harness
) -> None:
    h.transport.failures_for["soest-groep"] = [RecipientUnreachable("Forbidden: kicked")]
    await h.raise_alarm("Soest: gaslek")
    chats = (await h.app.directory()).chats.values()
    assert next(c for c in chats if c.key == "soest-groep").unreachable == {"telegram"}
    report = await import_region(engine, parse_region(region_with_chats()))
    assert report.updated == ["chat soest-groep"]
    chats = (await h.app.directory()).chats.values()
    assert next(c for c in chats if c.key == "soest-groep").unreachable == frozenset()


# Commands in groups -------------------------------------------------------------------------


async def test_commands_in_a_configured_group_are_refused_with_a_pointer(h: Harness) -> None:
    await h.raise_alarm("Soest: gaslek")
    before = len(h.inbox("meldkamer-groep"))
    replies = await in_group(h, MELDKAMER_GROUP, "/status")
    assert replies == [
        "In deze groep meld ik alleen wat de meldkamer ziet. Commando's werken in een "
        "privégesprek: stuur me een direct bericht."
    ]
    assert len(h.inbox("meldkamer-groep")) == before  # no status list in the group
    # Any other group gets the general answer.
    assert "alleen in een privégesprek" in (await in_group(h, -100777, "/status"))[0]
    # A stranger in the configured group gets nothing at all.
    assert await in_group(h, MELDKAMER_GROUP, "/status", user_id=555) == []


async def test_a_group_is_not_a_person(h: Harness) -> None:
    directory = await h.app.directory()
    assert {c.key for c in directory.chats.values()} == {
        "meldkamer-groep",
        "soest-groep",
        "debilt-groep",
    }
    assert directory.person_by_key("meldkamer-groep") is None
    by_key = {c.key: c for c in directory.chats.values()}
    soest = next(g.id for g in directory.gemeenten if g.key == "soest")
    # Naming no gemeente follows all of them; naming some follows exactly those.
    assert by_key["meldkamer-groep"].chat_for == frozenset(g.id for g in directory.gemeenten)
    assert by_key["soest-groep"].chat_for == frozenset({soest})
    assert all(not p.is_chat for p in directory.people.values())
    # Nobody can act as the group, not even on the console.
    assert "niet geregistreerd" in (await h.say("meldkamer-groep", "/status"))[0].text


# The region file ----------------------------------------------------------------------------


async def test_chats_round_trip_through_import_and_export(engine: AsyncEngine) -> None:
    doc = parse_region(region_with_chats())
    await import_region(engine, doc)
    again = await import_region(engine, doc)
    assert not again.changed
    exported = await export_region(engine)
    assert exported is not None
    assert exported.chats == doc.chats
    assert [p.key for p in exported.people] == [p.key for p in doc.people]
    assert parse_region(dump_region(exported)) == exported

    fewer = parse_region(region_with_chats()).model_copy(update={"chats": doc.chats[:2]})
    report = await import_region(engine, fewer)
    assert report.deactivated == ["chat debilt-groep"]
    exported = await export_region(engine)
    assert exported is not None and [c.key for c in exported.chats] == [
        "meldkamer-groep",
        "soest-groep",
    ]


def problems(extra: list[dict[str, object]]) -> list[str]:
    with pytest.raises(RegionFileError) as caught:
        parse_region(region_with_chats(extra=extra))
    return [str(p) for p in caught.value.problems]


def test_a_chat_needs_a_place_to_send_to() -> None:
    (problem,) = problems([{"key": "leeg", "name": "Nergens"}])
    assert problem.startswith("chats[3]") and "telegram_chat_id en/of slack_channel_id" in problem


def test_a_telegram_chat_id_of_a_person_is_refused() -> None:
    (problem,) = problems([{"key": "prive", "name": "Privé", "telegram_chat_id": 1003}])
    assert problem.startswith("chats[3].telegram_chat_id")


def test_a_slack_user_id_is_not_a_channel() -> None:
    (problem,) = problems([{"key": "dm", "name": "DM", "slack_channel_id": "UROLB0001"}])
    assert problem.startswith("chats[3].slack_channel_id")


def test_chat_references_and_duplicates_are_checked() -> None:
    found = problems(
        [
            {"key": "caco", "name": "Zelfde sleutel", "telegram_chat_id": -5},
            {"key": "x", "name": "X", "gemeenten": ["atlantis"], "slack_channel_id": "C0X"},
            {"key": "y", "name": "Y", "telegram_chat_id": MELDKAMER_GROUP},
        ]
    )
    assert any("chats[3].key" in p and "al een persoon" in p for p in found)
    assert any("chats[4].gemeenten[0]" in p and "onbekende gemeente 'atlantis'" in p for p in found)
    assert any("chats[5].telegram_chat_id" in p and "dubbele" in p for p in found)
    assert len(found) == 3


def test_a_person_cannot_have_a_group_as_their_telegram_id() -> None:
    text = region_with_chats().replace(
        "telegram_user_id: 1001", f"telegram_user_id: {MELDKAMER_GROUP - 5}"
    )
    with pytest.raises(RegionFileError) as caught:
        parse_region(text)
    (problem,) = caught.value.problems
    assert str(problem).startswith("people[0].telegram_user_id")
