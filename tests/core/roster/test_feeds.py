"""Calendar subscriptions: /rooster abonneer hands out a URL, the calendar server serves it over
real HTTP on loopback, and a wrong, rotated or stopped token gets a bare 404.

The test region's ROL rotation (Anna, Bert, Cees; weekly from Monday 08:00) has Bert on duty
at the harness's start, Tue 24 Nov 2026 03:07, Cees from Mon 30 Nov and Anna from Mon 7 Dec.
"""

from __future__ import annotations

import hashlib
import logging
import re
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import aiohttp
import pytest
import structlog
from icalendar import Calendar, Event
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from bots.ical_feeds import IcalFeeds
from core.clock import FakeClock
from core.events import Sender, parse_text
from core.i18n import t
from core.model import Language, Origin
from core.roster.feeds import TOKEN_BYTES
from core.roster.importing import parse_ics
from flows.roster.feature import RosterCalendars
from scm_bot.app import build
from scm_bot.http import HttpServer
from scm_bot.logs import QUIET_LOGGERS
from tests.conftest import count
from tests.helpers import REGION_FILE, START, Harness, RecordingTransport, load_region

PUBLIC = "https://piket.example.test/scm"
URL = re.compile(re.escape(PUBLIC) + r"(/ical/([0-9a-f]+)\.ics)")
REPLACE = "/vervang Bert door Anna van morgen 08:00 tot do 18:00"


@dataclass
class Served:
    harness: Harness
    server: HttpServer
    http: aiohttp.ClientSession

    @property
    def base(self) -> str:
        """Where the test reaches the server (the public URL stands for a reverse proxy)."""
        return f"http://127.0.0.1:{self.server.port}"

    async def subscribe(self, who: str, args: str = "") -> str:
        """The path of the URL `who` gets for `/rooster abonneer <args>`."""
        await self.harness.say(who, f"/rooster abonneer {args}".strip())
        found = URL.search(self.harness.last(who))
        assert found is not None, self.harness.last(who)
        return found.group(1)

    async def get(self, path: str, method: str = "GET") -> tuple[int, str, bytes]:
        async with self.http.request(method, self.base + path) as response:
            return response.status, response.headers.get("Content-Type", ""), await response.read()


async def serve(engine: AsyncEngine, *, feed_url: str | None = PUBLIC) -> AsyncIterator[Served]:
    await load_region(engine)
    clock = FakeClock(START)
    transport = RecordingTransport()
    app = build(engine, clock, [transport], feed_url=feed_url)
    server = HttpServer("127.0.0.1", 0, IcalFeeds(RosterCalendars(app.core)).routes())
    await server.start()
    http = aiohttp.ClientSession()
    try:
        yield Served(Harness(app, clock, transport), server, http)
    finally:
        await http.close()
        await server.stop()
        await app.close()


@pytest.fixture
async def served(engine: AsyncEngine) -> AsyncIterator[Served]:
    """On SQLite and PostgreSQL."""
    async for it in serve(engine):
        yield it


def calendar(ics: bytes) -> Calendar:
    """The calendar as a calendar program reads it."""
    return Calendar.from_ical(ics)


def events(ics: bytes) -> list[Event]:
    return list(calendar(ics).events)


def utc(day: int, hour: int, month: int = 11) -> datetime:
    return datetime(2026, month, day, hour, tzinfo=UTC)


async def audit_text(served: Served) -> str:
    async with served.harness.app.uows() as uow:
        return repr(await uow.audit.all())


async def test_a_person_subscribes_to_their_own_duties(served: Served) -> None:
    h = served.harness
    path = await served.subscribe("rol-a")
    message = h.last("rol-a")
    assert message.startswith("Je agenda-abonnement op je eigen piketdiensten:\n" + PUBLIC)
    assert "Houd de link voor jezelf" in message and "/rooster opzeggen zet hem uit" in message
    token = path.removeprefix("/ical/").removesuffix(".ics")
    assert len(token) == TOKEN_BYTES * 2 >= 32  # at least 128 bits

    status, content_type, body = await served.get(path)
    assert status == 200 and content_type == "text/calendar; charset=utf-8"
    subscribed = calendar(body)
    assert subscribed.calendar_name == "Piket Rol Anna"
    assert subscribed.refresh_interval == timedelta(hours=1)
    assert subscribed["REFRESH-INTERVAL"].params == {"VALUE": "DURATION"}
    assert subscribed["X-PUBLISHED-TTL"].to_ical() == b"PT1H"
    found = events(body)
    assert found, "Anna has duties in the next three months"
    assert {e.summary for e in found} == {"ROL: Rol Anna"}
    assert {str(e["X-SCM-PERSON"]) for e in found} == {"rol-a"}
    # Anna's week from Monday 7 December 08:00 (07:00 UTC) to the next Monday.
    week = next(e for e in found if e.start == utc(7, 7, month=12))
    assert week.end == utc(14, 7, month=12)
    assert week.uid == "rol-regio-20261207T070000Z@scm-bot"

    # A subscription follows the roster: a replacement shows at the next fetch.
    await h.say("coord", REPLACE)
    await h.press("coord", "Bevestigen")
    _, _, again = await served.get(path)
    assert any(e.start == utc(25, 7) and e.end == utc(26, 17) for e in events(again))
    # What the server sends is what /rooster ical makes: it imports back as the same duties.
    async with h.app.core.transaction(Origin.SYSTEM) as tx:
        parsed = parse_ics(again.decode(), tx.directory, await tx.uow.roster.settings())
    assert parsed.problems == [] and len(parsed.shifts) == len(events(again))


async def test_a_roster_subscription_shows_everyone_on_duty(served: Served) -> None:
    path = await served.subscribe("caco", "rol")
    assert "Je agenda-abonnement op ROL (alle roosters):" in served.harness.last("caco")
    status, _, body = await served.get(path)
    assert status == 200
    assert calendar(body).calendar_name == "Piketrooster ROL (alle roosters)"
    people = {e.summary for e in events(body)}
    assert people == {"ROL: Rol Anna", "ROL: Rol Bert", "ROL: Rol Cees"}
    # Bert's week, running now, from Monday 23 November 08:00.
    assert any(e.start == utc(23, 7) for e in events(body))

    await served.subscribe("rol-b", "rol soest")  # in English; Soest falls back to the region
    assert "Your calendar subscription to ROL (Soest):" in served.harness.last("rol-b")


async def test_asking_again_rotates_the_token_and_stopping_ends_it(served: Served) -> None:
    h = served.harness
    first = await served.subscribe("rol-b")
    second = await served.subscribe("rol-b", "mine")
    assert first != second
    assert "The previous link for this calendar no longer works." in h.last("rol-b")
    assert (await served.get(first))[0] == 404
    assert (await served.get(second))[0] == 200
    assert await count(h.app.engine, "ical_token") == 1

    await h.say("rol-b", "/roster subscriptions")
    assert "Your calendar subscriptions:\n• your own duties (since Tue 24 Nov 03:07)" in h.last(
        "rol-b"
    )
    await h.say("rol-b", "/roster unsubscribe")
    assert "has been cancelled" in h.last("rol-b")
    assert (await served.get(second))[0] == 404
    await h.say("rol-b", "/roster unsubscribe")
    assert "You have no calendar subscription to your own duties" in h.last("rol-b")
    await h.say("rol-b", "/roster subscriptions")
    assert "You have no calendar subscriptions" in h.last("rol-b")
    assert await count(h.app.engine, "ical_token") == 0


async def test_everything_but_a_live_token_is_the_same_bare_404(served: Served) -> None:
    path = await served.subscribe("rol-a")
    token = path.removeprefix("/ical/").removesuffix(".ics")
    assert (await served.get(path, "HEAD"))[0] == 200
    wrong = "0" * len(token) if token != "0" * len(token) else "1" * len(token)
    answers = [
        await served.get(f"/ical/{wrong}.ics"),
        await served.get(f"/ical/{token.upper()}.ics"),
        await served.get(f"/ical/{token[:-1]}.ics"),
        await served.get(f"/ical/{token}"),
        await served.get(f"/ical/{token}.ics/"),
        await served.get(f"/ical/{token}.ics", "POST"),
        await served.get(f"/ical/{token}.ics", "DELETE"),
        await served.get("/ical/"),
        await served.get("/"),
        await served.get("/slack/events"),
    ]
    assert set(answers) == {(404, "text/plain; charset=utf-8", b"Not Found")}


async def test_nobody_subscribes_to_a_roster_they_could_not_see(served: Served) -> None:
    h = served.harness
    await h.say("caco", "/rooster abonneer brandweer")
    assert "'brandweer' ken ik niet als functie of gemeente" in h.last("caco")
    await h.say("caco", "/rooster abonneer coordinator")  # a function without a roster
    assert "Ik vind geen piketrooster voor 'coordinator'" in h.last("caco")
    await h.say("caco", "/rooster abonneer rol amersfoort")
    assert "'amersfoort' ken ik niet" in h.last("caco")
    # Someone not in the region gets one short answer; a group chat gets no URL.
    stranger = await h.app.router.handle(
        parse_text(Sender(Origin.CONSOLE, "nobody"), "/rooster abonneer rol")
    )
    assert [m.text for m in stranger] == [t(Language.NL, "access.not_registered")]
    group = await h.app.router.handle(
        parse_text(Sender(Origin.CONSOLE, "caco", private=False), "/rooster abonneer rol")
    )
    assert [m.text for m in group] == [t(Language.NL, "access.private_only")]
    assert await count(h.app.engine, "ical_token") == 0


async def test_a_person_who_leaves_the_region_loses_their_calendars(served: Served) -> None:
    own = await served.subscribe("im")
    roster = await served.subscribe("im", "rol")
    assert (await served.get(own))[0] == 200 and (await served.get(roster))[0] == 200
    await load_region(
        served.harness.app.engine,
        REGION_FILE.read_text("utf-8").replace(
            "  - {key: im, name: Info Ineke, functions: [im]}\n", ""
        ),
    )
    assert (await served.get(own))[0] == 404
    assert (await served.get(roster))[0] == 404


class Broken:
    """A calendar source that fails, saying which token it was asked for."""

    async def calendar(self, token: str) -> bytes | None:
        raise RuntimeError(f"database down while looking up {token}")


async def test_the_token_is_kept_only_as_a_hash_and_never_logged(
    served: Served, caplog: pytest.LogCaptureFixture, capsys: pytest.CaptureFixture[str]
) -> None:
    # Logging as `scm-bot run` sets it up with LOG_LEVEL=DEBUG: everything but the libraries
    # that log what they send (aiosqlite would log every statement's parameters).
    for name in QUIET_LOGGERS:
        caplog.set_level(logging.WARNING, logger=name)
    caplog.set_level(logging.DEBUG)
    with structlog.testing.capture_logs() as logged:
        path = await served.subscribe("rol-a")
        token = path.removeprefix("/ical/").removesuffix(".ics")
        assert (await served.get(path))[0] == 200
        await served.subscribe("rol-a")  # rotated: the old one is now refused
        assert (await served.get(path))[0] == 404

        broken = HttpServer("127.0.0.1", 0, IcalFeeds(Broken()).routes())
        await broken.start()
        try:
            url = f"http://127.0.0.1:{broken.port}{path}"
            async with served.http.get(url) as response:
                assert response.status == 500
                assert token not in await response.text()
        finally:
            await broken.stop()
    assert [e for e in logged if e["event"] == "ical.failed"] == [
        {
            "event": "ical.failed",
            "log_level": "error",
            "error": ("RuntimeError: database down while looking up <token>"),
        }
    ]
    assert token not in repr(logged)
    captured = capsys.readouterr()
    assert token not in caplog.text
    assert token not in captured.out and token not in captured.err
    assert token not in await audit_text(served)
    async with served.harness.app.engine.connect() as conn:
        stored = [r[0] for r in await conn.execute(text("SELECT token_hash FROM ical_token"))]
    assert len(stored) == 1 and token not in stored
    assert hashlib.sha256(token.encode()).hexdigest() not in stored  # rotated away


async def test_without_the_server_there_are_no_urls(engine: AsyncEngine) -> None:
    async for off in serve(engine, feed_url=None):
        await off.harness.say("rol-a", "/rooster abonneer")
        assert "staan op deze bot niet aan" in off.harness.last("rol-a")
        await off.harness.say("rol-a", "/rooster abonnementen")
        assert "Je hebt geen agenda-abonnementen" in off.harness.last("rol-a")
        assert await count(engine, "ical_token") == 0
