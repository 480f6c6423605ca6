"""Block Kit rendering: pure functions from `core.messages.Message` to Slack payloads.

Slack's limits are enforced here, so the transport never sends a payload Slack rejects:
at most 50 blocks per message, 3000 characters per section text, 150 per header and 75
per button label. Text is shown verbatim: sections use `plain_text`, in which `*`, `_` and
`<b>` are not formatting; only the notification fallback is mrkdwn-escaped.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from core.callbacks import PageButton
from core.messages import Button, Message

MAX_BLOCKS = 50
MAX_SECTION_TEXT = 3000
MAX_HEADER_TEXT = 150
MAX_BUTTON_TEXT = 75
MAX_BUTTONS_PER_ACTIONS = 25
MAX_BUTTONS = 5 * MAX_BUTTONS_PER_ACTIONS  # more would not fit beside the text they answer
MAX_FALLBACK_TEXT = 3000
ACTION_PREFIX = "scm:"
ELLIPSIS = "…"

Block = dict[str, Any]

# Only the page answer has an obvious colour; other buttons keep Slack's default.
_STYLES = {"ack": "primary", "decline": "danger"}  # of a page's buttons


@dataclass(frozen=True, slots=True)
class SlackMessage:
    """One chat.postMessage/chat.update payload: blocks plus the notification fallback."""

    text: str
    blocks: tuple[Block, ...]


def escape_mrkdwn(text: str) -> str:
    """Escape the three characters Slack treats as control characters in mrkdwn."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


_ANGLE = re.compile(r"<([^<>]*)>")


def _unwrap(match: re.Match[str]) -> str:
    target, _, label = match.group(1).partition("|")
    if target.startswith("#"):  # <#C123|general>
        return "#" + (label or target[1:])
    if target.startswith("@"):  # <@U123>: keep the id, the name is not in the payload
        return "@" + (label or target[1:])
    if target.startswith("!"):  # <!here>, <!subteam^S1|@team>, <!date^...|fallback>
        return label or "@" + target[1:].split("^", 1)[0]
    return label or target  # <https://x|x> or <mailto:a@b|a@b>


def from_slack_text(text: str) -> str:
    """What the person typed, from Slack's encoded text: links unwrapped, entities decoded.

    Slack sends `&`, `<` and `>` as entities and wraps links and mentions in `<...>`; the
    core works on what the person saw when typing.
    """
    unwrapped = _ANGLE.sub(_unwrap, text)
    return unwrapped.replace("&lt;", "<").replace("&gt;", ">").replace("&amp;", "&")


def size(text: str) -> int:
    """Length as Slack counts it, conservatively: in UTF-16 code units (an emoji is 2)."""
    return len(text.encode("utf-16-le")) // 2


def _hard_cut(text: str, limit: int) -> list[str]:
    chunks: list[str] = []
    current: list[str] = []
    used = 0
    for char in text:
        units = size(char)
        if used + units > limit:
            chunks.append("".join(current))
            current, used = [], 0
        current.append(char)
        used += units
    if current:
        chunks.append("".join(current))
    return chunks


def _truncate(text: str, limit: int) -> str:
    if size(text) <= limit:
        return text
    return _hard_cut(text, limit - size(ELLIPSIS))[0] + ELLIPSIS


def _pack(pieces: list[str], separator: str, limit: int) -> list[str]:
    """Greedily join pieces (each at most `limit` long) into chunks of at most `limit`."""
    chunks: list[str] = []
    current = ""
    for piece in pieces:
        if not current:
            current = piece
        elif size(current) + size(separator) + size(piece) <= limit:
            current += separator + piece
        else:
            chunks.append(current)
            current = piece
    if current:
        chunks.append(current)
    return chunks


def split_text(text: str, limit: int = MAX_SECTION_TEXT) -> list[str]:
    """Split text into chunks of at most `limit` characters: on paragraph boundaries where
    possible, then on lines, then by a hard cut. Blank chunks are dropped (Slack rejects
    empty text objects)."""
    pieces: list[str] = []
    for paragraph in text.split("\n\n"):
        if not paragraph.strip():
            continue
        if size(paragraph) <= limit:
            pieces.append(paragraph)
            continue
        lines: list[str] = []
        for line in paragraph.split("\n"):
            lines.extend(_hard_cut(line, limit) if size(line) > limit else [line])
        pieces.extend(chunk for chunk in _pack(lines, "\n", limit) if chunk.strip())
    return _pack(pieces, "\n\n", limit)


def plain_text(text: str) -> dict[str, Any]:
    # emoji=False: a `:word:` typed in an alert is shown as typed, not as an emoji.
    return {"type": "plain_text", "text": text, "emoji": False}


def _button(index: int, button: Button) -> Block:
    element: Block = {
        "type": "button",
        "action_id": f"{ACTION_PREFIX}{index}",
        "text": {"type": "plain_text", "text": _truncate(button.label, MAX_BUTTON_TEXT)},
        "value": button.data,
    }
    page = PageButton.unpack(button.data)
    style = _STYLES.get(page.action) if page else None
    if style:
        element["style"] = style
    return element


def _actions(buttons: tuple[Button, ...]) -> list[Block]:
    kept = buttons[:MAX_BUTTONS]
    return [
        {
            "type": "actions",
            "elements": [
                _button(start + i, button)
                for i, button in enumerate(kept[start : start + MAX_BUTTONS_PER_ACTIONS])
            ],
        }
        for start in range(0, len(kept), MAX_BUTTONS_PER_ACTIONS)
    ]


def _fallback(blocks: list[Block], title: str | None) -> str:
    """The notification text of one Slack message: its header and sections, escaped."""
    texts = [title] if title else []
    texts += [b["text"]["text"] for b in blocks if b["type"] == "section"]
    plain = "\n".join(texts) or ELLIPSIS
    limit = MAX_FALLBACK_TEXT
    while size(escaped := escape_mrkdwn(_truncate(plain, limit))) > MAX_FALLBACK_TEXT:
        # Escaping lengthens the text: shorten before escaping, never cut an entity in two.
        limit -= size(escaped) - MAX_FALLBACK_TEXT
    return escaped


def render_message(message: Message) -> list[SlackMessage]:
    """Render one message as one or more Slack messages, each within Slack's limits.

    The title becomes a header on the first; text too long for one message continues in
    the next; the buttons go on the last, right under the text they answer.
    """
    title = message.title.strip() if message.title and message.title.strip() else None
    sections: list[Block] = [
        {"type": "section", "text": plain_text(chunk)} for chunk in split_text(message.text)
    ]
    if not sections and title is None:
        sections = [{"type": "section", "text": plain_text(ELLIPSIS)}]
    actions = _actions(message.buttons)

    pages: list[list[Block]] = []
    current: list[Block] = []
    if title is not None:
        current.append(
            {
                "type": "header",
                "text": {"type": "plain_text", "text": _truncate(title, MAX_HEADER_TEXT)},
            }
        )
    for section in sections:
        if len(current) == MAX_BLOCKS:
            pages.append(current)
            current = []
        current.append(section)
    if len(current) + len(actions) > MAX_BLOCKS:
        # Carry the last sections over, so the buttons never stand alone.
        keep = MAX_BLOCKS - len(actions)
        pages.append(current[:keep])
        current = current[keep:]
    current.extend(actions)
    pages.append(current)

    return [
        SlackMessage(_fallback(blocks, title if i == 0 else None), tuple(blocks))
        for i, blocks in enumerate(pages)
    ]
