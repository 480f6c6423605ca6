"""The one error tree of scm-bot.

    ScmBotError
    ├── UserError                  bad input from a person; carries a catalog key, changes nothing
    ├── RegionFileError            an invalid region file; lists every problem with its location
    ├── StorageError               the database failed
    └── DeliveryError              a transport could not deliver a message
        ├── MessageRejected        this message is bad (HTTP 400, cannot be rendered): it
        │                          fails on its own; a page is tried once more as plain text
        ├── RecipientUnreachable   this recipient cannot be reached (blocked the bot, chat
        │                          not found): for this message only, tried again next time
        ├── PlatformError          the platform or the bot is failing (401, network, 5xx):
        │   │                      retried with back-off, never blamed on the person
        │   └── OutcomeUnknown     the request may have arrived (a timeout): recorded as
        │                          uncertain, and a resend is marked as a repeat
        └── RateLimited            slow down: wait `retry_after` seconds, for that chat only

Adapters map platform errors (RetryAfter, Forbidden, SlackApiError, ...) into this tree, so
the core never sees a platform exception.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


class ScmBotError(Exception):
    """Root of every error scm-bot raises on purpose."""


class UserError(ScmBotError):
    """A person's input was not acceptable; `key` names the catalog message that explains why."""

    def __init__(self, key: str, **params: Any) -> None:
        super().__init__(key)
        self.key = key
        self.params = params


@dataclass(frozen=True)
class RegionProblem:
    location: str  # e.g. "gemeenten[3].burgemeester (regel 41)"
    message: str

    def __str__(self) -> str:
        return f"{self.location}: {self.message}"


class RegionFileError(ScmBotError):
    def __init__(self, problems: list[RegionProblem]) -> None:
        super().__init__("\n".join(str(p) for p in problems))
        self.problems = problems


class StorageError(ScmBotError):
    pass


class DeliveryError(ScmBotError):
    pass


class MessageRejected(DeliveryError):
    pass


class RecipientUnreachable(DeliveryError):
    pass


class PlatformError(DeliveryError):
    pass


class OutcomeUnknown(PlatformError):
    pass


class RateLimited(DeliveryError):
    def __init__(self, retry_after: float) -> None:
        super().__init__(f"rate limited, retry after {retry_after}s")
        self.retry_after = retry_after
