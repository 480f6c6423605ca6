"""The alarm through each chat platform: raised and confirmed by the Caco, paged, repeated,
escalated to the backup, taken, and every page updated to say who took it.

Every scenario runs on Telegram and on Slack (the drivers of `tests.helpers.platforms`).
"""

from __future__ import annotations

from tests.conftest import count
from tests.helpers.platforms import AnyDriver

CACO, BERT, CEES, COORD = "caco", "rol-b", "rol-c", "coord"


async def test_alarm_page_acknowledge_and_escalate(chat: AnyDriver) -> None:
    """On SQLite and PostgreSQL."""
    [confirm] = await chat.command(CACO, "/alarm Soest: gaslek Kerkstraat, 20 woningen ontruimd")
    assert "Controleer het alarm" in confirm.text and "Soest" in confirm.text
    assert "Bevestigen en pagen" in confirm.labels
    assert chat.replies(BERT) == []  # nobody paged before confirming

    await chat.press(CACO, "Bevestigen en pagen")
    [page] = chat.replies(BERT)
    assert page.title == "ALERT – respond now"  # bold on Telegram, a header on Slack
    assert "VRU-2026-0001" in page.text and "gaslek Kerkstraat" in page.text
    assert page.labels == ["I'll take it", "Can't"]  # Bert reads English
    assert page.rows == [2]  # short labels share a row
    assert "ROL gepaged – Rol Bert" in chat.texts(CACO)

    await chat.advance(10)  # a repeat to Bert, then escalated to Cees (the backup)
    assert len(chat.replies(BERT)) == 2
    assert "geëscaleerd naar backup ROL – Rol Cees" in chat.texts(CACO)
    [cees_page] = chat.replies(CEES)
    assert "ALARM" in cees_page.text and "VRU-2026-0001" in cees_page.text

    await chat.press(CEES, "Ik pak het op")
    assert "opgepakt door Rol Cees" in chat.texts(CACO)
    assert "Je hebt VRU-2026-0001 opgepakt" in chat.texts(CEES)
    bert = chat.replies(BERT)
    assert len(bert) == 2
    for message in bert:  # both of Bert's pages were edited in place to say who took it
        assert "Taken by Rol Cees" in message.text
        assert message.labels == [] and message.edits >= 1

    await chat.advance(60)
    assert chat.replies(COORD) == []
    assert await count(chat.app.engine, "timer WHERE status = 'pending'") == 0
    chat.assert_buttons_fit()


TYPED = "<b>&*_ gaslek & <i>rook</i>"  # markup characters of every platform


async def test_user_text_is_shown_verbatim(lite_chat: AnyDriver) -> None:
    """On SQLite: the point is the platform."""
    [confirm] = await lite_chat.command(CACO, f"/alarm Soest: {TYPED}")
    assert "Controleer het alarm" in confirm.text
    lite_chat.assert_shown_verbatim(confirm, TYPED)
    await lite_chat.press(CACO, "Bevestigen en pagen")
    [page] = lite_chat.replies(BERT)
    lite_chat.assert_shown_verbatim(page, TYPED)
