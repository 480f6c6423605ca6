"""The guided /alarm conversation, as an explicit state machine over persisted state.

`step(state, inp, ctx)` is pure: it returns what to say, the next state (None ends the
conversation) and at most one effect for the router to carry out.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field, replace
from enum import StrEnum
from typing import Literal, TypedDict

from core.callbacks import AlarmButton
from core.i18n import Localized, t
from core.incidents.service import MAX_DESCRIPTION, OPSCHALING, AlertDraft
from core.model import AlertKind, Directory, GemeenteId
from core.region.gemeenten import match, split_names

FLOW = "alarm"


class Step(StrEnum):
    GEMEENTE = "gemeente"
    PICK = "pick"  # an ambiguous name is asked back
    KIND = "kind"
    DESCRIPTION = "description"
    LOCATION = "location"
    OPSCHALING = "opschaling"
    CONFIRM = "confirm"


ORDER = [Step.GEMEENTE, Step.KIND, Step.DESCRIPTION, Step.LOCATION, Step.OPSCHALING, Step.CONFIRM]
_KIND_WORDS = {
    "alarmering": AlertKind.ALARMERING,
    "alarm": AlertKind.ALARMERING,
    "call-out": AlertKind.ALARMERING,
    "1": AlertKind.ALARMERING,
    "alertering": AlertKind.ALERTERING,
    "alert": AlertKind.ALERTERING,
    "heads-up": AlertKind.ALERTERING,
    "informeren": AlertKind.ALERTERING,
    "2": AlertKind.ALERTERING,
}


@dataclass(frozen=True)
class AlarmState:
    step: Step = Step.GEMEENTE
    gemeenten: tuple[int, ...] = ()
    unresolved: tuple[str, ...] = ()  # names still to pick, the first one being asked
    kind: AlertKind | None = None
    description: str = ""
    location: str = ""
    opschaling: str = ""
    history: tuple[Step, ...] = ()  # for /terug
    # Which alarm being filled in a button belongs to: one from an earlier alarm is refused.
    draft: str = ""
    # Started as one line ("/alarm Soest: …"): once the description is in, confirm at once.
    oneline: bool = False
    flow: Literal["alarm"] = "alarm"  # which flow's state (see flows/conversation.py)


class AlarmNames(TypedDict, total=False):
    """The placeholders of the alarm conversation's messages."""

    name: str  # a gemeente as typed
    gemeenten: str
    kind: Localized
    description: str
    location: str
    opschaling: str


@dataclass(frozen=True)
class Say:
    """A reply: a catalog key, its parameters and buttons ((label key or literal, data))."""

    key: str
    params: AlarmNames = field(default_factory=lambda: AlarmNames())
    buttons: tuple[tuple[str, str], ...] = ()  # a label that is no catalog key is literal


@dataclass(frozen=True)
class Input:
    text: str | None = None  # typed text
    choice: tuple[str, str] | None = None  # (step, value) from a button
    command: str | None = None  # "annuleer" | "terug" | "overslaan"


@dataclass(frozen=True)
class Result:
    says: list[Say]
    state: AlarmState | None
    raise_alert: AlertDraft | None = None


def button_data(state: AlarmState, step: Step, value: str) -> str:
    """A button of `state`'s draft: `al:<step>.<draft>:<value>`."""
    return AlarmButton(step.value, state.draft, value).pack()


def prompt(state: AlarmState, directory: Directory) -> Say:
    """The question for the state's current step."""

    def _data(step: Step, value: str) -> str:
        return button_data(state, step, value)

    match state.step:
        case Step.GEMEENTE:
            return Say("alarm.ask_gemeente")
        case Step.PICK:
            found = match(directory.gemeenten, state.unresolved[0])
            buttons = tuple((g.name, _data(Step.PICK, str(g.id))) for g in found.candidates)
            return Say("alarm.ask_pick", {"name": state.unresolved[0]}, buttons)
        case Step.KIND:
            return Say(
                "alarm.ask_kind",
                buttons=(
                    ("alarm.button_alarmering", _data(Step.KIND, AlertKind.ALARMERING.value)),
                    ("alarm.button_alertering", _data(Step.KIND, AlertKind.ALERTERING.value)),
                ),
            )
        case Step.DESCRIPTION:
            return Say("alarm.ask_description")
        case Step.LOCATION:
            return Say(
                "alarm.ask_location",
                buttons=(("common.button_skip", _data(Step.LOCATION, "skip")),),
            )
        case Step.OPSCHALING:
            buttons = tuple(
                (o, _data(Step.OPSCHALING, o.replace(" ", "").lower())) for o in OPSCHALING
            )
            return Say(
                "alarm.ask_opschaling",
                buttons=(*buttons, ("common.button_unknown", _data(Step.OPSCHALING, "unknown"))),
            )
        case Step.CONFIRM:
            return Say(
                "alarm.confirm",
                summary_params(state, directory),
                buttons=(
                    ("alarm.button_confirm", _data(Step.CONFIRM, "yes")),
                    ("alarm.button_toggle_kind", _data(Step.CONFIRM, "toggle")),
                    ("alarm.button_cancel", _data(Step.CONFIRM, "no")),
                ),
            )


def summary_params(state: AlarmState, directory: Directory) -> AlarmNames:
    names = ", ".join(directory.gemeente(GemeenteId(g)).name for g in state.gemeenten)
    kind = (state.kind or AlertKind.ALARMERING).value
    return {
        "gemeenten": names,
        "kind": lambda lang: t(lang, f"kind.{kind}"),
        "description": state.description,
        "location": state.location or "-",
        "opschaling": state.opschaling or "-",
    }


def _next(state: AlarmState) -> Step:
    """The first step after the current one that still lacks an answer."""
    i = ORDER.index(state.step) if state.step in ORDER else 0
    for step in ORDER[i + 1 :]:
        if step is Step.KIND and state.kind is not None:
            continue
        if step is Step.DESCRIPTION and state.description:
            continue
        return step
    return Step.CONFIRM


def _advance(
    state: AlarmState, directory: Directory, says: list[Say] | None = None, to: Step | None = None
) -> Result:
    target = to or _next(state)
    new = replace(state, step=target, history=(*state.history, state.step))
    return Result([*(says or []), prompt(new, directory)], new)


def _resolve_names(
    state: AlarmState, names: list[str], directory: Directory
) -> tuple[AlarmState, list[Say]]:
    """Take every name that matches one gemeente; keep ambiguous ones to ask back; report
    unknown ones."""
    says: list[Say] = []
    found = list(state.gemeenten)
    unresolved = []
    for name in names:
        m = match(directory.gemeenten, name)
        if m.found is not None:
            if m.found.id not in found:
                found.append(m.found.id)
        elif m.candidates:
            unresolved.append(name)
        else:
            says.append(Say("alarm.unknown_gemeente", {"name": name}))
    return replace(state, gemeenten=tuple(found), unresolved=tuple(unresolved)), says


def start(args: str, directory: Directory, draft: str = "") -> Result:
    """/alarm with or without a one-line alert ("Soest: gaslek Kerkstraat"); `draft`
    tells this alarm's buttons from those of earlier ones."""
    state = AlarmState(draft=draft)
    text = args.strip()
    if not text:
        return Result([prompt(state, directory)], state)
    first, _, rest = text.partition(" ")
    kind = None
    if first.lower().rstrip(":") in ("alertering", "alarmering"):
        kind, text = _KIND_WORDS[first.lower().rstrip(":")], rest.strip()
    where, colon, what = text.partition(":")
    state = replace(state, kind=kind)
    if colon:
        # A one-liner: an alarmering unless said otherwise, confirmed once it is complete.
        description = what.strip()[:MAX_DESCRIPTION]
        state = replace(
            state, description=description, kind=kind or AlertKind.ALARMERING, oneline=True
        )
    state, says = _resolve_names(state, split_names(where), directory)
    if says and not state.gemeenten and not state.unresolved:
        # Nothing recognisable: ask for the gemeente instead of guessing.
        return Result([*says, prompt(state, directory)], state)
    if state.unresolved:
        return _advance(state, directory, says, Step.PICK)
    if not state.gemeenten:
        return Result([*says, prompt(state, directory)], state)
    if colon and not state.description:
        # "/alarm Soest:": the description is still to come; ask for it in the conversation.
        return _advance(state, directory, says, Step.DESCRIPTION)
    if colon:
        return _advance(state, directory, says, Step.CONFIRM)
    return _advance(state, directory, says)


def step(state: AlarmState, inp: Input, directory: Directory) -> Result:
    if inp.command == "annuleer":
        return Result([Say("alarm.cancelled")], None)
    if inp.command == "terug":
        return _back(state, directory)
    if inp.choice is not None and inp.choice[0] != state.step.value:
        return Result([Say("alarm.button_other_step"), prompt(state, directory)], state)
    return _STEPS[state.step](state, inp, directory)


def _again(key: str, state: AlarmState, directory: Directory) -> Result:
    """The same question again, after saying why."""
    return Result([Say(key), prompt(state, directory)], state)


def _back(state: AlarmState, directory: Directory) -> Result:
    if not state.history:
        return _again("alarm.nothing_to_go_back", state, directory)
    back = replace(state, step=state.history[-1], history=state.history[:-1])
    if back.step is Step.GEMEENTE:
        back = replace(back, gemeenten=(), unresolved=())
    return Result([prompt(back, directory)], back)


def _gemeente(state: AlarmState, inp: Input, directory: Directory) -> Result:
    if inp.command == "overslaan" or not (inp.text or "").strip():
        return _again("alarm.no_gemeente", state, directory)
    new, says = _resolve_names(state, split_names(inp.text or ""), directory)
    if new.unresolved:
        return _advance(new, directory, says, Step.PICK)
    if not new.gemeenten:
        return Result([*says, prompt(state, directory)], state)
    return _advance(new, directory, says)


def _pick(state: AlarmState, inp: Input, directory: Directory) -> Result:
    candidates = match(directory.gemeenten, state.unresolved[0]).candidates
    chosen = None
    if inp.choice is not None:
        chosen = next((g for g in candidates if str(g.id) == inp.choice[1]), None)
    elif inp.text:
        chosen = match(candidates, inp.text).found
    if chosen is None:
        return _again("alarm.pick_again", state, directory)
    gemeenten = state.gemeenten if chosen.id in state.gemeenten else (*state.gemeenten, chosen.id)
    new = replace(state, gemeenten=gemeenten, unresolved=state.unresolved[1:])
    if new.unresolved:
        return Result([prompt(new, directory)], new)
    if new.oneline:
        to = Step.CONFIRM if new.description else Step.DESCRIPTION
        return _advance(new, directory, to=to)
    return _advance(replace(new, step=Step.GEMEENTE), directory)


def _kind(state: AlarmState, inp: Input, directory: Directory) -> Result:
    value = inp.choice[1] if inp.choice else (inp.text or "").strip().lower()
    kind = _KIND_WORDS.get(value)
    if kind is None:
        return _again("alarm.kind_again", state, directory)
    return _advance(replace(state, kind=kind), directory)


def _description(state: AlarmState, inp: Input, directory: Directory) -> Result:
    text = (inp.text or "").strip()
    if not text:
        return _again("alarm.empty_description", state, directory)
    described = replace(state, description=text[:MAX_DESCRIPTION])
    return _advance(described, directory, to=Step.CONFIRM if state.oneline else None)


def _location(state: AlarmState, inp: Input, directory: Directory) -> Result:
    skip = inp.command == "overslaan" or (inp.choice and inp.choice[1] == "skip")
    location = "" if skip else (inp.text or "").strip()
    if not skip and not location:
        return Result([prompt(state, directory)], state)
    return _advance(replace(state, location=location[:200]), directory)


def _opschaling_level(norm: str) -> str | None:
    """A GRIP level by its name ("grip2") or number ("2")."""
    level = next((o for o in OPSCHALING if o.replace(" ", "").lower() == norm), None)
    if level is None and norm in ("1", "2", "3", "4"):
        level = f"GRIP {norm}"
    return level


def _opschaling(state: AlarmState, inp: Input, directory: Directory) -> Result:
    value = inp.choice[1] if inp.choice else (inp.text or "")
    norm = value.replace(" ", "").lower()
    if inp.command == "overslaan" or norm in ("unknown", "onbekend", "?"):
        return _advance(replace(state, opschaling=""), directory)
    level = _opschaling_level(norm)
    if level is None:
        return _again("alarm.opschaling_again", state, directory)
    return _advance(replace(state, opschaling=level), directory)


def _confirm(state: AlarmState, inp: Input, directory: Directory) -> Result:
    value = inp.choice[1] if inp.choice else (inp.text or "").strip().lower()
    if value in ("yes", "ja", "bevestig", "bevestigen", "yes!"):
        draft = AlertDraft(
            kind=state.kind or AlertKind.ALARMERING,
            gemeenten=tuple(GemeenteId(g) for g in state.gemeenten),
            description=state.description,
            location=state.location,
            opschaling=state.opschaling,
        )
        return Result([], None, raise_alert=draft)
    if value == "toggle":
        alerting = state.kind is AlertKind.ALERTERING
        new = replace(state, kind=AlertKind.ALARMERING if alerting else AlertKind.ALERTERING)
        return Result([prompt(new, directory)], new)
    if value in ("no", "nee", "annuleer"):
        return Result([Say("alarm.cancelled")], None)
    return _again("alarm.confirm_again", state, directory)


_STEPS: dict[Step, Callable[[AlarmState, Input, Directory], Result]] = {
    Step.GEMEENTE: _gemeente,
    Step.PICK: _pick,
    Step.KIND: _kind,
    Step.DESCRIPTION: _description,
    Step.LOCATION: _location,
    Step.OPSCHALING: _opschaling,
    Step.CONFIRM: _confirm,
}
