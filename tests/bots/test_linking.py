"""Linking an account with a one-time code, through each chat platform (Telegram's deep
link sends `/start <code>`, on Slack it is `/scm koppel <code>`)."""

from __future__ import annotations

from datetime import timedelta

from core.model import Origin
from core.region.linking import create_invite
from tests.helpers.platforms import NEWCOMER, OTHER, AnyDriver


async def test_a_link_code_links_the_account_once(lite_chat: AnyDriver) -> None:
    """On SQLite: the point is the platform."""
    chat = lite_chat
    async with chat.app.core.transaction(Origin.CLI) as tx:
        im = tx.directory.person_by_key("im")
        assert im is not None and im.telegram_user_id is None and im.slack_user_id is None
        invite = await create_invite(tx, im, timedelta(hours=24))
    [welcome] = await chat.command(NEWCOMER, f"{chat.link_command} {invite.code}")
    assert "Info Ineke" in welcome.text  # the welcome, through the outbox
    assert await chat.linked(NEWCOMER) == "im"

    # The same code from another account: refused, and nobody else is linked.
    [refused] = await chat.command(OTHER, f"{chat.link_command} {invite.code}")
    assert "ongeldig, al gebruikt of verlopen" in refused.text
    assert "Info Ineke" not in refused.text
    assert await chat.linked(OTHER) is None
