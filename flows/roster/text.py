"""Reading the roster commands' text: Dutch and English keywords split a command line into
its parts ("Anna door Bert van ma 08:00 tot di 08:00"), every way it can be read, for the
core to try in turn (`core.roster.changes.Readings`)."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

from core.roster.changes import Readings, RotationAction

# Keywords, Dutch and English.
BY = frozenset({"door", "by", "with"})
FROM = frozenset({"van", "vanaf", "from"})
UNTIL = frozenset({"tot", "until", "till", "to"})
FOR = frozenset({"voor", "for"})
BACKUP = frozenset({"backup"})
ADD = frozenset({"toevoegen", "erbij", "add"})
REMOVE = frozenset({"verwijderen", "eraf", "weg", "remove"})


@dataclass(frozen=True)
class Clause:
    name: str
    keywords: frozenset[str]
    required: bool = True


def splits(text: str, clauses: list[Clause]) -> Iterator[dict[str, str]]:
    """Every way to read `text` as "<first> kw1 <a> kw2 <b> …": keywords in this order,
    optional ones may be missing, and no part is empty. A name may contain a keyword ("Jan van
    Dijk"), so the caller tries each reading in turn. Readings with more clauses come first."""
    words = text.split()
    found: list[dict[str, str]] = []

    def walk(start: int, index: int, name: str, acc: dict[str, str]) -> None:
        if index == len(clauses):
            if start < len(words):
                found.append({**acc, name: " ".join(words[start:])})
            return
        clause = clauses[index]
        if not clause.required:
            walk(start, index + 1, name, acc)
        for pos in range(start + 1, len(words)):
            if words[pos].lower() in clause.keywords:
                walk(pos + 1, index + 1, clause.name, {**acc, name: " ".join(words[start:pos])})

    walk(0, 0, "first", {})
    found.sort(key=lambda parts: -len(parts))
    return iter(found)


REPLACE = [
    Clause("by", BY),
    Clause("from", FROM),
    Clause("until", UNTIL),
    Clause("for", FOR, required=False),
]
SHIFT = [
    Clause("from", FROM),
    Clause("until", UNTIL),
    Clause("for", FOR, required=False),
    Clause("backup", BACKUP, required=False),
]
# A swap is read with a period if it can be, else as the asker's next duty.
SWAP = (
    [Clause("from", FROM), Clause("until", UNTIL), Clause("for", FOR, required=False)],
    [Clause("for", FOR, required=False)],
)


def readings(text: str, clauses: list[Clause]) -> Readings:
    return list(splits(text, clauses))


def swap_readings(text: str) -> list[Readings]:
    return [readings(text, clauses) for clauses in SWAP]


@dataclass(frozen=True)
class RotationLine:
    """/rotatie <functie> [scope] [toevoegen|verwijderen <persoon>]."""

    which: str  # the function and scope, as typed
    action: RotationAction | None  # None: show the rotation
    target: str  # the person, as typed ("" when not given)


def rotation_line(text: str) -> RotationLine:
    words = text.split()
    at = next((i for i, w in enumerate(words) if w.lower() in ADD | REMOVE), len(words))
    which = " ".join(words[:at])
    if at == len(words):
        return RotationLine(which, None, "")
    action: RotationAction = "add" if words[at].lower() in ADD else "remove"
    return RotationLine(which, action, " ".join(words[at + 1 :]))
