"""Message catalogs (Dutch first, English second) and locale-aware time formatting.

Catalogs are TOML files in `core/locales/<language>/`, one per feature, merged; nested
tables flatten to dotted keys (`[page] ack = "..."` is `page.ack`). A key missing in English
falls back to Dutch; a key defined twice is an error.

Two refinements, both shaped so that a later move to gettext `.po` catalogs stays a
mechanical translation:

- **Plurals.** A text may be a table of CLDR plural forms (`{one = "{count} dag", other =
  "{count} dagen"}`); the form is chosen by the `count` parameter with Babel's plural rules
  for the language (gettext's `ngettext`).
- **Register.** Dutch addresses operational staff as "je" and the burgemeester and the share
  list as "u" (`Register`). The formal texts live in an overlay catalog,
  `core/locales/nl_formal/`, that holds only the keys whose wording differs and falls back
  to `nl` (as a gettext `nl@formal` catalog would). English has one register.
"""

from __future__ import annotations

import tomllib
from collections.abc import Mapping
from datetime import datetime
from functools import cache
from importlib.resources import files
from typing import Any
from zoneinfo import ZoneInfo

from babel import Locale
from babel.dates import format_datetime

from core.messages import Message
from core.model import Language, Register

# The CLDR plural categories: a table with only these keys is one text in plural forms.
PLURAL_FORMS = frozenset({"zero", "one", "two", "few", "many", "other"})
FORMAL_OVERLAY = {Language.NL: "nl_formal"}

Text = str | Mapping[str, str]  # a plain text, or its plural forms


def _is_plural(value: dict[str, Any]) -> bool:
    return "other" in value and set(value) <= PLURAL_FORMS


def _flatten(table: dict[str, Any], prefix: str = "") -> dict[str, Text]:
    flat: dict[str, Text] = {}
    for key, value in table.items():
        name = f"{prefix}{key}"
        if isinstance(value, dict) and _is_plural(value):
            flat[name] = {form: str(text) for form, text in value.items()}
        elif isinstance(value, dict):
            flat.update(_flatten(value, f"{name}."))
        else:
            flat[name] = str(value)
    return flat


def _load(folder_name: str) -> dict[str, Text]:
    merged: dict[str, Text] = {}
    folder = files("core").joinpath("locales", folder_name)
    for entry in sorted(folder.iterdir(), key=lambda e: e.name):
        if not entry.name.endswith(".toml"):
            continue
        flat = _flatten(tomllib.loads(entry.read_text("utf-8")))
        twice = merged.keys() & flat.keys()
        if twice:
            raise ValueError(f"{folder_name}/{entry.name} redefines {sorted(twice)}")
        merged.update(flat)
    return merged


@cache
def catalog(language: Language, register: Register = Register.JE) -> dict[str, Text]:
    """Every text of a language; with `Register.U` the formal texts replace their plain
    counterparts (a formal key that the plain catalog lacks is an error)."""
    merged = _load(language.value)
    overlay = FORMAL_OVERLAY.get(language) if register is Register.U else None
    if overlay is not None:
        formal = _load(overlay)
        unknown = formal.keys() - merged.keys()
        if unknown:
            raise ValueError(f"{overlay} has keys that {language.value} lacks: {sorted(unknown)}")
        merged.update(formal)
    return merged


@cache
def _plural_rule(language: Language) -> Any:
    return Locale.parse(language.value).plural_form


def plural_form(language: Language, count: int) -> str:
    """The CLDR plural category of `count` in `language` ("one", "other", ...)."""
    form: str = _plural_rule(language)(abs(count))
    return form


def t(language: Language, key: str, register: Register = Register.JE, /, **params: Any) -> str:
    """The text for `key` in `language` and `register`, with `params` filled in.

    A text in plural forms takes the form for `params["count"]`."""
    template = catalog(language, register).get(key)
    if template is None:
        language = Language.NL
        template = catalog(Language.NL, register)[key]
    if not isinstance(template, str):
        form = plural_form(language, int(params["count"]))
        template = template.get(form, template["other"])
    return template.format(**params) if params else template


def label_text(language: Language, label: str, register: Register = Register.JE) -> str:
    """A button label: a catalog key is translated, anything else (a gemeente) is literal."""
    if label in catalog(Language.NL):
        return t(language, label, register)
    return label


def fmt_time(at: datetime, tz: ZoneInfo, language: Language) -> str:
    """Wall-clock time as people read it on the meldkamer: 03:12."""
    return at.astimezone(tz).strftime("%H:%M")  # the same in every language


def fmt_datetime(at: datetime, tz: ZoneInfo, language: Language) -> str:
    """Day and time: "ma 23 nov 03:12"."""
    return format_datetime(at, "EEE d MMM HH:mm", tzinfo=tz, locale=language.value)


def storage_failure_message(language: Language) -> Message:
    """What a person is told when what they sent could not be saved (`StorageError`)."""
    return Message(t(language, "storage.failed"))
