"""One inbound event or timer, one transaction: state, audit and outbox commit together."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from core.clock import Clock
from core.i18n import label_text, t
from core.log_context import about
from core.messages import Attachment, Button, Message
from core.model import Directory, Origin, Person, TimerId
from core.ports import (
    AuditRecord,
    NewMessage,
    OutboxItem,
    TimerScheduler,
    UnitOfWork,
    UnitOfWorkFactory,
)


@dataclass
class Tx:
    """What a core service needs inside one transaction."""

    uow: UnitOfWork
    directory: Directory
    now: datetime
    origin: Origin
    scheduled: list[tuple[TimerId, datetime]] = field(default_factory=list)
    cancelled: list[TimerId] = field(default_factory=list)
    # Written in one statement each just before the commit (see Core.transaction).
    outbox: list[NewMessage] = field(default_factory=list)
    audited: list[AuditRecord] = field(default_factory=list)

    async def send(
        self,
        person: Person,
        key: str,
        *,
        title_key: str | None = None,
        buttons: tuple[tuple[str, str], ...] = (),
        topic: str | None = None,
        edit: bool = False,
        attachment: Attachment | None = None,
        secrets: tuple[str, ...] = (),
        **params: Any,
    ) -> None:
        """Queue a catalog message for `person`, in their language and register (`Register`);
        delivered after commit.

        A callable parameter is called with the person's language (for localized parts).
        `edit=True` replaces the messages the person holds under `topic`. `secrets` are
        blanked out of the stored copy once the message is delivered (`Message.secrets`).
        """
        lang = person.language
        register = self.directory.register(person)
        params = {k: v(lang) if callable(v) else v for k, v in params.items()}
        message = Message(
            text=t(lang, key, register, **params),
            title=t(lang, title_key, register, **params) if title_key else None,
            buttons=tuple(
                Button(label_text(lang, label, register), data) for label, data in buttons
            ),
            attachment=attachment,
            secrets=secrets,
        )
        await self.send_message(person, message, topic=topic, kind="edit" if edit else "send")

    async def send_message(
        self, person: Person, message: Message, *, topic: str | None = None, kind: str = "send"
    ) -> None:
        if not person.active:
            return  # no longer in the region: they are told nothing
        self.outbox.append(NewMessage(person.id, message, kind, topic))

    async def audit(
        self, actor: Person | str, action: str, obj: str, result: str = "ok", **detail: Any
    ) -> None:
        about(obj)  # an incident's id goes on the log lines from here on
        self.audited.append(
            AuditRecord(
                at=self.now,
                actor=actor if isinstance(actor, str) else actor.key,
                action=action,
                object=obj,
                result=result,
                origin=self.origin,
                detail=detail,
            )
        )

    async def schedule(self, kind: str, ref: int, due_at: datetime) -> None:
        timer_id = await self.uow.timers.add(kind, ref, due_at)
        self.scheduled.append((timer_id, due_at))

    async def cancel_timers(self, kind: str, ref: int) -> None:
        self.cancelled.extend(await self.uow.timers.cancel(kind, ref))


class Core:
    """Opens transactions and, after each commit, wakes delivery and schedules timers.

    `on_commit` is shown the audit records of every committed transaction (the runtime
    counts pages and acknowledgements from them; the core knows no metrics)."""

    def __init__(
        self,
        uow_factory: UnitOfWorkFactory,
        clock: Clock,
        scheduler: TimerScheduler,
        on_outbox: Callable[[list[OutboxItem], Directory | None], None] = lambda _i, _d: None,
        on_commit: Callable[[list[AuditRecord]], None] = lambda _records: None,
    ) -> None:
        self.uow_factory = uow_factory
        self.clock = clock
        self.scheduler = scheduler
        self.on_outbox = on_outbox
        self.on_commit = on_commit

    @asynccontextmanager
    async def transaction(self, origin: Origin) -> AsyncIterator[Tx]:
        async with self.uow_factory() as uow:
            directory = await uow.directory.load()
            tx = Tx(uow, directory, self.clock.now(), origin)
            yield tx
            ids = await uow.outbox.add_many(tx.outbox, tx.now)
            await uow.audit.append_many(tx.audited)
            await uow.commit()
        # Only after commit: a timer or message of a rolled-back transaction never leaks out.
        if tx.outbox:
            queued = [
                OutboxItem(
                    outbox_id, row.person_id, row.kind, row.topic, row.message, 0, (), tx.now
                )
                for outbox_id, row in zip(ids, tx.outbox, strict=True)
            ]
            # Handed to delivery as they are (a person changed here: it reads them afresh).
            self.on_outbox(queued, None if tx.uow.directory.changed else tx.directory)
        for timer_id, due_at in tx.scheduled:
            self.scheduler.schedule(timer_id, due_at)
        for timer_id in tx.cancelled:
            self.scheduler.cancel(timer_id)
        if tx.audited:
            self.on_commit(tx.audited)
