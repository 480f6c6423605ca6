"""The directory: the region, its people, gemeenten, functions and chats, loaded once per
region revision and cached while that revision is current."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import select, update

from core.model import (
    Directory,
    EscalationPolicy,
    EscalationStep,
    Gemeente,
    GemeenteId,
    Language,
    Person,
    PersonId,
    PiketFunction,
    Region,
)
from core.region.file import EscalationSpec, Settings
from storage.connection import Conn
from storage.database import table
from storage.tables import (
    FunctionRow,
    GemeenteRow,
    PersonRow,
    RegionRow,
    RotationRow,
)

REGION = table(RegionRow)
PERSON = table(PersonRow)
GEMEENTE = table(GemeenteRow)
FUNCTION = table(FunctionRow)
ROTATION = table(RotationRow)

REVISION = select(REGION.c.revision).limit(1)

_REGION = select(REGION).limit(1)


def policy_from_json(data: dict[str, Any]) -> EscalationPolicy:
    """A function's escalation as stored: read by the region file's own model."""
    spec = EscalationSpec.model_validate(data)
    return EscalationPolicy(
        steps=tuple(EscalationStep(step.target, step.value) for step in spec.steps),
        repeat_after=timedelta(minutes=spec.repeat_after_minutes),
        repeats=spec.repeats,
    )


class DirectoryCache:
    """The loaded directory and the region revision it belongs to, shared per factory.

    Every unit of work reads the revision (one small row); whatever changes people, chats,
    functions or rosters bumps it in the same transaction, so a cached directory is used
    only while its revision is still the current one.
    """

    def __init__(self) -> None:
        self.revision: int | None = None
        self.directory: Directory | None = None


class SqlDirectoryRepo:
    def __init__(
        self,
        conn: Conn,
        cache: DirectoryCache,
        revision: int | None,
        roster_changed: Callable[[], bool],
    ) -> None:
        self.conn = conn
        self.cache = cache
        self.changed = False  # a person changed in this unit of work
        self._revision = revision  # read as the unit of work began (the factory's probe)
        self._probed = revision is not None
        self._roster_changed = roster_changed

    async def load(self) -> Directory:
        if self._probed and not (self.changed or self._roster_changed()):
            self._probed = False  # the unit's first load, and it changed nothing yet
            revision = self._revision
        else:
            revision = (await self.conn.execute(REVISION)).scalar_one_or_none()
        if revision is None:
            return _empty_directory()
        if self.cache.directory is not None and self.cache.revision == revision:
            return self.cache.directory
        row = (await self.conn.execute(_REGION)).mappings().one()
        tz = ZoneInfo(row["timezone"])
        region = Region(
            code=row["code"],
            name=row["name"],
            timezone=tz,
            alarm_functions=tuple(Settings.model_validate(row["settings"]).alarm_functions),
        )
        # Everyone, those no longer in the region too: existing incidents still name them.
        every = (await self.conn.execute(select(PERSON))).mappings().all()
        rows = [p for p in every if p["active"]]
        people = {PersonId(p["id"]): _person(p) for p in rows if p["chat_gemeenten"] is None}
        former = {
            PersonId(p["id"]): _person(p)
            for p in every
            if not p["active"] and p["chat_gemeenten"] is None
        }
        gemeenten = tuple(
            Gemeente(
                id=GemeenteId(g["id"]),
                key=g["key"],
                name=g["name"],
                burgemeester=g["burgemeester_id"],
                locoburgemeester=g["locoburgemeester_id"],
                loco_acting=g["loco_acting"],
                share_with=tuple(PersonId(i) for i in g["share_with"]),
            )
            for g in (
                await self.conn.execute(select(GEMEENTE).order_by(GEMEENTE.c.name))
            ).mappings()
        )
        functions = {
            f["key"]: PiketFunction(f["key"], f["name"], policy_from_json(f["escalation"]))
            for f in (await self.conn.execute(select(FUNCTION))).mappings()
        }
        chats = {
            PersonId(p["id"]): _person(p, _followed(p["chat_gemeenten"], gemeenten))
            for p in rows
            if p["chat_gemeenten"] is not None
        }
        directory = Directory(region, people, gemeenten, functions, chats, former)
        self.cache.revision, self.cache.directory = row["revision"], directory
        return directory

    async def set_unreachable(self, person_id: PersonId, transport: str, value: bool) -> bool:
        """Remember that a transport cannot reach a person (or no longer cannot); whether
        that changed anything."""
        stmt = select(PERSON.c.unreachable).where(PERSON.c.id == person_id)
        current = set((await self.conn.execute(stmt)).scalar_one_or_none() or [])
        wanted = current | {transport} if value else current - {transport}
        if wanted == current:
            return False
        await self.conn.execute(
            update(PERSON).where(PERSON.c.id == person_id).values(unreachable=sorted(wanted))
        )
        await self._changed()
        return True

    async def link(
        self,
        person_id: PersonId,
        *,
        telegram_user_id: int | None = None,
        slack_user_id: str | None = None,
    ) -> None:
        """Link a chat account to a person (taking it from anyone who had it before)."""
        if telegram_user_id is not None:
            await self.conn.execute(
                update(PERSON)
                .where(PERSON.c.telegram_user_id == telegram_user_id)
                .values(telegram_user_id=None)
            )
            await self.conn.execute(
                update(PERSON)
                .where(PERSON.c.id == person_id)
                .values(telegram_user_id=telegram_user_id)
            )
        if slack_user_id is not None:
            await self.conn.execute(
                update(PERSON)
                .where(PERSON.c.slack_user_id == slack_user_id)
                .values(slack_user_id=None)
            )
            await self.conn.execute(
                update(PERSON).where(PERSON.c.id == person_id).values(slack_user_id=slack_user_id)
            )
        await self._changed()

    async def set_language(self, person_id: PersonId, language: str) -> None:
        await self.conn.execute(
            update(PERSON).where(PERSON.c.id == person_id).values(language=language)
        )
        await self._changed()

    async def _changed(self) -> None:
        """A person changed: every cached directory is out of date."""
        await self.conn.execute(update(REGION).values(revision=REGION.c.revision + 1))
        self.changed = True


def _person(row: Any, chat_for: frozenset[GemeenteId] | None = None) -> Person:
    return Person(
        id=PersonId(row["id"]),
        key=row["key"],
        name=row["name"],
        functions=frozenset(row["functions"]),
        language=Language(row["language"]),
        telegram_user_id=row["telegram_user_id"],
        slack_user_id=row["slack_user_id"],
        unreachable=frozenset(row["unreachable"]),
        chat_for=chat_for,
        active=row["active"],
    )


def _followed(keys: list[str], gemeenten: tuple[Gemeente, ...]) -> frozenset[GemeenteId]:
    """The gemeenten a configured chat follows: those it names, or every one when it names
    none. A name that no longer resolves follows nothing (never more than asked for)."""
    return frozenset(g.id for g in gemeenten if not keys or g.key in keys)


def _empty_directory() -> Directory:
    return Directory(Region("VR", "", ZoneInfo("Europe/Amsterdam")), {}, (), {})
