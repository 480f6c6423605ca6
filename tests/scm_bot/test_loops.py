"""The loop behind the inbox and delivery goes on after a failure, and logs it: the
database away as one warning line, anything unforeseen with its traceback."""

from __future__ import annotations

import asyncio
import contextlib
import io
import json

from core.errors import StorageError
from scm_bot.logs import setup_logging
from scm_bot.loops import run_woken


async def test_the_loop_goes_on_after_failures_and_logs_each_as_it_deserves() -> None:
    out = io.StringIO()
    setup_logging("DEBUG", "json", stream=out)
    wake, done = asyncio.Event(), asyncio.Event()
    failures: list[Exception] = [StorageError("OSError: connection refused"), KeyError("x")]

    async def work() -> None:
        if failures:
            failure = failures.pop(0)
            wake.set()  # wanted again at once
            raise failure
        done.set()

    wake.set()
    loop = asyncio.create_task(run_woken(wake, 3600.0, work, "delivery"))
    try:
        async with asyncio.timeout(10):
            await done.wait()
    finally:
        loop.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await loop
    lines = [json.loads(line) for line in out.getvalue().splitlines()]
    storage, unforeseen = lines
    assert storage["event"] == "delivery.storage_failed"
    assert storage["level"] == "warning"
    assert storage["error"] == "OSError: connection refused"
    assert "exception" not in storage
    assert unforeseen["event"] == "delivery.loop_error"
    assert unforeseen["level"] == "error"
    assert "KeyError: 'x'" in unforeseen["exception"]
