"""The whole alarm scenario through the real router, core and storage (SQLite and
PostgreSQL), with time moved by a fake clock."""

from __future__ import annotations

from tests.conftest import count
from tests.helpers import Harness


async def test_alarm_pages_the_rol_on_duty_only_after_confirmation(harness: Harness) -> None:
    await harness.say("caco", "/alarm Soest: gaslek Kerkstraat, 20 woningen ontruimd")
    assert "Controleer het alarm" in harness.last("caco")
    assert "Soest" in harness.last("caco")
    assert harness.inbox("rol-b") == []  # nobody paged before confirming

    await harness.press("caco", "Bevestigen en pagen")
    page = harness.inbox("rol-b")[-1]
    assert "VRU-2026-0001" in page.text and "gaslek Kerkstraat" in page.text
    # Bert reads English: his page and buttons are in English.
    assert [b.label for b in page.buttons] == ["I'll take it", "Can't"]
    assert "ROL gepaged – Rol Bert" in harness.texts("caco")
    assert harness.inbox("rol-a") == [] and harness.inbox("rol-c") == []


async def test_unanswered_page_repeats_then_escalates_to_backup_then_coordinator(
    harness: Harness,
) -> None:
    await harness.raise_alarm()
    await harness.advance(4.9)
    assert len(harness.inbox("rol-b")) == 1  # not yet

    await harness.advance(0.1)
    assert len(harness.inbox("rol-b")) == 2
    assert harness.inbox("rol-b")[-1].title == "REPEAT – nobody has responded yet"
    assert "opnieuw gepaged (poging 2)" in harness.texts("caco")
    assert harness.inbox("rol-c") == []

    await harness.advance(5)
    assert "ALARM" in (harness.inbox("rol-c")[-1].title or "")
    assert "geëscaleerd naar backup ROL – Rol Cees" in harness.texts("caco")

    await harness.advance(5)  # Cees's repeat
    await harness.advance(5)
    assert harness.inbox("coord"), "the coordinator is the last step"
    assert "geëscaleerd naar Piketcoördinator – Coord Cor" in harness.texts("caco")

    await harness.advance(5)  # the last step keeps repeating until someone answers
    assert len(harness.inbox("coord")) == 2


async def test_acknowledge_stops_escalation_and_updates_every_page_message(
    harness: Harness,
) -> None:
    await harness.raise_alarm()
    await harness.advance(10)  # repeat, then escalated to Cees
    await harness.press("rol-c", "Ik pak het op")

    assert "opgepakt door Rol Cees" in harness.texts("caco")
    assert "Je hebt VRU-2026-0001 opgepakt" in harness.last("rol-c")
    for message in harness.inbox("rol-b"):  # both of Bert's pages now say who took it
        assert "Taken by Rol Cees" in message.text
        assert message.buttons == ()
    await harness.advance(60)
    assert harness.inbox("coord") == []
    assert await count(harness.app.engine, "timer WHERE status = 'pending'") == 0


async def test_decline_escalates_at_once(harness: Harness) -> None:
    await harness.raise_alarm()
    await harness.press("rol-b", "Can't")
    assert harness.inbox("rol-c"), "the backup is paged without waiting"
    texts = harness.texts("caco")
    assert "Rol Bert kan niet" in texts
    assert "geëscaleerd naar backup ROL – Rol Cees" in texts
    # Bert's page no longer offers buttons.
    assert harness.inbox("rol-b")[0].buttons == ()


async def test_second_press_after_acknowledgement_is_told_who_took_it(harness: Harness) -> None:
    await harness.raise_alarm()
    await harness.advance(10)
    ack_on_bert = harness.button("rol-b", "I'll take it")
    await harness.press("rol-c", "Ik pak het op")
    await harness.press_data("rol-b", ack_on_bert)
    assert "already taken by Rol Cees" in harness.last("rol-b")


async def test_alertering_asks_only_for_seen_and_does_not_escalate(harness: Harness) -> None:
    await harness.say("caco", "/alarm alertering Soest: onweer verwacht")
    await harness.press("caco", "Bevestigen en pagen")
    page = harness.inbox("rol-b")[-1]
    assert [b.label for b in page.buttons] == ["Seen"]
    await harness.press("rol-b", "Seen")
    assert "gezien door Rol Bert" in harness.texts("caco")
    await harness.advance(30)
    assert len(harness.inbox("rol-b")) == 1 and harness.inbox("rol-c") == []


async def test_status_shows_page_state_and_close_stops_timers(harness: Harness) -> None:
    await harness.raise_alarm()
    await harness.say("caco", "/status")
    status = harness.last("caco")
    assert "VRU-2026-0001" in status and "wacht op reactie" in status and "Rol Bert" in status

    await harness.say("caco", "/sluit 0001")
    assert "sluiten?" in harness.last("caco")
    await harness.press("caco", "Ja, sluiten")
    assert "is gesloten door Caco Test" in harness.last("caco")
    assert "closed by Caco Test" in harness.inbox("rol-b")[0].text
    await harness.advance(60)
    assert len(harness.inbox("rol-b")) == 1, "no repeats after closing"
    await harness.say("caco", "/status")
    assert harness.last("caco") == "Er zijn geen open incidenten."


async def test_guided_alarm_asks_back_an_ambiguous_gemeente(harness: Harness) -> None:
    await harness.say("caco", "/alarm")
    assert "Welke gemeente" in harness.last("caco")
    await harness.say("caco", "de")
    assert "Welke gemeente bedoel je met 'de'" in harness.last("caco")
    assert {b.label for b in harness.inbox("caco")[-1].buttons} == {"De Bilt", "De Ronde Venen"}
    await harness.press("caco", "De Bilt")
    assert "Alarmering (uitrukken: reageer nu) of alertering" in harness.last("caco")
    await harness.press("caco", "Alarmering")
    await harness.say("caco", "Brand in zorginstelling")
    await harness.say("caco", "/overslaan")  # no location
    await harness.press("caco", "GRIP 2")
    confirm = harness.last("caco")
    assert "Gemeente: De Bilt" in confirm and "Opschaling: GRIP 2" in confirm
    await harness.say("caco", "/terug")
    assert "Opschaling?" in harness.last("caco")
    await harness.press("caco", "GRIP 3")
    await harness.press("caco", "Bevestigen en pagen")
    assert "GRIP 3" in harness.inbox("rol-b")[-1].text


async def test_gemeente_names_match_forgivingly(harness: Harness) -> None:
    await harness.say("caco", "/alarm gemeente SUDWEST-fryslan: dijk")
    assert "Gemeente: Súdwest-Fryslân" in harness.last("caco")


async def test_every_step_is_audited(harness: Harness) -> None:
    await harness.raise_alarm()
    await harness.press("rol-b", "I'll take it")
    async with harness.app.uows() as uow:
        actions = [(r.actor, r.action, r.result) for r in await uow.audit.all()]
    assert ("caco", "incident.raised", "ok") in actions
    assert ("rol-b", "page.sent", "ok") in actions
    assert ("rol-b", "page.acknowledged", "ok") in actions


async def test_the_page_on_every_platform_says_where_it_was_taken(harness: Harness) -> None:
    from core.events import ButtonEvent, Sender
    from core.model import Origin

    await harness.raise_alarm()
    await harness.advance(10)  # Bert and Cees both paged
    ack = harness.button("rol-c", "Ik pak het op")
    harness_person = await harness.app.directory()
    cees = harness_person.person_by_key("rol-c")
    assert cees is not None
    # Cees is linked on Slack and answers there; everybody's page says so.
    async with harness.app.uows() as uow:
        await uow.directory.link(cees.id, slack_user_id="UCEES0001")
        await uow.commit()
    await harness.app.router.handle(ButtonEvent(Sender(Origin.SLACK, "UCEES0001"), ack))
    await harness.app.deliverer.deliver_pending()
    assert "Taken by Rol Cees via Slack at 03:17." in harness.inbox("rol-b")[0].text


async def test_a_gemeente_with_a_colon_and_no_description_asks_for_it(harness: Harness) -> None:
    await harness.say("caco", "/alarm Soest:")
    assert harness.last("caco") == "Korte omschrijving van het incident?"
    await harness.say("caco", "gaslek Kerkstraat")
    confirm = harness.last("caco")
    assert confirm.startswith("Controleer het alarm:\nSoort: alarmering\nGemeente: Soest\n")
    assert "Omschrijving: gaslek Kerkstraat" in confirm
    await harness.press("caco", "Bevestigen en pagen")
    assert "gaslek Kerkstraat" in harness.inbox("rol-b")[-1].text


async def test_a_button_of_an_earlier_alarm_is_refused(harness: Harness) -> None:
    async def to_opschaling() -> str:
        await harness.say("caco", "/alarm")
        await harness.say("caco", "Soest")
        await harness.press("caco", "Alarmering")
        await harness.say("caco", "gaslek")
        await harness.press("caco", "Overslaan")
        assert harness.last("caco") == "Opschaling?"
        return harness.button("caco", "GRIP 2")

    old_grip_2 = await to_opschaling()
    await harness.say("caco", "/annuleer")
    await to_opschaling()
    await harness.press_data("caco", old_grip_2)
    assert harness.last("caco") == "Deze knop hoort bij een alarm dat niet meer wordt ingevuld."
    await harness.press("caco", "GRIP 3")
    assert "Opschaling: GRIP 3" in harness.last("caco")
    await harness.press_data("caco", old_grip_2)  # nor on the confirmation of the new one
    assert harness.last("caco") == "Deze knop hoort bij een alarm dat niet meer wordt ingevuld."
    await harness.press("caco", "Bevestigen en pagen")
    assert "Scale-up: GRIP 3" in harness.inbox("rol-b")[-1].text  # Bert reads English
