"""Who a page no longer waits for: people a re-import took out of the region, and a
last step with nobody left to page."""

from __future__ import annotations

from dataclasses import replace

from core.incidents.view import PageView, tell
from core.model import (
    EscalationPolicy,
    EscalationStep,
    Incident,
    Page,
    PageStatus,
    PageTarget,
    PiketFunction,
    StepTarget,
    TargetStatus,
)
from core.tx import Tx

DEFAULT_POLICY = EscalationPolicy(steps=(EscalationStep(StepTarget.ON_DUTY),))


def piket_function(tx: Tx, key: str) -> PiketFunction:
    function = tx.directory.functions.get(key)
    return function or PiketFunction(key, tx.directory.function_name(key), DEFAULT_POLICY)


async def nobody_left(
    tx: Tx,
    incident: Incident,
    page: Page,
    function: PiketFunction,
    step_index: int,
    attempt: int,
    view: PageView | None = None,
) -> None:
    """The last step has nobody left to page: everyone declined, could not be reached
    or is not there. Nothing repeats (there is nobody to repeat to); the Caco is told,
    once, to arrange it by phone. A page someone still holds may yet be acknowledged."""
    status = PageStatus.NOBODY_LEFT if page.status is PageStatus.ACTIVE else page.status
    await tx.uow.pages.update(replace(page, status=status, step_index=step_index, attempt=attempt))
    await tx.audit(
        "system",
        "page.nobody_left",
        incident.public_id,
        "nobody",
        function=function.key,
        page=page.id,
    )
    await tell(
        tx,
        view,
        incident,
        page,
        "meldkamer.nobody_left",
        id=incident.public_id,
        function=function.name,
    )


async def withdraw_removed(
    tx: Tx,
    incident: Incident,
    page: Page,
    targets: list[PageTarget],
    view: PageView | None = None,
) -> list[PageTarget]:
    """Withdraw the open page of everyone a re-import took out of the region: the page
    no longer waits for them and the meldkamer hears it. The targets as they are now."""
    d = tx.directory
    function = piket_function(tx, page.function_key)
    now: list[PageTarget] = []
    for x in targets:
        if x.status is TargetStatus.PAGED and x.person_id not in d.people:
            await tx.uow.pages.set_target_status(
                page.id, x.person_id, TargetStatus.WITHDRAWN, tx.now
            )
            former = d.former.get(x.person_id)
            await tx.audit(
                former.key if former else str(x.person_id),
                "page.withdrawn",
                incident.public_id,
                "not in the region",
                function=function.key,
                page=page.id,
            )
            await tell(
                tx,
                view,
                incident,
                page,
                "meldkamer.withdrawn",
                id=incident.public_id,
                name=former.name if former else "?",
                function=function.name,
            )
            x = replace(x, status=TargetStatus.WITHDRAWN, answered_at=tx.now)
        now.append(x)
    return now
