"""The beleidsteam's buttons (typed payloads, see `core.callbacks`)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from core.bt.model import MemberId
from core.callbacks import ButtonData

# "Ik kom" within 15 / 30 / 60 minutes or later (a typed time), "Ik kom niet", "Gezien".
AnswerAction = Literal["15", "30", "60", "later", "not", "seen"]
ETA_MINUTES = {"15": 15, "30": 30, "60": 60}


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
