"""Typed button payloads, one class per kind of button, checked and parsed in one place.

A payload travels as `prefix:part:part…` (Telegram allows at most 64 bytes). Each kind is a
frozen dataclass whose fields are typed: numbers are database ids or small indexes, never
above 2**31 - 1; text parts are printable ASCII without ':'; a `Literal` or `StrEnum` field
takes only its values. `unpack` answers None for anything this code could not have packed
(stale, forged or foreign buttons), so a handler receives only well-formed payloads.

The layout of every kind is the one it had before these classes, so buttons already on
people's screens keep working across an upgrade.
"""

from __future__ import annotations

import enum
import re
import types
from dataclasses import dataclass, fields
from typing import ClassVar, Literal, NewType, Self, Union, get_args, get_origin, get_type_hints

from core.analyse.model import AnalyseId
from core.bt.model import MemberId
from core.model import GemeenteId, IncidentId, PageId, PersonId

MAX_BYTES = 64
# Every number in a payload is a database id (an INTEGER key: 32 bits on PostgreSQL) or a
# small index: a larger one was never ours, and would overflow the database's parameter.
MAX_NUMBER = 2**31 - 1
_NUMBER = re.compile(r"0|[1-9][0-9]*")  # one spelling per number, so a payload packs back as is
_DIGITS = re.compile(r"[0-9]+")

RequestId = NewType("RequestId", int)  # a roster change or swap request


def number(text: str) -> int | None:
    """A number as buttons spell it, or None (another spelling, or out of range)."""
    if not _NUMBER.fullmatch(text) or len(text) > len(str(MAX_NUMBER)):
        return None
    value = int(text)
    return value if value <= MAX_NUMBER else None


def _ours(data: str) -> bool:
    """Printable ASCII, and no number in it (even inside a text part) beyond MAX_NUMBER."""
    return (
        data.isascii()
        and data.isprintable()
        and all(int(n) <= MAX_NUMBER for n in _DIGITS.findall(data))
    )


def _text(text: str) -> str | None:
    ok = text and text.isascii() and text.isprintable() and ":" not in text
    return text if ok else None


def _decoder(hint: object) -> tuple[type, ...] | object:
    """What a field's type accepts: `int`, `str`, an enum, or the values of a Literal."""
    if isinstance(hint, NewType):
        return _decoder(hint.__supertype__)
    if get_origin(hint) is Literal:
        return get_args(hint)
    if get_origin(hint) in (Union, types.UnionType):
        return tuple(a for arg in get_args(hint) for a in _as_tuple(_decoder(arg)))
    return hint


def _as_tuple(decoder: object) -> tuple[object, ...]:
    return decoder if isinstance(decoder, tuple) else (decoder,)


def _decode_part(decoder: object, text: str) -> object | None:
    for option in _as_tuple(decoder):
        if option is int:
            value: object | None = number(text)
        elif option is str:
            value = _text(text)
        elif isinstance(option, type) and issubclass(option, enum.Enum):
            value = next((m for m in option if m.value == text), None)
        else:
            value = option if option == text else None
        if value is not None:
            return value
    return None


@dataclass(frozen=True)
class ButtonData:
    """The base of every button kind: `class X(ButtonData, prefix="xx")` with typed fields."""

    prefix: ClassVar[str]

    def __init_subclass__(cls, prefix: str = "", **kwargs: object) -> None:
        super().__init_subclass__(**kwargs)
        if prefix:
            cls.prefix = prefix

    def parts(self) -> tuple[str, ...]:
        """The fields as the payload spells them, in declaration order."""
        return tuple(
            str(v.value if isinstance(v, enum.Enum) else v)
            for v in (getattr(self, f.name) for f in fields(self))
        )

    @classmethod
    def from_parts(cls, parts: list[str]) -> Self | None:
        """The payload's parts back into fields; None if one does not fit its type."""
        decoders = _decoders(cls)
        if len(parts) != len(decoders):
            return None
        values = [_decode_part(d, part) for d, part in zip(decoders, parts, strict=True)]
        return None if any(v is None for v in values) else cls(*values)

    def pack(self) -> str:
        parts = self.parts()
        for part in parts:
            if _text(part) is None:
                raise ValueError(f"not a button part (printable ASCII, no ':'): {part!r}")
        data = ":".join((self.prefix, *parts))
        if not _ours(data):
            raise ValueError(f"callback data with a number beyond {MAX_NUMBER}: {data!r}")
        if len(data.encode()) > MAX_BYTES:
            raise ValueError(f"callback data longer than {MAX_BYTES} bytes: {data!r}")
        return data

    @classmethod
    def unpack(cls, data: str) -> Self | None:
        """Parse a payload of this kind; None for anything that is not one."""
        if len(data) > MAX_BYTES or not _ours(data):
            return None
        prefix, *parts = data.split(":")
        if prefix != cls.prefix:
            return None
        return cls.from_parts(parts)


_DECODERS: dict[type, tuple[object, ...]] = {}


def _decoders(cls: type) -> tuple[object, ...]:
    """Per kind, once: the field types resolved (they are strings under `annotations`)."""
    if cls not in _DECODERS:
        hints = get_type_hints(cls)
        _DECODERS[cls] = tuple(_decoder(hints[f.name]) for f in fields(cls))
    return _DECODERS[cls]


def prefix_of(data: str) -> str:
    """Which kind of button a payload claims to be (its prefix), before parsing it."""
    return data.partition(":")[0]


# -- incidents -----------------------------------------------------------------------------

PageAction = Literal["ack", "decline", "seen"]


@dataclass(frozen=True)
class PageButton(ButtonData, prefix="pg"):
    """A paged person's answer to a page."""

    page: PageId
    action: PageAction


@dataclass(frozen=True)
class AlarmButton(ButtonData, prefix="al"):
    """A choice in the guided /alarm: `al:<step>.<draft>:<value>` (`al:<step>:<value>`
    without a draft); the draft tells this alarm's buttons from those of earlier ones."""

    step: str
    draft: str
    value: str

    def parts(self) -> tuple[str, ...]:
        return (f"{self.step}.{self.draft}" if self.draft else self.step, self.value)

    @classmethod
    def from_parts(cls, parts: list[str]) -> Self | None:
        if len(parts) != 2 or _text(parts[0]) is None or _text(parts[1]) is None:
            return None
        step, dot, draft = parts[0].partition(".")
        if not step or (dot and (not draft or "." in draft)):
            return None
        return cls(step, draft, parts[1])


@dataclass(frozen=True)
class CloseButton(ButtonData, prefix="cl"):
    """The answer to "close this incident?"."""

    incident: IncidentId
    action: Literal["yes", "no"]


# -- the analyse ---------------------------------------------------------------------------


@dataclass(frozen=True)
class AnalyseStartButton(ButtonData, prefix="ast"):
    """Start (or resume) the analyse of an incident, offered after acknowledging a page."""

    incident: IncidentId
    action: Literal["start"] = "start"


class FieldAction(enum.StrEnum):
    SKIP = "skip"
    KEEP = "keep"
    DONE = "done"


@dataclass(frozen=True)
class FieldButton(ButtonData, prefix="af"):
    """A button while filling in the analyse, for the field at `field` (its index): one of
    the field's choices (`choice`, an index), a gemeente (`g<id>`), or skip | keep | done."""

    field: int
    action: FieldAction | None = None
    choice: int | None = None
    gemeente: GemeenteId | None = None

    def parts(self) -> tuple[str, ...]:
        if self.gemeente is not None:
            return (str(self.field), f"g{self.gemeente}")
        if self.choice is not None:
            return (str(self.field), str(self.choice))
        assert self.action is not None
        return (str(self.field), self.action.value)

    @classmethod
    def from_parts(cls, parts: list[str]) -> Self | None:
        if len(parts) != 2 or (field := number(parts[0])) is None:
            return None
        text = parts[1]
        if (choice := number(text)) is not None:
            return cls(field, choice=choice)
        if text.startswith("g") and (gemeente := number(text[1:])) is not None:
            return cls(field, gemeente=GemeenteId(gemeente))
        action = next((a for a in FieldAction if a.value == text), None)
        return cls(field, action) if action is not None else None


@dataclass(frozen=True)
class JoinButton(ButtonData, prefix="aj"):
    """An invited co-editor's answer."""

    analyse: AnalyseId
    action: Literal["yes", "no"]


@dataclass(frozen=True)
class VersionButton(ButtonData):
    """A button under one version of an analyse: `<prefix>:<analyse>.<version>:<action>`."""

    analyse: AnalyseId
    version: int

    @property
    def ref(self) -> str:
        return f"{self.analyse}.{self.version}"

    def parts(self) -> tuple[str, ...]:
        return (self.ref, *ButtonData.parts(self)[2:])

    @classmethod
    def from_parts(cls, parts: list[str]) -> Self | None:
        if not parts:
            return None
        head, dot, tail = parts[0].partition(".")
        return super().from_parts([head, tail, *parts[1:]]) if dot else None


MayorAction = Literal["read", "call", "share", "bt"]
MAYOR_ACTIONS: tuple[MayorAction, ...] = ("read", "call", "share", "bt")  # in button order


@dataclass(frozen=True)
class MayorButton(VersionButton, prefix="ab"):
    """The burgemeester's buttons under a published analyse."""

    action: MayorAction


@dataclass(frozen=True)
class ShareButton(VersionButton, prefix="ash"):
    """Share a version with one person of the burgemeester's share list."""

    person: PersonId


@dataclass(frozen=True)
class ConveneButton(VersionButton, prefix="abt"):
    """The burgemeester's answer to "convene the beleidsteam?"."""

    action: Literal["yes", "no"]


# -- rosters -------------------------------------------------------------------------------


@dataclass(frozen=True)
class ChangeButton(ButtonData, prefix="rq"):
    """Confirm or cancel a proposed roster change."""

    request: RequestId
    action: Literal["yes", "no"]


@dataclass(frozen=True)
class SwapButton(ButtonData, prefix="sw"):
    """The answers to a swap: by its other person (yes | no), then the coordinator."""

    request: RequestId
    action: Literal["yes", "no", "approve", "reject"]


# -- the beleidsteam -------------------------------------------------------------------------

# "Ik kom" within 15 / 30 / 60 minutes or later (a typed time, or 90 / 120 / 180 minutes on
# the question that follows), "Ik kom niet", "Gezien".
AnswerAction = Literal["15", "30", "60", "later", "90", "120", "180", "not", "seen"]


@dataclass(frozen=True)
class BtAnswerButton(ButtonData, prefix="bta"):
    """A called-out member's answer to a BT page."""

    member: MemberId
    action: AnswerAction


@dataclass(frozen=True)
class BtFlowButton(ButtonData, prefix="btf"):
    """A choice while convening: `draft` tells this convening's buttons from earlier ones."""

    draft: str
    value: Literal["default", "confirm", "cancel", "alarmering", "alertering"]


KINDS: tuple[type[ButtonData], ...] = (
    PageButton,
    AlarmButton,
    CloseButton,
    AnalyseStartButton,
    FieldButton,
    JoinButton,
    MayorButton,
    ShareButton,
    ConveneButton,
    ChangeButton,
    SwapButton,
    BtAnswerButton,
    BtFlowButton,
)


def unpack(data: str) -> ButtonData | None:
    """Any payload of ours into its kind; None for anything else."""
    kind = next((k for k in KINDS if k.prefix == prefix_of(data)), None)
    return kind.unpack(data) if kind is not None else None
