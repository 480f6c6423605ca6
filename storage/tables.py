"""The database tables, declared with SQLAlchemy. Only storage sees these; the core gets
`core.model` objects.

Plain SQLAlchemy, not SQLModel: the repositories read and write with Core statements on the
tables (`storage.database.table`) and map the rows to the core's frozen dataclasses themselves,
so a row class is never instantiated, validated or returned, which is all SQLModel adds to
SQLAlchemy. Its remaining work here was choosing column types from annotations, which
SQLAlchemy's `Mapped[...]` does as well. The Alembic migrations build the same schema
(tests/test_migrations.py compares them).
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any, ClassVar

from sqlalchemy import JSON, BigInteger, Dialect, ForeignKey, Index, UniqueConstraint
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column
from sqlalchemy.types import DateTime, TypeDecorator


class UTCDateTime(TypeDecorator[datetime]):
    """An instant: stored from an aware datetime (in UTC), read back aware in UTC, also from
    SQLite, which keeps no offset."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.utcoffset() is None:
            raise ValueError("a stored time needs its time zone")
        return value.astimezone(UTC)

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.utcoffset() is None:
            return value.replace(tzinfo=UTC)
        return value.astimezone(UTC)


class Base(DeclarativeBase):
    type_annotation_map: ClassVar[dict[Any, Any]] = {datetime: UTCDateTime()}


metadata = Base.metadata


class RegionRow(Base):
    __tablename__ = "region"
    id: Mapped[int] = mapped_column(primary_key=True)
    code: Mapped[str] = mapped_column(unique=True)
    name: Mapped[str]
    timezone: Mapped[str]
    settings: Mapped[dict[str, Any]] = mapped_column(JSON)
    # Bumped by every change to people, gemeenten, functions or rotations, so that cached
    # directories are reloaded (also by other instances).
    revision: Mapped[int] = mapped_column(default=0)


class PersonRow(Base):
    __tablename__ = "person"
    id: Mapped[int] = mapped_column(primary_key=True)
    key: Mapped[str] = mapped_column(unique=True)
    name: Mapped[str]
    functions: Mapped[list[str]] = mapped_column(JSON)
    language: Mapped[str] = mapped_column(default="nl")
    telegram_user_id: Mapped[int | None] = mapped_column(BigInteger, unique=True)
    slack_user_id: Mapped[str | None] = mapped_column(unique=True)
    active: Mapped[bool] = mapped_column(default=True)
    unreachable: Mapped[list[str]] = mapped_column(JSON)
    # Set for a group or channel from the region file's `chats` (the keys of the gemeenten it
    # follows; empty: all); NULL for a person. Such a row only receives messages.
    chat_gemeenten: Mapped[list[str] | None] = mapped_column(JSON)


class GemeenteRow(Base):
    __tablename__ = "gemeente"
    id: Mapped[int] = mapped_column(primary_key=True)
    key: Mapped[str] = mapped_column(unique=True)
    name: Mapped[str]
    burgemeester_id: Mapped[int | None] = mapped_column(ForeignKey("person.id"))
    locoburgemeester_id: Mapped[int | None] = mapped_column(ForeignKey("person.id"))
    loco_acting: Mapped[bool] = mapped_column(default=False)
    share_with: Mapped[list[int]] = mapped_column(JSON)


class FunctionRow(Base):
    __tablename__ = "piket_function"
    id: Mapped[int] = mapped_column(primary_key=True)
    key: Mapped[str] = mapped_column(unique=True)
    name: Mapped[str]
    escalation: Mapped[dict[str, Any]] = mapped_column(JSON)


class RotationRow(Base):
    __tablename__ = "rotation"
    __table_args__ = (UniqueConstraint("function_key", "scope", name="uq_rotation_function_scope"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    function_key: Mapped[str]
    # "regio", "piketregio:<key>" or "gemeente:<key>" (see core.roster)
    scope: Mapped[str] = mapped_column(default="regio", server_default="regio")
    members: Mapped[list[int]] = mapped_column(JSON)
    start_local: Mapped[str]  # ISO local wall time, no offset: rotations live in the region's time
    shift_days: Mapped[int] = mapped_column(default=7)


class CounterRow(Base):
    __tablename__ = "counter"
    name: Mapped[str] = mapped_column(primary_key=True)
    value: Mapped[int] = mapped_column(default=0)


class IncidentRow(Base):
    __tablename__ = "incident"
    id: Mapped[int] = mapped_column(primary_key=True)
    public_id: Mapped[str] = mapped_column(unique=True)
    kind: Mapped[str]
    description: Mapped[str]
    location: Mapped[str] = mapped_column(default="")
    opschaling: Mapped[str] = mapped_column(default="")
    gemeenten: Mapped[list[int]] = mapped_column(JSON)
    status: Mapped[str] = mapped_column(index=True)
    created_by: Mapped[int] = mapped_column(ForeignKey("person.id"))
    created_at: Mapped[datetime]
    closed_at: Mapped[datetime | None]
    closed_by: Mapped[int | None] = mapped_column(ForeignKey("person.id"))


class PageRow(Base):
    __tablename__ = "page"
    id: Mapped[int] = mapped_column(primary_key=True)
    incident_id: Mapped[int] = mapped_column(ForeignKey("incident.id"), index=True)
    function_key: Mapped[str]
    status: Mapped[str]
    step_index: Mapped[int] = mapped_column(default=0)
    attempt: Mapped[int] = mapped_column(default=0)
    created_at: Mapped[datetime]
    acknowledged_by: Mapped[int | None] = mapped_column(ForeignKey("person.id"))
    acknowledged_at: Mapped[datetime | None]


class PageTargetRow(Base):
    __tablename__ = "page_target"
    page_id: Mapped[int] = mapped_column(ForeignKey("page.id"), primary_key=True)
    person_id: Mapped[int] = mapped_column(ForeignKey("person.id"), primary_key=True)
    step_index: Mapped[int]
    status: Mapped[str]
    paged_at: Mapped[datetime]
    answered_at: Mapped[datetime | None]
    delivered_at: Mapped[datetime | None]  # the platform accepted the page


class TimerRow(Base):
    __tablename__ = "timer"
    __table_args__ = (
        Index("ix_timer_status_due", "status", "due_at"),
        Index("ix_timer_kind_ref", "kind", "ref"),
    )
    id: Mapped[int] = mapped_column(primary_key=True)
    kind: Mapped[str]
    ref: Mapped[int]
    due_at: Mapped[datetime]
    status: Mapped[str] = mapped_column(default="pending")  # pending | fired | cancelled
    created_at: Mapped[datetime]
    fired_at: Mapped[datetime | None]


class OutboxRow(Base):
    __tablename__ = "outbox"
    __table_args__ = (
        Index("ix_outbox_status_next", "status", "next_attempt_at"),
        Index("ix_outbox_person_topic", "person_id", "topic"),
    )
    id: Mapped[int] = mapped_column(primary_key=True)
    person_id: Mapped[int] = mapped_column(ForeignKey("person.id"))
    kind: Mapped[str] = mapped_column(default="send")  # send | edit
    topic: Mapped[str | None]
    payload: Mapped[dict[str, Any]] = mapped_column(JSON)
    status: Mapped[str] = mapped_column(default="pending")  # pending | sent | unreachable
    attempts: Mapped[int] = mapped_column(default=0)
    next_attempt_at: Mapped[datetime]
    created_at: Mapped[datetime]
    finished_at: Mapped[datetime | None]
    last_error: Mapped[str | None]


class LedgerRow(Base):
    """What became of each part of an outbox row on each transport (see core.ports)."""

    __tablename__ = "ledger"
    __table_args__ = (UniqueConstraint("outbox_id", "transport", "part", name="uq_ledger_part"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    outbox_id: Mapped[int] = mapped_column(ForeignKey("outbox.id"), index=True)
    transport: Mapped[str]
    part: Mapped[int]
    status: Mapped[str]  # sending | sent | uncertain | failed
    ref: Mapped[str | None]
    # Editable: the part later edits of its topic replace.
    buttons: Mapped[bool] = mapped_column(default=False)
    at: Mapped[datetime]


class InboxRow(Base):
    """Inbound events, stored before the platform is told they arrived; handled from here."""

    __tablename__ = "inbox"
    __table_args__ = (
        UniqueConstraint("origin", "event_id", name="uq_inbox_origin_event"),
        Index("ix_inbox_status_next", "status", "next_attempt_at"),
    )
    id: Mapped[int] = mapped_column(primary_key=True)
    origin: Mapped[str]
    event_id: Mapped[str]
    event: Mapped[dict[str, Any]] = mapped_column(JSON)
    context: Mapped[dict[str, Any]] = mapped_column(JSON)
    status: Mapped[str] = mapped_column(default="pending")  # pending | done | refused
    attempts: Mapped[int] = mapped_column(default=0)
    next_attempt_at: Mapped[datetime]
    received_at: Mapped[datetime]
    handled_at: Mapped[datetime | None]
    last_error: Mapped[str | None]


class AuditRow(Base):
    """Append-only: the migration installs triggers that refuse UPDATE and DELETE."""

    __tablename__ = "audit"
    id: Mapped[int] = mapped_column(primary_key=True)
    at: Mapped[datetime] = mapped_column(index=True)
    actor: Mapped[str]
    action: Mapped[str]
    object: Mapped[str]
    result: Mapped[str]
    origin: Mapped[str]
    detail: Mapped[dict[str, Any]] = mapped_column(JSON)


class ConversationRow(Base):
    __tablename__ = "conversation"
    person_id: Mapped[int] = mapped_column(ForeignKey("person.id"), primary_key=True)
    state: Mapped[dict[str, Any]] = mapped_column(JSON)
    updated_at: Mapped[datetime]


class InboundEventRow(Base):
    """Platform event ids already handled: a redelivered update has exactly one effect."""

    __tablename__ = "inbound_event"
    origin: Mapped[str] = mapped_column(primary_key=True)
    event_id: Mapped[str] = mapped_column(primary_key=True)
    at: Mapped[datetime] = mapped_column(index=True)


class LinkCodeRow(Base):
    """One-time codes that link a chat account to a person. Only a hash is stored."""

    __tablename__ = "link_code"
    code_hash: Mapped[str] = mapped_column(primary_key=True)
    person_id: Mapped[int] = mapped_column(ForeignKey("person.id"), index=True)
    created_at: Mapped[datetime]
    expires_at: Mapped[datetime]
    used_at: Mapped[datetime | None]
    used_by: Mapped[str | None]  # "telegram:12345"


class LinkAttemptRow(Base):
    """Failed link attempts per chat account, to stop guessing."""

    __tablename__ = "link_attempt"
    id: Mapped[int] = mapped_column(primary_key=True)
    who: Mapped[str] = mapped_column(index=True)  # "telegram:12345"
    at: Mapped[datetime]


class AnalyseRow(Base):
    """The strategische analyse of one incident: fields being filled, published versions."""

    __tablename__ = "analysis"
    id: Mapped[int] = mapped_column(primary_key=True)
    incident_id: Mapped[int] = mapped_column(ForeignKey("incident.id"), unique=True)
    created_by: Mapped[int] = mapped_column(ForeignKey("person.id"))
    created_at: Mapped[datetime]
    # The newest published version, 0 before the first.
    version: Mapped[int] = mapped_column(default=0)
    bt_convened_by: Mapped[int | None] = mapped_column(ForeignKey("person.id"))
    bt_convened_at: Mapped[datetime | None]


class AnalyseEditorRow(Base):
    __tablename__ = "analysis_editor"
    analyse_id: Mapped[int] = mapped_column(ForeignKey("analysis.id"), primary_key=True)
    person_id: Mapped[int] = mapped_column(ForeignKey("person.id"), primary_key=True)
    invited_by: Mapped[int | None] = mapped_column(ForeignKey("person.id"))
    # False while an invitation waits for an answer.
    joined: Mapped[bool] = mapped_column(default=True)
    at: Mapped[datetime]


class AnalyseFieldRow(Base):
    """The current value of one field (last write wins; its editor is recorded)."""

    __tablename__ = "analysis_field"
    analyse_id: Mapped[int] = mapped_column(ForeignKey("analysis.id"), primary_key=True)
    key: Mapped[str] = mapped_column(primary_key=True)
    value: Mapped[Any] = mapped_column(JSON, nullable=False)
    editor_id: Mapped[int] = mapped_column(ForeignKey("person.id"))
    updated_at: Mapped[datetime]


class AnalyseVersionRow(Base):
    __tablename__ = "analysis_version"
    __table_args__ = (UniqueConstraint("analyse_id", "number"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    analyse_id: Mapped[int] = mapped_column(ForeignKey("analysis.id"), index=True)
    number: Mapped[int]
    values: Mapped[dict[str, Any]] = mapped_column(JSON)
    editors: Mapped[dict[str, Any]] = mapped_column(JSON)
    published_by: Mapped[int] = mapped_column(ForeignKey("person.id"))
    published_at: Mapped[datetime]
    next_update_at: Mapped[datetime | None]


class AnalyseCopyRow(Base):
    """Who received which version (published to, or shared with), and who read it."""

    __tablename__ = "analysis_copy"
    __table_args__ = (Index("ix_analysis_copy_person", "analyse_id", "person_id"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    analyse_id: Mapped[int] = mapped_column(ForeignKey("analysis.id"))
    number: Mapped[int]
    person_id: Mapped[int] = mapped_column(ForeignKey("person.id"))
    kind: Mapped[str]  # published | shared
    shared_by: Mapped[int | None] = mapped_column(ForeignKey("person.id"))
    at: Mapped[datetime]
    read_at: Mapped[datetime | None]


# --- piket rosters (core.roster) -----------------------------------------------------------


class RosterRotationHistoryRow(Base):
    """An earlier definition of a rotation, in force until `valid_until` (the members were
    changed then), so the past stays as it was."""

    __tablename__ = "roster_rotation_history"
    __table_args__ = (Index("ix_roster_rotation_history_key", "function_key", "scope"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    function_key: Mapped[str]
    scope: Mapped[str]
    members: Mapped[list[int]] = mapped_column(JSON)
    start_local: Mapped[str]
    shift_days: Mapped[int]
    valid_until: Mapped[datetime]
    created_at: Mapped[datetime]


class RosterShiftRow(Base):
    """An explicit shift: this person is on duty (instead of the rotation) from start to end."""

    __tablename__ = "roster_shift"
    __table_args__ = (Index("ix_roster_shift_start", "start_at"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    function_key: Mapped[str]
    scope: Mapped[str]
    person_id: Mapped[int] = mapped_column(ForeignKey("person.id"))
    backup_id: Mapped[int | None] = mapped_column(ForeignKey("person.id"))
    start_at: Mapped[datetime]
    end_at: Mapped[datetime]
    created_by: Mapped[str]
    created_at: Mapped[datetime]


class RosterOverrideRow(Base):
    """`replacement_id` takes `replaced_id`'s place from start to end."""

    __tablename__ = "roster_override"
    __table_args__ = (Index("ix_roster_override_start", "start_at"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    function_key: Mapped[str]
    scope: Mapped[str]
    replaced_id: Mapped[int] = mapped_column(ForeignKey("person.id"))
    replacement_id: Mapped[int] = mapped_column(ForeignKey("person.id"))
    start_at: Mapped[datetime]
    end_at: Mapped[datetime]
    reason: Mapped[str] = mapped_column(default="")
    created_by: Mapped[str]
    created_at: Mapped[datetime]


class RosterRequestRow(Base):
    """A roster change waiting for a button: a coordinator's confirmation or a swap."""

    __tablename__ = "roster_request"
    id: Mapped[int] = mapped_column(primary_key=True)
    kind: Mapped[str]  # change | swap
    person_id: Mapped[int] = mapped_column(ForeignKey("person.id"))
    status: Mapped[str] = mapped_column(default="open")
    payload: Mapped[dict[str, Any]] = mapped_column(JSON)
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime]


class RosterNoticeRow(Base):
    """A planned reminder (the day before, at the start, at the end of a duty); its timer
    fires it, and it is sent only if the duty still holds then."""

    __tablename__ = "roster_notice"
    __table_args__ = (
        UniqueConstraint(
            "kind", "function_key", "scope", "person_id", "at", name="uq_roster_notice"
        ),
    )
    id: Mapped[int] = mapped_column(primary_key=True)
    kind: Mapped[str]  # before | start | end
    function_key: Mapped[str]
    scope: Mapped[str]
    person_id: Mapped[int] = mapped_column(ForeignKey("person.id"))
    at: Mapped[datetime]  # the start or end of the duty


class IcalTokenRow(Base):
    """A calendar subscription (core.roster_feeds): a person's own duties (kind "person") or
    a roster (kind "roster": function and scope, "" for all). Only the sha256 of its token is
    stored; a new token replaces the old one, so there is one live URL per calendar."""

    __tablename__ = "ical_token"
    __table_args__ = (
        UniqueConstraint("person_id", "kind", "function_key", "scope", name="uq_ical_token_feed"),
    )
    id: Mapped[int] = mapped_column(primary_key=True)
    token_hash: Mapped[str] = mapped_column(unique=True)
    person_id: Mapped[int] = mapped_column(ForeignKey("person.id"))
    kind: Mapped[str]  # person | roster
    function_key: Mapped[str] = mapped_column(default="")
    scope: Mapped[str] = mapped_column(default="")
    created_at: Mapped[datetime]
