"""The Telegram bot: receives updates (long polling or a webhook) and hands them to the router.

It runs inside the caller's event loop (`start`/`stop`, never `run_polling`). Handlers only
translate: a platform update becomes a core event at the edge, at once; the router decides
everything; direct replies (for strangers) go back to the chat they came from. What an
event queues for delivery goes to the deliverer with the event's commit.
"""

from __future__ import annotations

import asyncio
import datetime as dtm
import hmac
import logging
import re
from collections.abc import Awaitable, Callable
from typing import Any, Protocol
from urllib.parse import urlsplit

import structlog
from aiohttp import web
from pydantic import SecretStr
from telegram import CallbackQuery, Update, User
from telegram.constants import ChatType
from telegram.error import TelegramError
from telegram.ext import (
    Application,
    ApplicationBuilder,
    CallbackQueryHandler,
    ContextTypes,
    MessageHandler,
    filters,
)

from bots.telegram.transport import TelegramTransport, reply, scrub
from core.errors import DeliveryError
from core.events import ButtonEvent, InboundEvent, Sender, parse_text
from core.messages import Message
from core.model import Origin

log = structlog.get_logger(__name__)

DEFAULT_BASE_URL = "https://api.telegram.org/bot"
SECRET_HEADER = "X-Telegram-Bot-Api-Secret-Token"
SECRET_PATTERN = re.compile(r"[A-Za-z0-9_-]{1,256}")  # what setWebhook accepts
# Only what the handlers use: Telegram then does not even send the rest.
ALLOWED_UPDATES = (Update.MESSAGE, Update.CALLBACK_QUERY)
# Loggers that may print the token: PTB logs its API URL (debug), httpx every request URL.
TOKEN_LOGGERS = ("telegram", "httpx", "httpcore")

TelegramApp = Application[Any, Any, Any, Any, Any, Any]


class Handles(Protocol):
    """The router, as the bot sees it."""

    async def handle(self, event: InboundEvent) -> list[Message]: ...


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
    """Owns the python-telegram-bot `Application`: polling (default) or webhook mode.

    Webhook mode is on when `webhook_url` is given; it then needs `webhook_secret`, which
    Telegram sends in the `X-Telegram-Bot-Api-Secret-Token` header of every request.
    `answer_after` is awaited before a button press is answered (the deliverer's
    `after_pages`: a page the press raised goes out before the answer). The
    webhook server is our own small aiohttp server rather than PTB's `start_webhook`:
    PTB's needs tornado (not installed) and compares the secret with `!=`, not in
    constant time.
    """

    def __init__(
        self,
        router: Handles,
        *,
        token: SecretStr | str,
        base_url: str = DEFAULT_BASE_URL,
        webhook_url: str | None = None,
        webhook_secret: SecretStr | str | None = None,
        webhook_listen: str = "127.0.0.1",
        webhook_port: int = 8443,
        webhook_path: str | None = None,
        transport: TelegramTransport | None = None,
        poll_timeout: float = 10.0,
        answer_after: Callable[[], Awaitable[None]] | None = None,
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
        self._router = router
        self._webhook_url = webhook_url or None  # an empty setting means polling
        self._webhook_secret = secret or ""
        self._webhook_listen = webhook_listen
        self._webhook_port = webhook_port
        # Telegram posts to the URL's path unless a reverse proxy rewrites it.
        self._webhook_path = webhook_path or (urlsplit(webhook_url or "").path or "/")
        self._poll_timeout = poll_timeout
        self._answer_after = answer_after
        self._answers: set[asyncio.Task[None]] = set()
        self._runner: web.AppRunner | None = None
        protect_token(plain)  # before building: the Bot logs its URL on construction
        self.application: TelegramApp = (
            ApplicationBuilder()
            .token(plain)
            .base_url(base_url)
            .base_file_url(file_url_for(base_url))
            .job_queue(None)  # timers are the core's, in the database
            .build()
        )
        self.application.add_handler(
            MessageHandler(filters.UpdateType.MESSAGE & filters.TEXT, self._on_text)
        )
        self.application.add_handler(CallbackQueryHandler(self._on_button))
        self.application.add_error_handler(self._on_error)
        self.transport = transport or TelegramTransport()
        self.transport.bind(self.application.bot)

    @property
    def webhook_mode(self) -> bool:
        return self._webhook_url is not None

    @property
    def webhook_port(self) -> int | None:
        """The port the webhook server listens on (useful with port 0); None if not running."""
        if self._runner is None or not self._runner.addresses:
            return None
        return int(self._runner.addresses[0][1])

    async def start(self) -> None:
        """Connect (getMe), start processing, then poll or serve the webhook."""
        app = self.application
        try:
            await app.initialize()
            await app.start()
            if self.webhook_mode:
                await self._start_webhook()
            else:
                if app.updater is None:
                    raise RuntimeError("the Application was built without an Updater")
                await app.updater.start_polling(
                    timeout=dtm.timedelta(seconds=self._poll_timeout),
                    allowed_updates=list(ALLOWED_UPDATES),
                    # Keep what arrived while we were down: an "Ik pak het op" must count.
                    drop_pending_updates=False,
                    error_callback=self._on_polling_error,
                )
        except BaseException:
            await self.stop()
            raise
        log.info("telegram.started", mode="webhook" if self.webhook_mode else "polling")

    async def stop(self) -> None:
        """Stop receiving, finish the updates already received, and close connections."""
        app = self.application
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None
        if app.updater is not None and app.updater.running:
            await app.updater.stop()
        if app.running:
            await app.stop()
        await self.answered()  # before the connections close
        await app.shutdown()

    async def bot_username(self) -> str:
        """The bot's @username (for deep links), asked from Telegram."""
        me = await self.application.bot.get_me()
        if not me.username:
            raise RuntimeError("Telegram returned a bot without a username")
        return str(me.username)

    # Webhook -------------------------------------------------------------------------------

    async def _start_webhook(self) -> None:
        server = web.Application()
        server.router.add_post(self._webhook_path, self._on_webhook)
        # A webhook request is short: do not hold a shutdown up for aiohttp's default 60 s.
        self._runner = web.AppRunner(
            server, access_log=None, handle_signals=False, shutdown_timeout=5.0
        )
        await self._runner.setup()
        site = web.TCPSite(self._runner, self._webhook_listen, self._webhook_port)
        await site.start()
        assert self._webhook_url is not None
        await self.application.bot.set_webhook(
            url=self._webhook_url,
            secret_token=self._webhook_secret,
            allowed_updates=list(ALLOWED_UPDATES),
        )

    async def _on_webhook(self, request: web.Request) -> web.Response:
        """One update from Telegram: verify the secret (in constant time), queue it."""
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
        await self.application.update_queue.put(update)
        return web.Response(status=200)

    # Handlers: translate at the edge, nothing else ----------------------------------------

    async def _on_text(self, update: Update, _context: ContextTypes.DEFAULT_TYPE) -> None:
        message, user, chat = update.message, update.effective_user, update.effective_chat
        if message is None or message.text is None or user is None or chat is None:
            return
        sender = Sender(
            Origin.TELEGRAM,
            str(user.id),
            event_id=str(update.update_id),
            chat_id=str(chat.id),
            private=chat.type == ChatType.PRIVATE,
        )
        await self._dispatch(parse_text(sender, message.text), chat.id)

    async def _on_button(self, update: Update, _context: ContextTypes.DEFAULT_TYPE) -> None:
        query, user = update.callback_query, update.effective_user
        if query is None or user is None:
            return
        try:
            if query.data is not None:
                await self._press(update, user, query.data)
        finally:
            # Answered (the button stops spinning on the phone) once the press is handled
            # and a page it raised is out, in a task of its own: the page does not share
            # the loop and the connection with the answer's round trip, and the next
            # update (another press, a command) is not held up by either.
            answer = asyncio.create_task(self._answer(query))
            self._answers.add(answer)
            answer.add_done_callback(self._answers.discard)

    async def answered(self) -> None:
        """Wait until every button press so far is answered (at stop; tests)."""
        while self._answers:
            await asyncio.gather(*self._answers, return_exceptions=True)

    async def _answer(self, query: CallbackQuery) -> None:
        try:
            if self._answer_after is not None:
                await self._answer_after()
            await query.answer()
        except TelegramError as error:  # a stale query: the press is handled all the same
            log.info("telegram.answer_failed", error=scrub(str(error), self._token))

    async def _press(self, update: Update, user: User, data: str) -> None:
        chat = update.effective_chat
        # A button on an inline message has no chat: answer in the user's private chat.
        chat_id = chat.id if chat is not None else user.id
        sender = Sender(
            Origin.TELEGRAM,
            str(user.id),
            event_id=str(update.update_id),
            chat_id=str(chat_id),
            private=chat is None or chat.type == ChatType.PRIVATE,
        )
        await self._dispatch(ButtonEvent(sender, data), chat_id)

    async def _dispatch(self, event: InboundEvent, chat_id: int) -> None:
        # What the event queued went to delivery with its commit; only direct replies (to
        # strangers, who have no outbox) are sent from here.
        for message in await self._router.handle(event):
            try:
                await reply(self.application.bot, chat_id, message)
            except DeliveryError as error:  # a stranger's reply is best effort
                log.info("telegram.reply_failed", chat_id=chat_id, error=str(error))

    async def _on_error(self, update: object, context: ContextTypes.DEFAULT_TYPE) -> None:
        error = context.error
        update_id = update.update_id if isinstance(update, Update) else None
        log.error(
            "telegram.handler_error",
            update_id=update_id,
            error=scrub(f"{type(error).__name__}: {error}", self._token),
            # A Telegram error's traceback may hold the request URL: never print it.
            exc_info=None if isinstance(error, TelegramError) else error,
        )

    def _on_polling_error(self, error: TelegramError) -> None:
        # PTB retries polling by itself; we only log (without the token).
        log.warning("telegram.polling_error", error=scrub(str(error), self._token))
