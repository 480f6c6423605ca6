"""Every kind of bad input gets a clear Dutch answer and changes nothing."""

from __future__ import annotations

from core.events import ButtonEvent, Sender, TextEvent, parse_text
from core.model import Origin
from tests.conftest import count
from tests.helpers import Harness

STATE_TABLES = ("incident", "page", "timer", "page_target")


async def _state(harness: Harness) -> dict[str, int]:
    return {t: await count(harness.app.engine, t) for t in STATE_TABLES}


async def test_unknown_command(harness: Harness) -> None:
    await harness.say("caco", "/vliegtuig")
    assert harness.last("caco") == "Onbekend commando /vliegtuig. Typ /help voor wat ik kan."


async def test_stranger_gets_one_short_reply_and_no_information(harness: Harness) -> None:
    await harness.raise_alarm()
    for text in ("/status", "/alarm Soest: test", "hallo", "/help"):
        replies = await harness.say("nobody", text)
        assert [m.text for m in replies] == [
            "Je bent niet geregistreerd. Vraag je piketcoördinator om een koppelcode."
        ]
    replies = await harness.app.router.handle(TextEvent(Sender(Origin.TELEGRAM, "999"), "hoi"))
    assert len(replies) == 1 and "VRU" not in replies[0].text
    async with harness.app.uows() as uow:
        denied = [r for r in await uow.audit.all() if r.result.startswith("denied")]
    assert any(r.actor == "console:nobody" for r in denied)
    assert any(r.actor == "telegram:999" for r in denied)


async def test_unknown_gemeente_is_asked_again(harness: Harness) -> None:
    before = await _state(harness)
    await harness.say("caco", "/alarm Atlantis: overstroming")
    assert "Gemeente 'Atlantis' ken ik niet" in harness.texts("caco")
    assert "Welke gemeente" in harness.last("caco")
    assert await _state(harness) == before


async def test_empty_description(harness: Harness) -> None:
    await harness.say("caco", "/alarm Soest:")  # the description is asked for
    assert harness.last("caco") == "Korte omschrijving van het incident?"
    await harness.say("caco", "/annuleer")
    await harness.say("caco", "/alarm")
    await harness.say("caco", "Soest")
    await harness.press("caco", "Alarmering")
    await harness.say("caco", "   ")
    assert "De omschrijving is leeg" in harness.texts("caco")
    assert "Korte omschrijving" in harness.last("caco")
    assert await count(harness.app.engine, "incident") == 0


async def test_second_alarm_while_one_is_half_filled(harness: Harness) -> None:
    await harness.say("caco", "/alarm")
    await harness.say("caco", "Soest")
    await harness.say("caco", "/alarm Zeist: iets anders")
    assert "Je bent al een alarm aan het invullen" in harness.last("caco")
    # The first draft is still there, at the same question.
    await harness.press("caco", "Alarmering")
    assert "Korte omschrijving" in harness.last("caco")


async def test_cancel_in_the_middle_pages_nobody(harness: Harness) -> None:
    await harness.say("caco", "/alarm Soest: gaslek")
    await harness.press("caco", "Annuleren")
    assert "Alarm geannuleerd" in harness.last("caco")
    await harness.say("caco", "/annuleer")
    assert "/annuleer werkt alleen tijdens het invullen" in harness.last("caco")
    assert await count(harness.app.engine, "incident") == 0
    assert harness.inbox("rol-b") == []


async def test_button_on_a_closed_incident(harness: Harness) -> None:
    await harness.raise_alarm()
    ack = harness.button("rol-b", "I'll take it")
    await harness.say("caco", "/sluit VRU-2026-0001")
    await harness.press("caco", "Ja, sluiten")
    before = await _state(harness)
    await harness.press_data("rol-b", ack)
    assert harness.last("rol-b") == "Incident VRU-2026-0001 is already closed."
    assert await _state(harness) == before


async def test_button_pressed_by_someone_it_was_not_sent_to(harness: Harness) -> None:
    await harness.raise_alarm()
    ack = harness.button("rol-b", "I'll take it")
    await harness.press_data("rol-a", ack)
    assert harness.last("rol-a") == "Deze oproep is niet aan jou gericht."
    await harness.press_data("bgm-soest", ack)
    assert harness.last("bgm-soest") == "Deze oproep is niet aan u gericht."
    await harness.advance(5)
    assert "opnieuw gepaged" in harness.texts("caco"), "the page still escalates"


async def test_forged_or_stale_button_data(harness: Harness) -> None:
    for data in ("pg:99999:ack", "nonsense", "xx:1:yy", "pg:abc:ack", "a" * 100):
        await harness.press_data("caco", data)
        assert "knop" in harness.last("caco")


async def test_flow_button_without_a_flow(harness: Harness) -> None:
    await harness.say("caco", "/alarm Soest: gaslek")
    confirm = harness.button("caco", "Bevestigen en pagen")
    await harness.press("caco", "Annuleren")
    await harness.press_data("caco", confirm)
    assert "hoort bij een alarm dat niet meer wordt ingevuld" in harness.last("caco")
    assert await count(harness.app.engine, "incident") == 0


async def test_only_the_caco_raises_alerts(harness: Harness) -> None:
    await harness.say("rol-a", "/alarm Soest: gaslek")
    assert harness.last("rol-a") == "Alleen de Caco kan een alarm versturen."
    await harness.say("bgm-soest", "/sluit VRU-2026-0001")
    assert "U mag geen incidenten sluiten" in harness.last("bgm-soest")
    assert await count(harness.app.engine, "incident") == 0
    # Each denial is audited: who, what they asked and why it was refused.
    async with harness.app.uows() as uow:
        denied = [
            (r.actor, r.detail["request"], r.result)
            for r in await uow.audit.all()
            if r.action == "input.rejected"
        ]
    assert denied == [("rol-a", "/alarm", "rejected"), ("bgm-soest", "/sluit", "rejected")]


async def test_unexpected_text_and_bad_choices(harness: Harness) -> None:
    await harness.say("caco", "hallo?")
    assert "Ik verwacht nu geen tekst" in harness.last("caco")
    await harness.say("caco", "/alarm Soest")
    await harness.say("caco", "misschien")
    assert "Kies alarmering of alertering" in harness.texts("caco")
    await harness.say("caco", "1")
    await harness.say("caco", "brand")
    await harness.say("caco", "Dorpsstraat 1")
    await harness.say("caco", "GRIP 9")
    assert "Kies GRIP 1–4, SPC, MCP of Onbekend" in harness.texts("caco")
    await harness.say("caco", "mcp")
    assert "Opschaling: MCP" in harness.last("caco")


async def test_closing_an_unknown_or_missing_incident(harness: Harness) -> None:
    await harness.say("caco", "/sluit")
    assert "Noem het incident" in harness.last("caco")
    await harness.say("caco", "/sluit VRU-2026-0042")
    assert harness.last("caco") == "Geen open incident VRU-2026-0042 gevonden."


async def test_burgemeester_sees_only_own_gemeente(harness: Harness) -> None:
    await harness.raise_alarm("Soest: gaslek")
    await harness.say("bgm-debilt", "/status")
    assert harness.last("bgm-debilt") == "Er zijn geen open incidenten."
    await harness.say("bgm-soest", "/status")
    assert "VRU-2026-0001" in harness.last("bgm-soest")
    await harness.say("gs-soest", "/status")
    assert harness.last("gs-soest") == "Er zijn geen open incidenten."


async def test_language_switch(harness: Harness) -> None:
    await harness.say("caco", "/taal klingon")
    assert "Kies een taal" in harness.last("caco")
    await harness.say("caco", "/language en")
    assert harness.last("caco") == "I will speak English with you from now on."
    await harness.say("caco", "/status")
    assert harness.last("caco") == "There are no open incidents."


async def test_a_redelivered_event_has_exactly_one_effect(harness: Harness) -> None:
    await harness.raise_alarm()
    ack = harness.button("rol-b", "I'll take it")
    event = ButtonEvent(Sender(Origin.CONSOLE, "rol-b", event_id="update-77"), ack)
    await harness.app.router.handle(event)
    await harness.app.router.handle(event)  # the platform delivers it again
    await harness.app.deliverer.deliver_pending()
    assert harness.texts("rol-b").count("You took VRU-2026-0001") == 1
    # Out-of-order ids are fine: an older id that was never seen is handled.
    await harness.app.router.handle(
        parse_text(Sender(Origin.CONSOLE, "caco", "update-3"), "/status")
    )
    await harness.app.deliverer.deliver_pending()
    assert "VRU-2026-0001" in harness.last("caco")


async def test_a_redelivered_rejected_event_is_answered_once(harness: Harness) -> None:
    event = parse_text(Sender(Origin.CONSOLE, "caco", "update-9"), "/onzin")
    await harness.app.router.handle(event)
    await harness.app.router.handle(event)
    await harness.app.deliverer.deliver_pending()
    assert len(harness.inbox("caco")) == 1


async def test_strangers_in_groups_get_silence(harness: Harness) -> None:
    group = Sender(Origin.TELEGRAM, "4242", chat_id="-1001", private=False)
    assert await harness.app.router.handle(parse_text(group, "/status")) == []
    assert await harness.app.router.handle(parse_text(group, "hallo allemaal")) == []


STALE = "Deze knop hoort bij iets wat niet meer bestaat of al is afgehandeld."
STALE_EN = "This button belongs to something that no longer exists or was already handled."
# Ids are INTEGER keys (PostgreSQL's 32-bit `integer`): a larger number was never ours, and
# one beyond 2**63 does not even fit SQLite's.
BEYOND = str(2**63)


async def test_button_ids_beyond_the_database_are_refused(harness: Harness) -> None:
    await harness.raise_alarm()
    before = await _state(harness)
    forged = [
        f"pg:{BEYOND}:ack",
        f"pg:{2**31}:decline",
        f"pg:{'9' * 20}:seen",
        f"cl:{BEYOND}:yes",
        f"ast:{BEYOND}:start",
        f"aj:{BEYOND}:yes",
        f"ab:{BEYOND}.1:read",
        f"ab:1.{BEYOND}:read",
        f"ash:1.1:{BEYOND}",
        f"abt:{BEYOND}.1:yes",
        f"rq:{BEYOND}:yes",
        f"sw:{BEYOND}:approve",
        f"al:pick:{BEYOND}",
        "pg:²:ack",  # a digit to str.isdigit(), not to int()
    ]
    for who in ("caco", "rol-b", "coord", "bgm-soest"):
        for data in forged:
            await harness.app.router.handle(ButtonEvent(Sender(Origin.CONSOLE, who), data))
            await harness.app.deliverer.deliver_pending()
            assert harness.last(who) in (STALE, STALE_EN), (who, data)
    assert await _state(harness) == before
    # The largest id an INTEGER key holds is a button that is merely stale.
    await harness.press_data("caco", f"pg:{2**31 - 1}:ack")
    assert harness.last("caco") == STALE


async def test_button_data_with_unpaired_surrogates_is_refused(harness: Harness) -> None:
    await harness.raise_alarm()
    before = await _state(harness)
    for data in ("\ud800", "pg:\ud800:ack", "pg:1\udfff:ack", "\udc80:1:x"):
        await harness.press_data("caco", data)
        assert harness.last("caco") == STALE
    assert await _state(harness) == before
    async with harness.app.uows() as uow:
        rejected = [r for r in await uow.audit.all() if r.action == "input.rejected"]
    assert [r.detail["request"] for r in rejected] == [
        "button ?",
        "button pg:?:ack",
        "button pg:1?:ack",
        "button ?:1:x",
    ]


async def test_typed_unpaired_surrogates_and_nul_are_answered(harness: Harness) -> None:
    """Neither fits a database (PostgreSQL refuses NUL in text): each becomes "?"."""
    await harness.say("caco", "/\ud800")
    assert harness.last("caco") == "Onbekend commando /?. Typ /help voor wat ik kan."
    await harness.say("caco", "/\x00")
    assert harness.last("caco") == "Onbekend commando /?. Typ /help voor wat ik kan."
    await harness.say("caco", "/alarm Soest: gaslek \ud83d bij de\x00kerk")
    await harness.press("caco", "Bevestigen en pagen")
    async with harness.app.uows() as uow:
        (incident,) = await uow.incidents.open()
    assert incident.description == "gaslek ? bij de?kerk"


async def test_roster_dates_in_year_one_or_far_away_get_a_clear_answer(harness: Harness) -> None:
    before = await _state(harness)
    for command in (
        "/vervang Bert door Anna van 01-01-0001 08:00 tot 02-01-0001 08:00",
        "/vervang Bert door Anna van 0001-01-01 00:05 tot 0001-01-02 08:00",
        "/vervang Bert door Anna van 1 jan 0001 00:05 tot 2 jan 0001 08:00",
        "/vervang Bert door Anna van morgen 08:00 tot 31-12-9999 23:59",
        "/dienst Anna van 01-01-0001 00:05 tot 01-01-0001 08:00",
        "/dienst Anna van 31-12-9999 08:00 tot 31-12-9999 23:00",
    ):
        await harness.say("coord", command)
        answer = harness.last("coord")
        assert "ligt te ver" in answer and "Er is niets gewijzigd" in answer, (command, answer)
    assert "het jaar 1 ligt te ver" in harness.texts("coord")
    assert await _state(harness) == before
