"""Domain objects of the crisis organisation: who is who, incidents, pages and timers.

Plain frozen dataclasses; storage maps its rows onto these and the core never sees a row.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from enum import StrEnum
from typing import NewType
from zoneinfo import ZoneInfo

PersonId = NewType("PersonId", int)
GemeenteId = NewType("GemeenteId", int)
IncidentId = NewType("IncidentId", int)
PageId = NewType("PageId", int)
TimerId = NewType("TimerId", int)
OutboxId = NewType("OutboxId", int)


class Language(StrEnum):
    NL = "nl"
    EN = "en"


class Register(StrEnum):
    """How Dutch addresses someone: operational staff as "je", the burgemeester (and the
    locoburgemeester) and the people a burgemeester shares with as "u"."""

    JE = "je"
    U = "u"


class Origin(StrEnum):
    """Where an action came from; recorded in every audit record."""

    CONSOLE = "console"
    TELEGRAM = "telegram"
    SLACK = "slack"
    SYSTEM = "system"
    CLI = "cli"


class AlertKind(StrEnum):
    ALERTERING = "alertering"  # heads-up: be ready, confirm you saw it
    ALARMERING = "alarmering"  # call-out: respond now, acknowledge or it escalates


class IncidentStatus(StrEnum):
    OPEN = "open"
    CLOSED = "closed"


class PageStatus(StrEnum):
    ACTIVE = "active"  # waiting for someone to acknowledge; escalation timers run
    ACKNOWLEDGED = "acknowledged"
    INFORMED = "informed"  # an alertering: nothing to acknowledge, only "Gezien"
    CANCELLED = "cancelled"  # the incident was closed before anyone acknowledged
    # Every step was tried and nobody is left to page: the Caco arranges it by phone. A page
    # still held (not declined) may yet be acknowledged; nothing repeats.
    NOBODY_LEFT = "nobody_left"


class TargetStatus(StrEnum):
    PAGED = "paged"
    SEEN = "seen"
    DECLINED = "declined"
    UNREACHABLE = "unreachable"  # the page could not be delivered (blocked the bot)
    ACKNOWLEDGED = "acknowledged"
    WITHDRAWN = "withdrawn"  # the person is no longer in the region (a re-import)


class StepTarget(StrEnum):
    ON_DUTY = "on_duty"  # whoever the function's rotation has on duty
    BACKUP = "backup"  # the rotation's next member
    FUNCTION = "function"  # everyone holding a function (e.g. the coordinators)
    PERSON = "person"  # one named person


class Capability(StrEnum):
    """What a command needs; mapped onto functions in `core.access`."""

    RAISE_ALERT = "raise_alert"
    VIEW_ALL_INCIDENTS = "view_all_incidents"
    CLOSE_INCIDENT = "close_incident"
    FILL_ANALYSE = "fill_analyse"  # fill in, co-edit and publish the strategische analyse


# Function keys the product itself gives meaning to. Regions name every other function freely.
CACO = "caco"
ROL = "rol"
IM = "im"
COORDINATOR = "coordinator"
# How those functions are written when the region file does not name them (a Caco is no
# piket function, so the region file lists none).
FUNCTION_NAMES = {CACO: "Caco", ROL: "ROL", IM: "IM", COORDINATOR: "Piketcoördinator"}


@dataclass(frozen=True, slots=True)
class Person:
    """Someone messages go to: a person, or a group/channel configured in the region file.

    A configured chat (`chat_for` is set) receives the meldkamer's stream for the incidents
    of those gemeenten (a region file that names none means every gemeente, resolved when
    the directory loads). It holds no functions and is never a sender;
    its `telegram_user_id` is the group's chat id (negative) and its `slack_user_id` the
    channel id.
    """

    id: PersonId
    key: str
    name: str
    functions: frozenset[str]
    language: Language = Language.NL
    telegram_user_id: int | None = None
    slack_user_id: str | None = None
    unreachable: frozenset[str] = frozenset()  # transports that refused (blocked the bot)
    chat_for: frozenset[GemeenteId] | None = None
    # False: no longer in the region (a re-import left them out). Kept only so that the
    # incidents they were paged for can still name them (`Directory.former`).
    active: bool = True

    @property
    def is_chat(self) -> bool:
        return self.chat_for is not None


@dataclass(frozen=True, slots=True)
class Gemeente:
    id: GemeenteId
    key: str
    name: str
    burgemeester: PersonId | None = None
    locoburgemeester: PersonId | None = None
    loco_acting: bool = False
    share_with: tuple[PersonId, ...] = ()


@dataclass(frozen=True, slots=True)
class EscalationStep:
    target: StepTarget
    value: str | None = None  # function key or person key, for FUNCTION and PERSON


@dataclass(frozen=True, slots=True)
class EscalationPolicy:
    """Page, repeat `repeats` times every `repeat_after`, then move to the next step.

    The last step keeps repeating until someone acknowledges or the incident is closed, as
    long as it has someone to page: when everyone there declined or cannot be reached, and
    so did everyone before, nobody is left and the Caco is told to arrange it by phone.
    """

    steps: tuple[EscalationStep, ...]
    repeat_after: timedelta = timedelta(minutes=5)
    repeats: int = 1


@dataclass(frozen=True, slots=True)
class PiketFunction:
    key: str
    name: str
    policy: EscalationPolicy


@dataclass(frozen=True, slots=True)
class Region:
    code: str
    name: str
    timezone: ZoneInfo
    alarm_functions: tuple[str, ...] = (ROL,)


@dataclass(frozen=True)
class Directory:
    """Everything the region file defines, loaded once per transaction (cached by revision)."""

    region: Region
    people: dict[PersonId, Person]
    gemeenten: tuple[Gemeente, ...]
    functions: dict[str, PiketFunction]
    # Groups and channels configured to receive the meldkamer's stream (not in `people`).
    chats: dict[PersonId, Person] = field(default_factory=dict)
    # People no longer in the region (inactive): never paged, never a sender, never sent
    # anything; `person` still finds them, for what they did on existing incidents.
    former: dict[PersonId, Person] = field(default_factory=dict)
    _by_key: dict[str, Person] = field(init=False, repr=False)
    _by_telegram: dict[int, Person] = field(init=False, repr=False)
    _by_slack: dict[str, Person] = field(init=False, repr=False)

    def __post_init__(self) -> None:
        people = self.people.values()
        object.__setattr__(self, "_by_key", {p.key: p for p in people})
        object.__setattr__(
            self,
            "_by_telegram",
            {p.telegram_user_id: p for p in people if p.telegram_user_id is not None},
        )
        object.__setattr__(
            self, "_by_slack", {p.slack_user_id: p for p in people if p.slack_user_id}
        )

    def person(self, person_id: PersonId) -> Person:
        """Someone in the region, or someone who was (`Person.active` tells which)."""
        person = self.people.get(person_id) or self.former.get(person_id)
        if person is None:
            raise KeyError(person_id)
        return person

    def recipient(self, person_id: PersonId) -> Person | None:
        """A person or a configured chat: whoever an outbox row is addressed to."""
        return self.people.get(person_id) or self.chats.get(person_id)

    def chats_for(self, gemeenten: tuple[GemeenteId, ...]) -> list[Person]:
        """The configured chats that follow an incident in these gemeenten."""
        return [c for c in self.chats.values() if c.chat_for and c.chat_for.intersection(gemeenten)]

    def chat_by(self, origin: Origin, chat_id: str) -> Person | None:
        """The configured chat a group message came from, if it is one."""
        for chat in self.chats.values():
            if origin is Origin.TELEGRAM and str(chat.telegram_user_id) == chat_id:
                return chat
            if origin is Origin.SLACK and chat.slack_user_id == chat_id:
                return chat
        return None

    def person_by_key(self, key: str) -> Person | None:
        return self._by_key.get(key)

    def person_by_telegram(self, user_id: int) -> Person | None:
        return self._by_telegram.get(user_id)

    def person_by_slack(self, user_id: str) -> Person | None:
        return self._by_slack.get(user_id)

    def with_function(self, function_key: str) -> list[Person]:
        return sorted(
            (p for p in self.people.values() if function_key in p.functions), key=lambda p: p.name
        )

    def gemeente(self, gemeente_id: GemeenteId) -> Gemeente:
        return next(g for g in self.gemeenten if g.id == gemeente_id)

    def administration(self, person: Person) -> bool:
        """A (loco)burgemeester or on a gemeente's share list: the people who receive the
        analyse rather than make it."""
        return any(
            person.id in (g.burgemeester, g.locoburgemeester) or person.id in g.share_with
            for g in self.gemeenten
        )

    def register(self, person: Person) -> Register:
        """Formal for the administration (`administration`), informal for everyone else."""
        return Register.U if self.administration(person) else Register.JE

    def function_name(self, key: str) -> str:
        """A function as people write it: the region's name, else the product's own."""
        function = self.functions.get(key)
        return function.name if function else FUNCTION_NAMES.get(key, key.upper())

    def holds_piket(self, person: Person) -> bool:
        """Whether the person has a piket function, and so duties to see or swap."""
        return bool(person.functions & self.functions.keys())

    def gemeenten_of_mayor(self, person_id: PersonId) -> set[GemeenteId]:
        """The gemeenten where this person is burgemeester, or acting locoburgemeester."""
        return {
            g.id
            for g in self.gemeenten
            if g.burgemeester == person_id or (g.locoburgemeester == person_id and g.loco_acting)
        }


@dataclass(frozen=True, slots=True)
class Incident:
    id: IncidentId
    public_id: str
    kind: AlertKind
    description: str
    location: str
    opschaling: str
    gemeenten: tuple[GemeenteId, ...]
    status: IncidentStatus
    created_by: PersonId
    created_at: datetime
    closed_at: datetime | None = None
    closed_by: PersonId | None = None


@dataclass(frozen=True, slots=True)
class Page:
    """The paging of one piket function for one incident, with its escalation state."""

    id: PageId
    incident_id: IncidentId
    function_key: str
    status: PageStatus
    step_index: int
    attempt: int  # how many times the current step has been paged (1 = first page)
    created_at: datetime
    acknowledged_by: PersonId | None = None
    acknowledged_at: datetime | None = None


@dataclass(frozen=True, slots=True)
class PageTarget:
    page_id: PageId
    person_id: PersonId
    step_index: int
    status: TargetStatus
    paged_at: datetime
    answered_at: datetime | None = None
    delivered_at: datetime | None = None  # the platform accepted the page


@dataclass(frozen=True, slots=True)
class Timer:
    id: TimerId
    kind: str
    ref: int
    due_at: datetime
