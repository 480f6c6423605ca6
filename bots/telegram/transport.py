"""The Telegram transport: delivers the core's messages to people's private chats.

Platform errors are mapped into the core's error tree at once (`map_error`), so the core
never sees a Telegram exception, and never a bot token: messages are scrubbed of it and the
original exception is not chained (httpx errors can carry the request URL, token included).
"""

from __future__ import annotations

import datetime as dtm
import html
from collections.abc import Sequence

import structlog
from telegram import Bot, InputFile
from telegram import Message as TgMessage
from telegram.constants import ParseMode
from telegram.error import (
    BadRequest,
    ChatMigrated,
    Forbidden,
    RetryAfter,
    TelegramError,
    TimedOut,
)

from bots.telegram.render import Chunk, render
from core.errors import (
    DeliveryError,
    MessageRejected,
    OutcomeUnknown,
    PlatformError,
    RateLimited,
    RecipientUnreachable,
)
from core.messages import Attachment, Message
from core.model import Person
from core.ports import DeliveryLimits, Part

log = structlog.get_logger(__name__)

NAME = "telegram"
REDACTED = "<token>"
# Telegram allows about one message a second per chat and thirty a second in all. We send
# 29 a second: requests leave evenly spaced but reach Telegram with jitter, and at exactly
# 30 a few land as the 31st in some second and come back as 429 (benchmarks/telegram_fanout).
PER_CHAT_INTERVAL = 1.0
PER_SECOND = 29.0
PER_GROUP_INTERVAL = 3.0  # Telegram allows about 20 messages a minute in a group
# A 400 with these words is about the chat, not the message: the recipient is unreachable.
UNREACHABLE_CHAT = ("chat not found", "user not found", "peer_id_invalid", "group chat was")


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
    if isinstance(error, Forbidden | ChatMigrated):  # blocked the bot, never started it
        return RecipientUnreachable(detail)
    if isinstance(error, BadRequest):
        if any(text in error.message.lower() for text in UNREACHABLE_CHAT):
            return RecipientUnreachable(detail)
        return MessageRejected(detail)
    if isinstance(error, TimedOut):  # the request may have reached Telegram
        return OutcomeUnknown(detail)
    # InvalidToken (401), Conflict, network errors, 5xx, an unparsable answer: our side or
    # Telegram's is failing, not the person.
    return PlatformError(detail)


def is_not_modified(error: TelegramError) -> bool:
    """Telegram's answer to an edit that changes nothing: not an error for us."""
    return isinstance(error, BadRequest) and "message is not modified" in error.message.lower()


def make_ref(chat_id: int, message_ids: Sequence[int]) -> str:
    """`chat:id,id,...`: the messages a send produced; edits reach the last."""
    return f"{chat_id}:{','.join(str(m) for m in message_ids)}"


def parse_ref(ref: str) -> tuple[int, list[int]]:
    """The chat and message ids in a reference made by `make_ref`; ValueError otherwise."""
    chat, sep, ids = ref.partition(":")
    message_ids = [int(m) for m in ids.split(",")] if ids else []
    if not sep or not message_ids:
        raise ValueError(f"not a telegram message reference: {ref!r}")
    return int(chat), message_ids


def _chunks(message: Message, *, plain: bool = False) -> list[Chunk]:
    if message.file_only:
        return []  # the document alone
    try:
        return render(message, plain=plain)
    except ValueError as error:
        raise MessageRejected(f"telegram: cannot render: {error}") from None


async def send_chunk(bot: Bot, chat_id: int, chunk: Chunk, note: str | None = None) -> int:
    """Send one rendered chunk, `note` as a line in front; the id of the message sent.
    Raises TelegramError."""
    text = chunk.html
    if note:
        text = f"{note if chunk.plain else html.escape(note, quote=False)}\n{text}"
    sent: TgMessage = await bot.send_message(
        chat_id,
        text,
        parse_mode=None if chunk.plain else ParseMode.HTML,
        reply_markup=chunk.markup,
    )
    return sent.message_id


async def send_document(
    bot: Bot, chat_id: int, attachment: Attachment, note: str | None = None
) -> int:
    """Send a file as a document; the id of the message. Raises TelegramError."""
    sent: TgMessage = await bot.send_document(
        chat_id, InputFile(attachment.content, filename=attachment.filename), caption=note
    )
    return sent.message_id


async def reply(bot: Bot, chat_id: int, message: Message) -> list[int]:
    """Send `message` to any chat, best effort (a stranger's answer, not from the outbox);
    the ids of its text messages. DeliveryError on failure."""
    try:
        ids = [await send_chunk(bot, chat_id, chunk) for chunk in _chunks(message)]
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
            raise PlatformError("telegram: the bot is not started yet")
        return self._bot

    def reaches(self, person: Person) -> bool:
        return person.telegram_user_id is not None

    def parts(self, message: Message) -> list[Part]:
        """One part per Telegram message: the text's chunks (the last one carries the
        buttons and is the one edits reach), then the file."""
        count = len(_chunks(message))
        parts = [Part(index, editable=index == count - 1) for index in range(count)]
        if message.attachment is not None:
            parts.append(Part(count, editable=False))
        return parts

    async def send_part(
        self,
        person: Person,
        message: Message,
        part: int,
        *,
        note: str | None = None,
        plain: bool = False,
    ) -> str:
        """Send one part to the person's private chat (its id is the user id), or to a
        configured group (its negative chat id); the reference of the message sent."""
        if person.telegram_user_id is None:
            raise RecipientUnreachable(f"telegram: {person.key} has no telegram user id")
        chat_id = person.telegram_user_id
        bot = self.bot
        chunks = _chunks(message, plain=plain)
        try:
            if part < len(chunks):
                message_id = await send_chunk(bot, chat_id, chunks[part], note)
            elif message.attachment is not None and part == len(chunks):
                message_id = await send_document(bot, chat_id, message.attachment, note)
            else:
                raise MessageRejected(f"telegram: the message has no part {part}")
        except TelegramError as error:
            raise map_error(error, bot.token) from None
        return make_ref(chat_id, [message_id])

    async def edit(self, person: Person, ref: str, message: Message) -> None:
        """Replace the text of the message `ref` names (the last, with the buttons, when
        it names several), cut short to one Telegram message."""
        bot = self.bot
        try:
            chat_id, ids = parse_ref(ref)
            (chunk,) = render(message, max_chunks=1)
        except ValueError as error:
            raise MessageRejected(f"telegram: cannot edit: {error}") from None
        try:
            await bot.edit_message_text(
                chunk.html,
                chat_id=chat_id,
                message_id=ids[-1],
                parse_mode=ParseMode.HTML,
                reply_markup=chunk.markup,
            )
        except BadRequest as error:
            if not is_not_modified(error):
                raise map_error(error, bot.token) from None
            log.debug("telegram.edit_not_modified", chat_id=chat_id, message_id=ids[-1])
        except TelegramError as error:
            raise map_error(error, bot.token) from None
