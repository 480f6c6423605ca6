"""A roster change stored until its button: the flat JSON layout, read back typed."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from core.errors import UserError
from core.model import PersonId
from core.roster.proposals import ChangeRequest, OverrideChange, RotationChange, ShiftChange

START = datetime(2026, 11, 25, 7, 0, tzinfo=UTC)
END = datetime(2026, 11, 25, 19, 0, tzinfo=UTC)


def test_a_request_stored_by_an_earlier_version_reads_back_typed() -> None:
    stored = {
        "op": "rotation",
        "function": "rol",
        "scope": "regio",
        "start": "2026-11-25T07:00:00+00:00",
        "end": "2026-11-25T19:00:00+00:00",
        "person": 3,
        "adding": True,
        "members": [2, 3],
        "start_local": "2026-11-30T08:00",
        "shift_days": 7,
        "old_members": [2],
        "old_start_local": "2026-11-23T08:00",
        "result": "f1",
    }
    request = ChangeRequest.from_json(stored)
    assert request == ChangeRequest(
        RotationChange(
            PersonId(3),
            True,
            (PersonId(2), PersonId(3)),
            "2026-11-30T08:00",
            7,
            (PersonId(2),),
            "2026-11-23T08:00",
        ),
        ("rol", "regio"),
        START,
        END,
        "f1",
    )
    assert request.to_json() == stored


def test_each_kind_round_trips_and_one_without_a_fingerprint_keeps_none() -> None:
    for change in (OverrideChange(PersonId(1), PersonId(2)), ShiftChange(PersonId(1), None)):
        request = ChangeRequest(change, ("rol", "regio"), START, END)
        assert "result" not in request.to_json()
        assert ChangeRequest.from_json(request.to_json()) == request


@pytest.mark.parametrize(
    "stored",
    [
        {"op": "verhuizing", "function": "rol", "scope": "regio"},
        {"op": "override", "function": "rol", "scope": "regio", "start": "gisteren"},
        {"op": "shift", "person": "Anna", "backup": None, "function": "rol", "scope": "regio"},
    ],
)
def test_a_request_that_no_longer_parses_is_a_stale_button(stored: dict[str, object]) -> None:
    with pytest.raises(UserError) as refused:
        ChangeRequest.from_json(stored)
    assert refused.value.key == "button.stale"
