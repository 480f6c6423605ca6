"""The region file: one YAML document describing a safety region, validated as a whole.

Every problem is reported with its location (path and line), all of them in one run, and a
file with any problem is not imported at all.
"""

from __future__ import annotations

import contextlib
import copy
import re
from dataclasses import dataclass
from datetime import datetime
from typing import Annotated, Any, TypeVar
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import yaml
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    StringConstraints,
    ValidationError,
    field_validator,
    model_validator,
)

from core.errors import RegionFileError, RegionProblem
from core.i18n import t
from core.model import CACO, ROL, Language, StepTarget
from core.region.teams import TeamSpec, check_teams
from core.yaml_input import DuplicateKeys, YamlProblem, load_yaml

Key = Annotated[str, StringConstraints(pattern=r"^[a-z0-9][a-z0-9_-]{0,63}$")]
BIGINT_MAX = 2**63 - 1  # the largest number the database's BIGINT columns hold
LANGUAGE = Language.NL  # the region file is written in Dutch, and so are its problems


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class RegionInfo(_Strict):
    code: Annotated[str, StringConstraints(pattern=r"^[A-Z]{2,8}$")]
    name: str
    timezone: str = "Europe/Amsterdam"

    @field_validator("timezone")
    @classmethod
    def _known_zone(cls, timezone: str) -> str:
        try:
            ZoneInfo(timezone)
        except (ZoneInfoNotFoundError, ValueError) as error:
            raise ValueError(t(LANGUAGE, "region.unknown_timezone", timezone=timezone)) from error
        return timezone


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
    # Team compositions called out by convening a beleidsteam (core.region.teams).
    teams: list[TeamSpec] | None = None


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
            raise ValueError(t(LANGUAGE, "region.chat_without_address"))
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
            raise ValueError(t(LANGUAGE, "region.step_without_value", target=self.target.value))
        if not needs and self.value:
            raise ValueError(t(LANGUAGE, "region.step_takes_no_value", target=self.target.value))
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
            raise ValueError(t(LANGUAGE, "region.start_with_timezone"))
        return self


class RegionFile(_Strict):
    region: RegionInfo
    settings: Settings = Field(default_factory=Settings)
    functions: list[FunctionSpec] = Field(default_factory=list)
    people: list[PersonSpec] = Field(default_factory=list)
    gemeenten: list[GemeenteSpec] = Field(default_factory=list)
    rotations: list[RotationSpec] = Field(default_factory=list)
    chats: list[ChatSpec] = Field(default_factory=list)


_M = TypeVar("_M", bound=BaseModel)


def _keys(raw: Any) -> set[str]:
    """The keys a section of the file defines, valid items or not."""
    listed = raw if isinstance(raw, list) else []
    return {i["key"] for i in listed if isinstance(i, dict) and isinstance(i.get("key"), str)}


def _without(data: dict[str, Any], bad: list[tuple[Any, ...]]) -> dict[str, Any]:
    """A copy of `data` without the fields at these problem locations: a field of a list item
    (`people[3].name`) or of `settings` (`settings.reminder_time`)."""
    data = copy.deepcopy(data)
    for loc in bad:
        owner: Any = data.get(loc[0])
        rest = loc[1:]
        if loc[0] != "settings":
            if not (isinstance(owner, list) and rest and isinstance(rest[0], int)):
                continue
            owner, rest = owner[rest[0]] if rest[0] < len(owner) else None, rest[1:]
        if not (isinstance(owner, dict) and rest and rest[0] in owner):
            continue
        if loc[:2] == ("settings", "alarm_functions"):
            owner[rest[0]] = []  # not the default: its check would be a second problem
        else:
            del owner[rest[0]]
    return data


@dataclass(frozen=True)
class _Valid:
    """The parts of a region file that validated, each list item under its index in the file
    (an item with a problem of its own is left out: it was reported already). `keys` holds
    every key the file defines per section, valid item or not, so a reference to an item
    with a problem of its own is not a second problem."""

    settings: Settings
    functions: list[tuple[int, FunctionSpec]]
    people: list[tuple[int, PersonSpec]]
    gemeenten: list[tuple[int, GemeenteSpec]]
    rotations: list[tuple[int, RotationSpec]]
    chats: list[tuple[int, ChatSpec]]
    keys: dict[str, set[str]]

    @classmethod
    def of(cls, doc: RegionFile) -> _Valid:
        return cls(
            doc.settings,
            list(enumerate(doc.functions)),
            list(enumerate(doc.people)),
            list(enumerate(doc.gemeenten)),
            list(enumerate(doc.rotations)),
            list(enumerate(doc.chats)),
            {
                "functions": {f.key for f in doc.functions},
                "people": {p.key for p in doc.people},
                "gemeenten": {g.key for g in doc.gemeenten},
                "piketregios": {p.key for p in doc.settings.piketregios or []},
            },
        )

    @classmethod
    def salvage(cls, data: dict[str, Any], bad: list[tuple[Any, ...]]) -> _Valid:
        """What validates of a file that does not validate as a whole: every field with a
        problem (`bad`, the locations of the problems) is left out, so a list item falls
        back to that field's default, or is left out itself when the field is required."""
        raw_settings = data.get("settings")
        defined = {
            section: _keys(data.get(section)) for section in ("functions", "people", "gemeenten")
        }
        defined["piketregios"] = _keys(
            raw_settings.get("piketregios") if isinstance(raw_settings, dict) else None
        )
        data = _without(data, bad)

        def items(section: str, spec: type[_M]) -> list[tuple[int, _M]]:
            raw = data.get(section)
            valid = []
            for i, item in enumerate(raw if isinstance(raw, list) else []):
                with contextlib.suppress(ValidationError):
                    valid.append((i, spec.model_validate(item)))
            return valid

        try:
            settings = Settings.model_validate(data.get("settings") or {})
        except ValidationError:
            settings = Settings(alarm_functions=[])
        return cls(
            settings,
            items("functions", FunctionSpec),
            items("people", PersonSpec),
            items("gemeenten", GemeenteSpec),
            items("rotations", RotationSpec),
            items("chats", ChatSpec),
            defined,
        )


Problem = tuple[tuple[Any, ...], str]  # where in the file (a path of keys), and what


def _cross_check(doc: _Valid) -> list[Problem]:
    """Problems a single field cannot see: duplicates and references to unknown keys."""
    return _CrossCheck(doc).run()


class _CrossCheck:
    """The cross-checks of one region file, in the order their problems are reported."""

    def __init__(self, doc: _Valid) -> None:
        self.doc = doc
        self.problems: list[Problem] = []
        self.people = doc.keys["people"]
        self.functions = doc.keys["functions"]
        self.gemeenten = doc.keys["gemeenten"]
        self.piketregios = doc.keys["piketregios"]

    def run(self) -> list[Problem]:
        self._duplicates()
        self._gemeente_people()
        self._rotation_members()
        self._chats()
        self._piketregios()
        self._coordinator_scopes()
        self._rotation_scopes()
        self._escalations()
        self._alarm_functions()
        self._teams()
        return self.problems

    def _unique(self, section: str, keys: list[tuple[int, str | None]], what: str = "key") -> None:
        """Report repeated values; None (not given) is never a repeat."""
        seen: set[str] = set()
        for i, key in keys:
            if key is None:
                continue
            if key in seen:
                duplicate = t(LANGUAGE, "region.duplicate", field=what, value=key)
                self.problems.append(((section, i, what), duplicate))
            seen.add(key)

    def _duplicates(self) -> None:
        doc, unique = self.doc, self._unique
        unique("people", [(i, p.key) for i, p in doc.people])
        unique("functions", [(i, f.key) for i, f in doc.functions])
        unique("gemeenten", [(i, g.key) for i, g in doc.gemeenten])
        unique("gemeenten", [(i, g.name.casefold()) for i, g in doc.gemeenten], "name")
        unique(
            "rotations",
            [(i, f"{r.function} {r.scope or 'regio'}") for i, r in doc.rotations],
            "function",
        )
        unique(
            "people",
            [(i, str(p.telegram_user_id) if p.telegram_user_id else None) for i, p in doc.people],
            "telegram_user_id",
        )
        unique("people", [(i, p.slack_user_id) for i, p in doc.people], "slack_user_id")
        unique("chats", [(i, c.key) for i, c in doc.chats])
        unique(
            "chats",
            [(i, str(c.telegram_chat_id) if c.telegram_chat_id else None) for i, c in doc.chats],
            "telegram_chat_id",
        )
        unique("chats", [(i, c.slack_channel_id) for i, c in doc.chats], "slack_channel_id")

    def _person_ref(self, path: tuple[Any, ...], key: str | None) -> None:
        if key is not None and key not in self.people:
            self.problems.append((path, t(LANGUAGE, "region.unknown_person", key=key)))

    def _function_ref(self, path: tuple[Any, ...], key: str | None, known: set[str]) -> None:
        if key not in known:
            self.problems.append((path, t(LANGUAGE, "region.unknown_function", key=key)))

    def _gemeente_ref(self, path: tuple[Any, ...], key: str) -> None:
        if key not in self.gemeenten:
            self.problems.append((path, t(LANGUAGE, "region.unknown_gemeente", key=key)))

    def _scope_ref(self, path: tuple[Any, ...], scope: str | None) -> None:
        kind, _, key = (scope or "regio").partition(":")
        known = {"gemeente": self.gemeenten, "piketregio": self.piketregios}.get(kind)
        if known is not None and key not in known:
            self.problems.append((path, t(LANGUAGE, "region.unknown_scope", kind=kind, key=key)))

    def _gemeente_people(self) -> None:
        for i, g in self.doc.gemeenten:
            self._person_ref(("gemeenten", i, "burgemeester"), g.burgemeester)
            self._person_ref(("gemeenten", i, "locoburgemeester"), g.locoburgemeester)
            for j, key in enumerate(g.share_with):
                self._person_ref(("gemeenten", i, "share_with", j), key)

    def _rotation_members(self) -> None:
        for i, r in self.doc.rotations:
            self._function_ref(("rotations", i, "function"), r.function, self.functions)
            for j, key in enumerate(r.members):
                self._person_ref(("rotations", i, "members", j), key)

    def _chats(self) -> None:
        for i, c in self.doc.chats:
            if c.key in self.people:  # people and chats share one namespace of keys
                clash = t(LANGUAGE, "region.key_is_person", key=c.key)
                self.problems.append((("chats", i, "key"), clash))
            for j, key in enumerate(c.gemeenten):
                self._gemeente_ref(("chats", i, "gemeenten", j), key)

    def _piketregios(self) -> None:
        for i, p in enumerate(self.doc.settings.piketregios or []):
            for j, key in enumerate(p.gemeenten):
                self._gemeente_ref(("settings", "piketregios", i, "gemeenten", j), key)

    def _coordinator_scopes(self) -> None:
        for key, scopes in (self.doc.settings.coordinator_scopes or {}).items():
            self._person_ref(("settings", "coordinator_scopes", key), key)
            for j, scope in enumerate(scopes):
                self._scope_ref(("settings", "coordinator_scopes", key, j), scope)

    def _rotation_scopes(self) -> None:
        for i, r in self.doc.rotations:
            self._scope_ref(("rotations", i, "scope"), r.scope)

    def _escalations(self) -> None:
        for i, f in self.doc.functions:
            for j, step in enumerate(f.escalation.steps):
                path = ("functions", i, "escalation", "steps", j)
                if step.target is StepTarget.PERSON:
                    self._person_ref(path, step.value)
                if step.target is StepTarget.FUNCTION:
                    self._function_ref(path, step.value, self.functions | {CACO})

    def _alarm_functions(self) -> None:
        for i, key in enumerate(self.doc.settings.alarm_functions):
            self._function_ref(("settings", "alarm_functions", i), key, self.functions)

    def _teams(self) -> None:
        held = {f for _i, p in self.doc.people for f in p.functions}
        held |= {r.function for _i, r in self.doc.rotations}
        self.problems += check_teams(
            self.doc.settings.teams or [], self.functions, held, self.gemeenten
        )


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
    where = text or t(LANGUAGE, "region.whole_file")
    line = _line_of(root, path)
    return t(LANGUAGE, "region.at_line", where=where, line=line) if line else where


def parse_region(text: str) -> RegionFile:
    """Parse and validate a region file; raises RegionFileError listing every problem (keys
    written twice, field problems, and duplicates and unknown references among the parts
    that validated) in one go."""
    problems: list[RegionProblem] = []
    try:
        root, data = load_yaml(text)
    except DuplicateKeys as error:
        root, data = error.root, error.data
        problems += [
            RegionProblem(t(LANGUAGE, "region.line", line=p.line), p.message)
            for p in error.problems
        ]
    except YamlProblem as error:
        where = (
            t(LANGUAGE, "region.line", line=error.line)
            if error.line
            else t(LANGUAGE, "region.whole_file")
        )
        raise RegionFileError([RegionProblem(where, error.message)]) from None
    if not isinstance(data, dict):
        problems.append(
            RegionProblem(t(LANGUAGE, "region.whole_file"), t(LANGUAGE, "region.not_a_mapping"))
        )
        raise RegionFileError(problems)
    doc: RegionFile | None = None
    bad: list[tuple[Any, ...]] = []
    try:
        doc = RegionFile.model_validate(data)
    except ValidationError as error:
        for e in error.errors():
            loc = tuple(p for p in e["loc"] if not (isinstance(p, str) and re.match(r"^\w+\[", p)))
            problems.append(RegionProblem(_where(loc, root), e["msg"]))
            bad.append(loc)
    valid = _Valid.of(doc) if doc is not None else _Valid.salvage(data, bad)
    problems += [RegionProblem(_where(p, root), msg) for p, msg in _cross_check(valid)]
    if problems or doc is None:
        raise RegionFileError(problems)
    return doc


def dump_region(doc: RegionFile) -> str:
    data = doc.model_dump(mode="json", exclude_none=True)
    for function in data["functions"]:
        function["escalation"]["steps"] = [
            s["target"] if "value" not in s else {s["target"]: s["value"]}
            for s in function["escalation"]["steps"]
        ]
    return yaml.safe_dump(data, sort_keys=False, allow_unicode=True)
