"""The database tables, declared as SQLModel models. Only storage sees these; the core gets
`core.model` objects.

How SQLModel is used here: the `table=True` models below declare the schema, once. Each is a
typed pydantic model of one row (`PersonRow.model_validate(...)` checks values against the
field types) and, through SQLModel, a SQLAlchemy table on `metadata`. The repositories
(`storage.repos`, one module per area) do not load or save these
objects through an ORM session: they write explicit SQL with SQLAlchemy Core over the same
tables (`storage.database.table(PersonRow)`), built once at import where they can be, and
map the result rows to the core's frozen dataclasses themselves. SQLModel is built on
SQLAlchemy, so both sit on one set of tables; there is no second definition anywhere.

Column types come from the annotations: `str` is a VARCHAR, `datetime` SQLModel's
`UTCDateTime` (since sqlmodel 0.0.45): timestamptz on PostgreSQL, only aware datetimes are
stored (in UTC), and they are read back aware in UTC, also from SQLite, which keeps no
offset. JSON columns are spelled out with `sa_column`. The Alembic migrations build the same
schema (tests/storage/test_migrations.py compares them).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, BigInteger, Column, Index, UniqueConstraint
from sqlmodel import Field, SQLModel

from storage import bt_tables as _bt_tables  # noqa: F401 (declares the BT tables on metadata)

metadata = SQLModel.metadata


class RegionRow(SQLModel, table=True):
    __tablename__ = "region"
    id: int | None = Field(default=None, primary_key=True)
    code: str = Field(unique=True)
    name: str
    timezone: str
    settings: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))
    # Bumped by every change to people, gemeenten, functions or rotations, so that cached
    # directories are reloaded (also by other instances).
    revision: int = 0


class PersonRow(SQLModel, table=True):
    __tablename__ = "person"
    id: int | None = Field(default=None, primary_key=True)
    key: str = Field(unique=True)
    name: str
    functions: list[str] = Field(default_factory=list, sa_column=Column(JSON, nullable=False))
    language: str = "nl"
    telegram_user_id: int | None = Field(
        default=None, sa_column=Column(BigInteger, unique=True, nullable=True)
    )
    slack_user_id: str | None = Field(default=None, unique=True)
    active: bool = True
    unreachable: list[str] = Field(default_factory=list, sa_column=Column(JSON, nullable=False))
    # Set for a group or channel from the region file's `chats` (the keys of the gemeenten it
    # follows; empty: all); NULL for a person. Such a row only receives messages.
    chat_gemeenten: list[str] | None = Field(default=None, sa_column=Column(JSON, nullable=True))


class GemeenteRow(SQLModel, table=True):
    __tablename__ = "gemeente"
    id: int | None = Field(default=None, primary_key=True)
    key: str = Field(unique=True)
    name: str
    burgemeester_id: int | None = Field(default=None, foreign_key="person.id")
    locoburgemeester_id: int | None = Field(default=None, foreign_key="person.id")
    loco_acting: bool = False
    share_with: list[int] = Field(default_factory=list, sa_column=Column(JSON, nullable=False))


class FunctionRow(SQLModel, table=True):
    __tablename__ = "piket_function"
    id: int | None = Field(default=None, primary_key=True)
    key: str = Field(unique=True)
    name: str
    escalation: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))


class RotationRow(SQLModel, table=True):
    __tablename__ = "rotation"
    __table_args__ = (UniqueConstraint("function_key", "scope", name="uq_rotation_function_scope"),)
    id: int | None = Field(default=None, primary_key=True)
    function_key: str
    # "regio", "piketregio:<key>" or "gemeente:<key>" (see core.roster)
    scope: str = Field(default="regio", sa_column_kwargs={"server_default": "regio"})
    members: list[int] = Field(default_factory=list, sa_column=Column(JSON, nullable=False))
    start_local: str  # ISO local wall time, no offset: rotations live in the region's time
    shift_days: int = 7


class CounterRow(SQLModel, table=True):
    __tablename__ = "counter"
    name: str = Field(primary_key=True)
    value: int = 0


class IncidentRow(SQLModel, table=True):
    __tablename__ = "incident"
    id: int | None = Field(default=None, primary_key=True)
    public_id: str = Field(unique=True)
    kind: str
    description: str
    location: str = ""
    opschaling: str = ""
    gemeenten: list[int] = Field(default_factory=list, sa_column=Column(JSON, nullable=False))
    status: str = Field(index=True)
    created_by: int = Field(foreign_key="person.id")
    created_at: datetime
    closed_at: datetime | None = None
    closed_by: int | None = Field(default=None, foreign_key="person.id")


class PageRow(SQLModel, table=True):
    __tablename__ = "page"
    id: int | None = Field(default=None, primary_key=True)
    incident_id: int = Field(foreign_key="incident.id", index=True)
    function_key: str
    status: str
    step_index: int = 0
    attempt: int = 0
    created_at: datetime
    acknowledged_by: int | None = Field(default=None, foreign_key="person.id")
    acknowledged_at: datetime | None = None


class PageTargetRow(SQLModel, table=True):
    __tablename__ = "page_target"
    page_id: int = Field(foreign_key="page.id", primary_key=True)
    person_id: int = Field(foreign_key="person.id", primary_key=True)
    step_index: int
    status: str
    paged_at: datetime
    answered_at: datetime | None = None
    delivered_at: datetime | None = None  # the platform accepted the page


class TimerRow(SQLModel, table=True):
    __tablename__ = "timer"
    __table_args__ = (
        Index("ix_timer_status_due", "status", "due_at"),
        Index("ix_timer_kind_ref", "kind", "ref"),
    )
    id: int | None = Field(default=None, primary_key=True)
    kind: str
    ref: int
    due_at: datetime
    status: str = "pending"  # pending | fired | cancelled
    created_at: datetime
    fired_at: datetime | None = None


class OutboxRow(SQLModel, table=True):
    __tablename__ = "outbox"
    __table_args__ = (
        Index("ix_outbox_status_next", "status", "next_attempt_at"),
        Index("ix_outbox_person_topic", "person_id", "topic"),
    )
    id: int | None = Field(default=None, primary_key=True)
    person_id: int = Field(foreign_key="person.id")
    kind: str = "send"  # send | edit
    topic: str | None = None
    payload: dict[str, Any] = Field(sa_column=Column(JSON, nullable=False))
    status: str = "pending"  # pending | sent | unreachable
    attempts: int = 0
    next_attempt_at: datetime
    created_at: datetime
    finished_at: datetime | None = None
    last_error: str | None = None


class LedgerRow(SQLModel, table=True):
    """What became of each part of an outbox row on each transport (see core.ports)."""

    __tablename__ = "ledger"
    __table_args__ = (UniqueConstraint("outbox_id", "transport", "part", name="uq_ledger_part"),)
    id: int | None = Field(default=None, primary_key=True)
    outbox_id: int = Field(foreign_key="outbox.id", index=True)
    transport: str
    part: int
    status: str  # sending | sent | uncertain | failed
    ref: str | None = None
    # Editable: the part later edits of its topic replace.
    buttons: bool = False
    at: datetime


class InboxRow(SQLModel, table=True):
    """Inbound events, stored before the platform is told they arrived; handled from here."""

    __tablename__ = "inbox"
    __table_args__ = (
        UniqueConstraint("origin", "event_id", name="uq_inbox_origin_event"),
        Index("ix_inbox_status_next", "status", "next_attempt_at"),
    )
    id: int | None = Field(default=None, primary_key=True)
    origin: str
    event_id: str
    event: dict[str, Any] = Field(sa_column=Column(JSON, nullable=False))
    context: dict[str, Any] = Field(sa_column=Column(JSON, nullable=False))
    status: str = "pending"  # pending | done | refused
    attempts: int = 0
    next_attempt_at: datetime
    received_at: datetime
    handled_at: datetime | None = None
    last_error: str | None = None


class AuditRow(SQLModel, table=True):
    """Append-only: the migration installs triggers that refuse UPDATE and DELETE."""

    __tablename__ = "audit"
    id: int | None = Field(default=None, primary_key=True)
    at: datetime = Field(index=True)
    actor: str
    action: str
    object: str
    result: str
    origin: str
    detail: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))


class ConversationRow(SQLModel, table=True):
    __tablename__ = "conversation"
    person_id: int = Field(foreign_key="person.id", primary_key=True)
    state: dict[str, Any] = Field(sa_column=Column(JSON, nullable=False))
    updated_at: datetime


class InboundEventRow(SQLModel, table=True):
    """Platform event ids already handled: a redelivered update has exactly one effect."""

    __tablename__ = "inbound_event"
    origin: str = Field(primary_key=True)
    event_id: str = Field(primary_key=True)
    at: datetime = Field(index=True)


class LinkCodeRow(SQLModel, table=True):
    """One-time codes that link a chat account to a person. Only a hash is stored."""

    __tablename__ = "link_code"
    code_hash: str = Field(primary_key=True)
    person_id: int = Field(foreign_key="person.id", index=True)
    created_at: datetime
    expires_at: datetime
    used_at: datetime | None = None
    used_by: str | None = None  # "telegram:12345"


class LinkAttemptRow(SQLModel, table=True):
    """Failed link attempts per chat account, to stop guessing."""

    __tablename__ = "link_attempt"
    id: int | None = Field(default=None, primary_key=True)
    who: str = Field(index=True)  # "telegram:12345"
    at: datetime


class AnalyseRow(SQLModel, table=True):
    """The strategische analyse of one incident: fields being filled, published versions."""

    __tablename__ = "analysis"
    id: int | None = Field(default=None, primary_key=True)
    incident_id: int = Field(foreign_key="incident.id", unique=True)
    created_by: int = Field(foreign_key="person.id")
    created_at: datetime
    # The newest published version, 0 before the first.
    version: int = 0
    bt_convened_by: int | None = Field(default=None, foreign_key="person.id")
    bt_convened_at: datetime | None = None


class AnalyseEditorRow(SQLModel, table=True):
    __tablename__ = "analysis_editor"
    analyse_id: int = Field(foreign_key="analysis.id", primary_key=True)
    person_id: int = Field(foreign_key="person.id", primary_key=True)
    invited_by: int | None = Field(default=None, foreign_key="person.id")
    # False while an invitation waits for an answer.
    joined: bool = True
    at: datetime


class AnalyseFieldRow(SQLModel, table=True):
    """The current value of one field (last write wins; its editor is recorded)."""

    __tablename__ = "analysis_field"
    analyse_id: int = Field(foreign_key="analysis.id", primary_key=True)
    key: str = Field(primary_key=True)
    value: Any = Field(sa_column=Column(JSON, nullable=False))
    editor_id: int = Field(foreign_key="person.id")
    updated_at: datetime


class AnalyseVersionRow(SQLModel, table=True):
    __tablename__ = "analysis_version"
    __table_args__ = (UniqueConstraint("analyse_id", "number"),)
    id: int | None = Field(default=None, primary_key=True)
    analyse_id: int = Field(foreign_key="analysis.id", index=True)
    number: int
    values: dict[str, Any] = Field(sa_column=Column(JSON, nullable=False))
    editors: dict[str, Any] = Field(sa_column=Column(JSON, nullable=False))
    published_by: int = Field(foreign_key="person.id")
    published_at: datetime
    next_update_at: datetime | None = None


class AnalyseCopyRow(SQLModel, table=True):
    """Who received which version (published to, or shared with), and who read it."""

    __tablename__ = "analysis_copy"
    __table_args__ = (Index("ix_analysis_copy_person", "analyse_id", "person_id"),)
    id: int | None = Field(default=None, primary_key=True)
    analyse_id: int = Field(foreign_key="analysis.id")
    number: int
    person_id: int = Field(foreign_key="person.id")
    kind: str  # published | shared
    shared_by: int | None = Field(default=None, foreign_key="person.id")
    at: datetime
    read_at: datetime | None = None


# --- piket rosters (core.roster) -----------------------------------------------------------


class RosterRotationHistoryRow(SQLModel, table=True):
    """An earlier definition of a rotation, in force until `valid_until` (the members were
    changed then), so the past stays as it was."""

    __tablename__ = "roster_rotation_history"
    __table_args__ = (Index("ix_roster_rotation_history_key", "function_key", "scope"),)
    id: int | None = Field(default=None, primary_key=True)
    function_key: str
    scope: str
    members: list[int] = Field(default_factory=list, sa_column=Column(JSON, nullable=False))
    start_local: str
    shift_days: int
    valid_until: datetime
    created_at: datetime


class RosterShiftRow(SQLModel, table=True):
    """An explicit shift: this person is on duty (instead of the rotation) from start to end."""

    __tablename__ = "roster_shift"
    __table_args__ = (Index("ix_roster_shift_start", "start_at"),)
    id: int | None = Field(default=None, primary_key=True)
    function_key: str
    scope: str
    person_id: int = Field(foreign_key="person.id")
    backup_id: int | None = Field(default=None, foreign_key="person.id")
    start_at: datetime
    end_at: datetime
    created_by: str
    created_at: datetime


class RosterOverrideRow(SQLModel, table=True):
    """`replacement_id` takes `replaced_id`'s place from start to end."""

    __tablename__ = "roster_override"
    __table_args__ = (Index("ix_roster_override_start", "start_at"),)
    id: int | None = Field(default=None, primary_key=True)
    function_key: str
    scope: str
    replaced_id: int = Field(foreign_key="person.id")
    replacement_id: int = Field(foreign_key="person.id")
    start_at: datetime
    end_at: datetime
    reason: str = ""
    created_by: str
    created_at: datetime


class RosterRequestRow(SQLModel, table=True):
    """A roster change waiting for a button: a coordinator's confirmation or a swap."""

    __tablename__ = "roster_request"
    id: int | None = Field(default=None, primary_key=True)
    kind: str  # change | swap
    person_id: int = Field(foreign_key="person.id")
    status: str = "open"
    payload: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))
    created_at: datetime
    updated_at: datetime


class RosterNoticeRow(SQLModel, table=True):
    """A planned reminder (the day before, at the start, at the end of a duty); its timer
    fires it, and it is sent only if the duty still holds then."""

    __tablename__ = "roster_notice"
    __table_args__ = (
        UniqueConstraint(
            "kind", "function_key", "scope", "person_id", "at", name="uq_roster_notice"
        ),
    )
    id: int | None = Field(default=None, primary_key=True)
    kind: str  # before | start | end
    function_key: str
    scope: str
    person_id: int = Field(foreign_key="person.id")
    at: datetime  # the start or end of the duty


class IcalTokenRow(SQLModel, table=True):
    """A calendar subscription (core.roster.feeds): a person's own duties (kind "person") or
    a roster (kind "roster": function and scope, "" for all). Only the sha256 of its token is
    stored; a new token replaces the old one, so there is one live URL per calendar."""

    __tablename__ = "ical_token"
    __table_args__ = (
        UniqueConstraint("person_id", "kind", "function_key", "scope", name="uq_ical_token_feed"),
    )
    id: int | None = Field(default=None, primary_key=True)
    token_hash: str = Field(unique=True)
    person_id: int = Field(foreign_key="person.id")
    kind: str  # person | roster
    function_key: str = ""
    scope: str = ""
    created_at: datetime


class LeadershipRow(SQLModel, table=True):
    """Who leads the instances on PostgreSQL (scm_bot.leadership): one row, its term bumped
    by every instance that takes the leadership lock. Work that acts (a timer's claim, a
    message's `sending`) reads the term in its own transaction (storage.leadership)."""

    __tablename__ = "leadership"
    id: int = Field(primary_key=True)  # always 1
    term: int = Field(sa_column=Column(BigInteger, nullable=False))
    holder: str  # host:pid of the leader
    elected_at: datetime


class HeartbeatRow(SQLModel, table=True):
    """The last sign of life of a periodic job (the auditor), for /healthz."""

    __tablename__ = "heartbeat"
    name: str = Field(primary_key=True)
    at: datetime
    detail: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))


class StatisticRow(SQLModel, table=True):
    """What is left of closed incidents once retention removed them: anonymous counts per
    month (of the alert, UTC) and kind, and the acknowledgement times (core/retention.py)."""

    __tablename__ = "statistic"
    month: str = Field(primary_key=True)  # "2026-11"
    kind: str = Field(primary_key=True)  # alarmering | alertering
    incidents: int = 0
    pages: int = 0  # functions paged
    acknowledged: int = 0
    ack_seconds: float = 0.0  # their times from page to acknowledgement, added up
    ack_seconds_max: float = 0.0


class AuditHorizonRow(SQLModel, table=True):
    """The audit log is append-only (database triggers): a record may only be deleted once
    it is older than `before`, which only the retention job moves forward."""

    __tablename__ = "audit_horizon"
    id: int = Field(primary_key=True)  # always 1
    before: datetime
