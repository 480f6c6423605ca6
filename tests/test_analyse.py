"""The strategische analyse: filled turn by turn, published to the right burgemeester,
versioned with change marks, re-read, shared, exported, with reminders."""

from __future__ import annotations

from core.events import Sender, parse_text
from core.model import Origin
from tests.conftest import count
from tests.helpers import Harness

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
    await harness.press(who, "Veiligheid en gezondheid")
    await harness.press(who, "Done")
    await harness.say(who, "/wijzig opschaling")
    await harness.press(who, "GRIP 2")
    await harness.say(who, "/wijzig advies")
    await harness.press(who, "BT nu bijeenroepen")
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
    assert "feitelijk_beeld tekst" in harness.last("bgm-soest")
    await harness.say("bgm-soest", "/analyse toon 3")
    assert harness.last("bgm-soest") == "Versie 3 kun je niet lezen. Beschikbaar: 1, 2."


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
    assert "✓ Current response and measures (Info Ineke)" in harness.last("rol-b")


async def test_only_rol_or_im_of_the_incident_edits_or_publishes(harness: Harness) -> None:
    await _acknowledged(harness)
    await harness.say("rol-a", "/analyse VRU-2026-0001")
    assert harness.last("rol-a") == "Alleen de ROL of IM van VRU-2026-0001 vult de analyse in."
    await harness.say("caco", "/analyse")
    assert "Voor welk incident" in harness.last("caco")
    await harness.say("bgm-soest", "/deel")
    assert "Je vult nog geen analyse in" in harness.last("bgm-soest")
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
    assert "Feitelijk beeld" in text or "Factual picture" in text
    assert "Raad informeren" not in text, "aandachtspunten do not feed the kernbeeld"
    assert "Advice to the mayor" not in text
    await harness.say("rol-b", "/analyse export pdf")
    pdf = harness.inbox("rol-b")[-1].attachment
    assert pdf is not None and pdf.content.startswith(b"%PDF")
    await harness.say("rol-b", "/analyse export docx")
    assert "Usage: /analyse export" in harness.last("rol-b")


async def test_the_flow_survives_a_restart(harness: Harness) -> None:
    await _acknowledged(harness)
    await harness.say("rol-b", "/analyse")
    await harness.press("rol-b", "GRIP 2")
    # A new app on the same database: another process, or the same person on Slack.
    from scm_bot.app import build

    again = build(harness.app.engine, harness.clock, [harness.transport])
    await again.router.handle(parse_text(Sender(Origin.CONSOLE, "rol-b"), "/analyse"))
    await again.deliverer.deliver_pending()
    assert harness.inbox("rol-b")[-1].title == "Question 3/16: Active teams (required)"
