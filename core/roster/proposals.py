"""Roster changes as typed proposals, and the stored form of a change waiting for a button.

A change is one of three kinds (`OverrideChange`, `ShiftChange`, `RotationChange`). A
`Proposal` is a change checked against the roster, with the roster before and after it. A
`ChangeRequest` is what a preview or a swap stores until its button is pressed; it is stored
as flat JSON (the layout requests always had, so requests stored before an upgrade still
parse) and validated when it is read back.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import Field, TypeAdapter, ValidationError

from core.errors import UserError
from core.model import PersonId
from core.roster.model import Key, Roster


@dataclass(frozen=True)
class OverrideChange:
    """Someone takes over another's duty for a while (/vervang, and every swap)."""

    replaced: PersonId
    replacement: PersonId
    op: Literal["override"] = "override"


@dataclass(frozen=True)
class ShiftChange:
    """An explicit shift: a person (and a backup) on duty for a while (/dienst)."""

    person: PersonId
    backup: PersonId | None
    op: Literal["shift"] = "shift"


@dataclass(frozen=True)
class RotationChange:
    """Someone added to or removed from a rotation, from its next handover (/rotatie)."""

    person: PersonId
    adding: bool
    members: tuple[PersonId, ...]
    start_local: str  # the new rotation's first handover, local ISO minutes
    shift_days: int
    old_members: tuple[PersonId, ...]  # as the preview found them: changed since, refused
    old_start_local: str
    op: Literal["rotation"] = "rotation"


Change = OverrideChange | ShiftChange | RotationChange


@dataclass(frozen=True)
class Proposal:
    """A change, checked, with what the roster looks like after it."""

    change: Change
    key: Key
    before: Roster
    after: Roster
    start: datetime
    end: datetime
    affected: tuple[PersonId, ...]

    @property
    def op(self) -> str:
        return self.change.op


@dataclass(frozen=True)
class ChangeRequest:
    """A proposal as stored until its button: the change, where and when, and the roster's
    fingerprint the preview showed (None on requests from before fingerprints)."""

    change: Change
    key: Key
    start: datetime
    end: datetime
    result: str | None = None

    def to_json(self) -> dict[str, Any]:
        """The flat layout of stored requests: op, function, scope, start, end, the change's
        own fields, result."""
        change: dict[str, Any] = _CHANGE.dump_python(self.change, mode="json")
        op = change.pop("op")
        return {
            "op": op,
            "function": self.key[0],
            "scope": self.key[1],
            "start": self.start.isoformat(),
            "end": self.end.isoformat(),
            **change,
            **({"result": self.result} if self.result is not None else {}),
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> ChangeRequest:
        """A stored request; one that no longer parses is refused as stale."""
        try:
            return cls(
                _CHANGE.validate_python(data),
                (str(data["function"]), str(data["scope"])),
                datetime.fromisoformat(data["start"]),
                datetime.fromisoformat(data["end"]),
                data.get("result"),
            )
        except (ValidationError, KeyError, TypeError, ValueError):
            raise UserError("button.stale") from None

    @classmethod
    def of(cls, proposal: Proposal, *, result: str | None) -> ChangeRequest:
        return cls(proposal.change, proposal.key, proposal.start, proposal.end, result)


_CHANGE: TypeAdapter[Change] = TypeAdapter(Annotated[Change, Field(discriminator="op")])
