"""The Telegram transport: delivers the core's messages to people's private chats.

Platform errors are mapped into the core's error tree at once (`map_error`), so the core
never sees a Telegram exception, and never a bot token: messages are scrubbed of it and the
original exception is not chained (httpx errors can carry the request URL, token included).
"""

from __future__ import annotations

import datetime as dtm
from collections.abc import Sequence

import structlog
from telegram import Bot, InputFile
from telegram import Message as TgMessage
from telegram.constants import ParseMode
from telegram.error import (
    BadRequest,
    ChatMigrated,
    Forbidden,
    InvalidToken,
    NetworkError,
    RetryAfter,
    TelegramError,
)

from bots.telegram.render import Chunk, render
from core.errors import (
    DeliveryError,
    PermanentDeliveryError,
    RateLimited,
    TransientDeliveryError,
)
from core.messages import Attachment, Message
from core.model import Person
from core.ports import DeliveryLimits

log = structlog.get_logger(__name__)

NAME = "telegram"
REDACTED = "<token>"
# Telegram allows about one message a second per chat and thirty a second in all. We send
# 29 a second: requests leave evenly spaced but reach Telegram with jitter, and at exactly
# 30 a few land as the 31st in some second and come back as 429 (benchmarks/telegram_fanout).
PER_CHAT_INTERVAL = 1.0
PER_SECOND = 29.0
PER_GROUP_INTERVAL = 3.0  # Telegram allows about 20 messages a minute in a group


def scrub(text: str, token: str | None) -> str:
    """`text` with the bot token replaced, for logs and exception messages."""
    return text.replace(token, REDACTED) if token else text


def _seconds(value: int | float | dtm.timedelta) -> float:
    return value.total_seconds() if isinstance(value, dtm.timedelta) else float(value)


def map_error(error: TelegramError, token: str | None = None) -> DeliveryError:
    """The core's view of a Telegram error (order matters: BadRequest and TimedOut are
    NetworkErrors in python-telegram-bot)."""
    detail = scrub(f"telegram: {type(error).__name__}: {error.message}", token)
    if isinstance(error, RetryAfter):
        return RateLimited(_seconds(error.retry_after))
    if isinstance(error, Forbidden):  # the person blocked the bot or never started it
        return PermanentDeliveryError(detail)
    if isinstance(error, BadRequest | ChatMigrated | InvalidToken):
        return PermanentDeliveryError(detail)
    if isinstance(error, NetworkError):  # timeouts, connection errors, 5xx
        return TransientDeliveryError(detail)
    return TransientDeliveryError(detail)  # an unparsable answer and the like: try again


def is_not_modified(error: TelegramError) -> bool:
    """Telegram's answer to an edit that changes nothing: not an error for us."""
    return isinstance(error, BadRequest) and "message is not modified" in error.message.lower()


def make_ref(chat_id: int, message_ids: Sequence[int]) -> str:
    """`chat:id,id,...`: every message a send produced; the last carries the buttons."""
    return f"{chat_id}:{','.join(str(m) for m in message_ids)}"


def parse_ref(ref: str) -> tuple[int, list[int]]:
    """The chat and message ids in a reference made by `make_ref`; ValueError otherwise."""
    chat, sep, ids = ref.partition(":")
    message_ids = [int(m) for m in ids.split(",")] if ids else []
    if not sep or not message_ids:
        raise ValueError(f"not a telegram message reference: {ref!r}")
    return int(chat), message_ids


async def send_chunks(bot: Bot, chat_id: int, chunks: Sequence[Chunk]) -> list[int]:
    """Send rendered chunks in order; the ids of the messages sent. Raises TelegramError."""
    ids: list[int] = []
    for chunk in chunks:
        sent: TgMessage = await bot.send_message(
            chat_id,
            chunk.html,
            parse_mode=ParseMode.HTML,
            reply_markup=chunk.markup,
        )
        ids.append(sent.message_id)
    return ids


async def send_document(bot: Bot, chat_id: int, attachment: Attachment) -> int:
    """Send a file as a document; the id of the message. Raises TelegramError."""
    sent: TgMessage = await bot.send_document(
        chat_id, InputFile(attachment.content, filename=attachment.filename)
    )
    return sent.message_id


async def reply(bot: Bot, chat_id: int, message: Message) -> list[int]:
    """Send `message` to any chat; the ids of its text messages (not of its file, which
    is never edited). DeliveryError on failure.

    The text goes first, the file after it, so the text introduces the file.
    """
    try:
        chunks = render(message)
    except ValueError as error:
        raise PermanentDeliveryError(f"telegram: cannot render: {error}") from None
    try:
        ids = await send_chunks(bot, chat_id, chunks)
        if message.attachment is not None:
            await send_document(bot, chat_id, message.attachment)
        return ids
    except TelegramError as error:
        raise map_error(error, bot.token) from None


class TelegramTransport:
    """Implements `core.ports.Transport` for Telegram.

    Constructed before the bot (the composition root needs the transport to build the
    core, and the core to build the bot); `TelegramBot` binds its Bot here. Until then a
    send is a transient failure, retried by the core.
    """

    name = NAME

    def __init__(
        self,
        bot: Bot | None = None,
        *,
        per_chat_interval: float = PER_CHAT_INTERVAL,
        per_second: float = PER_SECOND,
    ) -> None:
        self._bot = bot
        # Kept by the core's delivery pacer (it reads `limits`).
        self.limits = DeliveryLimits(
            per_chat_interval=per_chat_interval,
            per_second=per_second,
            per_group_interval=PER_GROUP_INTERVAL if per_chat_interval else None,
        )

    def bind(self, bot: Bot) -> None:
        """Use `bot` (the running Application's) for every send and edit."""
        self._bot = bot

    @property
    def bot(self) -> Bot:
        if self._bot is None:
            raise TransientDeliveryError("telegram: the bot is not started yet")
        return self._bot

    def reaches(self, person: Person) -> bool:
        return person.telegram_user_id is not None

    async def send(self, person: Person, message: Message) -> str:
        """Send to the person's private chat (its id is the user id), or to a configured
        group (its negative chat id); the reference of every text message sent, for `edit`."""
        if person.telegram_user_id is None:
            raise PermanentDeliveryError(f"telegram: {person.key} has no telegram user id")
        chat_id = person.telegram_user_id
        ids = await reply(self.bot, chat_id, message)
        return make_ref(chat_id, ids)

    async def edit(self, person: Person, ref: str, message: Message) -> None:
        """Replace what a `send` showed. The number of messages stays: the last (with the
        buttons) gets the new message's last chunk; earlier messages get the earlier
        chunks, surplus old ones are deleted, and a message that needs more chunks than
        were sent is cut short on the last one."""
        bot = self.bot
        try:
            chat_id, ids = parse_ref(ref)
            chunks = render(message, max_chunks=len(ids))
        except ValueError as error:
            raise PermanentDeliveryError(f"telegram: cannot edit: {error}") from None
        plan = list(zip(ids[: len(chunks) - 1], chunks[:-1], strict=True))
        plan.append((ids[-1], chunks[-1]))
        surplus = ids[len(chunks) - 1 : -1]
        try:
            for message_id, chunk in plan:
                await self._edit_one(bot, chat_id, message_id, chunk)
            for message_id in surplus:
                await self._delete_one(bot, chat_id, message_id)
        except TelegramError as error:
            raise map_error(error, bot.token) from None

    @staticmethod
    async def _edit_one(bot: Bot, chat_id: int, message_id: int, chunk: Chunk) -> None:
        try:
            await bot.edit_message_text(
                chunk.html,
                chat_id=chat_id,
                message_id=message_id,
                parse_mode=ParseMode.HTML,
                reply_markup=chunk.markup,
            )
        except BadRequest as error:
            if not is_not_modified(error):
                raise
            log.debug("telegram.edit_not_modified", chat_id=chat_id, message_id=message_id)

    @staticmethod
    async def _delete_one(bot: Bot, chat_id: int, message_id: int) -> None:
        # Already deleted (a retried edit) or too old to delete: the edit itself is done.
        try:
            await bot.delete_message(chat_id, message_id)
        except BadRequest as error:
            log.info(
                "telegram.delete_failed",
                chat_id=chat_id,
                message_id=message_id,
                error=error.message,
            )
