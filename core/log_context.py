"""What every log line of a piece of work carries: bound around it with structlog's
context variables (the rendering is the runtime's business, scm_bot/logs.py).

The inbox binds the event it handles, the timer runner the timer it fires; an incident is
bound as soon as the work touches one (its audit record names it), so the lines that follow,
and the delivery of the messages it queued, carry its id.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from contextlib import contextmanager

import structlog

# An incident's public id: the region code, the year, a number (VRU-2026-0001).
INCIDENT_ID = re.compile(r"[A-Z]{2,8}-\d{4}-\d{4,}")


@contextmanager
def log_context(**values: object) -> Iterator[None]:
    """Bind `values` to the log lines within; an incident bound within is unbound after
    (the one bound before, if any, is back)."""
    before = structlog.contextvars.get_contextvars().get("incident")
    with structlog.contextvars.bound_contextvars(**values):
        try:
            yield
        finally:
            if before is None:
                structlog.contextvars.unbind_contextvars("incident")
            else:
                structlog.contextvars.bind_contextvars(incident=before)


def about(obj: str) -> None:
    """The work touches this object: an incident's id is bound to the lines that follow."""
    if INCIDENT_ID.fullmatch(obj):
        structlog.contextvars.bind_contextvars(incident=obj)
