"""How the analyse reads: function names as people write them, and a legend for the change
marks in the chat text and in the PDF."""

from __future__ import annotations

import io
import re

from pypdf import PdfReader

from tests.core.analyse.test_service import _fill_required as fill_required
from tests.helpers import Harness


async def test_sources_say_caco_and_the_pdf_explains_its_change_marks(harness: Harness) -> None:
    await harness.raise_alarm()
    await harness.press("rol-b", "I'll take it")
    await harness.say("rol-b", "/analyse")
    await fill_required(harness)
    await harness.say("rol-b", "/deel")
    await harness.press("bgm-soest", "Gelezen")
    await harness.say("rol-b", "/wijzig feitelijk_beeld")
    await harness.say("rol-b", "Nieuw: brand uitgebroken")
    await harness.say("rol-b", "/wijzig volgende_update")
    await harness.say("rol-b", "over 60 min")
    await harness.say("rol-b", "/deel")

    v2 = harness.inbox("bgm-soest")[-1]
    assert "Opgesteld door: Rol Bert (ROL)\nBronnen: Caco, ROL\n" in v2.text
    assert "CACO" not in v2.text
    assert v2.attachment is not None
    reader = PdfReader(io.BytesIO(v2.attachment.content))
    text = "\n".join(page.extract_text() for page in reader.pages)
    assert "Bronnen: Caco, ROL" in text and "CACO" not in text
    # The changed field carries a mark, and the legend under the heading says what it means.
    marked = re.search(r"^(\S) Feitelijk beeld$", text, re.MULTILINE)
    assert marked is not None, text
    assert f"\n{marked.group(1)} = gewijzigd sinds versie 1\n" in text
