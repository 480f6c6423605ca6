"""The form of the strategische analyse: configuration, not code.

A YAML file lists every field with its key, Dutch and English label, prompt and help, type,
whether it is required and whether it feeds the BT kernbeeld. A choice is one text for every
language ("GRIP 2") or a Dutch and English pair; the Dutch text is what is stored. The default is
`core/data/analyse-form.yaml`; a region points the ANALYSE_FORM setting at its own file.
"""

from __future__ import annotations

from enum import StrEnum
from importlib.resources import files
from pathlib import Path
from typing import Annotated

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    StringConstraints,
    ValidationError,
    model_validator,
)

from core.i18n import t
from core.model import Language
from core.yaml_input import YamlProblem, load_yaml

LANGUAGE = Language.NL  # the form is written in Dutch, and so are its problems
MAX_CHOICES = 40


class FieldType(StrEnum):
    TEXT = "text"
    CHOICE = "choice"
    MULTI = "multi"
    GEMEENTEN = "gemeenten"
    TIME = "time"


class Localized(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    nl: str
    en: str | None = None

    def get(self, language: Language) -> str:
        return (self.en if language is Language.EN else None) or self.nl


class FormField(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    key: Annotated[str, StringConstraints(pattern=r"^[a-z][a-z0-9_]{0,31}$")]
    label: Localized
    prompt: Localized
    help: Localized | None = None
    type: FieldType = FieldType.TEXT
    choices: tuple[str | Localized, ...] = ()
    choices_from: str | None = None  # "families"
    required: bool = True
    kernbeeld: bool = True
    prefill: str | None = Field(default=None, pattern="^(gemeenten|opschaling)$")


class Form(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    families: tuple[str | Localized, ...] = ()
    fields: Annotated[tuple[FormField, ...], Field(min_length=1)]

    @model_validator(mode="after")
    def _consistent(self) -> Form:
        keys = [f.key for f in self.fields]
        twice = {k for k in keys if keys.count(k) > 1}
        if twice:
            raise ValueError(t(LANGUAGE, "form.duplicate_fields", keys=sorted(twice)))
        for f in self.fields:
            if f.choices_from not in (None, "families"):
                raise ValueError(t(LANGUAGE, "form.choices_from", field=f.key))
            if f.type in (FieldType.CHOICE, FieldType.MULTI) and not self.choices_of(f):
                raise ValueError(t(LANGUAGE, "form.needs_choices", field=f.key))
            if len(self.choices_of(f)) > MAX_CHOICES:
                too_many = t(LANGUAGE, "form.too_many_choices", field=f.key, limit=MAX_CHOICES)
                raise ValueError(too_many)
        return self

    def _options(self, field: FormField) -> tuple[str | Localized, ...]:
        return self.families if field.choices_from == "families" else field.choices

    def choices_of(self, field: FormField) -> tuple[str, ...]:
        """The values a choice stores: its Dutch text, whatever language chose it."""
        return tuple(c if isinstance(c, str) else c.nl for c in self._options(field))

    def choice_labels(self, field: FormField, language: Language) -> tuple[str, ...]:
        """The choices as `language` reads them, in the order of `choices_of`."""
        return tuple(c if isinstance(c, str) else c.get(language) for c in self._options(field))

    def choice_label(self, field: FormField, value: str, language: Language) -> str:
        """A stored value as `language` reads it (a value no longer offered: as stored)."""
        labels = dict(zip(self.choices_of(field), self.choice_labels(field, language), strict=True))
        return labels.get(value, value)

    def find_choice(self, field: FormField, text: str) -> str | None:
        """The stored value of a choice typed in any language (case does not matter)."""
        wanted = text.strip().casefold()
        for language in Language:
            labels = self.choice_labels(field, language)
            for value, label in zip(self.choices_of(field), labels, strict=True):
                if label.casefold() == wanted:
                    return value
        return None

    def field(self, key: str) -> FormField | None:
        return next((f for f in self.fields if f.key == key), None)

    def index(self, key: str) -> int:
        return next(i for i, f in enumerate(self.fields) if f.key == key)

    def find(self, query: str, language: Language) -> FormField | None:
        """A field by key or by the start of its label (for /wijzig)."""
        q = query.strip().casefold().replace(" ", "_")
        if not q:
            return None
        exact = self.field(q)
        if exact:
            return exact
        hits = [
            f
            for f in self.fields
            if f.label.get(language).casefold().replace(" ", "_").startswith(q)
            or f.key.startswith(q)
        ]
        return hits[0] if len(hits) == 1 else None


class FormFileError(ValueError):
    """The form file cannot be used; the message names the file and every problem, on one
    line."""


def _location(loc: tuple[int | str, ...]) -> str:
    """`fields[2].label`; a key with a newline or other unprintable text is quoted."""
    text = ""
    for part in loc:
        if isinstance(part, int):
            text += f"[{part}]"
        else:
            name = part if part.isprintable() and part.strip() == part != "" else repr(part)
            text += f".{name}" if text else name
    return text


def load_form(path: Path | None = None) -> Form:
    """The region's form, or the default one; a form that cannot be used raises
    FormFileError."""
    if path is None:
        text = files("core").joinpath("data", "analyse-form.yaml").read_text("utf-8")
        return Form.model_validate(load_yaml(text)[1])
    try:
        text = path.read_text("utf-8")
    except OSError as error:
        problem = t(LANGUAGE, "form.cannot_read", path=path, error=error.strerror)
        raise FormFileError(problem) from None
    except UnicodeDecodeError:
        raise FormFileError(t(LANGUAGE, "form.not_utf8", path=path)) from None
    try:
        return Form.model_validate(load_yaml(text)[1])
    except YamlProblem as error:
        raise FormFileError(f"{path}: {error}") from None
    except ValidationError as error:
        problems = "; ".join(
            f"{_location(e['loc']) or t(LANGUAGE, 'form.whole_file')}: {e['msg']}"
            for e in error.errors()
        )
        raise FormFileError(f"{path}: {problems}") from None
