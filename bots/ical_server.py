"""The calendar server: serves `GET /ical/<token>.ics` for calendar subscriptions, and nothing
else.

Every other request, and every token that is not a live subscription, gets the same bare 404,
so a response tells nothing about why. The token is a credential: this server keeps no access
log, and what it logs never holds the path or the token. Put it behind a reverse proxy that
terminates HTTPS (and keeps no access log of its own, or strips the path).
"""

from __future__ import annotations

import re
from typing import Protocol

import structlog
from aiohttp import hdrs, web

log = structlog.get_logger(__name__)

PATH = re.compile(r"/ical/([0-9a-f]{1,128})\.ics")
HEADERS = {
    # Personal data, fetched by calendar apps: no shared cache keeps it, no page links out.
    "Cache-Control": "private, no-store",
    "Referrer-Policy": "no-referrer",
    "X-Content-Type-Options": "nosniff",
    "X-Robots-Tag": "noindex, nofollow",
}


class Calendars(Protocol):
    """flows.roster.feature.RosterCalendars: the calendar behind a token, None if there is none."""

    async def calendar(self, token: str) -> bytes | None: ...


def _not_found() -> web.Response:
    return web.Response(status=404, text="Not Found", headers=HEADERS)


class IcalServer:
    """A small aiohttp server; `start` and `stop` like the chat bots (port 0: any free port)."""

    def __init__(self, calendars: Calendars, *, listen: str = "127.0.0.1", port: int = 8080):
        self.calendars = calendars
        self.listen = listen
        self._port = port
        self._runner: web.AppRunner | None = None

    @property
    def port(self) -> int:
        """The port it listens on (the real one when started with port 0)."""
        if self._runner is not None and self._runner.addresses:
            return int(self._runner.addresses[0][1])
        return self._port

    async def start(self) -> None:
        server = web.Application()
        server.router.add_route("*", "/{path:.*}", self._handle)
        # access_log=None: an access log would write every token down.
        runner = web.AppRunner(server, access_log=None, handle_signals=False, shutdown_timeout=5.0)
        await runner.setup()
        try:
            await web.TCPSite(runner, self.listen, self._port).start()
        except BaseException:
            await runner.cleanup()
            raise
        self._runner = runner
        log.info("ical.listening", host=self.listen, port=self.port)

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    async def _handle(self, request: web.Request) -> web.StreamResponse:
        found = PATH.fullmatch(request.path)
        if request.method not in (hdrs.METH_GET, hdrs.METH_HEAD) or found is None:
            return _not_found()
        token = found.group(1)
        try:
            body = await self.calendars.calendar(token)
        except Exception as error:
            # Logged without the request or a traceback, and scrubbed: the token must not leak.
            message = f"{type(error).__name__}: {error}".replace(token, "<token>")
            log.error("ical.failed", error=message)
            return web.Response(status=500, text="Internal Server Error", headers=HEADERS)
        if body is None:
            return _not_found()
        return web.Response(
            body=body,
            content_type="text/calendar",
            charset="utf-8",
            headers={**HEADERS, "Content-Disposition": 'inline; filename="rooster.ics"'},
        )
