"""A fake Telegram Bot API server on loopback, for driving the real python-telegram-bot.

It serves `/bot<token>/<method>` like api.telegram.org, records every call, keeps each
chat's messages as the person sees them (text after HTML parsing, buttons, edits), queues
updates for getUpdates (a real long poll, woken by `push`), and can be told to fail the
next call(s) for a method or chat with 429, 5xx or 403, shaped as Telegram shapes them.

Optionally it enforces Telegram's flood limits (off by default): at most `limit_overall`
sends in any `limit_window` seconds, at most `limit_per_chat` sends to one chat in that
window, and at most `limit_per_group` sends to one group (a negative chat id) in any
`group_window` seconds (Telegram: about 20 a minute); edits count as sends. A send beyond
any of them is refused with 429 and a `retry_after`, and not counted.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import math
import time
from collections import deque
from dataclasses import dataclass, field
from html.parser import HTMLParser
from typing import Any

from aiohttp import web

TOKEN = "123456789:AAF-fake-token-that-must-never-be-logged"
BOT_ID = 123456789
BOT_USERNAME = "scm_test_bot"
MAX_TEXT = 4096
MAX_CALLBACK_BYTES = 64
# Methods that count against the flood limits: those that post to a chat.
LIMITED_PREFIXES = ("send", "edit", "copy", "forward")
# Parameters that PTB sends JSON-encoded, and those that are integers.
JSON_PARAMS = {"reply_markup", "allowed_updates", "entities", "link_preview_options"}
INT_PARAMS = {"chat_id", "message_id", "offset", "limit", "timeout", "max_connections"}
ALLOWED_TAGS = {"b", "strong", "i", "em", "u", "ins", "s", "strike", "del", "code", "pre", "a"}


class HtmlError(ValueError):
    pass


class _Visible(HTMLParser):
    """Telegram's HTML parse mode, strictly enough to catch unescaped user text."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.parts: list[str] = []
        self.open: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag not in ALLOWED_TAGS:
            raise HtmlError(f'Unsupported start tag "{tag}"')
        self.open.append(tag)

    def handle_endtag(self, tag: str) -> None:
        if not self.open or self.open[-1] != tag:
            raise HtmlError(f'Unexpected end tag "{tag}"')
        self.open.pop()

    def handle_data(self, data: str) -> None:
        self.parts.append(data)


def visible_text(html: str) -> str:
    """What a person sees of an HTML message; HtmlError where Telegram would refuse it."""
    parser = _Visible()
    parser.feed(html)
    parser.close()
    if parser.open:
        raise HtmlError(f'Can\'t find end tag corresponding to start tag "{parser.open[-1]}"')
    return "".join(parser.parts)


@dataclass
class Call:
    method: str
    params: dict[str, Any]
    status: int = 200


@dataclass
class Sent:
    """A bot message in a chat, as it looks now."""

    chat_id: int
    message_id: int
    html: str
    text: str
    reply_markup: dict[str, Any] | None = None
    deleted: bool = False
    edits: int = 0
    document: str | None = None  # the file name, for a sendDocument
    document_content: bytes | None = None  # the bytes, for an uploaded document

    @property
    def buttons(self) -> list[tuple[str, str]]:
        """(label, callback_data) of every inline button, row by row."""
        rows = (self.reply_markup or {}).get("inline_keyboard", [])
        return [(b["text"], b.get("callback_data", "")) for row in rows for b in row]

    @property
    def row_sizes(self) -> list[int]:
        return [len(row) for row in (self.reply_markup or {}).get("inline_keyboard", [])]

    @property
    def labels(self) -> list[str]:
        return [label for label, _ in self.buttons]


@dataclass(frozen=True)
class Upload:
    """A file uploaded with a call (multipart): its name and bytes."""

    filename: str
    content: bytes


@dataclass
class Failure:
    status: int
    method: str | None
    chat_id: int | None
    times: int
    description: str
    retry_after: int | None = None

    def matches(self, method: str, params: dict[str, Any]) -> bool:
        if self.method is not None and self.method != method:
            return False
        if self.chat_id is not None:
            return params.get("chat_id") == self.chat_id
        # Neither given: any call that addresses a chat (never the poller's getUpdates).
        return self.method is not None or "chat_id" in params


@dataclass
class FakeTelegram:
    token: str = TOKEN
    calls: list[Call] = field(default_factory=list)
    chats: dict[int, list[Sent]] = field(default_factory=dict)
    chat_types: dict[int, str] = field(default_factory=dict)
    updates: list[dict[str, Any]] = field(default_factory=list)
    failures: list[Failure] = field(default_factory=list)
    webhook: dict[str, Any] | None = None
    delivered_update_ids: list[int] = field(default_factory=list)
    # Flood limits (None: unlimited), and every call they refused.
    limit_overall: int | None = None
    limit_per_chat: int | None = None
    limit_window: float = 1.0
    limit_per_group: int | None = None
    group_window: float = 60.0
    flood_refused: list[Call] = field(default_factory=list)

    def __post_init__(self) -> None:
        self._sent_all: deque[float] = deque()  # monotonic times of accepted sends
        self._sent_to: dict[int, deque[float]] = {}
        self._sent_to_group: dict[int, deque[float]] = {}
        self._ids = itertools.count(1)
        self._update_ids = itertools.count(10_001)
        self._new = asyncio.Event()
        self._held: dict[int, asyncio.Event] = {}
        self._closing = False
        self._runner: web.AppRunner | None = None
        self.port = 0

    # Lifecycle ----------------------------------------------------------------------------

    async def start(self) -> FakeTelegram:
        app = web.Application()
        app.router.add_route("*", "/{path:.*}", self._handle)
        self._runner = web.AppRunner(
            app, access_log=None, handle_signals=False, shutdown_timeout=1.0
        )
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        self.port = int(self._runner.addresses[0][1])
        return self

    async def close(self) -> None:
        self._closing = True
        self._new.set()  # release long polls still waiting
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    async def __aenter__(self) -> FakeTelegram:
        return await self.start()

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/bot"

    # Inspection -----------------------------------------------------------------------------

    def calls_to(self, method: str) -> list[Call]:
        return [c for c in self.calls if c.method == method]

    def messages(self, chat_id: int) -> list[Sent]:
        """The bot's messages in a chat, oldest first (deleted ones left out)."""
        return [m for m in self.chats.get(chat_id, []) if not m.deleted]

    def texts(self, chat_id: int) -> list[str]:
        return [m.text for m in self.messages(chat_id)]

    def last(self, chat_id: int) -> Sent:
        messages = self.messages(chat_id)
        assert messages, f"chat {chat_id} got nothing"
        return messages[-1]

    def with_button(self, chat_id: int, label: str) -> Sent:
        """The newest message in the chat with a button called `label`."""
        for message in reversed(self.messages(chat_id)):
            if label in message.labels:
                return message
        raise AssertionError(f"no button {label!r} in chat {chat_id}: {self.texts(chat_id)}")

    # Failures on demand ---------------------------------------------------------------------

    def fail(
        self,
        status: int,
        *,
        method: str | None = None,
        chat_id: int | None = None,
        times: int = 1,
        description: str | None = None,
        retry_after: int | None = None,
    ) -> None:
        """Answer the next `times` matching calls with an error."""
        default = {
            429: f"Too Many Requests: retry after {retry_after}",
            403: "Forbidden: bot was blocked by the user",
            400: "Bad Request: chat not found",
        }.get(status, "Internal Server Error" if status >= 500 else "Error")
        self.failures.append(
            Failure(status, method, chat_id, times, description or default, retry_after)
        )

    def rate_limit(self, retry_after: int, **match: Any) -> None:
        self.fail(429, retry_after=retry_after, **match)

    def server_error(self, status: int = 500, **match: Any) -> None:
        self.fail(status, **match)

    def block(self, **match: Any) -> None:
        self.fail(403, **match)

    def hold(self, chat_id: int) -> asyncio.Event:
        """Hold the answer to every sendMessage to `chat_id` (received and recorded, not
        answered) until the returned event is set."""
        return self._held.setdefault(chat_id, asyncio.Event())

    # Updates --------------------------------------------------------------------------------

    def _user(self, user_id: int) -> dict[str, Any]:
        return {"id": user_id, "is_bot": False, "first_name": f"User {user_id}"}

    def _chat(self, chat_id: int) -> dict[str, Any]:
        kind = self.chat_types.get(chat_id, "private" if chat_id > 0 else "group")
        chat: dict[str, Any] = {"id": chat_id, "type": kind}
        if kind == "private":
            chat["first_name"] = f"User {chat_id}"
        else:
            chat["title"] = f"Group {chat_id}"
        return chat

    def text_update(
        self,
        user_id: int,
        text: str,
        *,
        chat_id: int | None = None,
        chat_type: str | None = None,
        update_id: int | None = None,
    ) -> dict[str, Any]:
        """A message update, as Telegram sends it (commands carry a bot_command entity)."""
        chat = user_id if chat_id is None else chat_id
        if chat_type is not None:
            self.chat_types[chat] = chat_type
        message: dict[str, Any] = {
            "message_id": next(self._ids),
            "date": int(time.time()),
            "chat": self._chat(chat),
            "from": self._user(user_id),
            "text": text,
        }
        if text.startswith("/"):
            length = len(text.split(" ", 1)[0].encode("utf-16-le")) // 2
            message["entities"] = [{"type": "bot_command", "offset": 0, "length": length}]
        return {"update_id": update_id or next(self._update_ids), "message": message}

    def callback_update(
        self,
        user_id: int,
        data: str,
        *,
        message: Sent | None = None,
        update_id: int | None = None,
    ) -> dict[str, Any]:
        """A callback query update: `user_id` pressed a button with `data` on `message`."""
        query: dict[str, Any] = {
            "id": f"cq-{next(self._ids)}",
            "from": self._user(user_id),
            "chat_instance": f"ci-{message.chat_id if message else user_id}",
            "data": data,
        }
        if message is not None:
            query["message"] = self._message_json(message)
        return {"update_id": update_id or next(self._update_ids), "callback_query": query}

    def press_update(
        self, user_id: int, label: str, *, chat_id: int | None = None
    ) -> dict[str, Any]:
        """`user_id` presses the newest button called `label` in their (or `chat_id`'s) chat."""
        message = self.with_button(user_id if chat_id is None else chat_id, label)
        data = dict(message.buttons)[label]
        return self.callback_update(user_id, data, message=message)

    def push(self, update: dict[str, Any]) -> dict[str, Any]:
        """Queue an update for getUpdates and wake a waiting long poll."""
        self.updates.append(update)
        self._new.set()
        return update

    def push_text(self, user_id: int, text: str, **kwargs: Any) -> dict[str, Any]:
        return self.push(self.text_update(user_id, text, **kwargs))

    def push_callback(self, user_id: int, data: str, **kwargs: Any) -> dict[str, Any]:
        return self.push(self.callback_update(user_id, data, **kwargs))

    # The server -----------------------------------------------------------------------------

    def _message_json(self, sent: Sent) -> dict[str, Any]:
        data: dict[str, Any] = {
            "message_id": sent.message_id,
            "date": int(time.time()),
            "chat": self._chat(sent.chat_id),
            "from": {"id": BOT_ID, "is_bot": True, "first_name": "SCM", "username": BOT_USERNAME},
            "text": sent.text,
        }
        if sent.reply_markup:
            data["reply_markup"] = sent.reply_markup
        return data

    @staticmethod
    async def _params(request: web.Request) -> dict[str, Any]:
        if request.content_type == "application/json":
            raw: dict[str, Any] = await request.json()
        else:
            raw = dict(await request.post())
        params: dict[str, Any] = {}
        for key, value in raw.items():
            if isinstance(value, str) and key in JSON_PARAMS:
                value = json.loads(value)
            elif isinstance(value, str) and key in INT_PARAMS:
                value = int(value)
            elif isinstance(value, web.FileField):  # an uploaded file
                value = Upload(value.filename, value.file.read())
            elif not isinstance(value, str | int | float | bool | list | dict):
                value = repr(value)
            params[key] = value
        return params

    @staticmethod
    def _error(status: int, description: str, retry_after: int | None = None) -> web.Response:
        body: dict[str, Any] = {"ok": False, "error_code": status, "description": description}
        if retry_after is not None:
            body["parameters"] = {"retry_after": retry_after}
        return web.json_response(body, status=status)

    async def _handle(self, request: web.Request) -> web.Response:
        head, _, method = request.match_info["path"].partition("/")
        if head != f"bot{self.token}":
            return self._error(401, "Unauthorized")
        params = await self._params(request)
        # The call records an uploaded file by its name; the method sees the Upload.
        recorded = {k: v.filename if isinstance(v, Upload) else v for k, v in params.items()}
        call = Call(method, recorded)
        self.calls.append(call)
        held = self._held.get(params.get("chat_id", 0)) if method == "sendMessage" else None
        if held is not None:
            await held.wait()
        for failure in self.failures:
            if failure.times > 0 and failure.matches(method, params):
                failure.times -= 1
                call.status = failure.status
                return self._error(failure.status, failure.description, failure.retry_after)
        retry_after = self._flood(method, params)
        if retry_after is not None:
            call.status = 429
            self.flood_refused.append(call)
            return self._error(429, f"Too Many Requests: retry after {retry_after}", retry_after)
        handler = getattr(self, f"_api_{method.lower()}", None)
        if handler is None:
            call.status = 404
            return self._error(404, "Not Found: method not found")
        try:
            result = await handler(params)
        except ApiError as error:
            call.status = error.status
            return self._error(error.status, error.description)
        return web.json_response({"ok": True, "result": result})

    def _flood(self, method: str, params: dict[str, Any]) -> int | None:
        """Seconds to wait when this send would break a flood limit (it is then refused and
        not counted), else None (it is counted). Windows slide: (now - window, now]."""
        limits = (self.limit_overall, self.limit_per_chat, self.limit_per_group)
        if all(limit is None for limit in limits):
            return None
        if not method.startswith(LIMITED_PREFIXES) or "chat_id" not in params:
            return None
        now = time.monotonic()
        chat_id = params["chat_id"]
        windows: list[tuple[deque[float], int, float]] = []
        if self.limit_overall is not None:
            windows.append((self._sent_all, self.limit_overall, self.limit_window))
        if self.limit_per_chat is not None:
            chat = self._sent_to.setdefault(chat_id, deque())
            windows.append((chat, self.limit_per_chat, self.limit_window))
        if self.limit_per_group is not None and isinstance(chat_id, int) and chat_id < 0:
            group = self._sent_to_group.setdefault(chat_id, deque())
            windows.append((group, self.limit_per_group, self.group_window))
        wait = 0.0
        for times, limit, window in windows:
            while times and times[0] <= now - window:
                times.popleft()
            if len(times) >= limit:
                wait = max(wait, times[0] + window - now)
        if wait > 0:
            return max(1, math.ceil(wait))  # Telegram gives whole seconds
        for times, _, _ in windows:
            times.append(now)
        return None

    async def _api_getme(self, _params: dict[str, Any]) -> Any:
        return {
            "id": BOT_ID,
            "is_bot": True,
            "first_name": "SCM",
            "username": BOT_USERNAME,
            "can_join_groups": True,
            "can_read_all_group_messages": False,
            "supports_inline_queries": False,
        }

    async def _api_getupdates(self, params: dict[str, Any]) -> Any:
        if self.webhook is not None:
            raise ApiError(409, "Conflict: can't use getUpdates method while webhook is active")
        offset = int(params.get("offset") or 0)
        if offset > 0:  # confirms every update before it: Telegram forgets those
            self.updates = [u for u in self.updates if u["update_id"] >= offset]
        limit = int(params.get("limit") or 100)
        timeout = float(params.get("timeout") or 0)
        deadline = asyncio.get_running_loop().time() + timeout
        while not self.updates and not self._closing:
            left = deadline - asyncio.get_running_loop().time()
            if left <= 0:
                break
            self._new.clear()
            try:
                await asyncio.wait_for(self._new.wait(), left)
            except TimeoutError:
                break
        batch = self.updates[:limit]
        self.delivered_update_ids.extend(u["update_id"] for u in batch)
        return batch

    def _store(self, chat_id: int, html: str, markup: dict[str, Any] | None) -> Sent:
        self._check(html, markup)
        sent = Sent(chat_id, next(self._ids), html, visible_text(html), markup or None)
        self.chats.setdefault(chat_id, []).append(sent)
        return sent

    @staticmethod
    def _check(html: str, markup: dict[str, Any] | None) -> None:
        try:
            text = visible_text(html)
        except HtmlError as error:
            raise ApiError(400, f"Bad Request: can't parse entities: {error}") from None
        if not text.strip():
            raise ApiError(400, "Bad Request: message text is empty")
        if len(text.encode("utf-16-le")) // 2 > MAX_TEXT:
            raise ApiError(400, "Bad Request: message is too long")
        for row in (markup or {}).get("inline_keyboard", []):
            for button in row:
                if len(button.get("callback_data", "").encode()) > MAX_CALLBACK_BYTES:
                    raise ApiError(400, "Bad Request: BUTTON_DATA_INVALID")

    def _find(self, params: dict[str, Any], action: str = "edit") -> Sent:
        for sent in self.chats.get(params.get("chat_id", 0), []):
            if sent.message_id == params.get("message_id") and not sent.deleted:
                return sent
        raise ApiError(400, f"Bad Request: message to {action} not found")

    async def _api_sendmessage(self, params: dict[str, Any]) -> Any:
        if params.get("parse_mode") != "HTML":
            raise ApiError(400, "Bad Request: the fake expects parse_mode HTML")
        sent = self._store(params["chat_id"], params["text"], params.get("reply_markup"))
        return self._message_json(sent)

    async def _api_editmessagetext(self, params: dict[str, Any]) -> Any:
        sent = self._find(params)
        markup = params.get("reply_markup") or None  # no markup: Telegram drops the keyboard
        self._check(params["text"], markup)
        if params["text"] == sent.html and markup == sent.reply_markup:
            raise ApiError(
                400,
                "Bad Request: message is not modified: specified new message content and "
                "reply markup are exactly the same as a current content and reply markup "
                "of the message",
            )
        sent.html, sent.text, sent.reply_markup = (
            params["text"],
            visible_text(params["text"]),
            markup,
        )
        sent.edits += 1
        return self._message_json(sent)

    async def _api_editmessagereplymarkup(self, params: dict[str, Any]) -> Any:
        sent = self._find(params)
        markup = params.get("reply_markup") or None
        if markup == sent.reply_markup:
            raise ApiError(400, "Bad Request: message is not modified")
        sent.reply_markup = markup
        sent.edits += 1
        return self._message_json(sent)

    async def _api_deletemessage(self, params: dict[str, Any]) -> Any:
        sent = self._find(params, "delete")
        sent.deleted = True
        return True

    async def _api_answercallbackquery(self, _params: dict[str, Any]) -> Any:
        return True

    async def _api_senddocument(self, params: dict[str, Any]) -> Any:
        caption = str(params.get("caption", ""))
        sent = Sent(params["chat_id"], next(self._ids), caption, caption)
        document = params.get("document")
        if isinstance(document, Upload):
            sent.document, sent.document_content = document.filename, document.content
        else:  # a file_id or URL
            sent.document = str(document)
        self.chats.setdefault(sent.chat_id, []).append(sent)
        data = self._message_json(sent)
        data["document"] = {"file_id": f"doc-{sent.message_id}", "file_unique_id": "u"}
        return data

    async def _api_setwebhook(self, params: dict[str, Any]) -> Any:
        self.webhook = dict(params)
        return True

    async def _api_deletewebhook(self, _params: dict[str, Any]) -> Any:
        self.webhook = None
        return True

    async def _api_getwebhookinfo(self, _params: dict[str, Any]) -> Any:
        return {
            "url": (self.webhook or {}).get("url", ""),
            "has_custom_certificate": False,
            "pending_update_count": len(self.updates),
        }


class ApiError(Exception):
    def __init__(self, status: int, description: str) -> None:
        super().__init__(description)
        self.status = status
        self.description = description
