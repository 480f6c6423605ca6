"""The console transport: act as anyone, see who each message is for, press by number."""

from __future__ import annotations

import io

from sqlalchemy.ext.asyncio import AsyncEngine

from bots.console import ConsoleSession, ConsoleTransport
from core.clock import FakeClock
from scm_bot.app import build
from tests.helpers import START, load_region


async def test_console_session_plays_an_alarm(engine: AsyncEngine) -> None:
    await load_region(engine)
    out = io.StringIO()
    transport = ConsoleTransport(out)
    app = build(engine, FakeClock(START), [transport])
    session = ConsoleSession(app.router, transport, app.directory, app.deliverer.deliver_pending)

    assert "Kies eerst wie je bent" in (await session.line("/status") or "")
    assert "Onbekende persoon" in (await session.act_as("niemand"))
    assert "meerdere personen" in (await session.act_as("Rol"))
    assert "Je bent nu Caco Test [caco]" in await session.act_as("Caco Test")
    await session.line("/alarm Soest: gaslek")
    assert "── aan jou ──" in out.getvalue()
    assert "[1] Bevestigen en pagen" in out.getvalue()
    await session.line("1")
    text = out.getvalue()
    assert "── aan Rol Bert ──" in text  # labelled with the recipient
    assert "[4] I'll take it   [5] Can't" in text
    assert await session.line("99") == "Er is geen knop [99]."

    await session.act_as("rol-b")
    await session.line("4")
    assert "── bijgewerkt, aan jou ──" in out.getvalue()
    assert "✅ Taken by Rol Bert" in out.getvalue()


async def test_console_run_loop_reads_until_quit(engine: AsyncEngine) -> None:
    await load_region(engine)
    out = io.StringIO()
    transport = ConsoleTransport(out)
    app = build(engine, FakeClock(START), [transport])
    session = ConsoleSession(app.router, transport, app.directory, app.deliverer.deliver_pending)
    lines = iter(["/als caco", "/help", "/quit", "/never"])

    async def read(_prompt: str) -> str:
        return next(lines)

    await session.run(read)
    assert "Hallo Caco Test" in out.getvalue()


async def test_a_digit_that_is_no_number_is_text(engine: AsyncEngine) -> None:
    """A superscript 2 is a digit to str.isdigit(), no number to int(): text, not a press."""
    await load_region(engine)
    out = io.StringIO()
    transport = ConsoleTransport(out)
    app = build(engine, FakeClock(START), [transport])
    session = ConsoleSession(app.router, transport, app.directory, app.deliverer.deliver_pending)
    await session.act_as("caco")
    await session.line("²")
    assert "Ik verwacht nu geen tekst" in out.getvalue()
    await app.deliverer.close()
