"""The state of each person's conversation, as JSON (read back typed by the flows)."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any

from sqlalchemy import Table, bindparam, select
from sqlalchemy.sql import Executable

from core.model import (
    PersonId,
)
from storage.connection import Conn
from storage.database import per_dialect, table
from storage.tables import (
    ConversationRow,
)

CONVERSATION = table(ConversationRow)

_CONVERSATION = select(CONVERSATION.c.state).where(CONVERSATION.c.person_id == bindparam("pid"))

_END_CONVERSATION = CONVERSATION.delete().where(CONVERSATION.c.person_id == bindparam("pid"))


def _set_conversation(insert: Callable[[Table], Any]) -> Executable:
    """A conversation's state, new or replaced: one statement."""
    new = insert(CONVERSATION)
    return new.on_conflict_do_update(  # type: ignore[no-any-return]
        index_elements=[CONVERSATION.c.person_id],
        set_={"state": new.excluded.state, "updated_at": new.excluded.updated_at},
    )


_SET_CONVERSATION = per_dialect(_set_conversation)


class SqlConversationRepo:
    def __init__(self, conn: Conn) -> None:
        self.conn = conn

    async def get(self, person_id: PersonId) -> dict[str, Any] | None:
        result = await self.conn.execute(_CONVERSATION, {"pid": person_id})
        state: dict[str, Any] | None = result.scalar_one_or_none()
        return state

    async def set(self, person_id: PersonId, state: dict[str, Any] | None, at: datetime) -> None:
        if state is None:
            await self.conn.execute(_END_CONVERSATION, {"pid": person_id})
            return
        row = {"person_id": person_id, "state": state, "updated_at": at}
        await self.conn.execute(_SET_CONVERSATION[self.conn.dialect.name], row)
