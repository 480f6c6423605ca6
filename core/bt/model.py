"""The beleidsteam as data: a call-out of a team, its members, their answers, the boards
people hold, and the decisions and actions recorded for an incident."""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import NewType, Protocol

from core.model import AlertKind, GemeenteId, IncidentId, PageId, PersonId

CalloutId = NewType("CalloutId", int)
MemberId = NewType("MemberId", int)


class CalloutStatus(StrEnum):
    ACTIVE = "active"
    ENDED = "ended"  # the incident closed


class Answer(StrEnum):
    COMING = "coming"  # "Ik kom", with an arrival estimate
    NOT_COMING = "not_coming"  # "Ik kom niet": the function's backup is paged at once
    SEEN = "seen"  # an alertering's "Gezien"


class RecordKind(StrEnum):
    DECISION = "besluit"
    ACTION = "actie"


@dataclass(frozen=True, slots=True)
class Callout:
    """One convening (or direct call-out) of a team for an incident."""

    id: CalloutId
    incident_id: IncidentId
    team_key: str
    team_name: str
    kind: AlertKind  # alarmering ("Ik kom" / "Ik kom niet") or alertering ("Gezien")
    convened_by: PersonId
    on_behalf_of: PersonId | None  # the burgemeester the ROL convened for
    gemeente_id: GemeenteId | None  # the gemeente whose BT this is (None: regional team)
    starts_at: datetime
    place: str
    norm_at: datetime
    created_at: datetime
    answer_minutes: int = 10
    status: CalloutStatus = CalloutStatus.ACTIVE
    board_due: bool = False  # a board refresh is scheduled (edits are coalesced)


@dataclass(frozen=True, slots=True)
class Member:
    """One function (or one named person) called out, and the page that calls them."""

    id: MemberId
    callout_id: CalloutId
    position: int
    function_key: str
    required: bool
    page_id: PageId | None
    person_key: str | None = None  # added by name by the convener, not by function


@dataclass(frozen=True, slots=True)
class Attendance:
    """A paged person's latest answer for one member of a call-out."""

    member_id: MemberId
    person_id: PersonId
    answer: Answer
    eta: datetime | None
    at: datetime


@dataclass(frozen=True, slots=True)
class Record:
    """A decision or an action of a BT, numbered per kind within its BT; `history` keeps
    every earlier wording (text, who, when) of a decision that was changed.

    A record belongs to the call-out it was recorded in, and through it to that BT: the
    call-outs of one incident for one team and gemeente (or, with no gemeente, a regional
    team), so two gemeenten convening for one incident keep their records apart."""

    id: int
    incident_id: IncidentId
    callout_id: CalloutId
    kind: RecordKind
    number: int
    text: str
    phase: str
    by: PersonId
    at: datetime
    owner: PersonId | None = None
    history: tuple[tuple[str, int, str], ...] = ()  # (text, person id, ISO time)


@dataclass(frozen=True, slots=True)
class NewCallout:
    incident_id: IncidentId
    team_key: str
    team_name: str
    kind: AlertKind
    convened_by: PersonId
    on_behalf_of: PersonId | None
    gemeente_id: GemeenteId | None
    starts_at: datetime
    place: str
    norm_at: datetime
    created_at: datetime
    answer_minutes: int


@dataclass(frozen=True, slots=True)
class LogEntry:
    """One line of an incident's logbook, from the audit log."""

    at: datetime
    actor: str
    action: str
    result: str
    origin: str
    detail: dict[str, object]


class BtRepo(Protocol):
    """Storage of call-outs, attendance, boards, decisions and actions (storage.repos.bt)."""

    async def add_callout(self, new: NewCallout) -> Callout: ...
    async def callout(
        self, callout_id: CalloutId, *, for_update: bool = False
    ) -> Callout | None: ...
    async def callouts(self, incident_id: IncidentId) -> list[Callout]:
        """Every call-out of the incident, oldest first."""
        ...

    async def active_callouts(self) -> list[Callout]: ...
    async def set_status(self, callout_id: CalloutId, status: CalloutStatus) -> None: ...
    async def set_board_due(self, callout_id: CalloutId, due: bool) -> bool:
        """Set the flag; whether it changed (False: a refresh was scheduled already)."""
        ...

    async def add_member(
        self,
        callout_id: CalloutId,
        position: int,
        function_key: str,
        required: bool,
        person_key: str | None,
    ) -> Member: ...
    async def set_member_page(self, member_id: MemberId, page_id: PageId) -> None: ...
    async def members(self, callout_id: CalloutId) -> list[Member]: ...
    async def member(self, member_id: MemberId) -> Member | None: ...
    async def member_by_page(self, page_id: PageId) -> Member | None: ...
    async def set_attendance(self, attendance: Attendance) -> None: ...
    async def attendance(self, callout_id: CalloutId) -> list[Attendance]: ...
    async def add_viewer(self, callout_id: CalloutId, person_id: PersonId) -> bool:
        """Remember that the person holds a board of this call-out; False if they did."""
        ...

    async def viewers(self, callout_id: CalloutId) -> list[PersonId]: ...
    async def add_record(
        self,
        callout: Callout,
        numbered_with: Collection[CalloutId],
        kind: RecordKind,
        text: str,
        phase: str,
        by: PersonId,
        at: datetime,
        owner: PersonId | None = None,
    ) -> Record:
        """Store a decision or an action of the call-out with the next number of its kind
        among the records of `numbered_with` (the call-outs of its BT)."""
        ...

    async def records(self, incident_id: IncidentId) -> list[Record]: ...
    async def revise(self, record: Record, text: str, by: PersonId, at: datetime) -> Record: ...
    async def region_settings(self) -> dict[str, object] | None:
        """The region's stored settings (the region file's `settings`), None before any."""
        ...

    async def log(self, public_id: str) -> list[LogEntry]:
        """The audit records about an incident (its public id), oldest first."""
        ...
