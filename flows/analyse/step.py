"""The analyse conversation (filling in the form turn by turn) as a pure state machine.

`step(state, inp, snapshot)` decides what a person's message or button means for the field
they are on and returns the effects to carry out, in order; `flows/analyse/feature.py` loads the
snapshot, carries the effects out and renders the questions. A refusal is a `UserError`.
What an answer means for each field type is the core's (`core/analyse/answers.py`).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from zoneinfo import ZoneInfo

from core.analyse import answers as analyse_answer
from core.analyse.form import FieldType, Form, FormField
from core.analyse.model import Answer
from core.callbacks import FieldAction, FieldButton
from core.errors import UserError
from core.model import Gemeente, Language
from flows.analyse.state import AnalyseState


@dataclass(frozen=True)
class Input:
    """Typed text, a flow command (with its arguments) or a button of the form."""

    text: str | None = None
    command: str | None = None  # annuleer | terug | overslaan | klaar | overzicht | wijzig
    args: str = ""
    button: FieldButton | None = None


@dataclass(frozen=True)
class Snapshot:
    """What a step may look at: the form, the analyse's values, the region, the time."""

    form: Form
    values: Mapping[str, Answer]  # the analyse's current value per field key (saved ones)
    gemeenten: Sequence[Gemeente]
    now: datetime
    tz: ZoneInfo
    language: Language


@dataclass(frozen=True)
class Ask:
    """Ask a field (None: `picked` from its value, `edit` as the conversation was)."""

    field: str
    picked: tuple[str, ...] | None = None
    edit: bool | None = None


@dataclass(frozen=True)
class Save:
    """Save a field's value and tell the co-editors."""

    field: str
    value: Answer


@dataclass(frozen=True)
class SaveText:
    """Save typed text for a text field, which stays open for more until Klaar."""

    field: str
    value: str


@dataclass(frozen=True)
class Finish:
    """Past the last field: the conversation ends with the overview."""


@dataclass(frozen=True)
class Pause:
    """/annuleer: the conversation ends; the analyse keeps what was saved."""


@dataclass(frozen=True)
class Overview:
    """The overview of the form, the field staying open."""


Effect = Ask | Save | SaveText | Finish | Pause | Overview


def _is_empty(value: object) -> bool:
    return value is None or value == "" or value == []


def _next(state: AnalyseState, field: FormField, snap: Snapshot) -> tuple[Effect, ...]:
    """On to the next field; after /wijzig only to the next empty one."""
    later = list(snap.form.fields[snap.form.index(field.key) + 1 :])
    if state.edit:
        later = [f for f in later if _is_empty(snap.values.get(f.key))]
    return (Ask(later[0].key),) if later else (Finish(),)


def _done(state: AnalyseState, field: FormField, snap: Snapshot) -> tuple[Effect, ...]:
    """Klaar: a multiple choice saves what is ticked; any field goes on to the next."""
    if field.type is not FieldType.MULTI:
        return _next(state, field, snap)
    picked = [c for c in snap.form.choices_of(field) if c in state.picked]
    return (Save(field.key, picked), *_next(state, field, snap))


def _toggle(state: AnalyseState, field: FormField, choice: str) -> tuple[Effect, ...]:
    picked = state.picked
    picked = tuple(p for p in picked if p != choice) if choice in picked else (*picked, choice)
    return (Ask(field.key, picked),)


def _answer(state: AnalyseState, field: FormField, text: str, snap: Snapshot) -> tuple[Effect, ...]:
    text = text.strip()
    if not text:
        raise UserError("analyse.empty_answer")
    value: Answer
    match field.type:
        case FieldType.TEXT:
            # The first message of a turn replaces the field; more messages add to it.
            if state.fresh or field.key not in snap.values:
                return (SaveText(field.key, text),)
            return (SaveText(field.key, f"{snap.values[field.key]}\n\n{text}"),)
        case FieldType.MULTI:
            return _toggle(
                state, field, analyse_answer.choice(snap.form, field, text, snap.language)
            )
        case FieldType.CHOICE:
            value = analyse_answer.choice(snap.form, field, text, snap.language)
        case FieldType.GEMEENTEN:
            value = analyse_answer.gemeenten(snap.gemeenten, text)
        case FieldType.TIME:
            value = analyse_answer.moment(text, snap.now, snap.tz)
    return (Save(field.key, value), *_next(state, field, snap))


def _button(
    state: AnalyseState, field: FormField, button: FieldButton, snap: Snapshot
) -> tuple[Effect, ...]:
    if button.field != snap.form.index(field.key):
        raise UserError("analyse.button_other_field")
    choices = snap.form.choices_of(field)
    if button.action in (FieldAction.SKIP, FieldAction.KEEP):
        return _next(state, field, snap)
    if button.action is FieldAction.DONE:
        return _done(state, field, snap)
    if button.gemeente is not None and field.type is FieldType.GEMEENTEN:
        return (Save(field.key, [int(button.gemeente)]), *_next(state, field, snap))
    if button.choice is not None and button.choice < len(choices):
        if field.type is FieldType.MULTI:
            return _toggle(state, field, choices[button.choice])
        return (Save(field.key, choices[button.choice]), *_next(state, field, snap))
    raise UserError("button.stale")


def _command(
    state: AnalyseState, field: FormField, inp: Input, snap: Snapshot
) -> tuple[Effect, ...]:
    form = snap.form
    match inp.command:
        case "annuleer":
            return (Pause(),)
        case "terug":  # walking back means walking through: no longer only empty fields
            back = form.fields[max(form.index(field.key) - 1, 0)]
            return (Ask(back.key, edit=False),)
        case "overslaan":
            return _next(state, field, snap)
        case "klaar":
            return _done(state, field, snap)
        case "overzicht":
            return (Overview(), Ask(field.key, state.picked))  # the field stays open
        case "wijzig":
            target = form.find(inp.args, snap.language)
            if target is None:
                keys = ", ".join(f.key for f in form.fields)
                raise UserError("analyse.unknown_field", name=inp.args.strip(), keys=keys)
            return (Ask(target.key, edit=True),)
    raise AssertionError(inp.command)  # pragma: no cover: the router passes only these


def step(state: AnalyseState, inp: Input, snap: Snapshot) -> tuple[Effect, ...]:
    """What `inp` means for the field the person is on, as effects to carry out in order."""
    field = snap.form.field(state.field)
    if inp.button is not None:
        if field is None:
            raise UserError("button.stale")
        return _button(state, field, inp.button, snap)
    if field is None:  # the form changed under a running conversation
        return (Ask(snap.form.fields[0].key),)
    if inp.command is not None:
        return _command(state, field, inp, snap)
    return _answer(state, field, inp.text or "", snap)
