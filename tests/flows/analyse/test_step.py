"""The analyse conversation's pure step: what an answer, a command or a button means."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from zoneinfo import ZoneInfo

import pytest

from core.analyse.form import load_form
from core.analyse.model import AnalyseId, Answer
from core.callbacks import FieldAction, FieldButton
from core.errors import UserError
from core.model import Language
from flows.analyse.state import AnalyseState
from flows.analyse.step import Ask, Finish, Input, Pause, Save, SaveText, Snapshot, step

FORM = load_form()
NOW = datetime(2026, 3, 1, 9, 0, tzinfo=UTC)


def _snapshot(values: Mapping[str, Answer] | None = None) -> Snapshot:
    return Snapshot(FORM, values or {}, (), NOW, ZoneInfo("Europe/Amsterdam"), Language.NL)


def _state(field: str, **kwargs: object) -> AnalyseState:
    return AnalyseState(AnalyseId(1), field, **kwargs)  # type: ignore[arg-type]


def test_typed_text_replaces_the_field_first_and_adds_to_it_after() -> None:
    values = {"inzet": "Brandweer ter plaatse"}
    fresh = step(_state("inzet"), Input(text=" Politie ook "), _snapshot(values))
    assert fresh == (SaveText("inzet", "Politie ook"),)
    more = step(_state("inzet", fresh=False), Input(text="Ambulance"), _snapshot(values))
    assert more == (SaveText("inzet", "Brandweer ter plaatse\n\nAmbulance"),)


def test_a_choice_by_number_is_saved_and_the_next_field_asked() -> None:
    effects = step(_state("opschaling"), Input(text="1"), _snapshot())
    first = FORM.choices_of(FORM.fields[1])[0]
    assert effects == (Save("opschaling", first), Ask("teams"))


def test_after_wijzig_only_empty_fields_are_asked_and_then_it_finishes() -> None:
    filled = {f.key: "x" for f in FORM.fields}
    state = _state("opschaling", edit=True)
    assert step(state, Input(command="overslaan"), _snapshot(filled)) == (Finish(),)
    del filled["advies"]
    assert step(state, Input(command="overslaan"), _snapshot(filled)) == (Ask("advies"),)


def test_a_multiple_choice_button_ticks_and_klaar_saves_in_form_order() -> None:
    teams = FORM.fields[2]
    choices = FORM.choices_of(teams)
    ticked = step(_state("teams"), Input(button=FieldButton(2, choice=1)), _snapshot())
    assert ticked == (Ask("teams", (choices[1],)),)
    state = _state("teams", picked=(choices[1], choices[0]))
    done = step(state, Input(button=FieldButton(2, FieldAction.DONE)), _snapshot())
    assert done == (Save("teams", [choices[0], choices[1]]), Ask("feitelijk_beeld"))


def test_refusals_and_annuleer() -> None:
    with pytest.raises(UserError) as empty:
        step(_state("inzet"), Input(text="  "), _snapshot())
    assert empty.value.key == "analyse.empty_answer"
    with pytest.raises(UserError) as other:
        step(_state("inzet"), Input(button=FieldButton(0, FieldAction.SKIP)), _snapshot())
    assert other.value.key == "analyse.button_other_field"
    assert step(_state("inzet"), Input(command="annuleer"), _snapshot()) == (Pause(),)
