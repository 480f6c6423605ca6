"""Message catalogs: Dutch and English have the same keys and placeholders; plural forms
are chosen by a count; Dutch addresses the burgemeester and the share list as "u"."""

from __future__ import annotations

import io
import re
import string
from importlib.resources import files
from pathlib import Path

import pytest
from babel.messages.catalog import Catalog
from babel.messages.mofile import read_mo
from babel.messages.pofile import read_po
from sqlalchemy.ext.asyncio import AsyncEngine
from typer.testing import CliRunner

from core.i18n import DOMAIN, FORMAL_OVERLAY, Text, catalog, t
from core.model import Language, Register
from scm_bot.cli import app
from tests.core.analyse.test_service import _fill_required as fill_required
from tests.helpers import REGION_FILE, Harness, make_harness

LOCALES = files("core").joinpath("locales")
CATALOGS = ("nl", "en", "nl@formal")


def _po(locale: str) -> Catalog:
    return read_po(io.BytesIO(_source(locale).encode("utf-8")), locale=locale)


def _source(locale: str) -> str:
    return LOCALES.joinpath(locale, "LC_MESSAGES", f"{DOMAIN}.po").read_text("utf-8")


def _fields(text: Text) -> set[str]:
    forms = [text] if isinstance(text, str) else list(text)
    return {name for form in forms for _, name, _, _ in string.Formatter().parse(form) if name}


def _texts(po: Catalog) -> dict[str, Text]:
    """Every message of a catalog by key: its text, or its plural forms."""
    return {
        (m.id if isinstance(m.id, str) else m.id[0]): (
            str(m.string) if isinstance(m.id, str) else tuple(str(f) for f in m.string or ())
        )
        for m in po
        if m.id
    }


@pytest.mark.parametrize("locale", CATALOGS)
def test_every_message_is_translated_once_and_plurals_have_every_form(locale: str) -> None:
    po = _po(locale)
    ids = re.findall(r'^msgid "(.+)"$', _source(locale), re.MULTILINE)
    assert len(ids) == len(set(ids)) == len(_texts(po)), "a message is defined twice"
    assert po.num_plurals == 2 and po.plural_expr == "(n != 1)"
    for key, text in _texts(po).items():
        assert not po[key].fuzzy, key
        if isinstance(text, str):
            assert text, key
        else:
            assert po[key].id == (key, key), key  # the key is both msgid and msgid_plural
            assert len(text) == po.num_plurals and all(text), key
            assert all("count" in _fields(form) for form in text), key


def test_dutch_and_english_have_the_same_messages_and_placeholders() -> None:
    nl, en = _texts(_po("nl")), _texts(_po("en"))
    assert set(nl) == set(en)
    for key in nl:
        assert _fields(nl[key]) == _fields(en[key]), key
        assert isinstance(nl[key], str) == isinstance(en[key], str), key


def test_the_formal_catalog_only_rewords_dutch_messages() -> None:
    nl, formal = _texts(_po("nl")), _texts(_po("nl@formal"))
    assert formal.keys() <= nl.keys()
    for key, text in formal.items():
        assert _fields(text) == _fields(nl[key]), key
        assert isinstance(text, str) == isinstance(nl[key], str), key


@pytest.mark.parametrize("locale", CATALOGS)
def test_the_compiled_catalogs_match_their_sources(locale: str) -> None:
    """The .mo files are committed: `python3.11 scripts/dev.py catalogs` compiles them."""
    compiled = read_mo(
        io.BytesIO(LOCALES.joinpath(locale, "LC_MESSAGES", f"{DOMAIN}.mo").read_bytes())
    )
    assert _texts(compiled) == _texts(_po(locale))
    assert compiled.plural_forms == _po(locale).plural_forms


def test_catalog_reads_the_compiled_texts() -> None:
    assert catalog(Language.NL) == _texts(_po("nl"))
    assert catalog(Language.EN) == _texts(_po("en"))
    assert catalog(Language.NL, Register.U) == _texts(_po("nl")) | _texts(_po("nl@formal"))


def test_translation_fills_parameters() -> None:
    assert t(Language.NL, "close.done", id="VRU-2026-0001") == "Incident VRU-2026-0001 is gesloten."
    assert t(Language.EN, "close.done", id="X") == "Incident X is closed."


def test_an_unknown_key_is_an_error() -> None:
    with pytest.raises(KeyError):
        t(Language.EN, "no.such.key")


def test_plural_forms_are_chosen_by_count() -> None:
    assert t(Language.NL, "cli.problems", file="f", count=1).startswith("f: 1 probleem,")
    assert t(Language.NL, "cli.problems", file="f", count=2).startswith("f: 2 problemen,")
    assert t(Language.EN, "cli.problems", file="f", count=0).startswith("f: 0 problems,")


# Words that address the reader informally, and formally.
JE = re.compile(r"\b(je|jij|jou|jouw|jezelf)\b", re.IGNORECASE)
U = re.compile(r"\b(u|uw|uzelf)\b", re.IGNORECASE)


def test_plain_dutch_says_je_and_formal_dutch_says_u_with_the_same_placeholders() -> None:
    plain = catalog(Language.NL)
    formal = catalog(Language.NL, Register.U)
    overlay = {key for key in formal if formal[key] != plain[key]}
    assert overlay, "the formal catalog overlays some texts"
    for key, text in plain.items():
        assert not U.search(str(text)), f"plain Dutch addresses the reader as u: {key}"
    for key in overlay:
        assert not JE.search(str(formal[key])), f"formal Dutch says je: {key}"
        assert _fields(formal[key]) == _fields(plain[key]), key
    assert Language.EN not in FORMAL_OVERLAY  # English has one register
    assert catalog(Language.EN, Register.U) == catalog(Language.EN)


def _everything(harness: Harness, who: str) -> str:
    """Every text a person was shown: messages, titles and button labels."""
    return "\n".join(
        "\n".join([m.title or "", m.text, *(b.label for b in m.buttons)])
        for m in harness.inbox(who)
    )


async def test_the_burgemeester_and_the_share_list_are_u_and_staff_are_je(
    harness: Harness,
) -> None:
    await harness.raise_alarm()
    await harness.press("rol-b", "I'll take it")
    await harness.say("rol-b", "/analyse")
    await fill_required(harness)
    await harness.say("rol-b", "/deel")
    for text in ("/help", "/status", "/analyse toon 3", "/sluit 0001", "/vliegtuig", "/taal nl"):
        await harness.say("bgm-soest", text)
    for label in ("Gelezen", "Bel mij", "Deel met…", "Secretaris Soest", "BT bijeenroepen"):
        await harness.press("bgm-soest", label)
    await harness.press("bgm-soest", "Ja, BT bijeenroepen")
    for text in ("/help", "/analyse toon", "/analyse toon 3"):
        await harness.say("gs-soest", text)
    await harness.press("gs-soest", "Gelezen")
    await harness.say("caco", "/help")

    mayor, secretary = _everything(harness, "bgm-soest"), _everything(harness, "gs-soest")
    assert "Dit kan ik voor u doen" in mayor and "Dit kan ik voor u doen" in secretary
    assert "Versie 3 kunt u niet lezen. Beschikbaar: 1." in mayor
    assert "U mag geen incidenten sluiten." in mayor
    assert "is gevraagd u terug te bellen." in mayor
    assert "Met wie wilt u versie 1 delen?" in mayor
    assert "Ik spreek vanaf nu Nederlands met u." in mayor
    assert JE.findall(mayor) == [], mayor
    assert JE.findall(secretary) == [], secretary
    caco = _everything(harness, "caco")
    assert "Dit kan ik voor je doen" in caco and U.findall(caco) == []


async def test_a_rotation_of_one_day_says_dag_and_of_seven_days_dagen(engine: AsyncEngine) -> None:
    region = REGION_FILE.read_text("utf-8").replace("shift_days: 7", "shift_days: 1")
    harness = await make_harness(engine, region=region)
    try:
        await harness.say("coord", "/rotatie rol")
        assert harness.last("coord").startswith("Rotatie ROL (regio): diensten van 1 dag,")
        await harness.say("rol-b", "/rotation rol")
        assert harness.last("rol-b").startswith("Rotation ROL (region): shifts of 1 day,")
    finally:
        await harness.app.close()


async def test_a_rotation_of_seven_days_says_dagen(harness: Harness) -> None:
    await harness.say("coord", "/rotatie rol")
    assert harness.last("coord").startswith("Rotatie ROL (regio): diensten van 7 dagen,")
    await harness.say("rol-b", "/rotation rol")
    assert harness.last("rol-b").startswith("Rotation ROL (region): shifts of 7 days,")


def test_the_cli_counts_problems_in_real_plural_forms(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    region = REGION_FILE.read_text("utf-8")
    one = tmp_path / "one.yaml"
    one.write_text(region.replace("burgemeester: bgm-soest", "burgemeester: x"))
    two = tmp_path / "two.yaml"
    two.write_text(
        region.replace("burgemeester: bgm-soest", "burgemeester: x").replace(
            "burgemeester: bgm-debilt", "burgemeester: y"
        )
    )
    result = CliRunner().invoke(app, ["region", "validate", str(one)])
    assert f"{one}: 1 probleem, er is niets geïmporteerd:" in result.output
    result = CliRunner().invoke(app, ["region", "validate", str(two)])
    assert f"{two}: 2 problemen, er is niets geïmporteerd:" in result.output


async def test_choices_read_in_each_persons_language_and_store_one_value(
    harness: Harness,
) -> None:
    await harness.raise_alarm()
    await harness.press("rol-b", "I'll take it")
    await harness.say("rol-b", "/analysis")
    await fill_required(harness)  # Bert reads English: "Convene the BT now", "Safety and health"
    await harness.say("rol-b", "/edit advies")
    question = harness.inbox("rol-b")[-1]
    assert [b.label for b in question.buttons][:3] == [
        "Convene the BT now",
        "Convene the BT later",
        "Do not convene the BT",
    ]
    assert "Convene the BT now" in question.text and "bijeenroepen" not in question.text
    await harness.say("rol-b", "convene the BT later")  # typed, in English
    await harness.say("rol-b", "/publish")
    mayor = harness.inbox("bgm-soest")[-1].text
    assert "Advies aan de burgemeester:\nBT later bijeenroepen" in mayor
    assert "Veiligheid en gezondheid" in mayor
    await harness.say("rol-b", "/analysis show")
    english = harness.last("rol-b")
    assert "Advice to the mayor:\nConvene the BT later" in english
    assert "Safety and health" in english and "bijeenroepen" not in english
