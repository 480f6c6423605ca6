"""`scm-bot demo`: the whole alarm scenario, scripted, on a throwaway database."""

from __future__ import annotations

import tempfile
from datetime import datetime, timedelta
from importlib.resources import files
from pathlib import Path
from typing import TextIO
from zoneinfo import ZoneInfo

from bots.console import ConsoleSession, ConsoleTransport
from core.clock import FakeClock
from core.i18n import fmt_time, t
from core.model import Language
from core.region.file import parse_region
from scm_bot.app import build
from storage.database import make_engine, migrate
from storage.region import import_region

TZ = ZoneInfo("Europe/Amsterdam")


def demo_region_text() -> str:
    return files("scm_bot").joinpath("data", "demo-region.yaml").read_text("utf-8")


async def play(out: TextIO, db_url: str | None = None) -> None:
    """Play the scenario: alert, page, no answer, repeat, escalation, acknowledgement,
    status, closing. Time is simulated; nothing waits."""
    with tempfile.TemporaryDirectory(prefix="scm-bot-demo-") as tmp:
        url = db_url or f"sqlite:///{Path(tmp) / 'demo.sqlite'}"
        migrate(url)
        engine = make_engine(url)
        try:
            await import_region(engine, parse_region(demo_region_text()))
            clock = FakeClock(datetime(2026, 11, 24, 3, 7, tzinfo=TZ))
            transport = ConsoleTransport(out)
            async with build(engine, clock, [transport]) as app:
                transport.clock_label = lambda: fmt_time(clock.now(), TZ, Language.NL)
                session = ConsoleSession(
                    app.router, transport, app.directory, app.deliverer.deliver_pending
                )

                async def say(who: str, text: str) -> None:
                    await session.act_as(who)
                    print(
                        f"» {transport.acting.name if transport.acting else who}: {text}", file=out
                    )
                    feedback = await session.line(text)
                    if feedback:
                        print(feedback, file=out)

                async def press(who: str, label: str) -> None:
                    await session.act_as(who)
                    number = max(
                        n
                        for n, b in transport.buttons.items()
                        if b.label == label and b.person_key == who
                    )
                    name = transport.acting.name if transport.acting else who
                    presses = t(Language.NL, "demo.presses", name=name, number=number, label=label)
                    print(presses, file=out)
                    await session.line(f"/knop {number}")

                async def wait(minutes: int) -> None:
                    clock.advance(timedelta(minutes=minutes))
                    time = fmt_time(clock.now(), TZ, Language.NL)
                    later = t(Language.NL, "demo.later", count=minutes, time=time)
                    print(later, end="\n\n", file=out)
                    await app.settle()

                print(t(Language.NL, "demo.title"), end="\n\n", file=out)
                await say("caco-carla", "/alarm Soest: gaslek Kerkstraat, 20 woningen ontruimd")
                await press("caco-carla", "Bevestigen en pagen")
                await wait(5)
                await wait(5)
                await press("rol-rob", "Ik pak het op")
                await say("caco-carla", "/status")
                await say("caco-carla", "/sluit VRU-2026-0001")
                await press("caco-carla", "Ja, sluiten")
                print(t(Language.NL, "demo.end"), file=out)
        finally:
            await engine.dispose()
