"""The strategische analyse as data: fields being filled, versions, copies and read receipts."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import NewType

from core.model import IncidentId, PersonId

AnalyseId = NewType("AnalyseId", int)
# What a field of the analyse holds: a text or a choice (str), several choices (list[str]),
# gemeente ids (list[int]) or a moment (an ISO datetime str).
Answer = str | list[str] | list[int]


@dataclass(frozen=True, slots=True)
class Analyse:
    id: AnalyseId
    incident_id: IncidentId
    created_by: PersonId
    created_at: datetime
    version: int  # newest published version; 0 before the first
    bt_convened_by: PersonId | None = None
    bt_convened_at: datetime | None = None


@dataclass(frozen=True, slots=True)
class Editor:
    analyse_id: AnalyseId
    person_id: PersonId
    invited_by: PersonId | None
    joined: bool
    at: datetime


@dataclass(frozen=True, slots=True)
class FieldValue:
    value: Answer
    editor_id: PersonId
    updated_at: datetime


@dataclass(frozen=True, slots=True)
class Version:
    number: int
    values: dict[str, Answer]
    editors: dict[str, int]  # field key -> person id of its last editor
    published_by: PersonId
    published_at: datetime
    next_update_at: datetime | None


@dataclass(frozen=True, slots=True)
class Copy:
    analyse_id: AnalyseId
    number: int
    person_id: PersonId
    kind: str  # published | shared
    shared_by: PersonId | None
    at: datetime
    read_at: datetime | None = None
