"""The calendar feeds: `GET /ical/<token>.ics` for calendar subscriptions, a route on the
instance's HTTP server (scm_bot.http).

Every other request under `/ical/`, and every token that is not a live subscription, gets the
same bare 404, so a response tells nothing about why. The token is a credential: the server
keeps no access log, and what this logs never holds the path or the token. Put the server
behind a reverse proxy that terminates HTTPS (and keeps no access log of its own for
`/ical/`, or strips the path).
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


def not_found() -> web.Response:
    """The bare 404 (the HTTP server answers every path it does not serve with it too)."""
    return web.Response(status=404, text="Not Found", headers=HEADERS)


class IcalFeeds:
    """The calendar behind a token, served by the HTTP server (`routes`)."""

    def __init__(self, calendars: Calendars) -> None:
        self.calendars = calendars

    def routes(self) -> list[web.RouteDef]:
        return [web.route("*", "/ical/{rest:.*}", self._handle)]

    async def _handle(self, request: web.Request) -> web.StreamResponse:
        found = PATH.fullmatch(request.path)
        if request.method not in (hdrs.METH_GET, hdrs.METH_HEAD) or found is None:
            return not_found()
        token = found.group(1)
        try:
            body = await self.calendars.calendar(token)
        except Exception as error:
            # Logged without the request or a traceback, and scrubbed: the token must not leak.
            message = f"{type(error).__name__}: {error}".replace(token, "<token>")
            log.error("ical.failed", error=message)
            return web.Response(status=500, text="Internal Server Error", headers=HEADERS)
        if body is None:
            return not_found()
        return web.Response(
            body=body,
            content_type="text/calendar",
            charset="utf-8",
            headers={**HEADERS, "Content-Disposition": 'inline; filename="rooster.ics"'},
        )
