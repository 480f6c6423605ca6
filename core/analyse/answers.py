"""What a typed answer means for a field of the analyse form: the rules of each field type."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from zoneinfo import ZoneInfo

from core.analyse.form import FieldType, Form, FormField
from core.analyse.when import parse_moment
from core.errors import UserError
from core.model import Gemeente, Language
from core.region.gemeenten import match, split_names


def options(form: Form, field: FormField, language: Language) -> str:
    """The choices of a field as listed when an answer is not one of them."""
    return ", ".join(form.choice_labels(field, language))


def choice(form: Form, field: FormField, text: str, language: Language) -> str:
    """A choice by its text, or (single choice only) by its number in the list."""
    choices = form.choices_of(field)
    chosen = form.find_choice(field, text)
    number = text.isascii() and text.isdigit()  # not "²", which isdigit()
    in_list = number and 1 <= int(text) <= len(choices)
    if chosen is None and field.type is FieldType.CHOICE and in_list:
        chosen = choices[int(text) - 1]
    if chosen is None:
        raise UserError("analyse.choice_again", options=options(form, field, language))
    return chosen


def gemeenten(known: Sequence[Gemeente], text: str) -> list[int]:
    """Every named gemeente, each named unambiguously; sorted, once each."""
    ids: list[int] = []
    for name in split_names(text):
        found = match(known, name)
        if found.found is None:
            names = ", ".join(g.name for g in found.candidates) or "—"
            raise UserError("analyse.gemeente_unknown", name=name, options=names)
        ids.append(found.found.id)
    return sorted(set(ids))


def moment(text: str, now: datetime, tz: ZoneInfo) -> str:
    """A time in the future, stored as ISO text."""
    return parse_moment(text, now, tz).isoformat()
