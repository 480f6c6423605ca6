"""How the pages of a call-out other than the alarm's look (`PageView`): paging walks
them like any page, and asks the view for their policy, text, buttons and notices."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Protocol

from core.meldkamer import tell_meldkamer
from core.model import GemeenteId, Incident, Page, Person, PiketFunction
from core.tx import Tx


class PageView(Protocol):
    """How the pages of a call-out other than the alarm's look and whom their steps
    concern (the beleidsteam's call-out, `core.bt.callout`): the same walk, repeats and
    escalation, with its own policy, page text, buttons and notices."""

    async def function(self, tx: Tx, page: Page) -> PiketFunction:
        """The function with the escalation policy this page walks."""
        ...

    async def gemeenten(self, tx: Tx, page: Page, incident: Incident) -> tuple[GemeenteId, ...]:
        """Whose rosters the page's steps look in (the alarm: the incident's gemeenten)."""
        ...

    async def send_page(
        self, tx: Tx, incident: Incident, page: Page, person: Person, attempt: int
    ) -> None: ...

    async def edit_page(
        self,
        tx: Tx,
        incident: Incident,
        page: Page,
        people: list[Person],
        status_key: str,
        **params: str,
    ) -> None: ...

    async def acknowledged(self, tx: Tx, incident: Incident, page: Page, person: Person) -> None:
        """Instead of the alarm's "you took it" (with the analyse button)."""
        ...

    async def tell(
        self, tx: Tx, incident: Incident, page: Page, key: str, **params: object
    ) -> None:
        """Instead of telling the meldkamer about a step (`tell_meldkamer`)."""
        ...


Views = Callable[[Tx, Page], Awaitable[PageView | None]]


async def tell(
    tx: Tx,
    view: PageView | None,
    incident: Incident,
    page: Page,
    key: str,
    **params: object,
) -> None:
    if view is not None:
        await view.tell(tx, incident, page, key, **params)
    else:
        await tell_meldkamer(tx, key, chats_of=incident, **params)
