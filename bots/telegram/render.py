"""Rendering a render-neutral `Message` as Telegram HTML: pure functions, no I/O.

Every piece of text is escaped (the core sends plain text, never markup), long text is split
into chunks that Telegram accepts, and the buttons go on the last chunk only, so the message
that carries them is the one later edits must reach.
"""

from __future__ import annotations

import html
from collections.abc import Sequence
from dataclasses import dataclass

from telegram import InlineKeyboardButton, InlineKeyboardMarkup
from telegram.constants import InlineKeyboardButtonLimit, MessageLimit

from core.messages import Button, Message

# Telegram counts a message's length after parsing the HTML, in UTF-16 code units.
MAX_TEXT = int(MessageLimit.MAX_TEXT_LENGTH)  # 4096
MAX_CALLBACK_BYTES = int(InlineKeyboardButtonLimit.MAX_CALLBACK_DATA)  # 64
# Labels longer than this would be cut off on a phone when two share a row.
LONG_LABEL = 20
PER_ROW = 2
ELLIPSIS = "\n…"


# Text is split this much short of Telegram's limit, so a line in front of a chunk (the
# note that marks a repeated message) still fits.
NOTE_ROOM = 200


@dataclass(frozen=True, slots=True)
class Chunk:
    """One Telegram message: HTML text (or plain text, see `render`) and, on the last chunk
    only, the keyboard."""

    html: str
    markup: InlineKeyboardMarkup | None = None
    plain: bool = False  # sent without a parse mode: the fallback for a refused page


def units(text: str) -> int:
    """Length as Telegram counts it: UTF-16 code units (an emoji may count 2)."""
    return len(text.encode("utf-16-le")) // 2


def _hard_cut(text: str, limit: int) -> tuple[str, str]:
    """The longest head of `text` within `limit` units, and the rest (never splits a
    character, as Python strings index code points)."""
    if units(text) <= limit:
        return text, ""
    size = 0
    for index, char in enumerate(text):
        size += 2 if ord(char) > 0xFFFF else 1
        if size > limit:
            cut = max(index, 1)  # always progress, even if one character exceeds the limit
            return text[:cut], text[cut:]
    return text, ""  # pragma: no cover - unreachable: the length check above returned


def _pieces(text: str, limit: int) -> list[str]:
    """Cut `text` into pieces that each fit `limit`: whole paragraphs, else whole lines,
    else a hard cut (the separators between pieces are dropped at the cut)."""
    if units(text) <= limit:
        return [text]
    for separator in ("\n\n", "\n"):
        if separator in text:
            parts = text.split(separator)
            return _pack(parts, separator, limit)
    head, rest = _hard_cut(text, limit)
    return [head, *_pieces(rest, limit)] if rest else [head]


def _pack(parts: Sequence[str], separator: str, limit: int) -> list[str]:
    """Join consecutive parts with `separator` as long as they fit; split any part that
    does not fit on its own more finely."""
    chunks: list[str] = []
    current: str | None = None
    for part in parts:
        if units(part) > limit:
            if current is not None:
                chunks.append(current)
                current = None
            chunks.extend(_pieces(part, limit))
            continue
        candidate = part if current is None else current + separator + part
        if units(candidate) <= limit:
            current = candidate
        else:
            if current is not None:
                chunks.append(current)
            current = part
    if current is not None:
        chunks.append(current)
    return chunks


def split_text(text: str, limit: int = MAX_TEXT, first_limit: int | None = None) -> list[str]:
    """Split plain text into chunks of at most `limit` units (`first_limit` for the first,
    which shares its message with the title): on paragraph boundaries, then lines, then a
    hard cut as the last resort."""
    first = limit if first_limit is None else first_limit
    if units(text) <= first:
        return [text]
    chunks = _pieces(text, first)
    if first != limit and len(chunks) > 1:
        # The first chunk was cut to the shorter limit: the rest may use the full one.
        rest = text[len(chunks[0]) :].lstrip("\n")
        chunks = [chunks[0], *split_text(rest, limit)]
    # Telegram refuses a blank message: drop chunks that were only empty lines. A blank
    # first chunk stays when it has a shorter limit: it shares its message with the title.
    head, tail = (chunks[:1], chunks[1:]) if first != limit else ([], chunks)
    return [*head, *(c for c in tail if c.strip())] or chunks[:1]


def keyboard(buttons: Sequence[Button]) -> InlineKeyboardMarkup | None:
    """The inline keyboard: two buttons a row, or one a row when any label is long.

    Raises ValueError for callback data over Telegram's 64-byte limit (Telegram would
    reject the whole message).
    """
    if not buttons:
        return None
    for button in buttons:
        if len(button.data.encode("utf-8")) > MAX_CALLBACK_BYTES:
            raise ValueError(f"callback data over {MAX_CALLBACK_BYTES} bytes: {button.data!r}")
    per_row = 1 if any(len(b.label) > LONG_LABEL for b in buttons) else PER_ROW
    rows = [
        [InlineKeyboardButton(b.label, callback_data=b.data) for b in buttons[i : i + per_row]]
        for i in range(0, len(buttons), per_row)
    ]
    return InlineKeyboardMarkup(rows)


def _escape(text: str, plain: bool) -> str:
    return text if plain else html.escape(text, quote=False)


def render(
    message: Message,
    limit: int = MAX_TEXT - NOTE_ROOM,
    max_chunks: int | None = None,
    *,
    plain: bool = False,
) -> list[Chunk]:
    """The Telegram messages that show `message`: the title in bold on the first, all text
    escaped, the keyboard on the last. With `max_chunks` (an edit cannot add messages),
    text that needs more is cut short with an ellipsis. `plain` gives the same chunks as
    plain text (no markup at all), for a page Telegram refused to parse."""
    title = message.title.strip() if message.title else ""
    text = message.text
    if not title and not text.strip():
        text = "…"  # Telegram refuses an empty message
    first_limit = limit - units(title) - 1 if title else limit
    if first_limit < 2:  # an absurdly long title: show it as text instead
        title, text, first_limit = "", f"{title}\n{text}", limit
    parts = split_text(text, limit, first_limit) if text else [""]
    if max_chunks is not None and len(parts) > max(max_chunks, 1):
        keep = max(max_chunks, 1)
        room = (first_limit if keep == 1 else limit) - units(ELLIPSIS)
        parts = [*parts[: keep - 1], _hard_cut(parts[keep - 1], room)[0] + ELLIPSIS]
    escaped = [_escape(part, plain) for part in parts]
    if title:
        head = _escape(title, plain) if plain else f"<b>{_escape(title, plain)}</b>"
        escaped[0] = f"{head}\n{escaped[0]}" if escaped[0] else head
    markup = keyboard(message.buttons)
    return [
        Chunk(part, markup if index == len(escaped) - 1 else None, plain)
        for index, part in enumerate(escaped)
    ]
