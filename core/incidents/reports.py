"""What follows when delivery finished an outbox row (the dead ends of a page): a page that
reached its person is marked delivered, one that reached them nowhere moves on at once."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from core.incidents.paging import Paging
from core.meldkamer import tell_meldkamer
from core.model import Origin, PageId
from core.ports import DeliveryReport, OutboxItem
from core.tx import Core


def page_of(item: OutboxItem) -> PageId | None:
    """The page an outbox row sends (its topic is `page:<id>`), if it is a page."""
    if item.kind != "send" or not item.topic or not item.topic.startswith("page:"):
        return None
    number = item.topic[5:]
    return PageId(int(number)) if number.isdigit() else None


def report_handler(core: Core, paging: Paging) -> Callable[[DeliveryReport], Awaitable[None]]:
    """What follows when delivery finished a row: a page that reached the person is marked
    delivered (the Caco sees it); a page that reached them nowhere moves on at once, and
    the Caco is told. A configured group the bot was removed from is skipped until it is
    heard again. A person is never skipped: the next message tries them afresh."""

    async def handle(report: DeliveryReport) -> None:
        person, page_id = report.person, page_of(report.item)
        if person.is_chat:
            if report.delivered or not report.unreachable:
                return
            async with core.transaction(Origin.SYSTEM) as tx:
                for transport in report.unreachable:
                    if await tx.uow.directory.set_unreachable(person.id, transport, True):
                        await tx.audit(person, "delivery.unreachable", transport, "failed")
                        await tell_meldkamer(
                            tx, "meldkamer.chat_unreachable", name=person.name, via=transport
                        )
            return
        if report.delivered and not report.unreachable and page_id is None:
            return
        async with core.transaction(Origin.SYSTEM) as tx:
            for transport in report.unreachable:
                result = "reached elsewhere" if report.delivered else "failed"
                await tx.audit(person, "delivery.unreachable", transport, result)
            if page_id is None:
                return
            if report.delivered:
                await tx.uow.pages.set_target_delivered(page_id, person.id, tx.now)
                return
            via = ", ".join((*report.unreachable, *report.rejected))
            await paging.unreachable(
                tx, person, page_id, via, refused=bool(report.rejected and not report.unreachable)
            )

    return handle
