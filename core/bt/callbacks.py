"""The beleidsteam's buttons: typed payloads declared with the others in `core.callbacks`
(one place checks every kind), and what an answer means."""

from __future__ import annotations

from core.callbacks import AnswerAction, BtAnswerButton, BtFlowButton

ETA_MINUTES = {"15": 15, "30": 30, "60": 60}

__all__ = ["ETA_MINUTES", "AnswerAction", "BtAnswerButton", "BtFlowButton"]
