"""What a page and an incident read as: the summary on every page, a step's name, and the
topic that ties a page's messages together (an edit replaces them all)."""

from __future__ import annotations

from core.callbacks import PageAction, PageButton
from core.i18n import fmt_time, t
from core.model import (
    EscalationStep,
    Incident,
    Language,
    Page,
    Person,
    PiketFunction,
    StepTarget,
)
from core.tx import Tx


def page_topic(page: Page) -> str:
    return f"page:{page.id}"


def step_label(tx: Tx, function: PiketFunction, step: EscalationStep, lang: Language) -> str:
    if step.target is StepTarget.FUNCTION:
        fn = tx.directory.functions.get(step.value or "")
        return fn.name if fn else (step.value or "")
    if step.target is StepTarget.PERSON:
        person = tx.directory.person_by_key(step.value or "")
        return person.name if person else (step.value or "")
    return t(lang, f"step.{step.target.value}", function=function.name)


def incident_summary(tx: Tx, incident: Incident, lang: Language) -> str:
    names = ", ".join(tx.directory.gemeente(g).name for g in incident.gemeenten)
    d = tx.directory
    creator = d.people.get(incident.created_by) or d.former.get(incident.created_by)
    return t(
        lang,
        "incident.summary",
        kind=t(lang, f"kind.{incident.kind.value}").upper(),
        id=incident.public_id,
        gemeenten=names,
        description=incident.description,
        location=incident.location or t(lang, "common.unknown"),
        opschaling=incident.opschaling or t(lang, "common.unknown"),
        caco=creator.name if creator else "?",
        time=fmt_time(incident.created_at, tx.directory.region.timezone, lang),
    )


async def send_alarm_page(
    tx: Tx,
    incident: Incident,
    page: Page,
    function: PiketFunction,
    person: Person,
    attempt: int,
    informing: bool,
) -> None:
    def data(action: PageAction) -> str:
        return PageButton(page.id, action).pack()

    if informing:
        buttons: tuple[tuple[str, str], ...] = (("page.button_seen", data("seen")),)
        title = "page.title_informing"
    else:
        buttons = (("page.button_ack", data("ack")), ("page.button_decline", data("decline")))
        title = "page.title_repeat" if attempt > 1 else "page.title"
    await tx.send(
        person,
        "page.body",
        title_key=title,
        buttons=buttons,
        topic=page_topic(page),
        summary=lambda lang: incident_summary(tx, incident, lang),
        function=function.name,
        attempt=attempt,
    )
