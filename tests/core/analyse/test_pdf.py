"""The analyse PDF shows what was written, in any script: it embeds Unicode fonts."""

from __future__ import annotations

import io
import re

from pypdf import PdfReader

from tests.core.analyse.test_service import _acknowledged, _fill_required
from tests.helpers import Harness

WRITTEN = "Burgemeester Kovács Ödön en Şahin: €2,5 mln schade 🚨🔥, ‘bewoners’ – “opvang” …"
HEBREW = "שלום עולם"


async def test_the_burgemeesters_pdf_shows_every_character_that_was_written(
    harness: Harness,
) -> None:
    await _acknowledged(harness)
    await harness.say("rol-b", "/analyse")
    await _fill_required(harness)
    await harness.say("rol-b", "/wijzig feitelijk_beeld")
    await harness.say("rol-b", f"{WRITTEN}\n{HEBREW}")
    await harness.say("rol-b", "/deel")
    (pdf,) = [m.attachment for m in harness.inbox("bgm-soest") if m.attachment]
    assert pdf.filename.endswith(".pdf")

    reader = PdfReader(io.BytesIO(pdf.content))
    text = "\n".join(page.extract_text() for page in reader.pages)
    assert WRITTEN in text
    assert HEBREW in text, "shaped right to left, extracted in reading order"
    assert "?" not in text
    fonts = set(re.findall(rb"/BaseFont /[A-Z]{6}\+([\w-]+)", pdf.content))
    assert fonts == {b"DejaVuSansBook", b"DejaVuSansBold", b"Symbola"}, "embedded, no Helvetica"
