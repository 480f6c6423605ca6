"""The beleidsteam's buttons: typed payloads declared with the others in `core.callbacks`
(one place checks every kind), and what an answer means."""

from __future__ import annotations

from core.callbacks import AnswerAction, BtAnswerButton, BtFlowButton

ETA_MINUTES = {"15": 15, "30": 30, "60": 60, "90": 90, "120": 120, "180": 180}
# "Ik kom later" asks for a time: typed, or one of these (a button needs no typing, so it
# also works for someone in the middle of something else).
LATER: tuple[AnswerAction, ...] = ("90", "120", "180")

__all__ = ["ETA_MINUTES", "LATER", "AnswerAction", "BtAnswerButton", "BtFlowButton"]
