"""Importing the region file into the database (all or nothing) and exporting it back.

Every import is audited in the same transaction: who ran it, and what it created, changed
(field by field) and deactivated. It is what grants a locoburgemeester her rights.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Table, select, update
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from core.model import Origin
from core.ports import AuditRecord
from core.region.file import (
    ChatSpec,
    EscalationSpec,
    FunctionSpec,
    GemeenteSpec,
    PersonSpec,
    RegionFile,
    RegionInfo,
    RotationSpec,
    Settings,
)
from storage.repos.audit import SqlAuditRepo
from storage.repos.directory import FUNCTION, GEMEENTE, PERSON, REGION, ROTATION

# Rows whose values are personal data: the audit names the fields that changed, not the values.
PERSONAL = ("person", "chat")
# Columns that hold person ids (the audit shows person keys), by the name the file uses.
PERSON_COLUMNS = {
    "burgemeester_id": "burgemeester",
    "locoburgemeester_id": "locoburgemeester",
    "share_with": "share_with",
    "members": "members",
}


@dataclass
class ImportReport:
    created: list[str] = field(default_factory=list)
    updated: list[str] = field(default_factory=list)
    deactivated: list[str] = field(default_factory=list)
    # Per updated row ("gemeente soest"): field -> [before, after], or the changed field
    # names only for people and chats.
    changes: dict[str, Any] = field(default_factory=dict)

    @property
    def changed(self) -> bool:
        return bool(self.created or self.updated or self.deactivated)


async def _upsert(
    conn: AsyncConnection,
    tbl: Table,
    keys: dict[str, str],
    values: dict[str, Any],
    report: ImportReport,
    label: str,
    shown: Callable[[str, Any], Any] = lambda _column, value: value,
) -> int:
    """Insert or update the row with these key columns (the first names it in the report),
    recording what was created or changed."""
    key = next(iter(keys.values()))
    stmt = select(tbl).where(*(tbl.c[col] == value for col, value in keys.items()))
    row = (await conn.execute(stmt)).mappings().first()
    if row is None:
        result = await conn.execute(tbl.insert().values({**keys, **values}).returning(tbl.c.id))
        report.created.append(" ".join([label, *(str(v) for v in keys.values())]))
        return int(result.scalar_one())
    changed = [k for k, v in values.items() if row[k] != v]
    if changed:
        await conn.execute(update(tbl).where(tbl.c.id == row["id"]).values(**values))
        report.updated.append(f"{label} {key}")
        name = " ".join([label, *(str(v) for v in keys.values())])
        if label in PERSONAL:
            report.changes[name] = changed
        else:
            report.changes[name] = {
                PERSON_COLUMNS.get(k, k): [shown(k, row[k]), shown(k, values[k])] for k in changed
            }
    return int(row["id"])


async def import_region(
    engine: AsyncEngine,
    doc: RegionFile,
    *,
    by: str = "system",
    origin: Origin = Origin.SYSTEM,
    source: str | None = None,
    at: datetime | None = None,
) -> ImportReport:
    """Upsert everything in `doc` in one transaction; importing the same file twice changes
    nothing. People missing from the file are deactivated (kept for the audit trail). The
    import is audited as done `by` someone (from `source`, a file name), at `at` (now)."""
    report = ImportReport()
    async with engine.begin() as conn:
        await _import(conn, doc, report)
        await SqlAuditRepo(conn).append_many(
            [
                AuditRecord(
                    at=at or datetime.now(UTC),
                    actor=by,
                    action="region.import",
                    object=f"region:{doc.region.code}",
                    result="ok" if report.changed else "unchanged",
                    origin=origin,
                    detail={
                        "source": source,
                        "created": report.created,
                        "updated": report.changes,
                        "deactivated": report.deactivated,
                    },
                )
            ]
        )
    return report


def _person_row(p: PersonSpec) -> dict[str, Any]:
    """A person's row as the file gives it; ids linked later through the bot stay when the
    file does not name them."""
    values: dict[str, Any] = {
        "name": p.name,
        "functions": list(p.functions),
        "language": p.language.value,
        "active": True,
    }
    if p.telegram_user_id is not None:
        values["telegram_user_id"] = p.telegram_user_id
    if p.slack_user_id is not None:
        values["slack_user_id"] = p.slack_user_id
    return values


async def _import(conn: AsyncConnection, doc: RegionFile, report: ImportReport) -> None:
    existing = (await conn.execute(select(REGION))).mappings().first()
    region_values = {
        "name": doc.region.name,
        "timezone": doc.region.timezone,
        "settings": doc.settings.model_dump(mode="json"),
    }
    if existing is not None and existing["code"] != doc.region.code:
        raise ValueError(f"database holds region {existing['code']}, the file is {doc.region.code}")
    await _upsert(conn, REGION, {"code": doc.region.code}, region_values, report, "region")

    ids: dict[str, int] = {}
    for p in doc.people:
        ids[p.key] = await _upsert(conn, PERSON, {"key": p.key}, _person_row(p), report, "person")
    rows = await conn.execute(select(PERSON.c.id, PERSON.c.key))
    person_keys: dict[int, str] = {row.id: row.key for row in rows}

    def shown(column: str, value: Any) -> Any:
        """A value as the audit shows it: person ids as person keys."""
        if column not in PERSON_COLUMNS:
            return value
        if isinstance(value, list):
            return [person_keys.get(i, i) for i in value]
        return person_keys.get(value, value)

    chats: set[str] = set()
    for c in doc.chats:
        # A chat is stored beside the people (the outbox addresses both alike). The
        # import also clears a "no longer reachable" mark: re-import after re-adding the
        # bot to the group.
        values = {
            "name": c.name,
            "functions": [],
            "language": c.language.value,
            "active": True,
            "telegram_user_id": c.telegram_chat_id,
            "slack_user_id": c.slack_channel_id,
            "chat_gemeenten": list(c.gemeenten),
            "unreachable": [],
        }
        await _upsert(conn, PERSON, {"key": c.key}, values, report, "chat")
        chats.add(c.key)
    stale = (
        await conn.execute(
            select(PERSON.c.id, PERSON.c.key, PERSON.c.chat_gemeenten).where(
                PERSON.c.active.is_(True), PERSON.c.key.not_in([*ids, *chats])
            )
        )
    ).all()
    for person_id, key, chat_gemeenten in stale:
        await conn.execute(update(PERSON).where(PERSON.c.id == person_id).values(active=False))
        report.deactivated.append(f"{'person' if chat_gemeenten is None else 'chat'} {key}")

    for f in doc.functions:
        await _upsert(
            conn,
            FUNCTION,
            {"key": f.key},
            {"name": f.name, "escalation": f.escalation.model_dump(mode="json")},
            report,
            "function",
        )
    for g in doc.gemeenten:
        await _upsert(
            conn,
            GEMEENTE,
            {"key": g.key},
            {
                "name": g.name,
                "burgemeester_id": ids.get(g.burgemeester or ""),
                "locoburgemeester_id": ids.get(g.locoburgemeester or ""),
                "loco_acting": g.loco_acting,
                "share_with": [ids[k] for k in g.share_with],
            },
            report,
            "gemeente",
            shown=shown,
        )
    for r in doc.rotations:
        await _upsert(
            conn,
            ROTATION,
            {"function_key": r.function, "scope": r.scope or "regio"},
            {
                "members": [ids[k] for k in r.members],
                "start_local": r.start.isoformat(timespec="minutes"),
                "shift_days": r.shift_days,
            },
            report,
            "rotation",
            shown=shown,
        )
    if report.changed:
        await conn.execute(update(REGION).values(revision=REGION.c.revision + 1))


async def region_exists(engine: AsyncEngine) -> bool:
    async with engine.connect() as conn:
        return (await conn.execute(select(REGION.c.id))).first() is not None


async def export_region(engine: AsyncEngine) -> RegionFile | None:
    async with engine.connect() as conn:
        region = (await conn.execute(select(REGION))).mappings().first()
        if region is None:
            return None
        people_rows = (
            (
                await conn.execute(
                    select(PERSON).where(PERSON.c.active.is_(True)).order_by(PERSON.c.id)
                )
            )
            .mappings()
            .all()
        )
        keys = {p["id"]: p["key"] for p in people_rows}
        functions = (await conn.execute(select(FUNCTION).order_by(FUNCTION.c.id))).mappings()
        gemeenten = (await conn.execute(select(GEMEENTE).order_by(GEMEENTE.c.id))).mappings()
        rotations = (await conn.execute(select(ROTATION).order_by(ROTATION.c.id))).mappings()
        return RegionFile(
            region=RegionInfo(
                code=region["code"], name=region["name"], timezone=region["timezone"]
            ),
            settings=Settings.model_validate(region["settings"]),
            functions=[
                FunctionSpec(
                    key=f["key"],
                    name=f["name"],
                    escalation=EscalationSpec.model_validate(f["escalation"]),
                )
                for f in functions
            ],
            people=[
                PersonSpec(
                    key=p["key"],
                    name=p["name"],
                    functions=p["functions"],
                    language=p["language"],
                    telegram_user_id=p["telegram_user_id"],
                    slack_user_id=p["slack_user_id"],
                )
                for p in people_rows
                if p["chat_gemeenten"] is None
            ],
            gemeenten=[
                GemeenteSpec(
                    key=g["key"],
                    name=g["name"],
                    burgemeester=keys.get(g["burgemeester_id"]),
                    locoburgemeester=keys.get(g["locoburgemeester_id"]),
                    loco_acting=g["loco_acting"],
                    share_with=[keys[i] for i in g["share_with"] if i in keys],
                )
                for g in gemeenten
            ],
            rotations=[
                RotationSpec(
                    function=r["function_key"],
                    scope=None if r["scope"] == "regio" else r["scope"],
                    members=[keys[i] for i in r["members"] if i in keys],
                    start=datetime.fromisoformat(r["start_local"]),
                    shift_days=r["shift_days"],
                )
                for r in rotations
            ],
            chats=[
                ChatSpec(
                    key=c["key"],
                    name=c["name"],
                    gemeenten=c["chat_gemeenten"],
                    language=c["language"],
                    telegram_chat_id=c["telegram_user_id"],
                    slack_channel_id=c["slack_user_id"],
                )
                for c in people_rows
                if c["chat_gemeenten"] is not None
            ],
        )
