"""The meldkamer's stream: every Caco, and the groups following an incident's gemeenten,
see each step of an incident, its pages and its analyse as it happens."""

from __future__ import annotations

from core.model import CACO, Incident
from core.tx import Tx


async def tell_meldkamer(
    tx: Tx, key: str, *, chats_of: Incident | None = None, **params: object
) -> None:
    """Every Caco sees every step of every page as it happens. With `chats_of`, so do the
    groups and channels configured to follow that incident's gemeenten."""
    chats = tx.directory.chats_for(chats_of.gemeenten) if chats_of is not None else []
    for recipient in [*tx.directory.with_function(CACO), *chats]:
        await tx.send(recipient, key, **params)  # type: ignore[arg-type]
