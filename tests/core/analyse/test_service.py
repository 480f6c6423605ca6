"""The strategische analyse: filled turn by turn, published to the right burgemeester,
versioned with change marks, re-read, shared, exported, with reminders."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from sqlalchemy.ext.asyncio import AsyncEngine

from core.events import Sender, parse_text
from core.i18n import t
from core.model import Language, Origin, PersonId
from scm_bot.app import build
from tests.conftest import count
from tests.helpers import REGION_FILE, Harness, make_harness

TEXT_FIELDS = (
    "feitelijk_beeld",
    "inzet",
    "onzekerheden",
    "duiding",
    "scenarios",
    "vraagstukken",
    "communicatie",
)


async def _acknowledged(harness: Harness, line: str = "Soest: gaslek Kerkstraat") -> None:
    await harness.raise_alarm(line)
    await harness.press("rol-b", "I'll take it")


async def _fill_required(harness: Harness, who: str = "rol-b") -> None:
    """Fill every required field the quick way, through /wijzig."""
    for key in TEXT_FIELDS:
        await harness.say(who, f"/wijzig {key}")
        await harness.say(who, f"{key} tekst")
    await harness.say(who, "/wijzig teams")
    await harness.press(who, "ROT")
    await harness.press(who, "Done")
    await harness.say(who, "/wijzig families")
    await harness.press(who, "Safety and health")  # Bert reads English
    await harness.press(who, "Done")
    await harness.say(who, "/wijzig opschaling")
    await harness.press(who, "GRIP 2")
    await harness.say(who, "/wijzig advies")
    await harness.press(who, "Convene the BT now")
    await harness.say(who, "/wijzig volgende_update")
    await harness.say(who, "over 45 min")


async def test_start_is_offered_after_acknowledging_and_resumes(harness: Harness) -> None:
    await _acknowledged(harness)
    await harness.press("rol-b", "Start strategic analysis")
    first = harness.inbox("rol-b")[-1]
    # Gemeenten are prefilled from the alarm, so the first question is the first empty one.
    assert first.title == "Question 2/16: Scale-up (required)"
    assert "Filled in now" not in first.text
    await harness.press("rol-b", "GRIP 2")
    assert harness.inbox("rol-b")[-1].title == "Question 3/16: Active teams (required)"
    await harness.press("rol-b", "ROT")
    assert "✓ ROT" in [b.label for b in harness.inbox("rol-b")[-1].buttons]
    await harness.press("rol-b", "CoPI")
    await harness.press("rol-b", "Done")
    # A text field takes several messages; /klaar ends it.
    await harness.say("rol-b", "Gaslek <b>&*_ in de Kerkstraat")
    assert "Saved" in harness.last("rol-b")
    await harness.say("rol-b", "20 woningen ontruimd")
    await harness.say("rol-b", "/klaar")
    assert harness.inbox("rol-b")[-1].title == (
        "Question 5/16: Current response and measures (required)"
    )
    # A restart (or another phone) resumes at the same field: state is in the database.
    await harness.say("rol-b", "/annuleer")
    assert "Everything is saved" in harness.last("rol-b")
    await harness.say("rol-b", "/analyse")
    assert harness.inbox("rol-b")[-1].title == (
        "Question 5/16: Current response and measures (required)"
    )
    async with harness.app.uows() as uow:
        (analyse,) = await uow.analyses.for_editor(
            (await uow.directory.load()).person_by_key("rol-b").id  # type: ignore[union-attr]
        )
        fields = await uow.analyses.fields(analyse.id)
    expected = "Gaslek <b>&*_ in de Kerkstraat\n\n20 woningen ontruimd"
    assert fields["feitelijk_beeld"].value == expected
    assert fields["teams"].value == ["CoPI", "ROT"]


async def test_publish_needs_every_required_field(harness: Harness) -> None:
    await _acknowledged(harness)
    await harness.say("rol-b", "/analyse")
    await harness.say("rol-b", "/deel")
    assert "These required fields are empty" in harness.last("rol-b")
    assert "• Factual picture" in harness.last("rol-b")
    assert harness.inbox("bgm-soest") == []
    assert await count(harness.app.engine, "analysis_version") == 0


async def test_publish_reaches_only_the_burgemeester_of_the_gemeente(harness: Harness) -> None:
    await _acknowledged(harness)
    await harness.say("rol-b", "/analyse")
    await _fill_required(harness)
    await harness.say("rol-b", "/voorbeeld")
    intro, preview = harness.inbox("rol-b")[-2:]
    # Bert reads English; the preview is the burgemeester's message, in Dutch.
    assert "Burgemeester Soest" in intro.text and "Gelezen · Bel mij" in intro.text
    await harness.say("rol-b", "/deel")
    message = harness.inbox("bgm-soest")[-1]
    assert message.title == "Strategische analyse VRU-2026-0001 – versie 1"
    assert (preview.title, preview.text) == (message.title, message.text)
    assert "feitelijk_beeld tekst" in message.text
    assert [b.label for b in message.buttons] == [
        "Gelezen",
        "Bel mij",
        "Deel met…",
        "BT bijeenroepen",
    ]
    assert message.attachment is not None
    assert message.attachment.content.startswith(b"%PDF")
    assert harness.inbox("bgm-debilt") == []
    assert harness.inbox("gs-soest") == [], "the share list gets it only when shared"
    assert "versie 1 verstuurd aan Burgemeester Soest" in harness.texts("caco")


async def test_read_receipt_call_me_share_and_bt(harness: Harness) -> None:
    await _acknowledged(harness)
    await harness.say("rol-b", "/analyse")
    await _fill_required(harness)
    await harness.say("rol-b", "/deel")
    await harness.press("bgm-soest", "Gelezen")
    assert "Burgemeester Soest read version 1" in harness.texts("rol-b")
    assert "Burgemeester Soest heeft versie 1 gelezen" in harness.texts("caco")

    await harness.press("bgm-soest", "Bel mij")
    assert harness.inbox("rol-b")[-1].title == "Call-back request"

    await harness.press("bgm-soest", "Deel met…")
    assert [b.label for b in harness.inbox("bgm-soest")[-1].buttons] == ["Secretaris Soest"]
    await harness.press("bgm-soest", "Secretaris Soest")
    copy = harness.inbox("gs-soest")
    assert copy and "feitelijk_beeld tekst" in copy[0].text
    assert "Gedeeld door Burgemeester Soest" in harness.texts("gs-soest")

    await harness.press("bgm-soest", "BT bijeenroepen")
    await harness.press("bgm-soest", "Ja, BT bijeenroepen")
    assert "convenes the policy team" in harness.texts("rol-b")
    assert "roept het beleidsteam (BT) bijeen" in harness.texts("caco")
    # A second "BT bijeenroepen" is refused.
    await harness.press("bgm-soest", "BT bijeenroepen")
    await harness.press("bgm-soest", "Ja, BT bijeenroepen")
    assert "al bijeengeroepen" in harness.last("bgm-soest")


async def test_version_two_marks_what_changed_since_the_version_read(harness: Harness) -> None:
    await _acknowledged(harness)
    await harness.say("rol-b", "/analyse")
    await _fill_required(harness)
    await harness.say("rol-b", "/deel")
    await harness.press("bgm-soest", "Gelezen")
    await harness.say("rol-b", "/wijzig feitelijk_beeld")
    await harness.say("rol-b", "Nieuw: brand uitgebroken")
    await harness.say("rol-b", "/wijzig volgende_update")
    await harness.say("rol-b", "over 60 min")
    await harness.say("rol-b", "/deel")
    v2 = harness.inbox("bgm-soest")[-1]
    assert v2.title == "Strategische analyse VRU-2026-0001 – versie 2"
    assert "✱ = gewijzigd sinds versie 1" in v2.text
    assert "✱ Feitelijk beeld:\nNieuw: brand uitgebroken" in v2.text
    assert "✱ Lopende inzet" not in v2.text
    # Anyone entitled re-reads an older version at any time.
    await harness.say("bgm-soest", "/analyse toon 1")
    assert "feitelijk_beeld tekst" in harness.inbox("bgm-soest")[-2].text
    assert harness.last("bgm-soest") == (
        "Dit is versie 1. De nieuwste is versie 2: /analyse toon VRU-2026-0001"
    )
    await harness.say("bgm-soest", "/analyse toon 3")
    assert harness.last("bgm-soest") == "Versie 3 kunt u niet lezen. Beschikbaar: 1, 2."


async def test_co_editing_with_the_im(harness: Harness) -> None:
    await _acknowledged(harness)
    await harness.say("rol-b", "/analyse")
    await harness.say("rol-b", "/analyse uitnodigen Info Ineke")
    assert "has been invited" in harness.last("rol-b")
    await harness.press("im", "Meedoen")
    assert "Info Ineke is now co-editing" in harness.texts("rol-b")
    await harness.say("im", "/wijzig inzet")
    await harness.say("im", "Brandweer ter plaatse")
    await harness.say("im", "/klaar")
    assert "Info Ineke updated 'Current response and measures'" in harness.texts("rol-b")
    await harness.say("rol-b", "/wijzig inzet")
    assert "Filled in now (by Info Ineke)" in harness.inbox("rol-b")[-1].text
    await harness.say("rol-b", "/overzicht")
    assert "✓ Current response and measures (Info Ineke)" in harness.inbox("rol-b")[-2].text


async def test_only_rol_or_im_of_the_incident_edits_or_publishes(harness: Harness) -> None:
    await _acknowledged(harness)
    await harness.say("rol-a", "/analyse VRU-2026-0001")
    assert harness.last("rol-a") == (
        "Alleen de ROL of IM van VRU-2026-0001 vult de analyse in. De ROL kan je uitnodigen"
        " met /analyse uitnodigen <naam>; de IM van dienst doet mee met /analyse VRU-2026-0001."
    )
    await harness.say("caco", "/analyse")  # the Caco fills in no analyse: who does
    assert "ingevuld door de ROL en de IM van het incident" in harness.last("caco")
    await harness.say("bgm-soest", "/deel")
    assert "ingevuld door de ROL en de IM van het incident" in harness.last("bgm-soest")
    await harness.say("im", "/analyse uitnodigen rol-a")
    assert "Je vult nog geen analyse in" in harness.last("im")


async def test_bad_input_while_filling(harness: Harness) -> None:
    await _acknowledged(harness)
    await harness.say("rol-b", "/analyse")
    await harness.say("rol-b", "GRIP 9")
    assert harness.last("rol-b") == "Choose one of: GRIP 1, GRIP 2, GRIP 3, GRIP 4, SPC, MCP."
    await harness.say("rol-b", "/wijzig volgende_update")
    await harness.say("rol-b", "02:00")  # 03:07 now: two hours ago
    assert harness.last("rol-b") == "'02:00' is in the past. Give a time in the future."
    await harness.say("rol-b", "31-02 10:00")
    assert harness.last("rol-b") == "'31-02 10:00': that date does not exist."
    await harness.say("rol-b", "/wijzig nonsense")
    assert harness.last("rol-b").startswith("There is no field 'nonsense'. Fields: gemeenten")
    long_text = ("Lange alinea. " * 200 + "\n\n") * 3
    await harness.say("rol-b", "/wijzig feitelijk_beeld")
    await harness.say("rol-b", long_text)
    assert "Saved" in harness.last("rol-b")


async def test_reminder_before_and_nudge_at_the_next_update(harness: Harness) -> None:
    await _acknowledged(harness)
    await harness.say("rol-b", "/analyse")
    await _fill_required(harness)  # volgende update: over 45 min
    await harness.say("rol-b", "/deel")
    before = len(harness.inbox("rol-b"))
    await harness.advance(34)
    assert len(harness.inbox("rol-b")) == before
    await harness.advance(1)
    assert "In 10 minutes" in harness.last("rol-b")
    await harness.advance(10)
    assert "has not been sent yet" in harness.last("rol-b")


async def test_reminders_stop_when_the_incident_closes(harness: Harness) -> None:
    await _acknowledged(harness)
    await harness.say("rol-b", "/analyse")
    await _fill_required(harness)
    await harness.say("rol-b", "/deel")
    await harness.say("caco", "/sluit 0001")
    await harness.press("caco", "Ja, sluiten")
    before = len(harness.inbox("rol-b"))
    await harness.advance(60)
    assert len(harness.inbox("rol-b")) == before


async def test_exports(harness: Harness) -> None:
    await _acknowledged(harness)
    await harness.say("rol-b", "/analyse")
    await _fill_required(harness)
    await harness.say("rol-b", "/wijzig aandachtspunten")
    await harness.say("rol-b", "Raad informeren *vandaag*")
    await harness.say("rol-b", "/deel")
    await harness.say("rol-b", "/analyse export md")
    md = harness.inbox("rol-b")[-1].attachment
    assert md is not None and md.filename == "analyse-VRU-2026-0001-v1.md"
    assert "Raad informeren \\*vandaag\\*" in md.content.decode()
    await harness.say("rol-b", "/analyse export kernbeeld")
    kern = harness.inbox("rol-b")[-1].attachment
    assert kern is not None
    text = kern.content.decode()
    assert "Factual picture" in text  # rol-b reads English
    assert "Raad informeren" not in text, "aandachtspunten do not feed the kernbeeld"
    assert "Advice to the mayor" not in text
    await harness.say("rol-b", "/analyse export pdf")
    pdf = harness.inbox("rol-b")[-1].attachment
    assert pdf is not None and pdf.content.startswith(b"%PDF")
    await harness.say("rol-b", "/analyse export docx")
    assert "Usage: /analysis export" in harness.last("rol-b")


async def test_the_flow_survives_a_restart(harness: Harness) -> None:
    await _acknowledged(harness)
    await harness.say("rol-b", "/analyse")
    await harness.press("rol-b", "GRIP 2")
    # A new app on the same database: another process, or the same person on Slack.
    from scm_bot.app import build

    async with build(harness.app.engine, harness.clock, [harness.transport]) as again:
        await again.router.handle(parse_text(Sender(Origin.CONSOLE, "rol-b"), "/analyse"))
        await again.deliverer.deliver_pending()
    assert harness.inbox("rol-b")[-1].title == "Question 3/16: Active teams (required)"


@pytest.fixture
async def loco_harness(engine: AsyncEngine) -> AsyncIterator[Harness]:
    """The test region with an acting locoburgemeester for Soest: both get every version."""
    region = REGION_FILE.read_text("utf-8")
    region = region.replace(
        "  - {key: gs-soest,",
        "  - {key: loco-soest, name: Loco Soest, functions: [burgemeester]}\n  - {key: gs-soest,",
    ).replace(
        "burgemeester: bgm-soest, share_with",
        "burgemeester: bgm-soest, locoburgemeester: loco-soest, loco_acting: true, share_with",
    )
    harness = await make_harness(engine, region=region)
    yield harness
    await harness.app.close()


async def _person_id(harness: Harness, key: str) -> PersonId:
    person = (await harness.app.directory()).person_by_key(key)
    assert person is not None
    return person.id


async def test_changes_are_marked_since_the_version_that_reader_last_read(
    loco_harness: Harness,
) -> None:
    h = loco_harness
    await _acknowledged(h)
    await h.say("rol-b", "/analyse")
    await _fill_required(h)
    await h.say("rol-b", "/deel")
    assert h.inbox("loco-soest")[-1].title == "Strategische analyse VRU-2026-0001 – versie 1"
    await h.press("bgm-soest", "Gelezen")  # the burgemeester reads version 1 ...

    await h.say("rol-b", "/wijzig feitelijk_beeld")
    await h.say("rol-b", "Nieuw: brand uitgebroken")
    await h.say("rol-b", "/deel")
    assert h.inbox("bgm-soest")[-1].title == "Strategische analyse VRU-2026-0001 – versie 2"
    await h.press("loco-soest", "Gelezen")  # ... only the locoburgemeester reads version 2

    await h.say("rol-b", "/wijzig inzet")
    await h.say("rol-b", "Tweede blusgroep onderweg")
    await h.say("rol-b", "/deel")

    mayor = h.inbox("bgm-soest")[-1]
    assert mayor.title == "Strategische analyse VRU-2026-0001 – versie 3"
    assert "✱ = gewijzigd sinds versie 1" in mayor.text
    assert "✱ Feitelijk beeld:\nNieuw: brand uitgebroken" in mayor.text  # changed in v2
    assert "✱ Lopende inzet en maatregelen:\nTweede blusgroep onderweg" in mayor.text  # in v3
    assert "\nOnzekerheden en informatiebehoefte:\nonzekerheden tekst" in mayor.text
    assert mayor.text.count("✱") == 3, "the legend and the two changed fields"

    loco = h.inbox("loco-soest")[-1]
    assert loco.title == mayor.title
    assert "✱ = gewijzigd sinds versie 2" in loco.text
    assert "✱ Lopende inzet en maatregelen:\nTweede blusgroep onderweg" in loco.text
    assert "\nFeitelijk beeld:\nNieuw: brand uitgebroken" in loco.text
    assert "✱ Feitelijk beeld" not in loco.text
    assert loco.text.count("✱") == 2, "the legend and the one field changed since version 2"


async def test_the_nudge_is_skipped_when_a_new_version_went_out(harness: Harness) -> None:
    await _acknowledged(harness)
    await harness.say("rol-b", "/analyse")
    await _fill_required(harness)  # volgende update 03:52
    await harness.say("rol-b", "/deel")
    await harness.advance(20)  # 03:27: version 2 goes out early, next update at 04:27
    await harness.say("rol-b", "/wijzig feitelijk_beeld")
    await harness.say("rol-b", "Brand onder controle")
    await harness.say("rol-b", "/wijzig volgende_update")
    await harness.say("rol-b", "over 60 min")
    await harness.say("rol-b", "/deel")
    assert "Version 2 of the analysis" in harness.last("rol-b")
    before = len(harness.inbox("rol-b"))
    await harness.advance(40)  # 04:07: past version 1's reminder (03:42) and nudge (03:52)
    assert len(harness.inbox("rol-b")) == before, harness.texts("rol-b")
    # Version 2's own reminder and nudge still come, about version 3.
    await harness.advance(10)  # 04:17
    assert harness.last("rol-b") == (
        "In 10 minutes (04:27) version 3 of the analysis of VRU-2026-0001 is due. "
        "/analysis to update, /publish to send."
    )
    await harness.advance(10)  # 04:27
    assert harness.last("rol-b") == (
        "Version 3 of the analysis of VRU-2026-0001 was due at 04:27 and has not been sent yet."
    )
    assert len(harness.inbox("rol-b")) == before + 2
    assert "version 2 of the analysis" not in harness.texts("rol-b")


async def test_skip_and_back_while_filling(harness: Harness) -> None:
    await _acknowledged(harness)
    await harness.say("rol-b", "/analyse")
    await harness.say("rol-b", "/wijzig vraagstukken")
    await harness.say("rol-b", "Evacueren of niet")
    await harness.say("rol-b", "/klaar")
    assert harness.inbox("rol-b")[-1].title == "Question 10/16: Strategic families (required)"
    await harness.press("rol-b", "Safety and health")
    await harness.press("rol-b", "Done")
    assert harness.inbox("rol-b")[-1].title == "Question 11/16: Network partners (optional)"
    # Skipping an optional field moves on and leaves it empty.
    await harness.say("rol-b", "/overslaan")
    assert harness.inbox("rol-b")[-1].title == "Question 12/16: Communication (required)"
    # A required field may be skipped too (to fill it later); it stays empty and missing.
    await harness.say("rol-b", "/overslaan")
    assert harness.inbox("rol-b")[-1].title == "Question 13/16: Advice to the mayor (required)"
    await harness.say("rol-b", "/overzicht")
    overview = harness.inbox("rol-b")[-2].text
    assert "○ Network partners – optional, empty" in overview
    assert "✗ Communication – required, still empty" in overview
    assert "✓ Strategic issues and dilemmas (Rol Bert)" in overview
    # Back: the previous field again, still empty, so nothing "filled in now".
    await harness.say("rol-b", "/terug")
    back = harness.inbox("rol-b")[-1]
    assert back.title == "Question 12/16: Communication (required)"
    assert "Filled in now" not in back.text
    await harness.say("rol-b", "/terug")
    await harness.say("rol-b", "/terug")
    await harness.say("rol-b", "/terug")
    back = harness.inbox("rol-b")[-1]
    assert back.title == "Question 9/16: Strategic issues and dilemmas (required)"
    assert "Filled in now (by Rol Bert):\nEvacueren of niet" in back.text
    assert "Keep" in [b.label for b in back.buttons]
    # Keeping it moves on without changing it.
    await harness.press("rol-b", "Keep")
    assert harness.inbox("rol-b")[-1].title == "Question 10/16: Strategic families (required)"
    assert "✓ Safety and health" in [b.label for b in harness.inbox("rol-b")[-1].buttons]
    rol_b = await _person_id(harness, "rol-b")
    async with harness.app.uows() as uow:
        (analyse,) = await uow.analyses.for_editor(rol_b)
        fields = await uow.analyses.fields(analyse.id)
    assert fields["vraagstukken"].value == "Evacueren of niet"
    assert "netwerkpartners" not in fields and "communicatie" not in fields


async def test_a_forged_share_target_is_refused(harness: Harness) -> None:
    await _acknowledged(harness)
    await harness.say("rol-b", "/analyse")
    await _fill_required(harness)
    await harness.say("rol-b", "/deel")
    await harness.press("bgm-soest", "Deel met…")
    genuine = harness.button("bgm-soest", "Secretaris Soest")  # "ash:<analyse>.<version>:<id>"
    prefix, ref, target = genuine.split(":")
    assert (prefix, target) == ("ash", str(await _person_id(harness, "gs-soest")))
    before = {key: len(harness.inbox(key)) for key in ("rol-b", "caco", "gs-soest")}

    # The burgemeester of Soest, sharing with someone not on Soest's share list.
    for outsider in ("bgm-debilt", "caco"):
        forged = f"ash:{ref}:{await _person_id(harness, outsider)}"
        await harness.press_data("bgm-soest", forged)
        assert harness.last("bgm-soest") == (
            "Die persoon staat niet op de deellijst van uw gemeente."
        )
    assert harness.inbox("bgm-debilt") == []
    # Someone who never received the analyse, sharing it with Soest's own secretaris.
    await harness.press_data("bgm-debilt", genuine)
    assert harness.last("bgm-debilt") == "Deze analyse is niet voor u."
    assert {key: len(harness.inbox(key)) for key in before} == before
    assert await count(harness.app.engine, "analysis_copy") == 1, "only the burgemeester's"
    # The genuine button still works.
    await harness.press_data("bgm-soest", genuine)
    assert harness.last("bgm-soest") == "Gedeeld met Secretaris Soest."
    assert "feitelijk_beeld tekst" in harness.inbox("gs-soest")[0].text


async def test_an_analyse_reminder_survives_a_restart(harness: Harness) -> None:
    await _acknowledged(harness)
    await harness.say("rol-b", "/analyse")
    await _fill_required(harness)  # volgende update 03:52: reminder 03:42, nudge 03:52
    await harness.say("rol-b", "/deel")
    before = len(harness.inbox("rol-b"))
    # The process goes down at 03:17; another starts on the same database.
    await harness.advance(10)
    await harness.app.deliverer.close()
    again = Harness(
        build(harness.app.engine, harness.clock, [harness.transport]),
        harness.clock,
        harness.transport,
    )
    try:
        await again.advance(24)  # 03:41
        assert len(again.inbox("rol-b")) == before
        await again.advance(1)  # 03:42
        assert again.last("rol-b").startswith("In 10 minutes (03:52) version 2")
        await again.advance(10)  # 03:52
        assert "was due at 03:52 and has not been sent yet" in again.last("rol-b")
        await again.advance(60)
        assert len(again.inbox("rol-b")) == before + 2, "each fires once"
    finally:
        await again.app.close()


async def test_a_next_update_in_year_one_or_far_ahead_gets_a_clear_dutch_answer(
    harness: Harness,
) -> None:
    await _acknowledged(harness)
    await harness.say("rol-b", "/taal nl")
    await harness.say("rol-b", "/analyse")
    await harness.say("rol-b", "/wijzig volgende_update")
    for text in ("01-01-0001 00:05", "01-01-0001 10:00", "31-12-9999 23:59", "over 9999 uur"):
        await harness.say("rol-b", text)
        answer = harness.last("rol-b")
        assert answer.startswith(f"'{text}' ligt "), answer
    assert harness.last("rol-b") == (
        "'over 9999 uur' ligt meer dan een jaar vooruit. Geef een tijdstip binnen een jaar."
    )
    async with harness.app.uows() as uow:
        timers = await uow.timers.pending()
    assert all(t.due_at.year == 2026 for t in timers)


async def test_digits_that_are_no_number_are_refused_clearly(harness: Harness) -> None:
    """A superscript 2 is a digit to str.isdigit() but no number to int() (found by the fuzz)."""
    await _acknowledged(harness)
    await harness.say("rol-b", "/analyse")
    await harness.say("rol-b", "/wijzig opschaling")
    await harness.say("rol-b", "²")
    assert harness.last("rol-b").startswith("Choose one of: GRIP 1")
    await harness.say("rol-b", "/analyse toon VRU-2026-0001 ²")
    assert harness.last("rol-b") == t(Language.EN, "analyse.show_usage")


async def test_deel_names_the_key_to_fill_each_missing_field_with(harness: Harness) -> None:
    await _acknowledged(harness)
    await harness.say("rol-b", "/analyse")
    await harness.say("rol-b", "/deel")
    assert "• Factual picture (/edit feitelijk_beeld)" in harness.last("rol-b")
    await harness.say("rol-b", "/taal nl")
    await harness.say("rol-b", "/deel")
    assert "• Lopende inzet en maatregelen (/wijzig inzet)" in harness.last("rol-b")
    await harness.say("rol-b", "/voorbeeld")
    assert "• Scenario's (/wijzig scenarios)" in harness.last("rol-b")


async def test_after_wijzig_the_flow_goes_on_at_the_next_empty_field(harness: Harness) -> None:
    await _acknowledged(harness)
    await harness.say("rol-b", "/analyse")
    await _fill_required(harness)  # every required field; the optional 11, 14 and 15 empty
    await harness.say("rol-b", "/wijzig feitelijk_beeld")
    await harness.say("rol-b", "Brand uitgebroken")
    await harness.say("rol-b", "/klaar")
    assert harness.inbox("rol-b")[-1].title == "Question 11/16: Network partners (optional)"
    await harness.press("rol-b", "Skip")
    assert harness.inbox("rol-b")[-1].title == (
        "Question 14/16: Proposed composition of the BT (optional)"
    )
    await harness.say("rol-b", "/wijzig advies")
    await harness.press("rol-b", "Convene the BT later")
    assert (
        harness.inbox("rol-b")[-1].title
        == "Question 14/16: Proposed composition of the BT (optional)"
    )
    await harness.say("rol-b", "/wijzig volgende_update")
    await harness.say("rol-b", "over 30 min")
    assert harness.last("rol-b").startswith("That was the last question. Overview:")


async def test_overzicht_asks_the_open_question_again(harness: Harness) -> None:
    await _acknowledged(harness)
    await harness.say("rol-b", "/analyse")
    await harness.press("rol-b", "GRIP 2")
    await harness.press("rol-b", "ROT")
    await harness.say("rol-b", "/overzicht")
    overview, question = harness.inbox("rol-b")[-2:]
    assert overview.text.startswith("Overview:")
    assert question.title == "Question 3/16: Active teams (required)"
    assert "✓ ROT" in [b.label for b in question.buttons], "what was picked stays picked"
    await harness.press("rol-b", "Done")
    assert harness.inbox("rol-b")[-1].title == "Question 4/16: Factual picture (required)"


async def test_a_co_editors_text_left_with_wijzig_or_annuleer_is_announced(
    harness: Harness,
) -> None:
    await _acknowledged(harness)
    await harness.say("rol-b", "/analyse")
    await harness.say("rol-b", "/analyse uitnodigen Info Ineke")
    await harness.press("im", "Meedoen")
    await harness.say("im", "/wijzig inzet")
    await harness.say("im", "Brandweer ter plaatse")
    await harness.say("im", "/wijzig onzekerheden")
    assert harness.last("rol-b") == "Info Ineke updated 'Current response and measures'."
    await harness.say("im", "Oorzaak onbekend")
    await harness.say("im", "/annuleer")
    assert harness.last("rol-b") == "Info Ineke updated 'Uncertainties and information needs'."
    await harness.say("im", "/wijzig onzekerheden")
    await harness.say("im", "Oorzaak nog steeds onbekend")
    await harness.say("im", "/klaar")
    assert harness.last("rol-b") == "Info Ineke updated 'Uncertainties and information needs'."
    assert harness.texts("rol-b").count("Info Ineke updated") == 3, "each change once"
