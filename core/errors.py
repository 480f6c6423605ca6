"""The one error tree of scm-bot.

    ScmBotError
    ├── UserError                  bad input from a person; carries a catalog key, changes nothing
    ├── RegionFileError            an invalid region file; lists every problem with its location
    ├── StorageError               the database failed
    └── DeliveryError              a transport could not deliver a message
        ├── TransientDeliveryError try again later (timeouts, 5xx, rate limits)
        │   └── RateLimited        the platform asked us to wait `retry_after` seconds
        └── PermanentDeliveryError retrying will not help (the person blocked the bot)

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


class TransientDeliveryError(DeliveryError):
    pass


class RateLimited(TransientDeliveryError):
    def __init__(self, retry_after: float) -> None:
        super().__init__(f"rate limited, retry after {retry_after}s")
        self.retry_after = retry_after


class PermanentDeliveryError(DeliveryError):
    pass
