"""The form of the strategische analyse: configuration, not code.

A YAML file lists every field with its key, Dutch and English label, prompt and help, type,
whether it is required and whether it feeds the BT kernbeeld. The default is
`core/data/analyse-form.yaml`; a region points the ANALYSE_FORM setting at its own file.
"""

from __future__ import annotations

from enum import StrEnum
from importlib.resources import files
from pathlib import Path
from typing import Annotated

import yaml
from pydantic import BaseModel, ConfigDict, Field, StringConstraints, model_validator

from core.model import Language


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
    choices: tuple[str, ...] = ()
    choices_from: str | None = None  # "families"
    required: bool = True
    kernbeeld: bool = True
    prefill: str | None = Field(default=None, pattern="^(gemeenten|opschaling)$")


class Form(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    families: tuple[str, ...] = ()
    fields: Annotated[tuple[FormField, ...], Field(min_length=1)]

    @model_validator(mode="after")
    def _consistent(self) -> Form:
        keys = [f.key for f in self.fields]
        twice = {k for k in keys if keys.count(k) > 1}
        if twice:
            raise ValueError(f"dubbele veldnamen: {sorted(twice)}")
        for f in self.fields:
            if f.choices_from not in (None, "families"):
                raise ValueError(f"{f.key}: choices_from kent alleen 'families'")
            if f.type in (FieldType.CHOICE, FieldType.MULTI) and not self.choices_of(f):
                raise ValueError(f"{f.key}: een keuzeveld heeft keuzes nodig")
            if len(self.choices_of(f)) > 40:
                raise ValueError(f"{f.key}: hoogstens 40 keuzes")
        return self

    def choices_of(self, field: FormField) -> tuple[str, ...]:
        return self.families if field.choices_from == "families" else field.choices

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


def load_form(path: Path | None = None) -> Form:
    """The region's form, or the default one."""
    if path is None:
        text = files("core").joinpath("data", "analyse-form.yaml").read_text("utf-8")
    else:
        text = path.read_text("utf-8")
    return Form.model_validate(yaml.safe_load(text))
