"""A fake Slack on loopback: the few Web API methods scm-bot uses, and Socket Mode.

It records every call, keeps each channel's messages as they look after updates, and can
be told to fail the next call(s) of a method the way Slack does: HTTP 429 with Retry-After,
a 5xx, `{"ok": false, "error": "account_inactive"}`, or no answer at all.

Files go as on Slack: files.getUploadURLExternal hands out an upload URL on this fake, the
bytes are POSTed there (fail it with the method name "upload"), and
files.completeUploadExternal shares the file in a channel, where `files` records it.

Optionally it enforces Slack's posting limit (off by default): at most `limit_per_channel`
messages in any `limit_window` seconds in one channel (Slack: about one a second), posts,
updates and file shares alike; one beyond it is refused with HTTP 429 and `Retry-After`,
recorded in `flood_refused`, and not counted.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import math
import time
from collections import deque
from dataclasses import dataclass, field
from typing import Any

from aiohttp import WSMsgType, web

BOT_TOKEN = "xoxb-test-bot-token-not-real"
APP_TOKEN = "xapp-test-app-token-not-real"
BOT_USER_ID = "UBOTSCM01"
# Methods that post into a channel, and the parameter that names it: these count against
# the per-channel limit.
POSTING = {
    "chat.postMessage": "channel",
    "chat.update": "channel",
    "chat.postEphemeral": "channel",
    "files.completeUploadExternal": "channel_id",
}


@dataclass
class Call:
    method: str
    params: dict[str, Any]
    token: str | None


@dataclass
class Posted:
    """A message as the person sees it now."""

    channel: str
    ts: str
    text: str
    blocks: list[dict[str, Any]]
    user: str | None = None  # for an ephemeral message: who sees it
    updates: int = 0

    def section_texts(self) -> list[str]:
        return [b["text"]["text"] for b in self.blocks if b["type"] == "section"]

    def body(self) -> str:
        """Header and sections, as the person reads them."""
        parts = [b["text"]["text"] for b in self.blocks if b["type"] in ("header", "section")]
        return "\n".join(parts)

    def buttons(self) -> list[dict[str, Any]]:
        return [e for b in self.blocks if b["type"] == "actions" for e in b["elements"]]

    def button_value(self, label: str) -> str | None:
        for element in self.buttons():
            if element["text"]["text"] == label:
                return str(element["value"])
        return None


@dataclass
class Uploaded:
    """A file shared in a channel."""

    channel: str
    ts: str  # from the same sequence as message timestamps: orders files among messages
    file_id: str
    filename: str
    title: str
    content: bytes


@dataclass
class _Upload:
    """A file between files.getUploadURLExternal and files.completeUploadExternal."""

    filename: str
    length: int
    content: bytes | None = None


@dataclass
class Failure:
    method: str
    status: int = 200
    error: str | None = None
    retry_after: int | None = None
    hang: bool = False


@dataclass
class FakeSlack:
    bot_token: str = BOT_TOKEN
    app_token: str = APP_TOKEN
    calls: list[Call] = field(default_factory=list)
    channels: dict[str, list[Posted]] = field(default_factory=dict)
    ephemeral: list[Posted] = field(default_factory=list)
    failures: list[Failure] = field(default_factory=list)
    acks: dict[str, dict[str, Any]] = field(default_factory=dict)
    files: dict[str, list[Uploaded]] = field(default_factory=dict)  # per channel, as shared
    # The per-channel posting limit (None: unlimited), and every call it refused.
    limit_per_channel: int | None = None
    limit_window: float = 1.0
    flood_refused: list[Call] = field(default_factory=list)

    def __post_init__(self) -> None:
        self._runner: web.AppRunner | None = None
        self._ts = itertools.count(1)
        self._file_ids = itertools.count(1)
        self._uploads: dict[str, _Upload] = {}
        self._release = asyncio.Event()  # lets hanging requests finish at close
        self._sockets: list[web.WebSocketResponse] = []
        self._socket_ready = asyncio.Event()
        self._ack_arrived = asyncio.Condition()
        self._posted_in: dict[str, deque[float]] = {}  # monotonic times of counted posts
        self.port = 0

    # -- life cycle -------------------------------------------------------------------------

    async def start(self) -> FakeSlack:
        app = web.Application()
        app.router.add_post("/api/{method}", self._api)
        app.router.add_post("/upload/{file_id}", self._upload)
        app.router.add_get("/socket", self._socket)
        self._runner = web.AppRunner(app, shutdown_timeout=1.0)
        await self._runner.setup()
        await web.TCPSite(self._runner, "127.0.0.1", 0).start()
        self.port = int(self._runner.addresses[0][1])
        return self

    async def close(self) -> None:
        self._release.set()
        for socket in self._sockets:
            await socket.close()
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    async def __aenter__(self) -> FakeSlack:
        return await self.start()

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/api/"

    # -- steering ---------------------------------------------------------------------------

    def fail(
        self,
        method: str,
        *,
        status: int = 200,
        error: str | None = None,
        retry_after: int | None = None,
        times: int = 1,
    ) -> None:
        """Make the next `times` calls of `method` fail."""
        self.failures.extend(Failure(method, status, error, retry_after) for _ in range(times))

    def hang(self, method: str) -> None:
        """Never answer the next call of `method` (until the fake is closed)."""
        self.failures.append(Failure(method, hang=True))

    # -- inspection -------------------------------------------------------------------------

    @staticmethod
    def dm_channel(user_id: str) -> str:
        return "D" + user_id[1:]

    def dm(self, user_id: str) -> list[Posted]:
        """What the bot posted in its DM with a user (after updates)."""
        return self.channels.get(self.dm_channel(user_id), [])

    def uploads(self, user_id: str) -> list[Uploaded]:
        """The files shared in the bot's DM with a user."""
        return self.files.get(self.dm_channel(user_id), [])

    def methods(self) -> list[str]:
        return [c.method for c in self.calls]

    def calls_of(self, method: str) -> list[Call]:
        return [c for c in self.calls if c.method == method]

    def find(self, user_id: str, text: str) -> Posted:
        """The newest message in a user's DM whose text contains `text`."""
        for posted in reversed(self.dm(user_id)):
            if text in posted.body():
                return posted
        raise AssertionError(
            f"{text!r} not in DM of {user_id}: {[p.body() for p in self.dm(user_id)]}"
        )

    # -- the Web API ------------------------------------------------------------------------

    async def _api(self, request: web.Request) -> web.StreamResponse:
        method = request.match_info["method"]
        if request.content_type == "application/json":
            params: dict[str, Any] = dict(await request.json())
        else:
            params = dict(await request.post())
        params.update(request.query)
        auth = request.headers.get("Authorization", "")
        token = auth.removeprefix("Bearer ") if auth.startswith("Bearer ") else None
        self.calls.append(Call(method, params, token))

        for failure in self.failures:
            if failure.method == method:
                self.failures.remove(failure)
                return await self._failure(failure)

        expected = self.app_token if method == "apps.connections.open" else self.bot_token
        if token != expected:
            return _error("invalid_auth")
        retry_after = self._flood(method, params)
        if retry_after is not None:
            self.flood_refused.append(self.calls[-1])
            return web.json_response(
                {"ok": False, "error": "ratelimited"},
                status=429,
                headers={"Retry-After": str(retry_after)},
            )
        handler = getattr(self, "_" + method.replace(".", "_"), None)
        if handler is None:
            return _error("unknown_method")
        try:
            result: dict[str, Any] = handler(params)
        except _Answer as answer:
            return answer.response
        return web.json_response({"ok": True, **result})

    def _flood(self, method: str, params: dict[str, Any]) -> int | None:
        """Seconds to wait when this post would break the per-channel limit (it is then
        refused and not counted), else None (it is counted). The window slides."""
        name = POSTING.get(method)
        if self.limit_per_channel is None or name is None or not params.get(name):
            return None
        now = time.monotonic()
        times = self._posted_in.setdefault(str(params[name]), deque())
        while times and times[0] <= now - self.limit_window:
            times.popleft()
        if len(times) >= self.limit_per_channel:
            return max(1, math.ceil(times[0] + self.limit_window - now))
        times.append(now)
        return None

    async def _failure(self, failure: Failure) -> web.StreamResponse:
        if failure.hang:
            await self._release.wait()
            return web.Response(status=503)
        if failure.status == 429:
            return web.json_response(
                {"ok": False, "error": "ratelimited"},
                status=429,
                headers={"Retry-After": str(failure.retry_after or 1)},
            )
        if failure.status >= 500:
            return web.Response(status=failure.status, text="upstream unavailable")
        return _error(failure.error or "fatal_error", failure.status)

    def _next_ts(self) -> str:
        n = next(self._ts)
        return f"{1_790_000_000 + n}.{n:06d}"

    def _auth_test(self, params: dict[str, Any]) -> dict[str, Any]:
        return {
            "url": "https://scm-test.slack.com/",
            "team": "SCM Test",
            "team_id": "T0SCMTEST",
            "user": "scm-bot",
            "user_id": BOT_USER_ID,
            "bot_id": "BSCMBOT01",
        }

    def _conversations_open(self, params: dict[str, Any]) -> dict[str, Any]:
        return {"channel": {"id": self.dm_channel(str(params["users"]))}}

    def _post(self, params: dict[str, Any], user: str | None = None) -> Posted:
        blocks = params.get("blocks") or []
        if isinstance(blocks, str):
            blocks = json.loads(blocks)
        return Posted(
            str(params["channel"]), self._next_ts(), str(params.get("text", "")), blocks, user
        )

    def _chat_postMessage(self, params: dict[str, Any]) -> dict[str, Any]:
        posted = self._post(params)
        self.channels.setdefault(posted.channel, []).append(posted)
        return {"channel": posted.channel, "ts": posted.ts}

    def _chat_postEphemeral(self, params: dict[str, Any]) -> dict[str, Any]:
        posted = self._post(params, user=str(params["user"]))
        self.ephemeral.append(posted)
        return {"message_ts": posted.ts}

    def _chat_update(self, params: dict[str, Any]) -> dict[str, Any]:
        for posted in self.channels.get(str(params["channel"]), []):
            if posted.ts == params["ts"]:
                new = self._post(params)
                posted.text, posted.blocks = new.text, new.blocks
                posted.updates += 1
                return {"channel": posted.channel, "ts": posted.ts}
        raise _Answer(_error("message_not_found"))

    def _chat_delete(self, params: dict[str, Any]) -> dict[str, Any]:
        messages = self.channels.get(str(params["channel"]), [])
        for posted in messages:
            if posted.ts == params["ts"]:
                messages.remove(posted)
                return {"channel": posted.channel, "ts": posted.ts}
        raise _Answer(_error("message_not_found"))

    def _files_getUploadURLExternal(self, params: dict[str, Any]) -> dict[str, Any]:
        filename = str(params.get("filename") or "")
        length = str(params.get("length") or "")
        if not filename or not length.isdigit() or int(length) == 0:
            raise _Answer(_error("invalid_arguments"))
        file_id = f"F{next(self._file_ids):08d}"
        self._uploads[file_id] = _Upload(filename, int(length))
        return {"upload_url": f"http://127.0.0.1:{self.port}/upload/{file_id}", "file_id": file_id}

    def _files_completeUploadExternal(self, params: dict[str, Any]) -> dict[str, Any]:
        try:
            files = json.loads(str(params["files"]))
        except (KeyError, ValueError):
            raise _Answer(_error("invalid_arguments")) from None
        channel = params.get("channel_id") or params.get("channels")
        completed: list[dict[str, Any]] = []
        for entry in files:
            upload = self._uploads.get(str(entry.get("id")))
            if upload is None or upload.content is None:
                raise _Answer(_error("file_not_found"))
        for entry in files:
            file_id = str(entry["id"])
            upload = self._uploads.pop(file_id)
            assert upload.content is not None
            title = str(entry.get("title") or upload.filename)
            if channel:  # without a channel the file stays private: nobody sees it
                shared = Uploaded(
                    str(channel), self._next_ts(), file_id, upload.filename, title, upload.content
                )
                self.files.setdefault(shared.channel, []).append(shared)
            completed.append({"id": file_id, "name": upload.filename, "title": title})
        return {"files": completed}

    async def _upload(self, request: web.Request) -> web.StreamResponse:
        """The upload URL: takes the file's bytes (raw, as slack_sdk sends them)."""
        file_id = request.match_info["file_id"]
        content = await request.read()
        self.calls.append(Call("upload", {"file_id": file_id, "length": len(content)}, None))
        for failure in self.failures:
            if failure.method == "upload":
                self.failures.remove(failure)
                return await self._failure(failure)
        upload = self._uploads.get(file_id)
        if upload is None or upload.content is not None:
            return web.Response(status=404, text="upload URL unknown or used")
        if len(content) != upload.length:
            return web.Response(status=400, text="length does not match")
        upload.content = content
        return web.Response(text=f"OK - {len(content)}")

    def _apps_connections_open(self, params: dict[str, Any]) -> dict[str, Any]:
        return {"url": f"ws://127.0.0.1:{self.port}/socket"}

    # -- Socket Mode ------------------------------------------------------------------------

    async def _socket(self, request: web.Request) -> web.WebSocketResponse:
        socket = web.WebSocketResponse()
        await socket.prepare(request)
        self._sockets.append(socket)
        await socket.send_json({"type": "hello", "num_connections": 1})
        self._socket_ready.set()
        async for message in socket:
            if message.type == WSMsgType.TEXT:
                data = json.loads(message.data)
                async with self._ack_arrived:
                    self.acks[str(data.get("envelope_id"))] = data
                    self._ack_arrived.notify_all()
        return socket

    async def push(self, envelope_type: str, payload: dict[str, Any], *, retry: int = 0) -> str:
        """Send an envelope over Socket Mode, as Slack does; returns its envelope id."""
        await self._socket_ready.wait()
        envelope_id = f"env-{next(self._ts)}"
        await self._sockets[-1].send_json(
            {
                "envelope_id": envelope_id,
                "type": envelope_type,
                "payload": payload,
                "accepts_response_payload": envelope_type != "events_api",
                "retry_attempt": retry,
                "retry_reason": "timeout" if retry else "",
            }
        )
        return envelope_id

    async def ack(self, envelope_id: str) -> dict[str, Any]:
        """Wait for the app's acknowledgement of an envelope."""
        async with self._ack_arrived:
            await self._ack_arrived.wait_for(lambda: envelope_id in self.acks)
            return self.acks[envelope_id]


class _Answer(Exception):
    def __init__(self, response: web.Response) -> None:
        self.response = response


def _error(code: str, status: int = 200) -> web.Response:
    return web.json_response({"ok": False, "error": code}, status=status)
