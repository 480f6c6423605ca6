"""Which of a person's queued messages goes next (`scm_bot.delivery`): each chat takes
about one request a second, so the order of a person's queue decides what they see first.

New messages keep their order. An edit changes a message the chat already shows and adds
none, so it may go ahead of new messages queued before it; an edit that a later edit of the
same message replaces is not sent at all, and the later edit takes its place in the queue
(a board refreshed while the chat waited goes when its first refresh would have gone).
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


def take_place(rows: list[OutboxItem], at: int, item: OutboxItem) -> None:
    """`item` came from `rows` at `at` and is `superseded`: the edit that replaces it next
    (the oldest later edit of its topic) moves up to its place, unless it is ahead already."""
    later = [n for n, x in enumerate(rows) if is_edit(x) and x.topic == item.topic]
    n = min((n for n in later if rows[n].id > item.id), key=lambda n: rows[n].id)
    if n > at:
        rows.insert(at, rows.pop(n))


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
