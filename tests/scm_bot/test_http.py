"""The instance's one HTTP server: `/healthz` (the role, the database, the transports, the
auditor's heartbeat; 503 while the database cannot be reached), `/metrics`, and the
settings that place it (the former per-feature settings standing for HTTP_PORT)."""

from __future__ import annotations

import asyncio
import contextlib
import io
import json
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import pytest
from aiohttp import web
from pydantic import ValidationError

from core.clock import FakeClock
from scm_bot.app import App, build
from scm_bot.auditor import Auditor
from scm_bot.http import Health, HttpServer
from scm_bot.instance import Instance
from scm_bot.leadership import Role
from scm_bot.logs import setup_logging
from scm_bot.settings import Settings
from storage.database import make_engine
from storage.leadership import Fence
from tests.helpers import START, RecordingTransport, load_region
from tests.helpers.crash import until_async
from tests.helpers.tcp_proxy import TcpProxy


class Up:
    """A transport whose connection the test decides."""

    def __init__(self) -> None:
        self.up = True

    async def connected(self) -> bool:
        return self.up


@contextlib.asynccontextmanager
async def served(url: str, telegram: Up) -> AsyncIterator[tuple[Instance, HttpServer]]:
    engine = make_engine(url)
    fence = None if url.startswith("sqlite") else Fence()
    app = build(engine, FakeClock(START), [RecordingTransport()], fence=fence)
    node = Instance(app, url, try_every=0.05)
    server = HttpServer("127.0.0.1", 0, Health(node, {"telegram": telegram}).routes())
    await node.open()
    await server.start()
    await node.start()
    try:
        async with asyncio.timeout(10):
            await node.leading()
        yield node, server
    finally:
        await server.stop()
        await node.close()
        await app.close()
        await engine.dispose()


async def get(server: HttpServer, path: str) -> tuple[int, str, str]:
    async with aiohttp.ClientSession() as http:
        async with http.get(f"http://127.0.0.1:{server.port}{path}") as response:
            return response.status, response.headers["Content-Type"], await response.text()


async def health(server: HttpServer) -> tuple[int, dict[str, Any]]:
    status, _, body = await get(server, "/healthz")
    return status, json.loads(body)


async def audit(app: App) -> None:
    await Auditor(app.core, app.uows).audit()


async def test_healthz_shows_the_role_the_database_the_transports_and_the_heartbeat(
    db_url: str,
) -> None:
    engine = make_engine(db_url)
    await load_region(engine)
    await engine.dispose()
    telegram = Up()
    async with served(db_url, telegram) as (node, server):
        status, body = await health(server)
        assert status == 200
        term = None if db_url.startswith("sqlite") else node.term
        assert body == {
            "role": "leader",
            "term": term,
            "database": "reachable",
            "transports": {"telegram": True},
            "auditor": None,  # no audit yet
        }
        await audit(node.app)
        telegram.up = False
        status, body = await health(server)
        assert status == 200
        assert body["transports"] == {"telegram": False}
        assert body["auditor"] == {
            "at": "2026-11-24T02:07:00+00:00",  # the fake clock's 03:07 in Utrecht, in UTC
            "age_seconds": 0.0,
            "open_pages": 0,
            "repaired": 0,
        }


async def test_healthz_is_503_while_the_database_is_away_and_200_after(pg_url: str) -> None:
    engine = make_engine(pg_url)
    await load_region(engine)
    await engine.dispose()
    proxy = await TcpProxy.to(pg_url).start()
    try:
        async with served(proxy.url(pg_url), Up()) as (node, server):
            assert (await health(server))[0] == 200
            term = node.term
            assert term is not None
            proxy.cut()
            status, body = await health(server)
            assert status == 503
            assert body["database"] == "unreachable"

            async def standing_by() -> bool:
                return node.role is Role.STANDBY

            await until_async(standing_by, "the leader to notice its lock is gone", within=10)
            proxy.restore()

            async def leading_again() -> bool:
                return node.role is Role.LEADER and node.term == term + 1

            await until_async(leading_again, "the leadership to be taken again", within=10)
            status, body = await health(server)
            assert (status, body["role"], body["database"]) == (200, "leader", "reachable")
    finally:
        await proxy.close()


async def test_metrics_are_the_prometheus_text_format(sqlite_url: str) -> None:
    engine = make_engine(sqlite_url)
    await load_region(engine)
    await engine.dispose()
    async with served(sqlite_url, Up()) as (_node, server):
        status, content_type, body = await get(server, "/metrics")
    assert status == 200
    assert content_type.startswith("text/plain; version=")
    assert "scm_bot_leader 1.0" in body
    assert "scm_bot_outbox_depth 0.0" in body


def test_the_former_port_settings_stand_for_http_port_while_they_agree(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    for name in Settings.model_fields:
        monkeypatch.delenv(name.upper(), raising=False)
    assert Settings(_env_file=None).http_port is None
    former = Settings(_env_file=None, ical_http_port=8765, ical_http_listen="0.0.0.0")
    assert (former.http_listen, former.http_port) == ("0.0.0.0", 8765)
    assert former.ical_feed_url == "http://0.0.0.0:8765"
    assert former.deprecated_in_use == ["ICAL_HTTP_PORT", "ICAL_HTTP_LISTEN"]
    both = Settings(_env_file=None, http_port=8080, telegram_webhook_port=8443)
    assert both.http_port == 8080  # the new setting wins
    public = Settings(_env_file=None, http_port=8080, public_base_url="https://piket.example.nl/")
    assert public.ical_feed_url == "https://piket.example.nl"
    with pytest.raises(ValidationError, match="set HTTP_PORT instead"):
        Settings(_env_file=None, telegram_webhook_port=8443, slack_http_port=3000)
    webhook_needs_a_port = r"TELEGRAM_WEBHOOK_URL \(webhook mode\) needs HTTP_PORT"
    with pytest.raises(ValidationError, match=webhook_needs_a_port):
        Settings(
            _env_file=None,
            telegram_webhook_url="https://x.example/hook",
            telegram_webhook_secret="s",
        )
    with pytest.raises(ValidationError, match="SLACK_MODE=http needs HTTP_PORT"):
        Settings(_env_file=None, slack_mode="http")


async def test_a_request_that_cannot_be_parsed_is_logged_without_what_it_held() -> None:
    """aiohttp reports a malformed request with the bytes it choked on, often the request
    line: a calendar URL's token, or a header with a secret. The log says what went wrong
    and nothing of the request; the client still gets its 400."""
    token = "0123456789abcdef" * 4
    out = io.StringIO()
    setup_logging("DEBUG", "json", stream=out)

    async def calendar(_request: web.Request) -> web.Response:
        return web.Response(text="BEGIN:VCALENDAR")

    server = HttpServer("127.0.0.1", 0, [web.get("/ical/{rest:.*}", calendar)])
    await server.start()
    requests = [
        f"GET /ical/{token}.ics HTTP/9.9\r\nHost: x\r\n\r\n",  # a bad version
        f"G@T /ical/{token}.ics HTTP/1.1\r\nHost: x\r\n\r\n",  # a bad method
        f"GET /ical/{token}\x01.ics HTTP/1.1\r\nHost: x\r\n\r\n",  # a bad character
        f"GET /x HTTP/1.1\r\nHost: x\r\nX-Telegram-Bot-Api-Secret-Token: {token}\x01\r\n\r\n",
    ]
    try:
        for raw in requests:
            reader, writer = await asyncio.open_connection("127.0.0.1", server.port)
            writer.write(raw.encode("latin-1"))
            await writer.drain()
            answer = await reader.read()
            writer.close()
            assert answer.startswith(b"HTTP/1.0 400 Bad Request"), answer[:100]
    finally:
        await server.stop()
    lines = [json.loads(line) for line in out.getvalue().splitlines()]
    malformed = [line for line in lines if line["event"].startswith("http.malformed_request")]
    assert [line["level"] for line in malformed] == ["warning"] * 4
    assert {line["event"] for line in malformed} == {
        "http.malformed_request: BadStatusLine (400)",
        "http.malformed_request: BadHttpMethod (400)",
        "http.malformed_request: InvalidURLError (400)",
        "http.malformed_request: BadHttpMessage (400)",
    }
    assert token not in out.getvalue()
