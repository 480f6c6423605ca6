"""The Slack adapter: receives slash commands, DMs and button clicks through slack-bolt.

A payload becomes a core event here, at the edge, and is stored in the durable inbox before
Slack is acknowledged (well within Slack's 3 seconds); the router handles it from there, in
the order events came, and hands direct replies back here (`answer`). Slack retries an
event with the same event id: the inbox stores it once.

Socket Mode (the default) needs no public URL, and only the leader of several instances
holds the connection (`start_receiving`); HTTP mode serves the Events API and
interactivity on one path (`routes`, on the instance's HTTP server, every instance), with
Slack's request signature checked first.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import logging
import re
import time
from collections.abc import Callable
from typing import Any, Literal

import structlog
from aiohttp import web
from pydantic import SecretStr
from slack_bolt.adapter.aiohttp import to_aiohttp_response
from slack_bolt.adapter.socket_mode.async_handler import AsyncSocketModeHandler
from slack_bolt.app.async_app import AsyncApp
from slack_bolt.context.ack.async_ack import AsyncAck
from slack_bolt.request.async_request import AsyncBoltRequest
from slack_sdk.web.async_client import AsyncWebClient

from bots.slack.render import from_slack_text, render_message
from bots.slack.transport import DEFAULT_API_URL, SlackApi, call, secret
from core.errors import DeliveryError, RecipientUnreachable, StorageError
from core.events import ButtonEvent, CommandEvent, InboundEvent, Sender, parse_text
from core.i18n import storage_failure_message
from core.messages import Message
from core.model import Language, Origin
from core.ports import AnswerContext, Inbox, InboxItem

log = structlog.get_logger(__name__)

Mode = Literal["socket", "http"]
ACTION_ID = re.compile(r"^scm:\d+$")  # the action_ids render.py gives our buttons
Translate = Callable[[dict[str, Any]], InboundEvent | None]


def _is_dm(channel_id: str | None) -> bool:
    # Slack ids: C... channels, G... private channels and group DMs, D... direct messages.
    return bool(channel_id) and str(channel_id).startswith("D")


def command_event(body: dict[str, Any]) -> InboundEvent:
    """`/scm alarm Soest: gaslek` is `/alarm Soest: gaslek`; a bare `/scm` asks for help."""
    channel = body.get("channel_id")
    sender = Sender(
        Origin.SLACK,
        str(body["user_id"]),
        # Slack does not retry slash commands, but a trigger id is unique per invocation.
        event_id=f"command:{body['trigger_id']}" if body.get("trigger_id") else None,
        chat_id=channel,
        private=_is_dm(channel),
    )
    text = from_slack_text(str(body.get("text") or "")).strip().lstrip("/")
    return parse_text(sender, f"/{text}") if text else CommandEvent(sender, "help")


def action_event(body: dict[str, Any]) -> ButtonEvent:
    """A click on one of our buttons: the button's value is the core's callback data."""
    action = body["actions"][0]
    user = str(body["user"]["id"])
    channel = (body.get("channel") or {}).get("id") or (body.get("container") or {}).get(
        "channel_id"
    )
    trigger = body.get("trigger_id")
    event_id = f"action:{trigger}" if trigger else f"action:{user}:{action.get('action_ts')}"
    sender = Sender(Origin.SLACK, user, event_id=event_id, chat_id=channel, private=_is_dm(channel))
    return ButtonEvent(sender, str(action.get("value") or ""))


def message_event(body: dict[str, Any]) -> InboundEvent | None:
    """A person's DM to the bot; None for anything else (bots, edits, joins, channels)."""
    event = body.get("event") or {}
    if (
        event.get("channel_type") != "im"
        or event.get("subtype")
        or event.get("bot_id")
        or not event.get("user")
    ):
        return None
    sender = Sender(
        Origin.SLACK,
        str(event["user"]),
        # Slack retries an event with the same event_id (and X-Slack-Retry-Num); the core
        # remembers ids, so a retry whose original did arrive has no second effect.
        event_id=f"event:{body['event_id']}" if body.get("event_id") else None,
        chat_id=event.get("channel"),
        private=True,
    )
    return parse_text(sender, from_slack_text(str(event.get("text") or "")))


class SlackBot:
    """Receives from Slack into the inbox, and answers what the inbox handled."""

    def __init__(
        self,
        inbox: Inbox,
        *,
        bot_token: SecretStr | str,
        app_token: SecretStr | str | None = None,
        signing_secret: SecretStr | str | None = None,
        base_url: str = DEFAULT_API_URL,
        mode: str = "socket",  # "socket" or "http", as in the settings
        http_path: str = "/slack/events",
        command: str = "/scm",
        stop_timeout: float = 10.0,
        connect_timeout: float = 30.0,
    ) -> None:
        if mode not in ("socket", "http"):
            raise ValueError(f"unknown Slack mode {mode!r}: use 'socket' or 'http'")
        if mode == "socket" and not app_token:
            raise ValueError("Slack Socket Mode needs an app-level token (xapp-...)")
        # Kept to check a request's signature before its body is read (bolt has no public
        # getter for its own copy).
        self._signing_secret = secret(signing_secret).encode() if signing_secret else b""
        if mode == "http" and not signing_secret:
            raise ValueError("Slack HTTP mode needs the signing secret")
        self.inbox = inbox
        self.mode: Mode = "http" if mode == "http" else "socket"
        self.http_path = http_path
        self.stop_timeout = stop_timeout
        self.connect_timeout = connect_timeout
        self._app_token = app_token
        self.client = AsyncWebClient(token=secret(bot_token), base_url=base_url)
        self.api = SlackApi(self.client)
        self.app = AsyncApp(
            client=self.client,
            # "" rather than None: bolt would read SLACK_SIGNING_SECRET from the environment.
            signing_secret=secret(signing_secret) if signing_secret else "",
            # Run our listeners to completion before answering: the ack follows the store.
            process_before_response=True,
            # bolt gives its own loggers (and the Socket Mode client's) the root's level
            # unless given a logger to copy: this one keeps them at the level the runtime
            # sets for "slack_bolt" (warnings), not at DEBUG with payloads.
            logger=logging.getLogger("slack_bolt"),
        )
        self.app.command(command)(self._on_command)
        self.app.action({"type": "block_actions", "action_id": ACTION_ID})(self._on_action)
        self.app.event("message")(self._on_message)
        inbox.answer_with(Origin.SLACK, self)
        self._socket: AsyncSocketModeHandler | None = None
        self._authenticated = False

    def __repr__(self) -> str:  # never show a token or the signing secret
        return f"SlackBot(mode={self.mode!r}, base_url={self.client.base_url!r})"

    # -- listeners: store, then acknowledge ----------------------------------------------

    async def _on_command(self, ack: AsyncAck, body: dict[str, Any]) -> None:
        await self._receive(ack, command_event, body)

    async def _on_action(self, ack: AsyncAck, body: dict[str, Any]) -> None:
        await self._receive(ack, action_event, body)

    async def _on_message(self, ack: AsyncAck, body: dict[str, Any]) -> None:
        await self._receive(ack, message_event, body)

    async def _receive(self, ack: AsyncAck, translate: Translate, body: dict[str, Any]) -> None:
        try:
            event = translate(body)
        except (KeyError, IndexError, TypeError, AttributeError):
            # A payload we do not understand must not make Slack retry.
            log.warning("slack.unexpected_payload", type=body.get("type"))
            await ack()
            return
        if event is None:
            await ack()
            return
        try:
            await self.inbox.accept([(event, {})])
        except StorageError:
            # Not stored: the person hears so (Slack does not resend a command or a click).
            await ack()
            await self.tell(event, {}, storage_failure_message(Language.NL))
            return
        await ack()

    # -- answering (the inbox calls these) -------------------------------------------------

    async def answer(self, item: InboxItem, replies: list[Message]) -> None:
        """The event is handled: send its direct replies (to a stranger)."""
        await self._reply(item.event.sender, replies)

    async def tell(self, event: InboundEvent, context: AnswerContext, message: Message) -> None:
        """Straight to the sender, best effort (the outbox may be what fails)."""
        await self._reply(event.sender, [message])

    async def _reply(self, sender: Sender, messages: list[Message]) -> None:
        """Send direct replies to whoever wrote: ephemeral in a channel, else in their DM."""
        for message in messages:
            for part in render_message(message):
                try:
                    if sender.chat_id and not sender.private:
                        try:
                            await self.api.post_ephemeral(sender.chat_id, sender.user_id, part)
                            continue
                        except RecipientUnreachable:
                            pass  # the bot is not in that channel: answer privately instead
                    await self.api.post(await self.api.open_dm(sender.user_id), part)
                except DeliveryError as error:
                    log.warning("slack.reply_failed", error=str(error))
                    return

    # -- life cycle ------------------------------------------------------------------------

    def routes(self) -> list[web.RouteDef]:
        """The Events API's route for the HTTP server (none in Socket Mode)."""
        return [web.post(self.http_path, self._http)] if self.mode == "http" else []

    async def connected(self) -> bool:
        """The token was accepted, and the Socket Mode connection (if this process holds
        it) is up."""
        if self._socket is None:
            return self._authenticated
        return self._authenticated and bool(await self._socket.client.is_connected())

    async def connect(self) -> None:
        """Check the token (auth.test)."""
        me = await call(self.client.auth_test())
        self._authenticated = True
        log.info("slack.authenticated", team=me.get("team"), bot_user=me.get("user_id"))

    async def start_receiving(self) -> None:
        """Open the Socket Mode connection (nothing in HTTP mode: the server receives)."""
        if self.mode == "socket" and self._socket is None:
            await self._start_socket()

    async def stop_receiving(self) -> None:
        """Close the Socket Mode connection; what was stored is handled by the leader."""
        if self._socket is not None:
            await self._socket.close_async()  # type: ignore[no-untyped-call]
            self._socket = None

    async def start(self) -> None:
        """Connect, then receive (`connect` and `start_receiving`)."""
        await self.connect()
        await self.start_receiving()

    async def _http(self, request: web.Request) -> web.Response:
        # Slack's signature is checked here, on the raw bytes, before anything reads the
        # body: a forged request gets 401 whatever it holds (bolt would parse it first, and
        # answer broken JSON with a 500). Only a signed body is parsed; one that is not what
        # Slack sends gets 400. bolt checks the signature again; that is harmless.
        raw = await request.read()
        timestamp = request.headers.get("X-Slack-Request-Timestamp", "")
        signature = request.headers.get("X-Slack-Signature", "")
        if not (timestamp.isascii() and timestamp.isdigit() and len(timestamp) <= 12):
            return web.Response(status=401)
        secret = self._signing_secret
        digest = hmac.new(secret, b"v0:" + timestamp.encode() + b":" + raw, hashlib.sha256)
        expected = "v0=" + digest.hexdigest()
        fresh = abs(time.time() - int(timestamp)) <= 5 * 60
        given = signature.encode("utf-8", "replace")  # a header may hold anything
        if not (fresh and hmac.compare_digest(expected.encode(), given)):
            return web.Response(status=401)
        try:
            bolt_request = AsyncBoltRequest(
                body=raw.decode("utf-8"),
                query=request.query_string,
                headers=request.headers,  # type: ignore[arg-type]  # as bolt's adapter does
            )
            if not isinstance(bolt_request.body, dict):
                raise TypeError("the body is no JSON object")
        except (ValueError, TypeError, AttributeError) as error:  # also bad UTF-8 and JSON
            log.warning("slack.malformed_request", error=f"{type(error).__name__}: {error}")
            return web.Response(status=400)
        response = await self.app.async_dispatch(bolt_request)
        if response.status >= 500:
            # Our listeners handle their own failures (an event not stored is answered as
            # such), so bolt failed on the request itself: a field of an unexpected type.
            log.warning("slack.malformed_request", status=response.status)
            return web.Response(status=400)
        return await to_aiohttp_response(response)

    async def _start_socket(self) -> None:
        assert self._app_token is not None
        handler = AsyncSocketModeHandler(self.app, secret(self._app_token))
        try:
            # Check the app token first: a bad one then fails here, with Slack's error,
            # instead of the client retrying the connection forever.
            await call(self.client.apps_connections_open(app_token=secret(self._app_token)))
            # The client retries a failed connection forever; give up after a while, so a
            # start-up problem is reported instead of hanging.
            await asyncio.wait_for(
                handler.connect_async(),  # type: ignore[no-untyped-call]
                self.connect_timeout,
            )
        except BaseException:
            await handler.close_async()  # type: ignore[no-untyped-call]
            raise
        self._socket = handler
        log.info("slack.socket_mode_connected")

    async def stop(self) -> None:
        """Stop receiving; what was stored is handled by the inbox (now or next start)."""
        await self.stop_receiving()
