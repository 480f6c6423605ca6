"""The Telegram bot: receives updates (long polling or a webhook) into the durable inbox.

It runs inside the caller's event loop: `connect` (getMe, and the webhook registered or
cleared), `start_receiving`/`stop_receiving` for long polling (only the leader of several
instances polls), or `start`/`stop` for both. The webhook is a route (`routes`) on the
instance's one HTTP server (scm_bot.http), served by every instance.

An update becomes a core event at the edge, at once (`translate`), and is stored in the
inbox before Telegram hears that it arrived: the poller asks for the next updates (which
confirms these) only after the store committed, and the webhook answers 200 only then.
python-telegram-bot's own Updater confirms an update before it is handled, so polling is
ours; the `Application` (without an Updater) owns the `Bot`. The inbox hands each event to
the router and, once it is handled, back here
(`answer`): direct replies to strangers, and the answer that stops a pressed button spinning.
"""

from __future__ import annotations

import asyncio
import datetime as dtm
import hmac
import logging
import re
from typing import Any
from urllib.parse import urlsplit

import structlog
from aiohttp import web
from pydantic import SecretStr
from telegram import Update
from telegram.constants import ChatType
from telegram.error import TelegramError
from telegram.ext import Application, ApplicationBuilder

from bots.telegram.transport import TelegramTransport, reply, scrub
from core.errors import DeliveryError, StorageError
from core.events import ButtonEvent, InboundEvent, Sender, parse_text
from core.messages import Message
from core.model import Origin
from core.ports import AnswerContext, Inbox, InboxItem

log = structlog.get_logger(__name__)

DEFAULT_BASE_URL = "https://api.telegram.org/bot"
SECRET_HEADER = "X-Telegram-Bot-Api-Secret-Token"
SECRET_PATTERN = re.compile(r"[A-Za-z0-9_-]{1,256}")  # what setWebhook accepts
# Only what the handlers use: Telegram then does not even send the rest.
ALLOWED_UPDATES = (Update.MESSAGE, Update.CALLBACK_QUERY)
# Loggers that may print the token: PTB logs its API URL (debug), httpx every request URL.
TOKEN_LOGGERS = ("telegram", "httpx", "httpcore")

TelegramApp = Application[Any, Any, Any, Any, Any, Any]
POLL_BACKOFF_MAX = 30.0  # seconds between tries while Telegram or the database fails
CALLBACK_QUERY = "callback_query_id"


def translate(update: Update) -> tuple[InboundEvent, AnswerContext] | None:
    """A core event and what answering it needs, or None for an update we do not handle."""
    user = update.effective_user
    if user is None:
        return None
    message, query = update.message, update.callback_query
    if message is not None and message.text is not None:
        sender = Sender(
            Origin.TELEGRAM,
            str(user.id),
            event_id=str(update.update_id),
            chat_id=str(message.chat.id),
            private=message.chat.type == ChatType.PRIVATE,
        )
        return parse_text(sender, message.text), {}
    if query is not None:
        chat = update.effective_chat
        # A button on an inline message has no chat: answer in the user's private chat.
        sender = Sender(
            Origin.TELEGRAM,
            str(user.id),
            event_id=str(update.update_id),
            chat_id=str(chat.id if chat is not None else user.id),
            private=chat is None or chat.type == ChatType.PRIVATE,
        )
        return ButtonEvent(sender, query.data or ""), {CALLBACK_QUERY: query.id}
    return None


class RedactToken(logging.Filter):
    """Replaces the bot token in log records before any handler formats them."""

    def __init__(self, token: str) -> None:
        super().__init__()
        self.token = token

    def filter(self, record: logging.LogRecord) -> bool:
        try:
            message = record.getMessage()
        except Exception:  # a malformed record: leave it to logging's own error handling
            return True
        if self.token in message:
            record.msg = scrub(message, self.token)
            record.args = None
        if record.exc_info and not record.exc_text:
            # Format the traceback now (formatters reuse exc_text), so it is scrubbed too.
            text = logging.Formatter().formatException(record.exc_info)
            if self.token in text:
                record.exc_text = scrub(text, self.token)
        return True


def protect_token(token: str) -> RedactToken:
    """Attach a token-redacting filter to every logger of python-telegram-bot and httpx.

    A logger's filters only see records created at that very logger, so each existing
    logger under those names gets one (theirs are created at import time).
    """
    redact = RedactToken(token)
    names = [
        name
        for name in logging.root.manager.loggerDict
        if any(name == base or name.startswith(base + ".") for base in TOKEN_LOGGERS)
    ]
    for name in {*TOKEN_LOGGERS, *names}:
        logger = logging.getLogger(name)
        if not any(isinstance(f, RedactToken) and f.token == token for f in logger.filters):
            logger.addFilter(redact)
    return redact


def file_url_for(base_url: str) -> str:
    """The file download URL that goes with an API base URL (`.../bot` → `.../file/bot`)."""
    head, sep, tail = base_url.rpartition("/")
    return f"{head}/file/{tail}" if sep else f"file/{base_url}"


def _plain(secret: SecretStr | str | None) -> str | None:
    return secret.get_secret_value() if isinstance(secret, SecretStr) else secret


class TelegramBot:
    """Owns the python-telegram-bot `Application` (without an Updater): our own poller
    (default) or the webhook, both storing into the inbox before confirming.

    Webhook mode is on when `webhook_url` is given; it then needs `webhook_secret`, which
    Telegram sends in the `X-Telegram-Bot-Api-Secret-Token` header of every request. The
    webhook is our own aiohttp route rather than PTB's `start_webhook`: PTB's needs tornado
    (not installed), compares the secret with `!=`, not in constant time, and answers
    before the update is stored.
    """

    def __init__(
        self,
        inbox: Inbox,
        *,
        token: SecretStr | str,
        base_url: str = DEFAULT_BASE_URL,
        webhook_url: str | None = None,
        webhook_secret: SecretStr | str | None = None,
        webhook_path: str | None = None,
        transport: TelegramTransport | None = None,
        poll_timeout: float = 10.0,
        poll_retry: float = 1.0,
    ) -> None:
        plain = _plain(token)
        if not plain:
            raise ValueError("a Telegram bot token is required")
        self._token = plain
        secret = _plain(webhook_secret)
        if webhook_url and not secret:
            raise ValueError("webhook mode needs a webhook secret")
        if secret and not SECRET_PATTERN.fullmatch(secret):
            raise ValueError("a webhook secret is 1-256 characters A-Z, a-z, 0-9, _ and -")
        self._inbox = inbox
        self._webhook_url = webhook_url or None  # an empty setting means polling
        self._webhook_secret = secret or ""
        # Telegram posts to the URL's path unless a reverse proxy rewrites it.
        self._webhook_path = webhook_path or (urlsplit(webhook_url or "").path or "/")
        self._poll_timeout = poll_timeout
        self._poll_retry = poll_retry  # the first back-off; it doubles up to 30 s
        self._poller: asyncio.Task[None] | None = None
        self._told: set[str] = set()  # updates whose sender heard that storing failed
        self._connected = False  # getMe answered
        self._polling_ok = True  # the last getUpdates answered
        protect_token(plain)  # before building: the Bot logs its URL on construction
        self.application: TelegramApp = (
            ApplicationBuilder()
            .token(plain)
            .base_url(base_url)
            .base_file_url(file_url_for(base_url))
            .updater(None)  # polling is ours: see the module's docstring
            .job_queue(None)  # timers are the core's, in the database
            .build()
        )
        self.transport = transport or TelegramTransport()
        self.transport.bind(self.application.bot)
        inbox.answer_with(Origin.TELEGRAM, self)

    @property
    def webhook_mode(self) -> bool:
        return self._webhook_url is not None

    def routes(self) -> list[web.RouteDef]:
        """The webhook's route for the HTTP server (none when polling)."""
        return [web.post(self._webhook_path, self._on_webhook)] if self.webhook_mode else []

    async def connected(self) -> bool:
        """Telegram answered getMe, and the last long poll (if this process polls) worked."""
        return self._connected and (self._poller is None or self._polling_ok)

    async def connect(self) -> None:
        """Ask Telegram who we are (getMe), then register the webhook, or clear any webhook
        an earlier deployment left (it would keep getUpdates empty)."""
        try:
            await self.application.initialize()
            if self.webhook_mode:
                assert self._webhook_url is not None
                await self.application.bot.set_webhook(
                    url=self._webhook_url,
                    secret_token=self._webhook_secret,
                    allowed_updates=list(ALLOWED_UPDATES),
                )
            else:
                await self.application.bot.delete_webhook(drop_pending_updates=False)
        except BaseException:
            await self.stop()
            raise
        self._connected = True
        log.info("telegram.connected", mode="webhook" if self.webhook_mode else "polling")

    async def start_receiving(self) -> None:
        """Start long polling (nothing in webhook mode: the HTTP server receives)."""
        if not self.webhook_mode and self._poller is None:
            self._polling_ok = True
            self._poller = asyncio.create_task(self._poll(), name="telegram-poller")

    async def stop_receiving(self) -> None:
        """Stop long polling; what was stored is handled by the leader."""
        if self._poller is not None:
            self._poller.cancel()
            await asyncio.gather(self._poller, return_exceptions=True)
            self._poller = None

    async def start(self) -> None:
        """Connect, then receive (`connect` and `start_receiving`)."""
        await self.connect()
        await self.start_receiving()

    async def stop(self) -> None:
        """Stop receiving and close connections; what was stored is handled next start."""
        await self.stop_receiving()
        await self.application.shutdown()
        self._connected = False

    async def bot_username(self) -> str:
        """The bot's @username (for deep links), asked from Telegram."""
        me = await self.application.bot.get_me()
        if not me.username:
            raise RuntimeError("Telegram returned a bot without a username")
        return str(me.username)

    # Receiving ----------------------------------------------------------------------------

    async def receive(self, updates: list[Update]) -> None:
        """Store these updates' events in the inbox; StorageError if that failed (then
        Telegram must not hear they arrived). The sender of an update that could not be
        stored is told once."""
        entries = [entry for entry in map(translate, updates) if entry is not None]
        try:
            await self._inbox.accept(entries)
        except StorageError:
            for event, context in entries:
                key = event.sender.event_id or ""
                if key not in self._told:
                    self._told.add(key)
                    await self._inbox.tell_delayed(event, context)
            raise
        self._told.clear()

    async def _poll(self) -> None:
        """Long polling that confirms updates (the next offset) only once they are stored."""
        bot = self.application.bot
        offset: int | None = None
        failures = 0
        while True:
            try:
                updates = await bot.get_updates(
                    offset=offset,
                    timeout=dtm.timedelta(seconds=self._poll_timeout),
                    allowed_updates=list(ALLOWED_UPDATES),
                )
                self._polling_ok = True
                if updates:
                    await self.receive(list(updates))
                    offset = updates[-1].update_id + 1
                failures = 0
            except (TelegramError, StorageError) as error:
                self._polling_ok = not isinstance(error, TelegramError)
                failures += 1
                delay = min(self._poll_retry * 2.0 ** (failures - 1), POLL_BACKOFF_MAX)
                log.warning(
                    "telegram.polling_failed",
                    error=scrub(f"{type(error).__name__}: {error}", self._token),
                    retry_in=delay,
                )
                await asyncio.sleep(delay)  # Telegram or the database is down: back off

    # Webhook -------------------------------------------------------------------------------

    async def _on_webhook(self, request: web.Request) -> web.Response:
        """One update from Telegram: verify the secret (in constant time), store it, and
        only then answer 200; a storage failure answers 500 and Telegram sends it again."""
        given = request.headers.get(SECRET_HEADER)
        if given is None or not hmac.compare_digest(
            given.encode("utf-8"), self._webhook_secret.encode("utf-8")
        ):
            log.warning("telegram.webhook_forbidden", remote=request.remote)
            return web.Response(status=403)
        try:
            data = await request.json()
            update = Update.de_json(data, self.application.bot)
        except Exception:  # malformed JSON or not an update: Telegram need not resend it
            log.warning("telegram.webhook_bad_update", remote=request.remote)
            return web.Response(status=400)
        try:
            await self.receive([update])
        except StorageError:
            return web.Response(status=500)
        return web.Response(status=200)

    # Answering (the inbox calls these) ------------------------------------------------------

    async def answer(self, item: InboxItem, replies: list[Message]) -> None:
        """The event is handled: direct replies (to strangers), then the pressed button
        stops spinning."""
        event: InboundEvent = item.event
        chat_id = int(event.sender.chat_id or event.sender.user_id)
        for message in replies:
            try:
                await reply(self.application.bot, chat_id, message)
            except DeliveryError as error:  # a stranger's reply is best effort
                log.info("telegram.reply_failed", chat_id=chat_id, error=str(error))
        query_id = item.context.get(CALLBACK_QUERY)
        if query_id:
            try:
                await self.application.bot.answer_callback_query(str(query_id))
            except TelegramError as error:  # a stale query: the press is handled all the same
                log.info("telegram.answer_failed", error=scrub(str(error), self._token))

    async def tell(self, event: InboundEvent, context: AnswerContext, message: Message) -> None:
        """Straight to the sender's chat, best effort (the outbox may be what fails)."""
        chat_id = int(event.sender.chat_id or event.sender.user_id)
        try:
            await reply(self.application.bot, chat_id, message)
        except DeliveryError as error:
            log.info("telegram.tell_failed", chat_id=chat_id, error=str(error))
        query_id = context.get(CALLBACK_QUERY)
        if query_id:
            try:
                await self.application.bot.answer_callback_query(str(query_id))
            except TelegramError as error:
                log.info("telegram.answer_failed", error=scrub(str(error), self._token))
