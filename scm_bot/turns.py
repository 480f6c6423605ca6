"""Which of a person's queued messages goes next (`scm_bot.delivery`): each chat takes
about one request a second, so the order of a person's queue decides what they see first.

New messages keep their order. An edit changes a message the chat already shows and adds
none, so it may go ahead of new messages queued before it; an edit that a later edit of the
same message replaces is not sent at all, and the later edit takes its place in the queue
(a board refreshed while the chat waited goes when its first refresh would have gone).
"""

from __future__ import annotations

from datetime import datetime, timedelta

from core.ports import OutboxItem

# Reading for later (the aandachtskaart and its PDF, for a meeting most of an hour away):
# in a chat that also holds a board, the board's edits go first while they keep coming,
# for at most this long. In any other chat nothing is queued to yield to.
LATER = ("bt-kaart:",)
PATIENCE = timedelta(seconds=30)


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
    (the oldest later edit of its topic) moves up to its place, unless it is ahead already
    or would pass a page or a row of its own topic (a new copy of the message it edits)."""
    later = [n for n, x in enumerate(rows) if is_edit(x) and x.topic == item.topic]
    n = min((n for n in later if rows[n].id > item.id), key=lambda n: rows[n].id)
    if n > at and not any(is_page(x) or x.topic == item.topic for x in rows[at:n]):
        rows.insert(at, rows.pop(n))


def for_later(item: OutboxItem, now: datetime) -> bool:
    """Reading for later, queued less than `PATIENCE` ago."""
    queued = item.created_at
    return (item.topic or "").startswith(LATER) and queued is not None and now - queued < PATIENCE


def next_row(rows: list[OutboxItem], *, edit_first: bool, now: datetime) -> int:
    """Which of a person's rows (oldest first) goes next. An edit changes a message the
    chat already shows and adds none, so it may go ahead of the new messages queued before
    it (a board edit ahead of the aandachtskaart a member's answer brought): no message
    changes its place. It never passes a page, another edit, or a row of its own topic (the
    message it edits may not be out yet). Without `edit_first` (an edit just went ahead)
    the oldest goes, unless all the edit would pass is reading for later (`for_later`)."""
    ahead = _edit_ahead(rows)
    if ahead is not None and (edit_first or all(for_later(x, now) for x in rows[:ahead])):
        return ahead
    return 0


def _edit_ahead(rows: list[OutboxItem]) -> int | None:
    """The first edit that may go ahead of the rows before it, if any."""
    for n, row in enumerate(rows):
        if is_page(row):
            return None
        if is_edit(row):
            return n if all(x.topic != row.topic for x in rows[:n]) else None
    return None
