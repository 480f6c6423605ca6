"""Linking a Telegram or Slack account to a person with a one-time code.

A code carries 80 bits of randomness, is stored only as a hash, works once, expires (24 h by
default), and every chat account gets a limited number of failed attempts per hour.
"""

from __future__ import annotations

import base64
import hashlib
import secrets
from dataclasses import dataclass, replace
from datetime import datetime, timedelta

from core.events import Sender
from core.i18n import t
from core.messages import Message
from core.model import Language, Origin, Person
from core.tx import Tx

CODE_BYTES = 10  # 80 bits
MAX_FAILED_PER_HOUR = 5
LINK_COMMANDS = {"start", "koppel", "link"}


def new_code() -> str:
    """A code fit for a Telegram deep link ([A-Z2-7], 16 characters)."""
    return base64.b32encode(secrets.token_bytes(CODE_BYTES)).decode().rstrip("=")


def code_hash(code: str) -> str:
    normalized = "".join(code.split()).replace("-", "").upper()
    return hashlib.sha256(normalized.encode()).hexdigest()


@dataclass(frozen=True, slots=True)
class Invite:
    person: Person
    code: str
    expires_at: datetime


async def create_invite(tx: Tx, person: Person, valid_for: timedelta) -> Invite:
    code = new_code()
    expires = tx.now + valid_for
    await tx.uow.links.add(code_hash(code), person.id, tx.now, expires)
    await tx.audit("cli", "link.invite", person.key, expires_at=expires.isoformat())
    return Invite(person, code, expires)


async def try_link(tx: Tx, sender: Sender, code: str) -> list[Message]:
    """A stranger sent a code. Link them, or answer with one short direct reply."""
    who = f"{sender.origin.value}:{sender.user_id}"
    if not sender.private:  # a code typed in a group is seen by everyone there
        return [Message(t(Language.NL, "link.private_only"))]
    failures = await tx.uow.links.failures_since(who, tx.now - timedelta(hours=1))
    if failures >= MAX_FAILED_PER_HOUR:
        await tx.audit(who, "link.attempt", "code", "denied: too many attempts")
        return [Message(t(Language.NL, "link.too_many"))]
    person_id = await tx.uow.links.take(code_hash(code), tx.now, who)
    person = tx.directory.people.get(person_id) if person_id is not None else None
    if person is None:
        await tx.uow.links.record_failure(who, tx.now)
        await tx.audit(who, "link.attempt", "code", "denied: invalid or expired")
        return [Message(t(Language.NL, "link.invalid"))]
    if sender.origin is Origin.TELEGRAM:
        await tx.uow.directory.link(person.id, telegram_user_id=int(sender.user_id))
        person = replace(person, telegram_user_id=int(sender.user_id))
    else:
        await tx.uow.directory.link(person.id, slack_user_id=sender.user_id)
        person = replace(person, slack_user_id=sender.user_id)
    await tx.audit(person, "link.linked", who)
    await tx.send(person, "link.done", name=person.name, platform=sender.origin.value.title())
    return []
