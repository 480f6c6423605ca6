"""One contract for every storage: the same assertions on SQLite and PostgreSQL."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncEngine

from core.messages import Button, Message
from core.model import (
    AlertKind,
    GemeenteId,
    IncidentStatus,
    Origin,
    PageStatus,
    PageTarget,
    PersonId,
    TargetStatus,
)
from core.ports import AuditRecord, LedgerEntry, NewIncident, NewMessage, PartStatus
from storage.uow import SqlUnitOfWorkFactory
from tests.helpers import load_region

NOW = datetime(2026, 11, 24, 2, 7, tzinfo=UTC)


@pytest.fixture
async def uows(engine: AsyncEngine) -> AsyncIterator[SqlUnitOfWorkFactory]:
    await load_region(engine)
    async with SqlUnitOfWorkFactory(engine) as uows:
        yield uows


def _new(person: int = 1) -> NewIncident:
    return NewIncident(
        AlertKind.ALARMERING,
        "gaslek",
        "Kerkstraat",
        "GRIP 1",
        (GemeenteId(1),),
        PersonId(person),
        NOW,
    )


async def test_directory_loads_the_region(uows: SqlUnitOfWorkFactory) -> None:
    async with uows() as uow:
        d = await uow.directory.load()
    assert d.region.code == "VRU" and len(d.gemeenten) == 6
    assert d.person_by_key("rol-b") is not None
    assert [p.key for p in d.with_function("rol")] == ["rol-a", "rol-b", "rol-c"]
    assert d.functions["rol"].policy.repeat_after == timedelta(minutes=5)


async def test_language_change_is_seen_by_the_next_transaction(
    uows: SqlUnitOfWorkFactory,
) -> None:
    async with uows() as uow:
        d = await uow.directory.load()
        person = d.person_by_key("caco")
        assert person is not None
        await uow.directory.set_language(person.id, "en")
        await uow.commit()
    async with uows() as uow:
        again = (await uow.directory.load()).person_by_key("caco")
    assert again is not None and again.language.value == "en"


async def test_a_change_by_another_process_is_seen_by_the_next_transaction(
    uows: SqlUnitOfWorkFactory, engine: AsyncEngine
) -> None:
    """The directory is cached; a commit on another connection (a CLI import) that bumps
    the revision is seen all the same, and a commit that does not bump it costs no reload."""
    async with uows() as uow:
        first = await uow.directory.load()
    async with uows() as uow:
        assert await uow.directory.load() is first, "cached"
    async with engine.begin() as conn:
        await conn.execute(text("UPDATE person SET name = 'Caco Nieuw' WHERE key = 'caco'"))
    async with uows() as uow:
        assert await uow.directory.load() is first, "no revision bump: still the cache"
    async with engine.begin() as conn:
        await conn.execute(text("UPDATE region SET revision = revision + 1"))
    async with uows() as uow:
        again = (await uow.directory.load()).person_by_key("caco")
    assert again is not None and again.name == "Caco Nieuw"


async def test_incident_numbers_count_per_prefix(uows: SqlUnitOfWorkFactory) -> None:
    async with uows() as uow:
        a = await uow.incidents.add(_new(), "VRU-2026")
        b = await uow.incidents.add(_new(), "VRU-2026")
        c = await uow.incidents.add(_new(), "VRU-2027")
        await uow.commit()
    assert (a.public_id, b.public_id, c.public_id) == (
        "VRU-2026-0001",
        "VRU-2026-0002",
        "VRU-2027-0001",
    )
    async with uows() as uow:
        found = await uow.incidents.by_public_id("VRU-2026-0002")
        assert found == b
        await uow.incidents.close(a.id, PersonId(1), NOW)
        await uow.commit()
    async with uows() as uow:
        assert [i.public_id for i in await uow.incidents.open()] == [
            "VRU-2026-0002",
            "VRU-2027-0001",
        ]
        closed = await uow.incidents.get(a.id)
    assert closed is not None and closed.status is IncidentStatus.CLOSED
    assert closed.closed_at == NOW


async def test_rollback_without_commit(uows: SqlUnitOfWorkFactory) -> None:
    async with uows() as uow:
        await uow.incidents.add(_new(), "VRU-2026")
    async with uows() as uow:
        assert await uow.incidents.open() == []


async def test_pages_and_targets(uows: SqlUnitOfWorkFactory) -> None:
    async with uows() as uow:
        incident = await uow.incidents.add(_new(), "VRU-2026")
        page = await uow.pages.add(incident.id, "rol", PageStatus.ACTIVE, NOW)
        await uow.pages.add_target(PageTarget(page.id, PersonId(2), 0, TargetStatus.PAGED, NOW))
        await uow.pages.set_target_status(
            page.id, PersonId(2), TargetStatus.DECLINED, NOW + timedelta(minutes=1)
        )
        await uow.commit()
    async with uows() as uow:
        (target,) = await uow.pages.targets([page.id])
        assert target.status is TargetStatus.DECLINED
        assert target.answered_at == NOW + timedelta(minutes=1)
        assert await uow.pages.for_incidents([incident.id]) == [page]


async def test_timers_claim_once_and_cancel(uows: SqlUnitOfWorkFactory) -> None:
    async with uows() as uow:
        t1 = await uow.timers.add("k", 1, NOW)
        t2 = await uow.timers.add("k", 2, NOW + timedelta(minutes=5))
        await uow.commit()
    async with uows() as uow:
        assert await uow.timers.due(NOW, 10) == [t1]
        assert await uow.timers.claim(t2, NOW) is None, "not due yet"
        claimed = await uow.timers.claim(t1, NOW)
        assert claimed is not None and claimed.ref == 1 and claimed.due_at == NOW
        assert await uow.timers.claim(t1, NOW) is None, "never twice"
        assert await uow.timers.cancel("k", 2) == [t2]
        await uow.commit()
    async with uows() as uow:
        assert await uow.timers.pending() == []


async def test_outbox_delivery_bookkeeping(uows: SqlUnitOfWorkFactory) -> None:
    message = Message("tekst <b>", "titel", (Button("Ja", "pg:1:ack"),))
    async with uows() as uow:
        first, second, third = await uow.outbox.add_many(
            [
                NewMessage(PersonId(2), message, "send", "page:1"),
                NewMessage(PersonId(2), message, "edit", "page:1"),
                NewMessage(PersonId(3), message, "send", None),
            ],
            NOW,
        )
        await uow.commit()
    assert first < second < third, "ids in the order of the rows"
    async with uows() as uow:
        items = await uow.outbox.pending(NOW, 10)
        assert [i.message for i in items] == [message] * 3
        # Each id is its own row's: the ids came back in the order of the rows.
        assert [(i.id, i.person_id, i.kind) for i in items] == [
            (first, PersonId(2), "send"),
            (second, PersonId(2), "edit"),
            (third, PersonId(3), "send"),
        ]
        assert [i.ledger for i in items] == [()] * 3
        await uow.outbox.record(
            [
                LedgerEntry(first, "telegram", 0, PartStatus.SENT, "41", editable=False),
                LedgerEntry(first, "telegram", 1, PartStatus.SENDING, None, editable=True),
                LedgerEntry(second, "slack", 0, PartStatus.FAILED),
                LedgerEntry(third, "slack", 0, PartStatus.FAILED),
            ],
            NOW,
        )
        # The outcome replaces the "sending" entry of the same part.
        entry = LedgerEntry(first, "telegram", 1, PartStatus.SENT, "42", editable=True)
        await uow.outbox.record([entry], NOW)
        await uow.outbox.record([LedgerEntry(second, "telegram", 0, PartStatus.UNCERTAIN)], NOW)
        await uow.outbox.finish_many({first: "sent", third: "unreachable"}, NOW)
        await uow.outbox.retry_later(second, NOW + timedelta(seconds=4), "boom")
        await uow.commit()
    async with uows() as uow:
        # Edits reach the sent part that carries the buttons, and only that one.
        assert await uow.outbox.refs_for_topic(PersonId(2), "page:1", "telegram") == ["42"]
        assert await uow.outbox.refs_for_topic(PersonId(2), "page:1", "slack") == []
        assert await uow.outbox.pending(NOW, 10) == []
        assert await uow.outbox.count_pending() == 1
        (later,) = await uow.outbox.pending(NOW + timedelta(seconds=4), 10)
        assert later.id == second and later.attempts == 1
        # A retry knows what each part came to: it resumes where it stopped.
        assert later.part_status("slack", 0) is PartStatus.FAILED
        assert later.part_status("telegram", 0) is PartStatus.UNCERTAIN
        assert later.part_status("telegram", 1) is None
        await uow.outbox.finish_many({}, NOW)  # nothing to finish: no statement, no error


async def test_audit_is_append_only(uows: SqlUnitOfWorkFactory, engine: AsyncEngine) -> None:
    record = AuditRecord(
        NOW,
        "caco",
        "incident.raised",
        "VRU-2026-0001",
        "ok",
        Origin.CONSOLE,
        {"gemeenten": ["soest"]},
    )
    async with uows() as uow:
        await uow.audit.append_many([record])
        await uow.commit()
    async with uows() as uow:
        # Behind the region import's own record (the fixture imports the region).
        assert (await uow.audit.all())[-1] == record
    for statement in ("UPDATE audit SET result = 'forged'", "DELETE FROM audit"):
        async with engine.connect() as conn:
            with pytest.raises(DBAPIError, match="append-only"):
                await conn.execute(text(statement))


async def test_conversation_state_round_trips(uows: SqlUnitOfWorkFactory) -> None:
    state = {"flow": "alarm", "step": "kind", "gemeenten": [1, 2]}
    async with uows() as uow:
        await uow.conversations.set(PersonId(1), state, NOW)
        await uow.commit()
    async with uows() as uow:
        assert await uow.conversations.get(PersonId(1)) == state
        await uow.conversations.set(PersonId(1), None, NOW)
        await uow.commit()
    async with uows() as uow:
        assert await uow.conversations.get(PersonId(1)) is None
