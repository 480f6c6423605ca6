"""Convening a beleidsteam, as an explicit state machine over persisted state.

`step(state, inp, snapshot)` is pure: it decides what the convener's message or button
means and returns what to say, the next state (None ends the conversation) and at most one
effect for `flows/bt/feature.py` to carry out (show the composition, or convene). The
steps: the start time (default now + the team's norm), the place or call link, then the
composition to confirm, where "+naam" adds a person and "-functie" drops a function.
A refusal is a `UserError`.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Literal, TypedDict
from zoneinfo import ZoneInfo

from core.bt.callbacks import BtFlowButton
from core.bt.requests import MAX_PLACE, parse_start
from core.errors import UserError
from core.i18n import fmt_time
from core.model import AlertKind, Directory, Language
from core.roster.service import find_person

FLOW = "bt"
ETA_FLOW = "bt_eta"


class Step(StrEnum):
    TIME = "time"
    PLACE = "place"
    CONFIRM = "confirm"


@dataclass(frozen=True)
class BtState:
    """One convener's convening, persisted between messages."""

    draft: str
    incident_id: int
    team_key: str
    on_behalf_of: int | None = None
    gemeente_id: int | None = None
    step: Step = Step.TIME
    kind: AlertKind = AlertKind.ALARMERING
    starts_at: str = ""  # ISO, aware
    place: str = ""
    added: tuple[str, ...] = ()  # person keys
    dropped: tuple[str, ...] = ()  # function keys
    flow: Literal["bt"] = "bt"


@dataclass(frozen=True)
class BtEtaState:
    """A member pressed "Later": the arrival time is typed next."""

    member_id: int
    flow: Literal["bt_eta"] = "bt_eta"


@dataclass(frozen=True)
class Input:
    text: str | None = None
    button: str | None = None  # a BtFlowButton value
    command: str | None = None  # annuleer | terug


@dataclass(frozen=True)
class Snapshot:
    now: datetime
    tz: ZoneInfo
    language: Language
    norm_minutes: int
    functions: tuple[str, ...]  # the team's functions for this convening, in order
    directory: Directory
    may_choose_kind: bool  # the Caco calls out as alertering or alarmering


class AskTime(TypedDict):
    """The placeholders of the question for the start time."""

    time: str
    minutes: int


@dataclass(frozen=True)
class Say:
    key: str
    params: AskTime | None = None  # the message's placeholders
    buttons: tuple[tuple[str, str], ...] = ()


@dataclass(frozen=True)
class Preview:
    """Show the composition for confirmation (the feature resolves the roster)."""


@dataclass(frozen=True)
class Convene:
    """Confirmed: call the team out."""


@dataclass(frozen=True)
class Result:
    says: list[Say]
    state: BtState | None
    effect: Preview | Convene | None = None


def _button(state: BtState, value: str) -> str:
    return BtFlowButton(state.draft, value).pack()  # type: ignore[arg-type]


def prompt(state: BtState, snap: Snapshot) -> Say:
    if state.step is Step.TIME:
        default = snap.now + timedelta(minutes=snap.norm_minutes)
        return Say(
            "bt.ask_time",
            AskTime(time=fmt_time(default, snap.tz, snap.language), minutes=snap.norm_minutes),
            (("bt.button_default", _button(state, "default")),),
        )
    return Say("bt.ask_place")


def confirm_buttons(state: BtState, snap: Snapshot) -> tuple[tuple[str, str], ...]:
    buttons = [("bt.button_confirm", _button(state, "confirm"))]
    if snap.may_choose_kind:
        other = AlertKind.ALERTERING if state.kind is AlertKind.ALARMERING else AlertKind.ALARMERING
        buttons.append((f"bt.button_kind_{other.value}", _button(state, other.value)))
    buttons.append(("bt.button_cancel", _button(state, "cancel")))
    return tuple(buttons)


def start(state: BtState, snap: Snapshot) -> Result:
    return Result([prompt(state, snap)], state)


def step(state: BtState, inp: Input, snap: Snapshot) -> Result:
    if inp.command == "annuleer" or inp.button == "cancel":
        return Result([Say("bt.cancelled")], None)
    if inp.command == "terug":
        back = {Step.PLACE: Step.TIME, Step.CONFIRM: Step.PLACE}.get(state.step, Step.TIME)
        new = replace(state, step=back)
        return Result([prompt(new, snap)], new)
    match state.step:
        case Step.TIME:
            if inp.button == "default":
                at = snap.now + timedelta(minutes=snap.norm_minutes)
            elif inp.text is not None:
                at = parse_start(inp.text, snap.now, snap.tz)
            else:
                raise UserError("bt.button_not_now")
            new = replace(state, starts_at=at.isoformat(), step=Step.PLACE)
            return Result([prompt(new, snap)], new)
        case Step.PLACE:
            place = " ".join((inp.text or "").split())
            if not place:
                raise UserError("bt.place_needed")
            if len(place) > MAX_PLACE:
                raise UserError("bt.place_too_long", max=MAX_PLACE)
            return Result([], replace(state, place=place, step=Step.CONFIRM), Preview())
        case Step.CONFIRM:
            return _confirm(state, inp, snap)
    raise AssertionError(state.step)


def _confirm(state: BtState, inp: Input, snap: Snapshot) -> Result:
    if inp.button == "confirm":
        return Result([], state, Convene())
    if inp.button in (AlertKind.ALARMERING.value, AlertKind.ALERTERING.value):
        if not snap.may_choose_kind:
            raise UserError("bt.button_not_now")
        return Result([], replace(state, kind=AlertKind(inp.button)), Preview())
    text = (inp.text or "").strip()
    if not text or text[0] not in "+-":
        raise UserError("bt.confirm_usage")
    what = text[1:].strip()
    if text[0] == "-":
        return _drop(state, what, snap)
    function = _function_in(what, snap)
    if function is not None and function in state.dropped:
        dropped = tuple(k for k in state.dropped if k != function)
        return Result([], replace(state, dropped=dropped), Preview())
    if function is not None:
        raise UserError("bt.already_in", function=snap.directory.function_name(function))
    if snap.directory.functions.get(what.lower()) is not None:
        raise UserError("bt.function_not_in_team", function=what)
    person = find_person(snap.directory, what)
    if person.key in state.added:
        raise UserError("bt.already_in", function=person.name)
    return Result([], replace(state, added=(*state.added, person.key)), Preview())


def _drop(state: BtState, what: str, snap: Snapshot) -> Result:
    """ "-functie" leaves a function out; "-naam" takes back a person added."""
    function = _function_in(what, snap)
    if function is not None:
        if function in state.dropped:
            raise UserError("bt.already_dropped", function=snap.directory.function_name(function))
        return Result([], replace(state, dropped=(*state.dropped, function)), Preview())
    person = find_person(snap.directory, what)
    if person.key not in state.added:
        raise UserError("bt.not_in_composition", name=what)
    added = tuple(k for k in state.added if k != person.key)
    return Result([], replace(state, added=added), Preview())


def _function_in(text: str, snap: Snapshot) -> str | None:
    """A function of this team by key or by name (case and spaces ignored)."""
    wanted = " ".join(text.casefold().split())
    for key in snap.functions:
        if wanted in (key, snap.directory.function_name(key).casefold()):
            return key
    return None
