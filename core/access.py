"""Who may do what: capabilities per function, and which incidents a person may see."""

from __future__ import annotations

from collections.abc import Iterable

from core.model import (
    CACO,
    COORDINATOR,
    IM,
    ROL,
    Capability,
    Directory,
    Incident,
    IncidentId,
    Person,
)

_GRANTS: dict[Capability, frozenset[str]] = {
    Capability.RAISE_ALERT: frozenset({CACO}),
    Capability.VIEW_ALL_INCIDENTS: frozenset({CACO, COORDINATOR, ROL, IM}),
    Capability.CLOSE_INCIDENT: frozenset({CACO, COORDINATOR, ROL}),
    Capability.FILL_ANALYSE: frozenset({ROL, IM}),
}


def can(person: Person, capability: Capability) -> bool:
    return bool(person.functions & _GRANTS[capability])


def reads_analyses(directory: Directory, person: Person) -> bool:
    """Whether analyses ever reach this person: the Caco, the ROL and IM who make them, and
    the burgemeester's side that receives them."""
    return (
        CACO in person.functions
        or can(person, Capability.FILL_ANALYSE)
        or directory.administration(person)
    )


def visible_incidents(
    directory: Directory,
    person: Person,
    incidents: Iterable[Incident],
    paged_in: set[IncidentId],
) -> list[Incident]:
    """Everything for the crisis staff; otherwise only what they were paged for, and a
    burgemeester only the incidents of their own gemeente(n)."""
    if can(person, Capability.VIEW_ALL_INCIDENTS):
        return list(incidents)
    own = directory.gemeenten_of_mayor(person.id)
    return [i for i in incidents if i.id in paged_in or own.intersection(i.gemeenten)]
