"""Message catalogs (Dutch first, English second) and locale-aware time formatting.

Catalogs are gettext catalogs, one domain (`scm_bot`) per language:
`core/locales/<locale>/LC_MESSAGES/scm_bot.po`, compiled to the `.mo` files next to them
(committed, so a fresh clone runs with nothing but Python; `python3.11 scripts/dev.py
catalogs` updates and compiles them, and a test checks that they match their `.po`).

- **Keys as message ids.** A message's msgid is its stable key (`"close.done"`), its msgstr
  the text, with `{placeholders}` filled in by `str.format`. Dutch is the source language:
  every message is defined in `nl` first; a message missing in English is shown in Dutch.
- **Plurals.** A text chosen by a count has its key as both msgid and msgid_plural and one
  msgstr per form; `t` picks the form for the `count` parameter through `ngettext` and the
  catalog's Plural-Forms header.
- **Register.** Dutch addresses operational staff as "je" and the burgemeester and the share
  list as "u" (`Register`). The formal texts live in the catalog `nl@formal`, which holds
  only the messages whose wording differs and falls back to `nl` (the order in which gettext
  tries a locale with a modifier). English has one register.
"""

from __future__ import annotations

import gettext
import io
from collections.abc import Callable
from datetime import datetime
from functools import cache
from importlib.resources import files
from typing import Any
from zoneinfo import ZoneInfo

from babel.dates import format_datetime
from babel.messages.mofile import read_mo

from core.messages import Message
from core.model import Language, Register

DOMAIN = "scm_bot"
SOURCE = Language.NL  # every message is defined in Dutch first; other languages fall back to it
FORMAL_OVERLAY = {Language.NL: "nl@formal"}

Text = str | tuple[str, ...]  # a plain text, or its plural forms in the catalog's order
# A placeholder's text made in the reader's language: `Tx.send` calls it with the person's
# language before the message is formatted.
Localized = Callable[[Language], str]


def _compiled(locale: str) -> bytes:
    return files("core").joinpath("locales", locale, "LC_MESSAGES", f"{DOMAIN}.mo").read_bytes()


def _locales(language: Language, register: Register) -> list[str]:
    """The catalogs that answer for a language and register, in order: the first that has
    a text wins (English falls back to Dutch in the same register)."""
    overlay = FORMAL_OVERLAY.get(language) if register is Register.U else None
    chain = [overlay, language.value] if overlay else [language.value]
    return chain if language is SOURCE else chain + _locales(SOURCE, register)


@cache
def _translations(language: Language, register: Register) -> gettext.GNUTranslations:
    first, *fallbacks = (
        gettext.GNUTranslations(io.BytesIO(_compiled(locale)))
        for locale in _locales(language, register)
    )
    for fallback in fallbacks:
        first.add_fallback(fallback)
    return first


@cache
def _texts(locale: str) -> dict[str, Text]:
    texts: dict[str, Text] = {}
    for message in read_mo(io.BytesIO(_compiled(locale))):
        if isinstance(message.id, str):
            if message.id:  # not the header
                texts[message.id] = str(message.string)
        else:
            texts[message.id[0]] = tuple(str(form) for form in message.string or ())
    return texts


@cache
def catalog(language: Language, register: Register = Register.JE) -> dict[str, Text]:
    """Every text of a language's own catalog, by key; with `Register.U` the formal texts
    replace their plain counterparts."""
    texts = dict(_texts(language.value))
    overlay = FORMAL_OVERLAY.get(language) if register is Register.U else None
    if overlay is not None:
        texts.update(_texts(overlay))
    return texts


@cache
def _plural_keys() -> frozenset[str]:
    return frozenset(key for key, text in catalog(SOURCE).items() if not isinstance(text, str))


def t(language: Language, key: str, register: Register = Register.JE, /, **params: Any) -> str:
    """The text for `key` in `language` and `register`, with `params` filled in.

    A text in plural forms takes the form for `params["count"]`. Raises KeyError for a key
    that the Dutch catalog lacks."""
    if key not in catalog(SOURCE):
        raise KeyError(key)
    translations = _translations(language, register)
    if key in _plural_keys():
        template = translations.ngettext(key, key, int(params["count"]))
    else:
        template = translations.gettext(key)
    return template.format(**params) if params else template


def label_text(language: Language, label: str, register: Register = Register.JE) -> str:
    """A button label: a catalog key is translated, anything else (a gemeente) is literal."""
    if label in catalog(SOURCE):
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
