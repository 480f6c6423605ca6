"""`scm-bot incident export`: the whole logbook of a real incident as Markdown, JSON and
PDF/A, on SQLite and PostgreSQL, and a clear answer for an incident that does not exist."""

from __future__ import annotations

import asyncio
import json
import xml.etree.ElementTree as ET
from io import BytesIO
from pathlib import Path

import pytest
from pypdf import PdfReader
from pypdf.generic import ArrayObject, StreamObject
from typer.testing import CliRunner, Result

from scm_bot.cli import app
from tests.helpers import NewHarness
from tests.helpers.bt import REGION, whole_incident

runner = CliRunner()
PDFAID = "{http://www.aiim.org/pdfa/ns/id/}"
DC = "{http://purl.org/dc/elements/1.1/}"
RDF = "{http://www.w3.org/1999/02/22-rdf-syntax-ns#}"


async def _export(db_url: str, *args: str) -> Result:
    """The command as a person runs it, in a thread of its own (it runs its own loop)."""

    def invoke() -> Result:
        return runner.invoke(app, ["incident", "export", *args], env={"DATABASE_URL": db_url})

    return await asyncio.to_thread(invoke)


@pytest.fixture
def workdir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.chdir(tmp_path)  # no stray .env; the PDF lands here by default
    monkeypatch.setenv("DATA_DIR", str(tmp_path / "data"))
    return tmp_path


async def test_the_whole_logbook_as_markdown_json_and_pdf_a(
    db_url: str, new_harness: NewHarness, workdir: Path
) -> None:
    h = await new_harness(region=REGION)
    await whole_incident(h)

    md = await _export(db_url, "0001", "--format", "md")
    assert md.exit_code == 0, md.output
    text = md.stdout
    assert text.startswith("# Logboek VRU-2026-0001\n")
    assert "- Gemeenten: Soest" in text
    assert "- Geopend: di 24 nov 03:07 · gesloten: di 24 nov 03:08" in text
    assert (
        "- Besluit 1 – di 24 nov 03:08 – GRIP 2 – Voorzitter Tom: "
        "Scholen in Soest blijven twee dagen dicht"
    ) in text
    assert "eerder: Scholen in Soest blijven morgen dicht (Voorzitter Tom" in text
    assert "voor Secretaris Soest (van Voorzitter Tom): Ouders informeren via de scholen" in text
    # Every kind of event, in the order it happened.
    steps = [
        "Caco Test · alarm gemaakt",
        "Rol Bert · gepaged (function=rol",
        "Rol Bert · opgepakt (function=rol)",
        "Rol Bert · analyse gedeeld (version=1, to=[bgm-soest])",
        "Burgemeester Soest · analyse gelezen (version=1)",
        "Burgemeester Soest · analyse doorgestuurd (version=1, to=gs-soest)",
        "Burgemeester Soest · team bijeengeroepen (team=gbt, "
        "starts_at=di 24 nov 04:07, place=Gemeentehuis Soest)",
        "Voorzitter Tom · gepaged (function=technisch-voorzitter, step=0, attempt=1)",
        "Voorzitter Tom · komt (function=technisch-voorzitter, team=gbt, eta=di 24 nov 03:22)",
        "Voorzitter Tom · aandachtskaart verstuurd (team=gbt, version=1)",
        "Comm Kees · kan niet (function=communicatieadviseur)",
        # The escalation: "Ik kom niet" pages the backup, the next step, at once.
        "Comm Karin · gepaged (function=communicatieadviseur, step=1, attempt=1)",
        "Comm Kees · komt niet (function=communicatieadviseur, team=gbt)",
        "Rol Bert · analyse gedeeld (version=2, to=[bgm-soest])",
        "system · nieuwe analyse naar het BT (version=2, to=[tv-tom, comm-karin])",
        "Voorzitter Tom · besluit (number=1, text=Scholen in Soest blijven morgen dicht)",
        "Voorzitter Tom · besluit gewijzigd (number=1",
        "Voorzitter Tom · actie (number=1, text=Ouders informeren via de scholen, owner=gs-soest)",
        "Caco Test · incident gesloten",
    ]
    positions = [text.index(step) for step in steps]
    assert positions == sorted(positions)

    english = await _export(db_url, "VRU-2026-0001", "--format", "md", "--language", "en")
    assert english.stdout.startswith("# Logbook VRU-2026-0001\n")
    assert "Burgemeester Soest · team convened (team=gbt, starts_at=Tue 24 Nov 04:07" in (
        english.stdout
    )

    out = workdir / "logboek.json"
    as_json = await _export(db_url, "0001", "--format", "json", "-o", str(out))
    assert as_json.exit_code == 0, as_json.output
    assert "Logboek van VRU-2026-0001 geschreven naar" in as_json.stderr
    data = json.loads(out.read_text("utf-8"))
    assert data["incident"]["id"] == "VRU-2026-0001"
    assert data["incident"]["status"] == "closed"
    actions = [e["action"] for e in data["entries"]]
    assert actions[0] == "incident.raised"
    # ... to the closing, then the two exports above (each export is on the record).
    assert actions[-3:] == ["incident.closed", "log.exported", "log.exported"]
    for action in (
        "page.sent",
        "page.acknowledged",
        "page.declined",
        "analyse.published",
        "analyse.read",
        "analyse.shared",
        "bt.convened",
        "bt.coming",
        "bt.not_coming",
        "bt.kaart_sent",
        "bt.kaart_update",
        "bt.decision",
        "bt.decision_changed",
        "bt.action",
    ):
        assert action in actions, action
    assert data["decisions"] == [
        {
            "bt": "Soest",
            "number": 1,
            "text": "Scholen in Soest blijven twee dagen dicht",
            "phase": "GRIP 2",
            "by": "tv-tom",
            "at": data["decisions"][0]["at"],
            "owner": None,
            "earlier": [
                {
                    "text": "Scholen in Soest blijven morgen dicht",
                    "by": "tv-tom",
                    "at": data["decisions"][0]["earlier"][0]["at"],
                }
            ],
        }
    ]
    assert [(a["owner"], a["text"]) for a in data["actions"]] == [
        ("gs-soest", "Ouders informeren via de scholen")
    ]

    pdf = await _export(db_url, "0001", "--format", "pdf")
    assert pdf.exit_code == 0, pdf.output
    written = workdir / "logboek-VRU-2026-0001.pdf"
    reader = PdfReader(BytesIO(written.read_bytes()))
    # PDF/A-3B: the XMP metadata says so, and an output intent names the colour space.
    root = reader.root_object
    metadata = root["/Metadata"].get_object()
    assert isinstance(metadata, StreamObject)
    xmp = ET.fromstring(metadata.get_data())
    assert xmp.findtext(f".//{PDFAID}part") == "3"
    assert xmp.findtext(f".//{PDFAID}conformance") == "B"
    intents = root["/OutputIntents"].get_object()
    assert isinstance(intents, ArrayObject)
    assert intents[0].get_object()["/S"] == "/GTS_PDFA1"
    assert xmp.findtext(f".//{DC}title/{RDF}Alt/{RDF}li") == "Logboek VRU-2026-0001"
    pages = "\n".join(page.extract_text() for page in reader.pages)
    assert "Scholen in Soest blijven twee dagen dicht" in pages
    assert "team bijeengeroepen" in pages
    again = await _export(db_url, "0001")
    assert "logboek geëxporteerd (format=pdf)" in again.stdout


async def test_an_unknown_incident_is_said_in_dutch_or_english_and_nothing_is_written(
    db_url: str, new_harness: NewHarness, workdir: Path
) -> None:
    await new_harness(region=REGION)
    for language, expected in (
        ("nl", "Onbekend incident '0042': er is geen incident met dat nummer"),
        ("en", "Unknown incident '0042': there is no incident with that number"),
    ):
        result = await _export(db_url, "0042", "--format", "pdf", "--language", language)
        assert result.exit_code == 1
        assert result.stderr.startswith(expected)
        assert result.stdout == ""
    assert not (workdir / "logboek-0042.pdf").exists()
