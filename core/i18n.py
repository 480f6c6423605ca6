"""Message catalogs (Dutch first, English second) and locale-aware time formatting.

Catalogs are TOML files in `core/locales/<language>/`, one per feature, merged; nested
tables flatten to dotted keys (`[page] ack = "..."` is `page.ack`). A key missing in English
falls back to Dutch; a key defined twice is an error.
"""

from __future__ import annotations

import tomllib
from datetime import datetime
from functools import cache
from importlib.resources import files
from typing import Any
from zoneinfo import ZoneInfo

from babel.dates import format_datetime

from core.messages import Message
from core.model import Language


def _flatten(table: dict[str, Any], prefix: str = "") -> dict[str, str]:
    flat: dict[str, str] = {}
    for key, value in table.items():
        name = f"{prefix}{key}"
        if isinstance(value, dict):
            flat.update(_flatten(value, f"{name}."))
        else:
            flat[name] = str(value)
    return flat


@cache
def catalog(language: Language) -> dict[str, str]:
    merged: dict[str, str] = {}
    folder = files("core").joinpath("locales", language.value)
    for entry in sorted(folder.iterdir(), key=lambda e: e.name):
        if not entry.name.endswith(".toml"):
            continue
        flat = _flatten(tomllib.loads(entry.read_text("utf-8")))
        twice = merged.keys() & flat.keys()
        if twice:
            raise ValueError(f"{language.value}/{entry.name} redefines {sorted(twice)}")
        merged.update(flat)
    return merged


def t(language: Language, key: str, **params: Any) -> str:
    """The text for `key` in `language`, with `params` filled in."""
    template = catalog(language).get(key)
    if template is None:
        template = catalog(Language.NL)[key]
    return template.format(**params) if params else template


def label_text(language: Language, label: str) -> str:
    """A button label: a catalog key is translated, anything else (a gemeente) is literal."""
    return t(language, label) if label in catalog(Language.NL) else label


def fmt_time(at: datetime, tz: ZoneInfo, language: Language) -> str:
    """Wall-clock time as people read it on the meldkamer: 03:12."""
    return at.astimezone(tz).strftime("%H:%M")  # the same in every language


def fmt_datetime(at: datetime, tz: ZoneInfo, language: Language) -> str:
    """Day and time: "ma 23 nov 03:12"."""
    return format_datetime(at, "EEE d MMM HH:mm", tzinfo=tz, locale=language.value)


def storage_failure_message(language: Language) -> Message:
    """What a person is told when what they sent could not be saved (`StorageError`)."""
    return Message(t(language, "storage.failed"))
