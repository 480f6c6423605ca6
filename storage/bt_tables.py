"""The beleidsteam's tables (core.bt): call-outs, their members, attendance answers, who
holds a board, and the decisions and actions of each call-out. Declared on the one SQLModel
metadata (`storage.tables` imports this module), built by migrations 0011 and 0013."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, Column, UniqueConstraint
from sqlmodel import Field, SQLModel


class BtCalloutRow(SQLModel, table=True):
    __tablename__ = "bt_callout"
    id: int | None = Field(default=None, primary_key=True)
    incident_id: int = Field(foreign_key="incident.id", index=True)
    team_key: str
    team_name: str
    kind: str  # alarmering | alertering
    convened_by: int = Field(foreign_key="person.id")
    on_behalf_of: int | None = Field(default=None, foreign_key="person.id")
    gemeente_id: int | None = Field(default=None, foreign_key="gemeente.id")
    starts_at: datetime
    place: str
    norm_at: datetime
    answer_minutes: int
    created_at: datetime
    status: str = "active"
    board_due: bool = False


class BtMemberRow(SQLModel, table=True):
    __tablename__ = "bt_member"
    id: int | None = Field(default=None, primary_key=True)
    callout_id: int = Field(foreign_key="bt_callout.id", index=True)
    position: int
    function_key: str
    required: bool
    person_key: str | None = None
    page_id: int | None = Field(default=None, foreign_key="page.id", unique=True)


class BtAttendanceRow(SQLModel, table=True):
    __tablename__ = "bt_attendance"
    __table_args__ = (UniqueConstraint("member_id", "person_id", name="uq_bt_attendance"),)
    id: int | None = Field(default=None, primary_key=True)
    callout_id: int = Field(foreign_key="bt_callout.id", index=True)
    member_id: int = Field(foreign_key="bt_member.id")
    person_id: int = Field(foreign_key="person.id")
    answer: str
    eta: datetime | None = None
    at: datetime


class BtViewerRow(SQLModel, table=True):
    __tablename__ = "bt_viewer"
    __table_args__ = (UniqueConstraint("callout_id", "person_id", name="uq_bt_viewer"),)
    id: int | None = Field(default=None, primary_key=True)
    callout_id: int = Field(foreign_key="bt_callout.id")
    person_id: int = Field(foreign_key="person.id")


class BtRecordRow(SQLModel, table=True):
    __tablename__ = "bt_record"
    __table_args__ = (UniqueConstraint("callout_id", "kind", "number", name="uq_bt_record_number"),)
    id: int | None = Field(default=None, primary_key=True)
    incident_id: int = Field(foreign_key="incident.id", index=True)
    callout_id: int = Field(foreign_key="bt_callout.id", index=True)
    kind: str  # besluit | actie
    number: int
    text: str
    phase: str
    by: int = Field(foreign_key="person.id")
    at: datetime
    owner: int | None = Field(default=None, foreign_key="person.id")
    history: list[Any] = Field(default_factory=list, sa_column=Column(JSON, nullable=False))
