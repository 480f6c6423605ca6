"""The region file: one YAML document describing a safety region, validated as a whole.

Every problem is reported with its location (path and line), and a file with any problem is
not imported at all.
"""

from __future__ import annotations

import re
from datetime import datetime
from typing import Annotated, Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import yaml
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    StringConstraints,
    ValidationError,
    model_validator,
)

from core.errors import RegionFileError, RegionProblem
from core.model import CACO, ROL, Language, StepTarget
from core.yaml_input import YamlProblem, load_yaml

Key = Annotated[str, StringConstraints(pattern=r"^[a-z0-9][a-z0-9_-]{0,63}$")]
BIGINT_MAX = 2**63 - 1  # the largest number the database's BIGINT columns hold


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class RegionInfo(_Strict):
    code: Annotated[str, StringConstraints(pattern=r"^[A-Z]{2,8}$")]
    name: str
    timezone: str = "Europe/Amsterdam"

    @model_validator(mode="after")
    def _known_zone(self) -> RegionInfo:
        try:
            ZoneInfo(self.timezone)
        except (ZoneInfoNotFoundError, ValueError) as error:
            raise ValueError(f"onbekende tijdzone {self.timezone!r}") from error
        return self


Scope = Annotated[
    str, StringConstraints(pattern=r"^(regio|(gemeente|piketregio):[a-z0-9][a-z0-9_-]{0,63})$")
]
ClockTime = Annotated[str, StringConstraints(pattern=r"^([01]\d|2[0-3]):[0-5]\d$")]


class PiketregioSpec(_Strict):
    """A part of the region with its own piket (e.g. OvD-Bz noord and zuid)."""

    key: Key
    name: Annotated[str, StringConstraints(min_length=1, max_length=80)]
    gemeenten: list[Key] = Field(default_factory=list)


class Settings(_Strict):
    alarm_functions: list[Key] = Field(default_factory=lambda: [ROL])
    # Rosters (all optional): piketregio's, whether a coordinator approves swaps, the time of
    # the reminder the day before a duty, and coordinators limited to some scopes.
    piketregios: list[PiketregioSpec] | None = None
    swap_approval: bool | None = None
    reminder_time: ClockTime | None = None
    coordinator_scopes: dict[Key, list[Scope]] | None = None


class GemeenteSpec(_Strict):
    key: Key
    name: Annotated[str, StringConstraints(min_length=1, max_length=80)]
    burgemeester: Key | None = None
    locoburgemeester: Key | None = None
    loco_acting: bool = False
    share_with: list[Key] = Field(default_factory=list)


class PersonSpec(_Strict):
    key: Key
    name: Annotated[str, StringConstraints(min_length=1, max_length=120)]
    functions: list[Key] = Field(default_factory=list)
    language: Language = Language.NL
    # A person's Telegram id is positive; negative ids are groups (see `chats`). The
    # database keeps it in a BIGINT.
    telegram_user_id: Annotated[int, Field(gt=0, le=BIGINT_MAX)] | None = None
    slack_user_id: Annotated[str, StringConstraints(pattern=r"^[UW][A-Z0-9]{2,20}$")] | None = None


class ChatSpec(_Strict):
    """A Telegram group and/or Slack channel that receives the meldkamer's stream: new
    incidents, every page step, acknowledgements, closing. Incident data goes to no other
    group or channel."""

    key: Key
    name: Annotated[str, StringConstraints(min_length=1, max_length=80)]
    gemeenten: list[Key] = Field(default_factory=list)  # empty: every gemeente
    language: Language = Language.NL
    # Telegram groups, supergroups and channels have negative ids (e.g. -1001234567890).
    telegram_chat_id: Annotated[int, Field(lt=0, ge=-BIGINT_MAX - 1)] | None = None
    slack_channel_id: Annotated[str, StringConstraints(pattern=r"^[CG][A-Z0-9]{2,20}$")] | None = (
        None
    )

    @model_validator(mode="after")
    def _somewhere(self) -> ChatSpec:
        if self.telegram_chat_id is None and self.slack_channel_id is None:
            raise ValueError("noem telegram_chat_id en/of slack_channel_id")
        return self


class StepSpec(_Strict):
    """One escalation step: `on_duty`, `backup`, `{function: key}` or `{person: key}`."""

    target: StepTarget
    value: Key | None = None

    @model_validator(mode="before")
    @classmethod
    def _short_forms(cls, data: Any) -> Any:
        if isinstance(data, str):
            return {"target": data}
        if isinstance(data, dict) and len(data) == 1:
            ((target, value),) = data.items()
            if target in (StepTarget.FUNCTION.value, StepTarget.PERSON.value):
                return {"target": target, "value": value}
        return data

    @model_validator(mode="after")
    def _value_when_needed(self) -> StepSpec:
        needs = self.target in (StepTarget.FUNCTION, StepTarget.PERSON)
        if needs and not self.value:
            raise ValueError(f"stap '{self.target.value}' noemt geen {self.target.value}")
        if not needs and self.value:
            raise ValueError(f"stap '{self.target.value}' neemt geen waarde")
        return self


class EscalationSpec(_Strict):
    repeat_after_minutes: Annotated[int, Field(ge=1, le=120)] = 5
    repeats: Annotated[int, Field(ge=0, le=10)] = 1
    steps: Annotated[list[StepSpec], Field(min_length=1)] = Field(
        default_factory=lambda: [StepSpec(target=StepTarget.ON_DUTY)]
    )


class FunctionSpec(_Strict):
    key: Key
    name: Annotated[str, StringConstraints(min_length=1, max_length=80)]
    escalation: EscalationSpec = Field(default_factory=EscalationSpec)


class RotationSpec(_Strict):
    function: Key
    scope: Scope | None = None  # regio (the default), piketregio:<key> or gemeente:<key>
    members: Annotated[list[Key], Field(min_length=1)]
    start: datetime  # local wall time of the first handover, e.g. 2026-01-05T08:00
    shift_days: Annotated[int, Field(ge=1, le=92)] = 7

    @model_validator(mode="after")
    def _naive_start(self) -> RotationSpec:
        if self.start.tzinfo is not None:
            raise ValueError("start is lokale tijd van de regio: laat de tijdzone weg")
        return self


class RegionFile(_Strict):
    region: RegionInfo
    settings: Settings = Field(default_factory=Settings)
    functions: list[FunctionSpec] = Field(default_factory=list)
    people: list[PersonSpec] = Field(default_factory=list)
    gemeenten: list[GemeenteSpec] = Field(default_factory=list)
    rotations: list[RotationSpec] = Field(default_factory=list)
    chats: list[ChatSpec] = Field(default_factory=list)


def _cross_check(doc: RegionFile) -> list[tuple[tuple[Any, ...], str]]:
    """Problems a single field cannot see: duplicates and references to unknown keys."""
    problems: list[tuple[tuple[Any, ...], str]] = []
    people = {p.key for p in doc.people}
    functions = {f.key for f in doc.functions}

    def unique(section: str, keys: list[str | None], what: str = "key") -> None:
        """Report repeated values; None (not given) is never a repeat."""
        seen: set[str] = set()
        for i, key in enumerate(keys):
            if key is None:
                continue
            if key in seen:
                problems.append(((section, i, what), f"dubbele {what} {key!r}"))
            seen.add(key)

    unique("people", [p.key for p in doc.people])
    unique("functions", [f.key for f in doc.functions])
    unique("gemeenten", [g.key for g in doc.gemeenten])
    unique("gemeenten", [g.name.casefold() for g in doc.gemeenten], "name")
    unique("rotations", [f"{r.function} {r.scope or 'regio'}" for r in doc.rotations], "function")
    unique(
        "people",
        [str(p.telegram_user_id) if p.telegram_user_id else None for p in doc.people],
        "telegram_user_id",
    )
    unique("people", [p.slack_user_id for p in doc.people], "slack_user_id")
    unique("chats", [c.key for c in doc.chats])
    unique(
        "chats",
        [str(c.telegram_chat_id) if c.telegram_chat_id else None for c in doc.chats],
        "telegram_chat_id",
    )
    unique("chats", [c.slack_channel_id for c in doc.chats], "slack_channel_id")

    def person_ref(path: tuple[Any, ...], key: str | None) -> None:
        if key is not None and key not in people:
            problems.append((path, f"onbekende persoon {key!r}"))

    for i, g in enumerate(doc.gemeenten):
        person_ref(("gemeenten", i, "burgemeester"), g.burgemeester)
        person_ref(("gemeenten", i, "locoburgemeester"), g.locoburgemeester)
        for j, key in enumerate(g.share_with):
            person_ref(("gemeenten", i, "share_with", j), key)
    for i, r in enumerate(doc.rotations):
        if r.function not in functions:
            problems.append((("rotations", i, "function"), f"onbekende functie {r.function!r}"))
        for j, key in enumerate(r.members):
            person_ref(("rotations", i, "members", j), key)
    gemeenten = {g.key for g in doc.gemeenten}
    piketregios = {p.key for p in doc.settings.piketregios or []}

    def scope_ref(path: tuple[Any, ...], scope: str | None) -> None:
        kind, _, key = (scope or "regio").partition(":")
        known = {"gemeente": gemeenten, "piketregio": piketregios}.get(kind)
        if known is not None and key not in known:
            problems.append((path, f"onbekende {kind} {key!r}"))

    for i, c in enumerate(doc.chats):
        if c.key in people:  # people and chats share one namespace of keys
            problems.append((("chats", i, "key"), f"sleutel {c.key!r} is al een persoon"))
        for j, key in enumerate(c.gemeenten):
            if key not in gemeenten:
                problems.append((("chats", i, "gemeenten", j), f"onbekende gemeente {key!r}"))
    for i, p in enumerate(doc.settings.piketregios or []):
        for j, key in enumerate(p.gemeenten):
            if key not in gemeenten:
                where = ("settings", "piketregios", i, "gemeenten", j)
                problems.append((where, f"onbekende gemeente {key!r}"))
    for key, scopes in (doc.settings.coordinator_scopes or {}).items():
        person_ref(("settings", "coordinator_scopes", key), key)
        for j, scope in enumerate(scopes):
            scope_ref(("settings", "coordinator_scopes", key, j), scope)
    for i, r in enumerate(doc.rotations):
        scope_ref(("rotations", i, "scope"), r.scope)
    for i, f in enumerate(doc.functions):
        for j, step in enumerate(f.escalation.steps):
            path = ("functions", i, "escalation", "steps", j)
            if step.target is StepTarget.PERSON:
                person_ref(path, step.value)
            if step.target is StepTarget.FUNCTION and step.value not in functions | {CACO}:
                problems.append((path, f"onbekende functie {step.value!r}"))
    for i, key in enumerate(doc.settings.alarm_functions):
        if key not in functions:
            problems.append((("settings", "alarm_functions", i), f"onbekende functie {key!r}"))
    return problems


def _line_of(node: yaml.Node | None, path: tuple[Any, ...]) -> int | None:
    """The 1-based line of `path` in the YAML node tree, as deep as it can be followed."""
    line = node.start_mark.line + 1 if node is not None else None
    for part in path:
        if isinstance(node, yaml.MappingNode):
            node = next((v for k, v in node.value if k.value == part), None)
        elif isinstance(node, yaml.SequenceNode) and isinstance(part, int):
            node = node.value[part] if part < len(node.value) else None
        else:
            node = None
        if node is None:
            break
        line = node.start_mark.line + 1
    return line


def _where(path: tuple[Any, ...], root: yaml.Node | None) -> str:
    text = ""
    for part in path:
        text += f"[{part}]" if isinstance(part, int) else (f".{part}" if text else str(part))
    line = _line_of(root, path)
    return f"{text or '(bestand)'} (regel {line})" if line else (text or "(bestand)")


def parse_region(text: str) -> RegionFile:
    """Parse and validate a region file; raises RegionFileError listing every problem."""
    try:
        root, data = load_yaml(text)
    except YamlProblem as error:
        where = f"regel {error.line}" if error.line else "(bestand)"
        raise RegionFileError([RegionProblem(where, error.message)]) from None
    if not isinstance(data, dict):
        raise RegionFileError([RegionProblem("(bestand)", "verwacht een YAML-mapping")])
    try:
        doc = RegionFile.model_validate(data)
    except ValidationError as error:
        problems = []
        for e in error.errors():
            loc = tuple(p for p in e["loc"] if not (isinstance(p, str) and re.match(r"^\w+\[", p)))
            problems.append(RegionProblem(_where(loc, root), e["msg"]))
        raise RegionFileError(problems) from None
    cross = _cross_check(doc)
    if cross:
        raise RegionFileError([RegionProblem(_where(p, root), msg) for p, msg in cross])
    return doc


def dump_region(doc: RegionFile) -> str:
    data = doc.model_dump(mode="json", exclude_none=True)
    for function in data["functions"]:
        function["escalation"]["steps"] = [
            s["target"] if "value" not in s else {s["target"]: s["value"]}
            for s in function["escalation"]["steps"]
        ]
    return yaml.safe_dump(data, sort_keys=False, allow_unicode=True)
