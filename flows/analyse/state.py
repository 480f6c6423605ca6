"""Where a person is in filling in an analyse: the analyse flow's conversation state."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from core.analyse.model import AnalyseId

FLOW = "analyse"


@dataclass(frozen=True)
class AnalyseState:
    """One person's turn in an analyse, persisted between messages.

    `fresh`: no text typed into the field yet this turn (the first message replaces the
    field, later ones add to it); `picked`: the choices ticked so far in a multiple-choice
    field; `edit`: after /wijzig, go on at the next empty field rather than the next one.
    """

    analyse_id: AnalyseId
    field: str
    fresh: bool = True
    picked: tuple[str, ...] = ()
    edit: bool = False
    flow: Literal["analyse"] = "analyse"
