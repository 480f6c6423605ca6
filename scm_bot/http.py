"""The instance's one HTTP server (`HTTP_LISTEN`:`HTTP_PORT`): the Telegram webhook, Slack's
Events API, the calendar feeds, `GET /healthz` and `GET /metrics`.

Every instance serves it, the leader and the standbys alike: a webhook or Slack event that
reaches a standby is stored in the inbox table, and the leader handles it. The server keeps
no access log (a calendar URL holds a token); put it behind a reverse proxy that terminates
HTTPS.

`/healthz` answers 200 with what an operator or a load balancer needs, as JSON: the role
(`leader` or `standby`), the database reachable, each transport connected, the auditor's
last heartbeat; and 503 when this instance cannot reach its database.

aiohttp logs a request it cannot parse with the bytes it choked on, often the request line,
and so a calendar token or a header's secret; the server logs through a logger of its own
(`SERVER_LOGGER`) that keeps only the kind of error (`WithoutRequest`).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Mapping, Sequence
from typing import Any, Protocol

import structlog
from aiohttp import web
from aiohttp.http_exceptions import HttpProcessingError
from aiohttp.typedefs import Handler

from bots.ical_feeds import not_found
from core.errors import StorageError
from scm_bot.auditor import HEARTBEAT
from scm_bot.instance import Instance

log = structlog.get_logger(__name__)
DATABASE_WITHIN = 3.0  # seconds the health check waits for the database
SERVER_LOGGER = "scm_bot.http.server"  # what aiohttp's request handling logs


class WithoutRequest(logging.Filter):
    """A request that could not be parsed is the client's fault, and aiohttp's report of it
    quotes the raw request (a calendar URL's token, a webhook's secret header): it is
    logged as a warning naming only the kind of error."""

    def filter(self, record: logging.LogRecord) -> bool:
        error = record.exc_info[1] if record.exc_info else None
        if isinstance(error, HttpProcessingError):
            record.msg = "http.malformed_request: %s (%s)"
            record.args = (type(error).__name__, error.code)
            record.exc_info, record.exc_text = None, None
            record.levelno, record.levelname = logging.WARNING, "WARNING"
        return True


def server_logger() -> logging.Logger:
    """The logger aiohttp reports request handling with, filtered (`WithoutRequest`)."""
    logger = logging.getLogger(SERVER_LOGGER)
    if not any(isinstance(f, WithoutRequest) for f in logger.filters):
        logger.addFilter(WithoutRequest())
    return logger


class Connected(Protocol):
    async def connected(self) -> bool: ...


class HttpServer:
    """An aiohttp server with the given routes; `start` and `stop` (port 0: any free port)."""

    def __init__(self, listen: str, port: int, routes: Sequence[web.RouteDef]) -> None:
        self.listen = listen
        self._port = port
        self.routes = list(routes)
        self._runner: web.AppRunner | None = None

    @property
    def port(self) -> int:
        """The port it listens on (the real one when started with port 0)."""
        if self._runner is not None and self._runner.addresses:
            return int(self._runner.addresses[0][1])
        return self._port

    async def start(self) -> None:
        server = web.Application(middlewares=[_bare_not_found])
        server.add_routes(self.routes)
        # access_log=None: an access log would write every calendar token down; the errors
        # go to a logger that leaves the request out. Requests are short: a stop does not
        # wait aiohttp's default 60 s for them.
        runner = web.AppRunner(
            server,
            access_log=None,
            logger=server_logger(),
            handle_signals=False,
            shutdown_timeout=5.0,
        )
        await runner.setup()
        try:
            await web.TCPSite(runner, self.listen, self._port).start()
        except BaseException:
            await runner.cleanup()
            raise
        self._runner = runner
        log.info("http.listening", host=self.listen, port=self.port)

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None


@web.middleware
async def _bare_not_found(request: web.Request, handler: Handler) -> web.StreamResponse:
    """A path nobody serves gets the calendar feeds' bare 404: no response tells what the
    server holds."""
    try:
        return await handler(request)
    except web.HTTPNotFound:
        return not_found()


class Health:
    """`GET /healthz` and `GET /metrics` of an instance."""

    def __init__(self, instance: Instance, transports: Mapping[str, Connected]) -> None:
        self.instance = instance
        self.transports = dict(transports)

    def routes(self) -> list[web.RouteDef]:
        return [web.get("/healthz", self._healthz), web.get("/metrics", self._metrics)]

    async def report(self) -> tuple[int, dict[str, Any]]:
        """The status code and body of /healthz."""
        heartbeat: dict[str, Any] | None = None
        database = True
        try:
            async with asyncio.timeout(DATABASE_WITHIN):
                async with self.instance.app.uows() as uow:
                    last = await uow.heartbeats.last(HEARTBEAT)
        except (StorageError, TimeoutError) as error:
            log.warning("health.database_unreachable", error=str(error) or "timeout")
            database = False
        else:
            if last is not None:
                at, detail = last
                age = (self.instance.app.core.clock.now() - at).total_seconds()
                heartbeat = {"at": at.isoformat(), "age_seconds": round(age, 1), **detail}
        transports = {}
        for name, transport in self.transports.items():
            try:
                transports[name] = await transport.connected()
            except Exception:
                log.exception("health.transport_check_failed", transport=name)
                transports[name] = False
        body = {
            "role": self.instance.role.value,
            "term": self.instance.term,
            "database": "reachable" if database else "unreachable",
            "transports": transports,
            "auditor": heartbeat,
        }
        return (200 if database else 503), body

    async def _healthz(self, _request: web.Request) -> web.Response:
        status, body = await self.report()
        return web.json_response(body, status=status, headers={"Cache-Control": "no-store"})

    async def _metrics(self, _request: web.Request) -> web.Response:
        body, content_type = await self.instance.app.scrape_metrics()
        return web.Response(body=body, headers={"Content-Type": content_type})
