"""One scenario, every chat platform: a driver per platform behind one interface.

A scenario names people by their key in the test region ("caco", "rol-b"…, and "stranger"
for someone outside it) and acts as they do: `say` types in the private chat with the bot,
`command` gives a command the way the platform offers it, `press` taps a button. It reads
their private chat as they see it now: `replies` (text messages, after edits) and `files`.

- `TelegramDriver`: the real python-telegram-bot `Application` (`TelegramBot`) against the
  fake Bot API on loopback. Typed text and commands are the same message; a file is a
  document in the chat.
- `SlackDriver`: the real bolt `AsyncApp` (`SlackBot`, HTTP mode) receiving signed requests
  on loopback, posting to the fake Slack Web API. `say` is a direct message to the bot,
  `command` the slash command `/scm …`; a file is an external upload shared in the DM.

Both run the real app, core and storage with a fake clock; after every input the inbox is
handled, due timers fire and the outbox is delivered, so a scenario sees what follows at once.
Where platforms differ in what a check means (what "shown as typed" is in HTML or in Block
Kit, what a button payload may hold), the driver does the platform's check.
"""

from __future__ import annotations

import contextlib
import html
import itertools
import json
from abc import ABC, abstractmethod
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

from sqlalchemy.ext.asyncio import AsyncEngine
from telegram import Update

from bots.slack.render import escape_mrkdwn
from core.clock import FakeClock
from core.events import ButtonEvent, InboundEvent, Sender, parse_text
from core.model import Origin
from scm_bot.app import App
from tests.helpers.fake_slack import FakeSlack, Posted
from tests.helpers.fake_telegram import FakeTelegram, Sent
from tests.helpers.slack_world import SLACK_IDS, make_world, region_with_slack_ids
from tests.helpers.slack_world import World as SlackWorld
from tests.helpers.telegram_world import IDS, region_with_telegram_ids, world
from tests.helpers.telegram_world import World as TelegramWorld

PLATFORMS = ("telegram", "slack")
STRANGER = "stranger"  # the key scenarios use for someone outside the region
NEWCOMER, OTHER = "newcomer", "other"  # accounts the region does not know (yet)
# Everyone in the test region who chats with the bot (the IM links later, by code).
TELEGRAM_IDS = {
    **IDS,
    "bgm-soest": 1007,
    "bgm-debilt": 1008,
    "gs-soest": 1009,
}
TELEGRAM_ACCOUNTS = {STRANGER: 999, NEWCOMER: 2001, OTHER: 2002}
SLACK_PEOPLE = {
    **SLACK_IDS,
    "bgm-soest": "UBGMSOEST",
    "bgm-debilt": "UBGMDBILT",
    "gs-soest": "UGSSOEST1",
}
SLACK_ACCOUNTS = {STRANGER: "USTRANGER", NEWCOMER: "UNEWIM001", OTHER: "UOTHER001"}
TELEGRAM_GROUP = -4242
SLACK_CHANNEL = "C0CRISIS"

Raw = TypeVar("Raw", Sent, Posted)
UserId = TypeVar("UserId", int, str)


@dataclass
class Reply(Generic[Raw]):
    """A bot message in a chat, as the person sees it now."""

    text: str  # what they read: Telegram's visible text; Slack's header and sections
    title: str | None  # the bold first line (Telegram), the header block (Slack)
    labels: list[str]  # the buttons, in order
    rows: list[int]  # how many buttons each row holds
    edits: int  # how often the bot changed it after sending
    markup: str  # what the platform was given: the HTML (Telegram), the fallback text (Slack)
    order: float  # its place among the chat's messages and files
    raw: Raw


@dataclass(frozen=True)
class File:
    """A file in a person's private chat."""

    filename: str
    content: bytes
    order: float  # its place among the chat's messages and files


class Driver(ABC, Generic[Raw, UserId]):
    """What a scenario does and sees on one platform."""

    name: str
    link_command: str  # the command that brings a one-time link code
    app: App
    clock: FakeClock
    region: str  # the region file as loaded, with everyone's ids on this platform
    ids: dict[str, UserId]

    def chat(self, who: str) -> UserId:
        """The person's id on this platform (their private chat)."""
        return self.ids[who]

    async def linked(self, who: str) -> str | None:
        """The key of the region's person linked to `who`'s account on this platform."""
        directory = await self.app.directory()
        user = self.chat(who)
        person = (
            directory.person_by_telegram(user)
            if isinstance(user, int)
            else directory.person_by_slack(user)
        )
        return None if person is None else person.key

    def key(self, user_id: UserId) -> str:
        return next(key for key, value in self.ids.items() if value == user_id)

    # Acting -------------------------------------------------------------------------------

    @abstractmethod
    async def _type(self, who: str, text: str) -> None: ...

    @abstractmethod
    async def _command(self, who: str, text: str) -> None: ...

    @abstractmethod
    async def _press(self, who: str, label: str, on: str) -> None: ...

    async def say(self, who: str, text: str) -> list[Reply[Raw]]:
        """`who` types `text` in their private chat; the messages that brought them there."""
        return await self._new(who, self._type(who, text))

    async def command(self, who: str, text: str) -> list[Reply[Raw]]:
        """`who` gives the command `text` ("/wie") as the platform offers commands."""
        return await self._new(who, self._command(who, text))

    async def press(self, who: str, label: str, *, on: str | None = None) -> list[Reply[Raw]]:
        """`who` taps the newest button `label` in `on`'s private chat (default: their own)."""
        return await self._new(who, self._press(who, label, on or who))

    @abstractmethod
    async def say_in_group(self, who: str, text: str) -> list[Reply[Raw]]:
        """`who` types `text` in a group (Telegram) or channel (Slack) the region does not
        follow; what the group shows them there. Their private chat stays as it was."""

    @abstractmethod
    async def advance(self, minutes: float) -> None:
        """Time passes; every timer fires at its own due time."""

    async def _new(self, who: str, action: Any) -> list[Reply[Raw]]:
        before = {reply.order for reply in self.replies(who)}
        await action
        return [reply for reply in self.replies(who) if reply.order not in before]

    # Seeing -------------------------------------------------------------------------------

    @abstractmethod
    def replies(self, who: str) -> list[Reply[Raw]]:
        """The bot's text messages in `who`'s private chat, oldest first, as they are now."""

    @abstractmethod
    def files(self, who: str) -> list[File]:
        """The files in `who`'s private chat, oldest first."""

    @abstractmethod
    def people_with_files(self) -> set[str]:
        """Everyone who got any file."""

    @abstractmethod
    def uploads(self) -> int:
        """How many files the bot started to send (each a call to the platform)."""

    def last(self, who: str) -> Reply[Raw]:
        replies = self.replies(who)
        assert replies, f"{who} got nothing"
        return replies[-1]

    def with_button(self, who: str, label: str) -> Reply[Raw]:
        """The newest message in `who`'s private chat with a button `label`."""
        for reply in reversed(self.replies(who)):
            if label in reply.labels:
                return reply
        raise AssertionError(f"no button {label!r} for {who}: {self.texts(who)}")

    def texts(self, who: str) -> str:
        return "\n---\n".join(reply.text for reply in self.replies(who))

    # The platform's own checks ------------------------------------------------------------

    @abstractmethod
    def assert_buttons_fit(self) -> None:
        """Every button sent or edited so far is within the platform's limits."""

    @abstractmethod
    def assert_shown_verbatim(self, reply: Reply[Raw], typed: str) -> None:
        """`typed` appears in the reply exactly as typed, and no markup character of it
        reached the platform unescaped."""


class TelegramDriver(Driver[Sent, int]):
    name = "telegram"
    link_command = "/start"  # what the invite's deep link makes Telegram send

    def __init__(self, world: TelegramWorld, region: str) -> None:
        self.world = world
        self.fake: FakeTelegram = world.fake
        self.app = world.app
        self.clock = world.harness.clock
        self.region = region
        self.ids = {**TELEGRAM_IDS, **TELEGRAM_ACCOUNTS}

    async def _feed(self, update: dict[str, Any]) -> None:
        """Receive one update as the poller does; it reaches the core once, and a button
        press is answered once (Telegram stops the button's spinner)."""
        handled = self.world.router.count
        answered = len(self.fake.calls_to("answerCallbackQuery"))
        await self.world.tg.receive([Update.de_json(update, self.world.tg.application.bot)])
        await self.app.inbox.drain()
        await self.app.runner.run_due()
        await self.app.inbox.answered()
        await self.app.deliverer.deliver_pending()
        assert self.world.router.count == handled + 1
        presses = 1 if "callback_query" in update else 0
        assert len(self.fake.calls_to("answerCallbackQuery")) == answered + presses

    async def _type(self, who: str, text: str) -> None:
        await self._feed(self.fake.text_update(self.chat(who), text))

    async def _command(self, who: str, text: str) -> None:
        await self._type(who, text)  # on Telegram a command is typed text

    async def _press(self, who: str, label: str, on: str) -> None:
        if on == who:
            await self._feed(self.fake.press_update(self.chat(who), label))
        else:  # someone else's button: only its data can reach the bot
            data = dict(self.fake.with_button(self.chat(on), label).buttons)[label]
            await self._feed(self.fake.callback_update(self.chat(who), data))

    async def say_in_group(self, who: str, text: str) -> list[Reply[Sent]]:
        private = len(self.fake.messages(self.chat(who)))
        before = len(self.fake.messages(TELEGRAM_GROUP))
        update = self.fake.text_update(
            self.chat(who), text, chat_id=TELEGRAM_GROUP, chat_type="group"
        )
        await self._feed(update)
        assert len(self.fake.messages(self.chat(who))) == private
        return [self._reply(m) for m in self.fake.messages(TELEGRAM_GROUP)[before:]]

    async def advance(self, minutes: float) -> None:
        await self.world.harness.advance(minutes)

    @staticmethod
    def _reply(sent: Sent) -> Reply[Sent]:
        title = None
        if sent.html.startswith("<b>"):
            title = html.unescape(sent.html[3 : sent.html.index("</b>")])
        return Reply(
            sent.text,
            title,
            sent.labels,
            sent.row_sizes,
            sent.edits,
            sent.html,
            sent.message_id,
            sent,
        )

    def replies(self, who: str) -> list[Reply[Sent]]:
        sent = self.fake.messages(self.chat(who))
        return [self._reply(m) for m in sent if m.document is None]

    def files(self, who: str) -> list[File]:
        files = []
        for sent in self.fake.messages(self.chat(who)):
            if sent.document is not None:
                assert sent.document_content is not None, "sent as an upload, not a file id"
                assert sent.labels == [], "a document carries no buttons"
                files.append(File(sent.document, sent.document_content, sent.message_id))
        return files

    def people_with_files(self) -> set[str]:
        return {
            self.key(chat)
            for chat, sent in self.fake.chats.items()
            if any(m.document is not None for m in sent)
        }

    def uploads(self) -> int:
        return len(self.fake.calls_to("sendDocument"))

    def assert_buttons_fit(self) -> None:
        for call in self.fake.calls_to("sendMessage") + self.fake.calls_to("editMessageText"):
            for row in (call.params.get("reply_markup") or {}).get("inline_keyboard", []):
                for button in row:
                    assert len(button["callback_data"].encode()) <= 64

    def assert_shown_verbatim(self, reply: Reply[Sent], typed: str) -> None:
        assert typed in reply.text
        assert html.escape(typed, quote=False) in reply.markup


class SlackDriver(Driver[Posted, str]):
    name = "slack"
    link_command = "/koppel"  # `/scm koppel <code>`, as the invite tells

    def __init__(self, world: SlackWorld, region: str) -> None:
        self.world = world
        self.fake: FakeSlack = world.fake
        self.app = world.app
        self.clock = world.harness.clock
        self.region = region
        self.ids = {**SLACK_PEOPLE, **SLACK_ACCOUNTS}
        self._dms = itertools.count(1)
        self._seen = len(world.router.events)

    def _arrived(
        self, who: str, event: Callable[[Sender], InboundEvent], chat: str | None = None
    ) -> None:
        """The input reached the core once, from `who` in `chat` (default: their DM), as
        they gave it."""
        [arrived] = self.world.router.events[self._seen :]
        self._seen = len(self.world.router.events)
        sender = arrived.sender
        assert sender.origin is Origin.SLACK and sender.event_id
        assert sender.user_id == self.chat(who) and sender.private
        # allowed: `chat` is the caller's channel, else the person's DM: one expected value
        assert sender.chat_id == (chat or FakeSlack.dm_channel(self.chat(who)))
        assert arrived == event(sender)

    async def _type(self, who: str, text: str) -> None:
        status, _ = await self.world.dm(self.chat(who), text, f"DRIVER{next(self._dms)}")
        assert status == 200
        self._arrived(who, lambda sender: parse_text(sender, text))

    async def _command(self, who: str, text: str) -> None:
        command = text.removeprefix("/")
        ephemeral = len(self.fake.ephemeral)
        assert await self.world.command(self.chat(who), command) == 200
        self._arrived(who, lambda sender: parse_text(sender, f"/{command}"))
        assert len(self.fake.ephemeral) == ephemeral  # in the DM every answer is a message

    async def _press(self, who: str, label: str, on: str) -> None:
        posted = self.with_button(on, label).raw
        data = posted.button_value(label)
        assert data is not None
        assert await self.world.click(self.chat(who), posted, label) == 200
        self._arrived(who, lambda sender: ButtonEvent(sender, data), posted.channel)

    async def say_in_group(self, who: str, text: str) -> list[Reply[Posted]]:
        private = len(self.fake.dm(self.chat(who)))
        before = len(self.fake.ephemeral)
        command = text.removeprefix("/")
        assert await self.world.command(self.chat(who), command, channel=SLACK_CHANNEL) == 200
        self._seen = len(self.world.router.events)
        assert len(self.fake.dm(self.chat(who))) == private
        shown = self.fake.ephemeral[before:]
        assert all(p.channel == SLACK_CHANNEL and p.user == self.chat(who) for p in shown)
        return [self._reply(p) for p in shown]

    async def advance(self, minutes: float) -> None:
        await self.world.advance(minutes)

    @staticmethod
    def _reply(posted: Posted) -> Reply[Posted]:
        header = posted.blocks[0] if posted.blocks else {}
        title = header["text"]["text"] if header.get("type") == "header" else None
        labels = [b["text"]["text"] for b in posted.buttons()]
        rows = [len(b["elements"]) for b in posted.blocks if b["type"] == "actions"]
        return Reply(
            posted.body(),
            title,
            labels,
            rows,
            posted.updates,
            posted.text,
            float(posted.ts),
            posted,
        )

    def replies(self, who: str) -> list[Reply[Posted]]:
        return [self._reply(p) for p in self.fake.dm(self.chat(who))]

    def files(self, who: str) -> list[File]:
        shared = self.fake.uploads(self.chat(who))
        completed = [c.params for c in self.fake.calls_of("files.completeUploadExternal")]
        for file in shared:
            assert file.title == file.filename
            assert any(  # shared in the DM by completing the external upload
                params.get("channel_id") == file.channel and file.file_id in params["files"]
                for params in completed
            )
        return [File(f.filename, f.content, float(f.ts)) for f in shared]

    def people_with_files(self) -> set[str]:
        dms = {FakeSlack.dm_channel(user): key for key, user in self.ids.items()}
        return {dms[channel] for channel, files in self.fake.files.items() if files}

    def uploads(self) -> int:
        return len(self.fake.calls_of("files.getUploadURLExternal"))

    def assert_buttons_fit(self) -> None:
        for call in self.fake.calls_of("chat.postMessage") + self.fake.calls_of("chat.update"):
            blocks = call.params.get("blocks") or []
            if isinstance(blocks, str):
                blocks = json.loads(blocks)
            buttons = [e for b in blocks if b["type"] == "actions" for e in b["elements"]]
            assert all(len(b["value"]) <= 2000 for b in buttons)  # Slack's limit
            assert len({b["action_id"] for b in buttons}) == len(buttons)

    def assert_shown_verbatim(self, reply: Reply[Posted], typed: str) -> None:
        posted = reply.raw
        assert any(typed in section for section in posted.section_texts())
        for block in posted.blocks:
            if block["type"] in ("section", "header"):
                assert block["text"]["type"] == "plain_text"  # `*` and `_` do not format
        assert escape_mrkdwn(typed) in reply.markup  # the mrkdwn fallback is escaped
        assert "<" not in reply.markup


AnyDriver = Driver[Any, Any]  # a scenario does not care which


@contextlib.asynccontextmanager
async def platform(
    name: str, engine: AsyncEngine, *, feed_url: str | None = None
) -> AsyncIterator[AnyDriver]:
    """A started driver for `name` ("telegram" or "slack") on `engine`, with the test
    region and everyone in `TELEGRAM_IDS` / `SLACK_PEOPLE` linked on that platform."""
    if name == "telegram":
        region = region_with_telegram_ids(TELEGRAM_IDS)
        async with (
            FakeTelegram() as fake,
            world(engine, fake, region=region, feed_url=feed_url) as w,
        ):
            yield TelegramDriver(w, region)
    elif name == "slack":
        region = region_with_slack_ids(SLACK_PEOPLE)
        slack_world = contextlib.asynccontextmanager(make_world)
        async with FakeSlack() as slack, slack_world(engine, slack, region, feed_url) as s:
            yield SlackDriver(s, region)
    else:
        raise ValueError(f"no driver for {name!r}")
