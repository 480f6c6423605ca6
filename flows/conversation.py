"""A person's active conversation: one typed state per flow, parsed at the JSON edge.

The conversation row stores a state as JSON with its flow's name under `"flow"`. `load`
turns it back into the flow's frozen state, validating every field; a stored state that no
longer fits (written by an older version, or damaged) is dropped rather than crashing the
person's next message: the router ends it and tells them so (`UNREADABLE_KEY`).
"""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import Field, TypeAdapter, ValidationError

from flows.analyse.state import AnalyseState
from flows.bt.convening import BtEtaState, BtState
from flows.incidents.alarm import AlarmState

ConversationState = AlarmState | AnalyseState | BtState | BtEtaState

# Questions that give way: starting something else ends them. The arrival time after
# "Ik kom later" is one: the page's buttons can still answer it.
GIVES_WAY = (BtEtaState,)

_STATE: TypeAdapter[ConversationState] = TypeAdapter(
    Annotated[ConversationState, Field(discriminator="flow")]
)


class Unreadable:
    """A stored state that no longer parses: the conversation is over."""


UNREADABLE = Unreadable()
UNREADABLE_KEY = "flow.state_discarded"  # the refusal that ends an unreadable conversation


def load(data: dict[str, Any] | None) -> ConversationState | Unreadable | None:
    """The stored JSON of a conversation as its flow's state (None: no conversation)."""
    if data is None:
        return None
    try:
        return _STATE.validate_python(data)
    except ValidationError:
        return UNREADABLE


def dump(state: ConversationState) -> dict[str, Any]:
    """A state as the JSON the conversation row stores."""
    data: dict[str, Any] = _STATE.dump_python(state, mode="json")
    return data
