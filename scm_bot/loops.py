"""The loop behind the inbox and delivery: work whenever woken, and every tick anyway."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable

import structlog

from core.errors import StorageError

log = structlog.get_logger(__name__)


async def run_woken(
    wake: asyncio.Event, tick: float, work: Callable[[], Awaitable[object]], name: str
) -> None:
    """Call `work` whenever `wake` is set, and at least every `tick` seconds; an error is
    logged and the loop goes on (the table it reads is still the truth)."""
    while True:
        try:
            async with asyncio.timeout(tick):
                await wake.wait()
        except TimeoutError:
            pass
        wake.clear()
        try:
            await work()
        except StorageError as error:
            # The database is away: the unit of work logged the driver's words; a traceback
            # through SQLAlchemy and the driver would add nothing but length.
            log.warning(f"{name}.storage_failed", error=str(error))
        except Exception:
            log.exception(f"{name}.loop_error")
