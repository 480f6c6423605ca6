"""Logging: structlog, one JSON object a line in production, readable lines on a terminal.

scm-bot's own events (structlog) and the libraries' records (standard logging) go through
one handler on the root logger and the same processors, so every line has the same shape:
a timestamp (UTC, ISO 8601), the level, the logger, the event and its fields, and the
context bound around the work (`incident`, `event_id`, `timer_id`; see core.log_context).
The last step before rendering blanks out every configured secret (bot tokens, the
webhook and signing secrets, the database password), as it is and URL-encoded, and the token
of any calendar feed URL, wherever it would appear, also in a library's message or a
traceback: the code never logs a secret on purpose, and this makes sure an accident does
not either (tests/scm_bot/test_log_secrets.py checks that it never has to).
"""

from __future__ import annotations

import logging
import re
import sys
from collections.abc import Iterable, Mapping
from typing import Any, TextIO
from urllib.parse import quote, quote_plus

import structlog
from structlog.typing import EventDict, Processor, WrappedLogger

# Libraries chat at INFO about every job and request, and at DEBUG about every statement:
# httpx would log request URLs (with the bot token), aiosqlite every statement's parameters
# (message texts, calendar subscription URLs), Alembic its migration context at every start.
# Only their warnings are worth a line.
QUIET_LOGGERS = (
    "alembic",
    "apscheduler",
    "httpx",
    "httpcore",
    "telegram",
    "slack_bolt",
    "slack_sdk",
    "aiohttp.access",
    "aiosqlite",
)
REDACTED = "<redacted>"
# A secret shorter than this is not searched for: it would blank out ordinary words.
MIN_SECRET = 6
# A calendar feed's token is a secret of its own subscriber, in no setting: it is known by
# where it stands (core.roster.feeds: `/ical/<token>.ics`, 40 hex digits).
FEED_TOKEN = re.compile(r"(?<=/ical/)[0-9a-fA-F]{16,}")


def _forms(secret: str) -> set[str]:
    """A secret as it is and as a URL carries it (a password in DATABASE_URL, a token in
    a query string)."""
    return {secret, quote(secret, safe=""), quote(secret), quote_plus(secret)}


class Redact:
    """A structlog processor that replaces each secret wherever it occurs in a line."""

    def __init__(self, secrets: Iterable[str]) -> None:
        # Longest first: a secret that contains another is replaced whole.
        forms = {form for s in secrets if len(s) >= MIN_SECRET for form in _forms(s)}
        self.secrets = sorted(forms, key=len, reverse=True)

    def __call__(self, _logger: WrappedLogger, _name: str, event_dict: EventDict) -> EventDict:
        return {key: self._clean(value) for key, value in event_dict.items()}

    def _clean(self, value: Any) -> Any:
        if isinstance(value, str):
            for secret in self.secrets:
                value = value.replace(secret, REDACTED)
            return FEED_TOKEN.sub(REDACTED, value) if "/ical/" in value else value
        if value is None or isinstance(value, bool | int | float):
            return value
        if isinstance(value, Mapping):
            return {self._clean(k): self._clean(v) for k, v in value.items()}
        if isinstance(value, list | tuple | set | frozenset):
            return [self._clean(v) for v in value]
        shown = repr(value)  # anything else is rendered through its repr (or str)
        if self._clean(shown) != shown or self._clean(str(value)) != str(value):
            return self._clean(shown)
        return value


def default_format(stream: TextIO) -> str:
    """Console on a terminal, JSON otherwise (a service manager, a container, a file)."""
    return "console" if stream.isatty() else "json"


def setup_logging(
    level: str = "INFO",
    log_format: str | None = None,
    secrets: Iterable[str] = (),
    stream: TextIO | None = None,
) -> None:
    """Send every log line to `stream` (default stderr) as JSON or for the console."""
    out = stream if stream is not None else sys.stderr
    number = getattr(logging, level.upper(), logging.INFO)
    fmt = log_format or default_format(out)
    shared: list[Processor] = [
        structlog.contextvars.merge_contextvars,
        structlog.stdlib.add_log_level,
        structlog.stdlib.add_logger_name,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
    ]
    renderer: Processor = (
        structlog.processors.JSONRenderer()
        if fmt == "json"
        else structlog.dev.ConsoleRenderer(colors=out.isatty())
    )
    formatter = structlog.stdlib.ProcessorFormatter(
        foreign_pre_chain=shared,
        processors=[
            structlog.stdlib.ProcessorFormatter.remove_processors_meta,
            structlog.processors.format_exc_info,
            Redact(secrets),
            renderer,
        ],
    )
    handler = logging.StreamHandler(out)
    handler.setFormatter(formatter)
    root = logging.getLogger()
    for old in [h for h in root.handlers if isinstance(h.formatter, type(formatter))]:
        root.removeHandler(old)  # set up again (a second command in one process)
    root.addHandler(handler)
    root.setLevel(number)
    for noisy in QUIET_LOGGERS:
        logging.getLogger(noisy).setLevel(max(number, logging.WARNING))
    structlog.configure(
        processors=[*shared, structlog.stdlib.ProcessorFormatter.wrap_for_formatter],
        wrapper_class=structlog.make_filtering_bound_logger(number),
        logger_factory=structlog.stdlib.LoggerFactory(),
        cache_logger_on_first_use=False,
    )
