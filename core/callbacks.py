"""Typed button payloads: `prefix:id:action`, checked against Telegram's 64-byte limit here."""

from __future__ import annotations

import re
from dataclasses import dataclass

MAX_BYTES = 64
# Every number in a payload is a database id (an INTEGER key: 32 bits on PostgreSQL) or a
# small index: a larger one was never ours, and would overflow the database's parameter.
MAX_NUMBER = 2**31 - 1
_NUMBERS = re.compile(r"[0-9]+")


def _ours(data: str) -> bool:
    """Printable ASCII (no surrogates, no other digits than 0-9), every number in range."""
    return (
        data.isascii()
        and data.isprintable()
        and all(int(n) <= MAX_NUMBER for n in _NUMBERS.findall(data))
    )


@dataclass(frozen=True, slots=True)
class CallbackData:
    prefix: str
    id: str
    action: str

    def encode(self) -> str:
        for part in (self.prefix, self.id, self.action):
            if ":" in part:
                raise ValueError(f"':' is not allowed in a callback part: {part!r}")
        data = f"{self.prefix}:{self.id}:{self.action}"
        if not _ours(data):
            raise ValueError(f"callback data must be printable ASCII with small ids: {data!r}")
        if len(data.encode()) > MAX_BYTES:
            raise ValueError(f"callback data longer than {MAX_BYTES} bytes: {data!r}")
        return data

    @classmethod
    def decode(cls, data: str) -> CallbackData | None:
        """Parse a payload; None for anything that is not ours (stale or forged buttons)."""
        if len(data) > MAX_BYTES or not _ours(data):
            return None
        parts = data.split(":")
        if len(parts) != 3 or not all(parts):
            return None
        return cls(*parts)


# Prefixes in use, one per kind of button.
PAGE = "pg"  # id = page id; action = ack | decline | seen
ALARM = "al"  # id = flow step.draft; action = the chosen value
CLOSE = "cl"  # id = incident id; action = yes | no
ANALYSE_START = "ast"  # id = incident id; action = start (offered after acknowledging)
