"""Which of a person's queued messages goes next (`scm_bot.delivery`): each chat takes
about one request a second, so the order of a person's queue decides what they see first.

New messages keep their order. An edit changes a message the chat already shows and adds
none, so it may go ahead of new messages queued before it; an edit that a later edit of the
same message replaces is not sent at all.
"""

from __future__ import annotations

from core.ports import OutboxItem


def is_page(item: OutboxItem) -> bool:
    return item.kind == "send" and (item.topic or "").startswith("page:")


def is_edit(item: OutboxItem) -> bool:
    return item.kind == "edit" and bool(item.topic)


def superseded(item: OutboxItem, others: list[OutboxItem]) -> bool:
    """An edit that a later edit of the same topic replaces before it went out (a board
    edited every second in a chat that is behind): sending it would spend the chat's turn
    on a text that is out of date when it arrives."""
    return (
        is_edit(item)
        and not item.ledger
        and any(is_edit(x) and x.topic == item.topic and x.id > item.id for x in others)
    )


def next_row(rows: list[OutboxItem], *, edit_first: bool) -> int:
    """Which of a person's rows (oldest first) goes next. An edit changes a message the
    chat already shows and adds none, so it may go ahead of the new messages queued before
    it (a board edit ahead of the aandachtskaart a member's answer brought): no message
    changes its place. It never passes a page, another edit, or a row of its own topic (the
    message it edits may not be out yet). Without `edit_first`, the oldest goes."""
    if edit_first:
        for n, row in enumerate(rows):
            if is_page(row):
                break
            if is_edit(row):
                if all(x.topic != row.topic for x in rows[:n]):
                    return n
                break
    return 0
