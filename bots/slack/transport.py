"""The Slack transport: delivers core messages as Block Kit DMs through the Web API, with
a message's file (the analyse PDF, an .ics roster) uploaded into the same DM after it.

Every Slack failure is mapped into the core's error tree here, so the deliverer can tell
"wait and retry" (429, 5xx, timeouts) from "give up" (the account is gone).
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable
from typing import Any

import aiohttp
import structlog
from pydantic import SecretStr
from slack_sdk.errors import SlackApiError, SlackClientError
from slack_sdk.web.async_client import AsyncWebClient
from slack_sdk.web.async_slack_response import AsyncSlackResponse

from bots.slack.render import MAX_BLOCKS, SlackMessage, escape_mrkdwn, plain_text, render_message
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

SLACK = "slack"
DEFAULT_API_URL = "https://slack.com/api/"

# The person, the DM or the channel cannot be reached (for this message).
UNREACHABLE_ERRORS = frozenset(
    {
        "account_inactive",
        "user_not_found",
        "user_disabled",
        "users_not_found",
        "cannot_dm_bot",
        "channel_not_found",
        "not_in_channel",
        "is_archived",
        "user_not_in_channel",
    }
)
# This message is refused: retrying it cannot help.
REJECTED_ERRORS = frozenset(
    {
        "message_not_found",
        "cant_update_message",
        "edit_window_closed",
        "invalid_blocks",
        "invalid_blocks_format",
        "msg_too_long",
        "no_text",
        "too_many_attachments",
        "invalid_arguments",
    }
)
# Our own configuration is wrong (token, scopes): every message fails alike, so keep them
# queued for when an operator fixes it, and say so loudly.
CONFIGURATION_ERRORS = frozenset(
    {
        "not_authed",
        "invalid_auth",
        "token_revoked",
        "token_expired",
        "missing_scope",
        "no_permission",
        "not_allowed_token_type",
        "ekm_access_denied",
    }
)


def secret(value: SecretStr | str) -> str:
    """The plain value of a secret, taken out of its wrapper only where it is used."""
    return value.get_secret_value() if isinstance(value, SecretStr) else value


def _header(headers: Any, name: str) -> str | None:
    for key, value in dict(headers or {}).items():
        if str(key).lower() == name.lower():
            return str(value[0] if isinstance(value, list | tuple) else value)
    return None


def _retry_after(headers: Any) -> float:
    value = _header(headers, "Retry-After")
    try:
        seconds = float(value) if value is not None else 1.0
    except ValueError:
        seconds = 1.0
    return max(seconds, 0.0)


def delivery_error(error: Exception) -> DeliveryError:
    """Map a Slack or network failure into the core's error tree."""
    if isinstance(error, DeliveryError):
        return error
    if isinstance(error, SlackApiError):
        response = error.response
        # An AsyncSlackResponse has `status_code`; on an unreadable body slack_sdk hands over
        # the raw aiohttp response, which has `status`.
        status = int(getattr(response, "status_code", None) or getattr(response, "status", 0) or 0)
        code = ""
        if isinstance(getattr(response, "data", None), dict):
            code = str(response.data.get("error") or "")
        if status == 429 or code == "ratelimited":
            return RateLimited(_retry_after(getattr(response, "headers", None)))
        if status >= 500:
            return PlatformError(f"slack: HTTP {status} {code}".strip())
        if code in UNREACHABLE_ERRORS:
            return RecipientUnreachable(f"slack: {code}")
        if code in REJECTED_ERRORS:
            return MessageRejected(f"slack: {code}")
        if code in CONFIGURATION_ERRORS:
            log.error("slack.configuration_error", error=code)
        return PlatformError(f"slack: {code or f'HTTP {status}'}")
    detail = f": {error}" if str(error) else ""
    if isinstance(error, TimeoutError):  # the request may have reached Slack
        return OutcomeUnknown(f"slack: {type(error).__name__}{detail}")
    if isinstance(error, aiohttp.ClientError | OSError | SlackClientError):
        return PlatformError(f"slack: {type(error).__name__}{detail}")
    raise error  # a bug of ours, not a delivery problem: let it surface


def upload_error(status: int, headers: Any) -> DeliveryError:
    """Map a failed POST of a file's bytes to its upload URL (not a Web API call)."""
    if status == 429:
        return RateLimited(_retry_after(headers))
    if status == 413:
        return MessageRejected("slack: the file is too large to upload")
    # Anything else, an expired upload URL included: the next try asks for a new URL.
    return PlatformError(f"slack: file upload HTTP {status}")


async def call(request: Awaitable[AsyncSlackResponse]) -> AsyncSlackResponse:
    """Await one Web API call, raising only errors from the core's tree."""
    try:
        return await request
    except asyncio.CancelledError:
        raise
    except Exception as error:
        raise delivery_error(error) from error


def encode_ref(channel: str, timestamps: list[str]) -> str:
    """A delivery reference: the DM channel and the ts of each Slack message sent."""
    return f"{channel}:{','.join(timestamps)}"


def decode_ref(ref: str) -> tuple[str, list[str]]:
    channel, _, rest = ref.partition(":")
    timestamps = [ts for ts in rest.split(",") if ts]
    if not channel or not timestamps:
        raise MessageRejected(f"slack: not a Slack message reference: {ref!r}")
    return channel, timestamps


class SlackApi:
    """The few Web API calls scm-bot makes, with DM channels cached per user."""

    def __init__(self, client: AsyncWebClient) -> None:
        self.client = client
        self._dms: dict[str, str] = {}

    async def open_dm(self, user_id: str) -> str:
        channel = self._dms.get(user_id)
        if channel is None:
            response = await call(self.client.conversations_open(users=user_id))
            channel = str(response["channel"]["id"])
            self._dms[user_id] = channel
        return channel

    def forget_dm(self, user_id: str) -> None:
        self._dms.pop(user_id, None)

    async def post(self, channel: str, part: SlackMessage) -> str:
        response = await call(
            self.client.chat_postMessage(
                channel=channel,
                text=part.text,
                blocks=list(part.blocks),
                mrkdwn=False,  # the fallback text is shown as typed
                unfurl_links=False,
                unfurl_media=False,
            )
        )
        return str(response["ts"])

    async def update(self, channel: str, ts: str, part: SlackMessage) -> None:
        await call(
            self.client.chat_update(
                channel=channel, ts=ts, text=part.text, blocks=list(part.blocks)
            )
        )

    async def delete(self, channel: str, ts: str) -> None:
        await call(self.client.chat_delete(channel=channel, ts=ts))

    async def post_ephemeral(self, channel: str, user_id: str, part: SlackMessage) -> None:
        await call(
            self.client.chat_postEphemeral(
                channel=channel, user=user_id, text=part.text, blocks=list(part.blocks)
            )
        )

    async def upload(self, attachment: Attachment) -> str:
        """Upload a file without sharing it anywhere yet; its file id, for `share`.

        Steps 1 and 2 of Slack's external upload (files.getUploadURLExternal, then a POST of
        the bytes to the URL it returns); nobody sees the file until it is shared.
        """
        response = await call(
            self.client.files_getUploadURLExternal(
                filename=attachment.filename, length=len(attachment.content)
            )
        )
        await self._post_bytes(str(response["upload_url"]), attachment.content)
        return str(response["file_id"])

    async def share(self, channel: str, file_id: str, title: str) -> None:
        """Step 3: files.completeUploadExternal, which shows the file in `channel`."""
        await call(
            self.client.files_completeUploadExternal(
                files=[{"id": file_id, "title": title}], channel_id=channel
            )
        )

    async def _post_bytes(self, url: str, content: bytes) -> None:
        # The upload URL is not a Web API method: no token, a plain-text answer. Sent as
        # slack_sdk's files_upload_v2 sends it, with the client's own session and settings.
        client = self.client
        options: dict[str, Any] = {"timeout": aiohttp.ClientTimeout(total=client.timeout)}
        if client.proxy:
            options["proxy"] = client.proxy
        if client.ssl is not None:
            options["ssl"] = client.ssl
        try:
            if client.session is not None and not client.session.closed:
                status, headers = await _post(client.session, url, content, options)
            else:
                async with aiohttp.ClientSession() as session:
                    status, headers = await _post(session, url, content, options)
        except asyncio.CancelledError:
            raise
        except Exception as error:
            raise delivery_error(error) from error
        if status != 200:
            raise upload_error(status, headers)


async def _post(
    session: aiohttp.ClientSession,
    url: str,
    content: bytes,
    options: dict[str, Any],
) -> tuple[int, Any]:
    async with session.post(url, data=content, **options) as response:
        await response.read()
        return response.status, response.headers


class SlackTransport:
    """Delivers messages to people with a `slack_user_id`, in their DM with the bot.

    A message too long for one Slack message is sent as several; the reference lists them
    all, so an edit updates each. A message's file appears in the DM after its text; it is
    not part of the reference, and an edit leaves it as it is.
    """

    name = SLACK

    def __init__(
        self,
        token: SecretStr | str,
        *,
        base_url: str = DEFAULT_API_URL,
        timeout: float = 10.0,
        per_chat_interval: float = 1.0,  # Slack: about one message per second per channel
        per_second: float = 20.0,
        client: AsyncWebClient | None = None,
    ) -> None:
        # No retry handlers: the deliverer retries with backoff and honours Retry-After.
        self.client = client or AsyncWebClient(
            token=secret(token),
            base_url=base_url,
            timeout=timeout,  # type: ignore[arg-type]  # aiohttp takes float seconds
            retry_handlers=[],
        )
        self.api = SlackApi(self.client)
        self.limits = DeliveryLimits(per_chat_interval=per_chat_interval, per_second=per_second)

    def __repr__(self) -> str:  # never show the token
        return f"SlackTransport(base_url={self.client.base_url!r})"

    def reaches(self, person: Person) -> bool:
        return bool(person.slack_user_id)

    def _user(self, person: Person) -> str:
        if not person.slack_user_id:
            raise RecipientUnreachable(f"slack: {person.key} has no Slack user id")
        return person.slack_user_id

    def parts(self, message: Message) -> list[Part]:
        """One part per Slack message of the text (the last has the buttons and is the one
        edits reach), then the file."""
        count = len(_pages(message))
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
    ) -> str | None:
        """Post one part in the person's DM (a configured chat is a channel already)."""
        user = self._user(person)
        channel = user if person.is_chat else await self.api.open_dm(user)
        pages = _pages(message)
        try:
            if part < len(pages):
                page = pages[part]
                if plain:  # the fallback for a refused page: its text alone, no blocks
                    page = SlackMessage(page.text, ())
                if note:
                    page = SlackMessage(f"{escape_mrkdwn(note)}\n{page.text}", page.blocks)
                    if page.blocks and len(page.blocks) < MAX_BLOCKS:
                        note_block = {"type": "section", "text": plain_text(note)}
                        page = SlackMessage(page.text, (note_block, *page.blocks))
                return encode_ref(channel, [await self.api.post(channel, page)])
            file = message.attachment
            if file is None or part != len(pages):
                raise MessageRejected(f"slack: the message has no part {part}")
            # Uploading shows nothing; sharing shows the file in the DM.
            file_id = await self.api.upload(file)
            await self.api.share(channel, file_id, file.filename)
            return None
        except RecipientUnreachable:
            self.api.forget_dm(user)  # the DM may be gone; open it afresh next time
            raise

    async def edit(self, person: Person, ref: str, message: Message) -> None:
        """Replace the Slack message `ref` names (the last one, with the buttons)."""
        channel, timestamps = decode_ref(ref)
        pages = render_message(message)
        await self.api.update(channel, timestamps[-1], pages[-1])


def _pages(message: Message) -> list[SlackMessage]:
    """The Slack messages of the text; none for a file alone (`Message.file_only`)."""
    return [] if message.file_only else render_message(message)
