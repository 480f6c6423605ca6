"""What a roster change does, as people read it: the roster after it (saying plainly where
nobody is backup), who it moves, and a fingerprint that tells whether it still does the same
when it is confirmed.

A preview, the notices after a change and `/wie` and `/rooster` all read the same resolver
(`core.roster.model.Roster`), so what a preview shows is what is saved, as long as the roster did
not change in between; the fingerprint catches the case where it did.
"""

from __future__ import annotations

import hashlib
from datetime import datetime

from core.i18n import fmt_datetime, t
from core.model import Language, PersonId
from core.roster.model import Key, Roster, Segment
from core.roster.service import runs, timeline_text
from core.tx import Tx

MAX_LINES = 60  # segments shown in one preview or notice


def changed_people(
    before: Roster, after: Roster, key: Key, start: datetime, end: datetime
) -> tuple[PersonId, ...]:
    """Everyone whose duty or backup in [start, end) differs between the two rosters, in the
    order their first difference comes."""

    def held(roster: Roster) -> set[tuple[datetime, PersonId, str, datetime]]:
        segments = roster.timeline(*key, start, end)
        return {
            (r.start, r.person, r.role, r.end)
            for role in ("duty", "backup")
            for r in runs(segments, role)
        }

    return tuple(
        dict.fromkeys(person for _at, person, *_rest in sorted(held(before) ^ held(after)))
    )


def no_backup(segments: list[Segment]) -> list[tuple[datetime, datetime]]:
    """The stretches in which someone is on duty and nobody is backup (merged)."""
    found: list[tuple[datetime, datetime]] = []
    for s in segments:
        if s.duty.on_duty is None or s.duty.backup is not None:
            continue
        if found and found[-1][1] == s.start:
            found[-1] = (found[-1][0], s.end)
        else:
            found.append((s.start, s.end))
    return found


def result_text(
    tx: Tx, roster: Roster, key: Key, start: datetime, end: datetime, lang: Language
) -> str:
    """The roster of `key` over [start, end) as /rooster shows it, then a warning for every
    stretch without a backup."""
    tz = tx.directory.region.timezone
    segments = roster.timeline(*key, start, end)
    lines = [timeline_text(tx, segments[:MAX_LINES], lang)]
    lines += [
        t(
            lang,
            "roster.no_backup",
            start=fmt_datetime(a, tz, lang),
            end=fmt_datetime(b, tz, lang),
        )
        for a, b in no_backup(segments)
    ]
    return "\n".join(lines)


def fingerprint(roster: Roster, key: Key, start: datetime, end: datetime) -> str:
    """A short digest of who holds what in [start, end): equal digests, equal rosters."""
    segments = roster.timeline(*key, start, end)
    text = repr(
        [(s.start.isoformat(), s.end.isoformat(), s.duty.on_duty, s.duty.backup) for s in segments]
    )
    return hashlib.sha256(text.encode()).hexdigest()[:16]
