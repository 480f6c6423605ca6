"""What a page and an incident read as: the summary on every page, a step's name, and the
topic that ties a page's messages together (an edit replaces them all)."""

from __future__ import annotations

from core.i18n import fmt_time, t
from core.model import EscalationStep, Incident, Language, Page, PiketFunction, StepTarget
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
