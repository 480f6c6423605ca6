"""Message catalogs: Dutch and English have the same keys and placeholders."""

from __future__ import annotations

import string

from core.i18n import catalog, t
from core.model import Language


def _fields(template: str) -> set[str]:
    return {name for _, name, _, _ in string.Formatter().parse(template) if name}


def test_catalogs_have_the_same_keys_and_placeholders() -> None:
    nl, en = catalog(Language.NL), catalog(Language.EN)
    assert set(nl) == set(en)
    for key in nl:
        assert _fields(nl[key]) == _fields(en[key]), key


def test_translation_fills_parameters() -> None:
    assert t(Language.NL, "close.done", id="VRU-2026-0001") == "Incident VRU-2026-0001 is gesloten."
    assert t(Language.EN, "close.done", id="X") == "Incident X is closed."
