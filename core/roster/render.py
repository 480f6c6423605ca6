"""The roster as a picture: one row per function and scope, one column per day, each cell
showing who is on duty that day (a handover splits the cell); gaps in red."""

from __future__ import annotations

import io
from collections.abc import Callable
from datetime import date, datetime, timedelta
from typing import NamedTuple

from babel.dates import format_date
from PIL import Image, ImageDraw, ImageFont

from core.i18n import t
from core.model import Directory, Language, PersonId
from core.roster.model import Key, Roster, RosterSettings, to_utc
from core.roster.service import key_label

CELL_W, CELL_H, LABEL_W, HEAD_H, PAD = 118, 46, 230, 40, 4
GAP = (230, 90, 80)
GRID = (190, 190, 190)
INK = (20, 20, 20)
HEAD = (235, 238, 243)
PALETTE = [
    (204, 229, 255),
    (212, 237, 218),
    (255, 243, 205),
    (226, 215, 240),
    (255, 221, 204),
    (209, 236, 241),
    (237, 231, 225),
    (220, 240, 200),
]


def _font(size: int) -> ImageFont.FreeTypeFont | ImageFont.ImageFont:
    try:
        return ImageFont.load_default(size=size)
    except (TypeError, OSError):  # Pillow without FreeType: the small bitmap font
        return ImageFont.load_default()


def _fit(draw: ImageDraw.ImageDraw, text: str, font: object, width: int) -> str:
    if draw.textlength(text, font=font) <= width:  # type: ignore[arg-type]
        return text
    while text and draw.textlength(text + "…", font=font) > width:  # type: ignore[arg-type]
        text = text[:-1]
    return text + "…"


def render_grid(
    directory: Directory,
    settings: RosterSettings,
    roster: Roster,
    keys: list[Key],
    start: datetime,
    end: datetime,
    lang: Language,
) -> bytes:
    tz = directory.region.timezone
    first = start.astimezone(tz).date()
    days = max(1, (end.astimezone(tz).date() - first).days)
    # A week per block; a longer period stacks its weeks under each other.
    per_block = days if days <= 8 else 7
    blocks = -(-days // per_block)
    block_h = HEAD_H + CELL_H * len(keys)
    width = LABEL_W + CELL_W * per_block + 1
    height = blocks * block_h + (blocks - 1) * PAD * 3 + 1
    image = Image.new("RGB", (width, height), "white")
    draw = ImageDraw.Draw(image)
    small, normal = _font(12), _font(14)
    colours: dict[PersonId, tuple[int, int, int]] = {}
    gap = t(lang, "roster.picture.gap")

    def colour(person: PersonId) -> tuple[int, int, int]:
        if person not in colours:
            colours[person] = PALETTE[len(colours) % len(PALETTE)]
        return colours[person]

    pen = _Pen(draw, small, colour, gap)
    for block in range(blocks):
        top = block * (block_h + PAD * 3)
        count = min(per_block, days - block * per_block)
        draw.rectangle((0, top, width, top + HEAD_H), fill=HEAD)
        draw.text((PAD * 2, top + 12), t(lang, "roster.picture.title"), fill=INK, font=normal)
        for i in range(count):
            day = first + timedelta(days=block * per_block + i)
            x = LABEL_W + i * CELL_W
            label = format_date(day, "EEE d MMM", locale=lang.value)
            draw.text((x + PAD * 2, top + 12), label, fill=INK, font=normal)
        for row, key in enumerate(keys):
            y = top + HEAD_H + row * CELL_H
            text = _fit(draw, key_label(directory, settings, key, lang), normal, LABEL_W - 3 * PAD)
            draw.text((PAD * 2, y + 15), text, fill=INK, font=normal)
            for i in range(count):
                day = first + timedelta(days=block * per_block + i)
                x = LABEL_W + i * CELL_W
                _cell(pen, directory, roster, key, day, x, y)
        for row in range(len(keys) + 1):
            y = top + HEAD_H + row * CELL_H
            draw.line((0, y, width, y), fill=GRID)
        for i in range(count + 1):
            x = LABEL_W + i * CELL_W
            draw.line((x, top, x, top + block_h), fill=GRID)
        draw.line((0, top, 0, top + block_h), fill=GRID)
    out = io.BytesIO()
    image.save(out, format="PNG", optimize=True)
    return out.getvalue()


class _Pen(NamedTuple):
    """What the cells are drawn with: the image, the font of the names, a colour per person
    and the text of a gap."""

    draw: ImageDraw.ImageDraw
    font: ImageFont.FreeTypeFont | ImageFont.ImageFont
    colour: Callable[[PersonId], tuple[int, int, int]]
    gap: str


def _cell(
    pen: _Pen, directory: Directory, roster: Roster, key: Key, day: date, x0: int, y: int
) -> None:
    """One day of one roster: coloured by who is on duty (a handover splits it), gaps red,
    with the name of whoever holds most of the day."""
    draw, font, colour, gap = pen
    tz = directory.region.timezone
    a = to_utc(datetime.combine(day, datetime.min.time()), tz)
    b = to_utc(datetime.combine(day + timedelta(days=1), datetime.min.time()), tz)
    segments = roster.timeline(*key, a, b)
    total = (b - a).total_seconds()
    for seg in segments:
        left = x0 + int((seg.start - a).total_seconds() / total * CELL_W)
        right = x0 + int((seg.end - a).total_seconds() / total * CELL_W)
        who = seg.duty.on_duty
        draw.rectangle((left, y, right, y + CELL_H), fill=GAP if who is None else colour(who))
    main = max(segments, key=lambda s: s.end - s.start)
    if main.duty.on_duty is None:
        text = gap
    else:
        person = directory.people.get(main.duty.on_duty)
        text = person.name if person else "?"
    draw.text((x0 + PAD, y + 16), _fit(draw, text, font, CELL_W - 2 * PAD), fill=INK, font=font)
