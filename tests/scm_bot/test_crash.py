"""The crash test of issue 12: the real `scm-bot run` process against the fake Bot API on
loopback, SIGKILLed at 20 chosen points of a scenario of 12 incidents, on SQLite and on
PostgreSQL (40 kills in all).

The points: the Caco's confirm press served by getUpdates but never read by the bot;
stored, with the getUpdates that confirms it never reaching Telegram; stored and confirmed;
the page held at "Telegram" when the bot dies, then accepted there; the page accepted with
its answer never read; the page held, then lost; an acknowledgement served, and one stored;
a "Kan niet" stored; the edit of the page after an acknowledgement in flight; a repeat and
then an escalation to the backup falling due while the bot is down (the timer row moved
into the past: that is what passing time changes); an analyse choice stored, an analyse
text answer served, another stored and confirmed, and its "Klaar" served; the Caco's
`/alarm` served, and one stored with its confirm lost; a "Kan niet" served; the backup's
acknowledgement stored and confirmed.

After each restart, the page that is due (the database says whether one is, and whether
its first sending's fate is unknown, so it comes marked as a repeat) arrives within 5 s of
the restarted process's first getUpdates. At the end: every page is acknowledged once, by
who pressed; the Caco was told; every page message the bot knows of says who took it (one
Telegram accepted while the bot died before reading the answer cannot be known: a marked
copy follows it); the analyse holds both answers; the outbox is all sent, the inbox all
handled; and no chat got any text twice without the repeat mark (the only text in this
scenario that legitimately repeats is the confirmation of Anna's two analyse text answers;
its one HERHALING page goes out once).

`test_crash_loop` kills the bot again right after each start while a page is due: every
start must send it at once (delivery starts only once the transports can send, so a start
never loses a try and the back-off never grows).

Run them alone with `pytest tests/scm_bot/test_crash.py -s` (-s prints the timings).
"""

from __future__ import annotations

import asyncio
import contextlib
import re
import time
from collections import Counter
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import select, text, update
from sqlalchemy.ext.asyncio import AsyncEngine

from core.i18n import t
from core.incidents.paging import ESCALATE
from core.model import Language
from storage.database import make_engine, table
from storage.repos.outbox import OUTBOX
from storage.repos.timers import TIMER
from storage.tables import AnalyseFieldRow
from tests.helpers.crash import BotProcess, CrashFake, Poll, Start, until, until_async
from tests.helpers.fake_telegram import TOKEN, Sent
from tests.helpers.telegram_world import IDS, region_with_telegram_ids

CACO, ANNA, CEES = IDS["caco"], IDS["rol-a"], IDS["rol-c"]
DUE_WITHIN = 5.0  # seconds from the restarted bot's first getUpdates to a due page
MARK = t(Language.NL, "delivery.repeat")
TITLE = t(Language.NL, "page.title")
TITLE_REPEAT = t(Language.NL, "page.title_repeat")
TITLE_DONE = t(Language.NL, "page.title_done")
PAGE_TITLES = (TITLE + "\n", TITLE_REPEAT + "\n", TITLE_DONE + "\n")
CONFIRM = t(Language.NL, "alarm.button_confirm")
ACK = t(Language.NL, "page.button_ack")
DECLINE = t(Language.NL, "page.button_decline")
START_ANALYSE = t(Language.NL, "page.button_start_analyse")
SKIP = t(Language.NL, "analyse.button_skip")
DONE = t(Language.NL, "analyse.button_done")
SAVED = t(Language.NL, "analyse.saved_text")
INCIDENT_ID = re.compile(r"VRU-\d{4}-\d{4}")
FIELDS = table(AnalyseFieldRow)
FACTS = "Gaslek onder de Kerkstraat, 20 woningen ontruimd, geen gewonden."
INZET = "Brandweer en netbeheerder ter plaatse, politie sluit de straat af."


def region() -> str:
    """The test region with Telegram ids, where Anna has been the ROL on duty since
    yesterday (for 92 days) and Cees is her backup: both read Dutch."""
    tz = ZoneInfo("Europe/Amsterdam")
    start = (datetime.now(tz) - timedelta(days=1)).strftime("%Y-%m-%dT%H:%M:00")
    rotation = (
        f'  - {{function: rol, members: [rol-a, rol-c, rol-b], start: "{start}", shift_days: 92}}'
    )
    text, found = re.subn(
        r"(?m)^  - \{function: rol, members: .*\}$", rotation, region_with_telegram_ids()
    )
    assert found == 1
    return text


class PageLate(AssertionError):
    """A due page did not arrive within DUE_WITHIN s of a restart."""


def unmarked(text: str) -> tuple[bool, str]:
    """Whether a text carries the repeat mark, and the text without it."""
    if text.startswith(MARK + "\n"):
        return True, text.removeprefix(MARK + "\n")
    return False, text


@dataclass
class Incident:
    number: int
    description: str
    public_id: str = ""


@dataclass
class Scene:
    """The bot, the fake, the database, and what happened so far."""

    fake: CrashFake
    bot: BotProcess
    engine: AsyncEngine
    restarts: list[tuple[str, Start, float | None]] = field(default_factory=list)
    # Page messages Telegram accepted while the bot died before reading the answer: the
    # bot never learned their ids, so it cannot update them (it sent a marked copy).
    unread: set[tuple[int, int]] = field(default_factory=set)

    # Driving -----------------------------------------------------------------------------

    async def alarm(self, number: int) -> tuple[Incident, Sent]:
        """The Caco raises alarm `number`; its confirmation question."""
        incident = Incident(number, f"incident {number}: gaslek Kerkstraat {number}")
        self.fake.push_text(CACO, f"/alarm Soest: {incident.description}")
        prompt = await self.newest(CACO, incident.description, CONFIRM)
        return incident, prompt

    async def newest(self, chat_id: int, needle: str, label: str, after: int = 0) -> Sent:
        """The newest message in the chat that mentions `needle` and has button `label`
        (among the chat's messages from number `after` on)."""

        def find() -> Sent | None:
            for sent in reversed(self.fake.messages(chat_id)[after:]):
                if needle in sent.text and label in sent.labels:
                    return sent
            return None

        await until(lambda: find() is not None, f"{label!r} on {needle!r} in chat {chat_id}")
        found = find()
        assert found is not None
        return found

    def press(self, user_id: int, message: Sent, label: str) -> dict[str, Any]:
        """The update of `user_id` pressing `label` on `message` (not pushed yet)."""
        return self.fake.callback_update(user_id, dict(message.buttons)[label], message=message)

    async def page_arrives(self, chat_id: int, incident: Incident, since: float = 0.0) -> Sent:
        """Until the page is in the chat; learns the incident id from it."""
        await self.sent(
            chat_id, lambda s: s.startswith(TITLE + "\n") and incident.description in s, since
        )
        page = await self.newest(chat_id, incident.description, ACK)
        found = INCIDENT_ID.search(page.text)
        assert found is not None, page.text
        incident.public_id = found.group()
        return page

    async def sent(self, chat_id: int, match: Callable[[str], bool], since: float = 0.0) -> float:
        """Until a text (marked or not) matching `match` went to the chat; when it was stored."""

        def when() -> float | None:
            for d in self.fake.sent(chat_id, since):
                if match(unmarked(d.text)[1]):
                    return d.at
            return None

        await until(lambda: when() is not None, f"a message to {chat_id} since {since}")
        found = when()
        assert found is not None
        return found

    async def raise_and_page(self, number: int) -> tuple[Incident, Sent]:
        incident, prompt = await self.alarm(number)
        self.fake.push(self.press(CACO, prompt, CONFIRM))
        return incident, await self.page_arrives(ANNA, incident)

    async def acknowledge(self, incident: Incident, page: Sent, who: int = ANNA) -> None:
        self.fake.push(self.press(who, page, ACK))
        await self.acknowledged(incident, who)

    async def acknowledged(self, incident: Incident, who: int) -> None:
        """Until the acknowledger got the analyse button (the Caco's message is checked at
        the end: waiting for it would wait out the Caco's queue, a message a second)."""
        await self.newest(who, f"Je hebt {incident.public_id} opgepakt", START_ANALYSE)

    # Killing and restarting ----------------------------------------------------------------

    async def kill_when_served(self, update: dict[str, Any]) -> None:
        """Push `update`; SIGKILL the bot the moment getUpdates serves it, before the bot
        reads the answer."""
        wanted = update["update_id"]

        def served(batch: list[dict[str, Any]]) -> None:
            if any(u["update_id"] == wanted for u in batch):
                self.fake.on_served = None
                self.bot.kill()

        self.fake.on_served = served
        await self.push_and_reap(update)

    async def kill_when_stored(self, update: dict[str, Any], *, confirm: bool) -> None:
        """Push `update`; SIGKILL the bot once it stored it, the moment its request for the
        next updates (which confirms it) arrives. That request then goes on (`confirm`:
        Telegram forgets the update) or ends there (Telegram serves it again)."""
        wanted = update["update_id"]
        gate: asyncio.Future[bool] = asyncio.get_running_loop().create_future()

        def polled(poll: Poll) -> None:
            if poll.offset > wanted:
                self.fake.on_poll = None
                self.bot.kill()

        self.fake.poll_gate, self.fake.on_poll = gate, polled
        await self.push_and_reap(update)
        self.fake.poll_gate = None
        gate.set_result(confirm)

    async def push_and_reap(self, update: dict[str, Any]) -> None:
        kills = self.bot.kills
        self.fake.push(update)
        await until(lambda: self.bot.kills > kills, "the kill")
        await self.bot.reap()

    async def kill_now(self) -> None:
        self.bot.kill()
        await self.bot.reap()

    async def restart(self, point: str) -> Start:
        """Start the bot again."""
        start = await self.bot.start()
        self.restarts.append((point, start, None))
        return start

    async def restart_with_page(
        self, point: str, chat_id: int, incident: Incident, title: str, *, marked: bool | None
    ) -> Sent:
        """Restart; the page due (`marked`: sent again as a repeat, None: it was out before
        the kill, nothing is due) arrives within DUE_WITHIN s of the first getUpdates."""
        start = await self.bot.start()
        self.restarts.append((point, start, None))
        if marked is not None:

            def arrived() -> float | None:
                for d in self.fake.sent(chat_id, start.began):
                    mark, base = unmarked(d.text)
                    if (
                        mark == marked
                        and base.startswith(title + "\n")
                        and incident.description in base
                    ):
                        return d.at
                return None

            late = start.ready + DUE_WITHIN + 0.5 - time.monotonic()  # 0.5: polling
            try:
                await until(lambda: arrived() is not None, f"the due page of {point}", late)
            except AssertionError as error:
                raise PageLate(str(error)) from None
            at = arrived()
            assert at is not None
            latency = at - start.ready
            self.restarts[-1] = (point, start, latency)
            if latency > DUE_WITHIN:
                raise PageLate(f"{point}: the page came {latency:.2f} s after the start")
        return await self.page_arrives(chat_id, incident)

    async def page_held(self, number: int, *, accepted: bool) -> Incident:
        """Raise alarm `number`; its page reaches Telegram, which holds it, and the bot dies.
        Telegram then accepts it (the reader has it, the bot never heard) or it fails."""
        await self.settle_anna()  # the page is the next message to Anna
        held = self.fake.fresh_hold(ANNA)
        incident, prompt = await self.alarm(number)
        asked = len(self.fake.calls)
        self.fake.push(self.press(CACO, prompt, CONFIRM))
        await until(
            lambda: any(
                c.method == "sendMessage" and c.params.get("chat_id") == ANNA
                for c in self.fake.calls[asked:]
            ),
            "the page to reach Telegram",
        )
        await self.kill_now()
        assert await self.page_due("rol-a", incident) is True  # its fate unknown
        if accepted:
            logged = len(self.fake.log)
            held.set()
            await until(lambda: len(self.fake.log) > logged, "Telegram to accept the held page")
            first = self.fake.log[logged]
            assert first.chat_id == ANNA and incident.description in first.text
            self.unread.add((first.chat_id, first.message_id))
        else:
            self.fake.fail(502, method="sendMessage", chat_id=ANNA)
            lost = self.fake.failures[-1]
            held.set()
            await until(lambda: lost.times == 0, "the held page to fail")
        return incident

    async def page_due(self, person: str, incident: Incident) -> bool | None:
        """After a kill, from the database: whether the page to `person` is still due and
        will be marked as a repeat (its sending's fate is unknown), or None: it is out."""
        rows = await self.rows(
            "SELECT o.id, o.status FROM outbox o JOIN person p ON p.id = o.person_id"
            " WHERE p.key = :key AND o.kind = 'send' AND o.topic LIKE 'page:%'"
            " AND CAST(o.payload AS TEXT) LIKE :needle",
            key=person,
            needle=f"%{incident.description}%",
        )
        if not rows:
            return False  # not handled yet
        ((row_id, status),) = rows
        if status == "sent":
            return None
        assert status == "pending", status
        parts = await self.rows(
            "SELECT status FROM ledger WHERE outbox_id = :id AND transport = 'telegram'", id=row_id
        )
        statuses = {part for (part,) in parts}
        if statuses & {"sending", "uncertain"}:
            return True
        return None if "sent" in statuses else False  # a page is one part

    def dump(self) -> str:
        """What the fake saw and the bot said, for a failure's report."""
        zero = self.bot.starts[0].began if self.bot.starts else 0.0
        lines = [
            "starts: "
            + ", ".join(f"{x.began - zero:.2f}/{x.ready - zero:.2f}" for x in self.bot.starts)
        ]
        lines += [f"{d.at - zero:8.2f} -> {d.chat_id}: {d.text[:90]!r}" for d in self.fake.log]
        return "\n".join([*lines, "--- bot log ---", self.bot.tail(150)])

    # The database -----------------------------------------------------------------------------

    async def scalar(self, sql: str, **params: Any) -> Any:
        async with self.engine.connect() as conn:
            return (await conn.execute(text(sql), params)).scalar()

    async def rows(self, sql: str, **params: Any) -> list[Any]:
        async with self.engine.connect() as conn:
            return list((await conn.execute(text(sql), params)).all())

    async def settle(self) -> None:
        """Until every stored update is handled and every queued message is out."""

        async def quiet() -> bool:
            busy = await self.scalar(
                "SELECT (SELECT count(*) FROM outbox WHERE status = 'pending')"
                " + (SELECT count(*) FROM inbox WHERE status = 'pending')"
            )
            return int(busy) == 0

        await until_async(quiet, "the outbox and the inbox to empty")

    async def settle_anna(self) -> None:
        """Until every message queued for Anna is out (the Caco's may still wait)."""

        async def quiet() -> bool:
            busy = await self.scalar(
                "SELECT count(*) FROM outbox o JOIN person p ON p.id = o.person_id"
                " WHERE o.status = 'pending' AND p.key = 'rol-a'"
            )
            return int(busy) == 0

        await until_async(quiet, "Anna's messages to go out")

    async def retry_falls_due(self) -> None:
        """The bot stays down until every message put off for a retry is due again."""
        async with self.engine.begin() as conn:
            await conn.execute(
                update(OUTBOX)
                .where(OUTBOX.c.status == "pending")
                .values(next_attempt_at=datetime.now(UTC) - timedelta(seconds=1))
            )

    async def time_passes(self, incident: Incident) -> None:
        """While the bot is down, the page's escalation timer falls due: its row is moved
        into the past, which is all that passing time changes."""
        page_id = await self.scalar(
            "SELECT p.id FROM page p JOIN incident i ON i.id = p.incident_id"
            " WHERE i.public_id = :public_id",
            public_id=incident.public_id,
        )
        async with self.engine.begin() as conn:
            moved = await conn.execute(
                update(TIMER)
                .where(
                    TIMER.c.kind == ESCALATE, TIMER.c.ref == page_id, TIMER.c.status == "pending"
                )
                .values(due_at=datetime.now(UTC) - timedelta(minutes=1))
            )
        assert moved.rowcount == 1


@pytest.fixture
async def fake() -> AsyncIterator[CrashFake]:
    server = CrashFake()
    await server.start()
    try:
        yield server
    finally:
        await server.close()


@contextlib.asynccontextmanager
async def open_scene(db_url: str, tmp_path: Path, fake: CrashFake) -> AsyncIterator[Scene]:
    """The region imported by `scm-bot region import`; the bot not started yet."""
    env = {
        "PATH": "/usr/bin:/bin",
        "HOME": str(tmp_path),
        "TELEGRAM_BOT_TOKEN": TOKEN,
        "TELEGRAM_BASE_URL": fake.base_url,
        "DATABASE_URL": db_url,
        "SCM_CONSOLE": "false",
        "LOG_LEVEL": "INFO",
    }
    (tmp_path / "region.yaml").write_text(region(), "utf-8")
    bot = BotProcess(fake, env, tmp_path, tmp_path / "bot.log")
    engine = make_engine(db_url)
    try:
        await bot.prepare()  # the fork server imports while the region is imported
        await bot.cli("region", "import", str(tmp_path / "region.yaml"))
        yield Scene(fake, bot, engine)
    finally:
        await bot.stop()
        await engine.dispose()


@pytest.fixture
async def scene(db_url: str, tmp_path: Path, fake: CrashFake) -> AsyncIterator[Scene]:
    async with open_scene(db_url, tmp_path, fake) as it:
        yield it


async def test_crash(scene: Scene) -> None:
    try:
        await scenario(scene)
    except BaseException:
        print(scene.dump())
        raise


async def scenario(s: Scene) -> None:
    fake = s.fake
    began = time.monotonic()
    cold = await s.bot.start(cold=True)

    # 1. The Caco's confirm is served by getUpdates; the bot dies before reading it.
    i1, prompt = await s.alarm(1)
    await s.kill_when_served(s.press(CACO, prompt, CONFIRM))
    assert await s.page_due("rol-a", i1) is False  # not handled: due, a first sending
    page1 = await s.restart_with_page("confirm served", ANNA, i1, TITLE, marked=False)
    await s.acknowledge(i1, page1)

    # 2. The confirm is stored; the getUpdates that would confirm it never reaches Telegram.
    i2, prompt = await s.alarm(2)
    await s.kill_when_stored(s.press(CACO, prompt, CONFIRM), confirm=False)
    due = await s.page_due("rol-a", i2)
    page2 = await s.restart_with_page("confirm stored", ANNA, i2, TITLE, marked=due)
    # 3. The acknowledgement is served; the bot dies before reading it.
    await s.kill_when_served(s.press(ANNA, page2, ACK))
    await s.restart("acknowledgement served")
    await s.acknowledged(i2, ANNA)

    # 4. The confirm is stored and confirmed: Telegram forgets it, the inbox has it.
    i3, prompt = await s.alarm(3)
    await s.kill_when_stored(s.press(CACO, prompt, CONFIRM), confirm=True)
    due = await s.page_due("rol-a", i3)
    page3 = await s.restart_with_page("confirm stored, confirmed", ANNA, i3, TITLE, marked=due)
    await s.acknowledge(i3, page3)

    # 5. The page is held at Telegram when the bot dies; Telegram then accepts it.
    i4 = await s.page_held(4, accepted=True)
    page4 = await s.restart_with_page("page held, accepted", ANNA, i4, TITLE, marked=True)
    # 6. The acknowledgement is stored, its confirming getUpdates lost.
    await s.kill_when_stored(s.press(ANNA, page4, ACK), confirm=False)
    await s.restart("acknowledgement stored")
    await s.acknowledged(i4, ANNA)

    # 7. Telegram accepts the page; the bot dies before it reads the answer.
    i5, prompt = await s.alarm(5)

    def page_stored(sent: Sent) -> None:
        if sent.chat_id == ANNA and i5.description in sent.text:
            fake.on_stored = None
            s.bot.kill()
            s.unread.add((sent.chat_id, sent.message_id))

    fake.on_stored = page_stored
    await s.push_and_reap(s.press(CACO, prompt, CONFIRM))
    assert await s.page_due("rol-a", i5) is True  # its fate unknown: sent again, marked
    page5 = await s.restart_with_page("page accepted, unread", ANNA, i5, TITLE, marked=True)
    await s.acknowledge(i5, page5)

    # 8. "Kan niet" is stored, its confirm lost: the backup's page is due at once.
    i6, page6 = await s.raise_and_page(6)
    await s.kill_when_stored(s.press(ANNA, page6, DECLINE), confirm=False)
    due = await s.page_due("rol-c", i6)
    backup6 = await s.restart_with_page("decline stored", CEES, i6, TITLE, marked=due)
    await s.acknowledge(i6, backup6, CEES)

    # 9. The edit of the page after the acknowledgement is in flight when the bot dies.
    i7, page7 = await s.raise_and_page(7)
    await s.settle_anna()  # the edit held is this page's
    fake.edit_holds[ANNA] = edit = asyncio.Event()
    fake.push(s.press(ANNA, page7, ACK))
    await until(lambda: ANNA in fake.edits_held, "the page's edit to reach Telegram")
    await s.kill_now()
    del fake.edit_holds[ANNA]
    edit.set()
    await s.restart("page edit in flight")
    await s.acknowledged(i7, ANNA)

    # 10. The page goes unanswered; its repeat falls due while the bot is down.
    i8, _ = await s.raise_and_page(8)
    await s.kill_now()
    await s.time_passes(i8)
    await s.restart_with_page("repeat due while down", ANNA, i8, TITLE_REPEAT, marked=False)
    # 11. Still unanswered: the escalation to the backup falls due while it is down.
    await s.kill_now()
    await s.time_passes(i8)
    backup8 = await s.restart_with_page("escalation due while down", CEES, i8, TITLE, marked=False)
    await s.acknowledge(i8, backup8, CEES)

    # 12. The analyse: a choice is stored, its confirm lost; the next question follows.
    i9, page9 = await s.raise_and_page(9)
    await s.acknowledge(i9, page9)
    begin = await s.newest(ANNA, f"Je hebt {i9.public_id} opgepakt", START_ANALYSE)
    fake.push(s.press(ANNA, begin, START_ANALYSE))
    question = await s.newest(ANNA, "Vraag 2/", "GRIP 2")
    await s.kill_when_stored(s.press(ANNA, question, "GRIP 2"), confirm=False)
    await s.restart("analyse choice stored")
    question = await s.newest(ANNA, "Vraag 3/", SKIP)
    fake.push(s.press(ANNA, question, SKIP))
    await s.newest(ANNA, "Vraag 4/", SKIP)
    # 13. A text answer is served; the bot dies before reading it.
    await s.kill_when_served(fake.text_update(ANNA, FACTS))
    await s.restart("analyse answer served")
    saved = await s.newest(ANNA, SAVED, DONE)
    fake.push(s.press(ANNA, saved, DONE))
    await s.newest(ANNA, "Vraag 5/", SKIP)
    # 15. The next text answer is stored and confirmed: Telegram forgets it, the inbox has it.
    before = len(fake.messages(ANNA))
    await s.kill_when_stored(fake.text_update(ANNA, INZET), confirm=True)
    await s.restart("analyse answer stored, confirmed")
    saved = await s.newest(ANNA, SAVED, DONE, after=before)
    # 16. Its "Klaar" is served; the bot dies before reading it.
    await s.kill_when_served(s.press(ANNA, saved, DONE))
    await s.restart("analyse done served")
    await s.newest(ANNA, "Vraag 6/", SKIP)

    # 14. The page is held at Telegram when the bot dies, and never arrives there.
    i10 = await s.page_held(10, accepted=False)
    page10 = await s.restart_with_page("page held, lost", ANNA, i10, TITLE, marked=True)
    await s.acknowledge(i10, page10)

    # 17. The Caco's /alarm is served; the bot dies before reading it: asked once after all.
    i11 = Incident(11, "incident 11: gaslek Kerkstraat 11")
    await s.kill_when_served(fake.text_update(CACO, f"/alarm Soest: {i11.description}"))
    await s.restart("alarm served")
    prompt = await s.newest(CACO, i11.description, CONFIRM)
    fake.push(s.press(CACO, prompt, CONFIRM))
    page11 = await s.page_arrives(ANNA, i11)
    # 18. "Kan niet" is served; the bot dies before reading it: the backup is paged after all.
    await s.kill_when_served(s.press(ANNA, page11, DECLINE))
    assert await s.page_due("rol-c", i11) is False  # not handled yet
    backup11 = await s.restart_with_page("decline served", CEES, i11, TITLE, marked=False)
    # 19. The backup's acknowledgement is stored and confirmed.
    await s.kill_when_stored(s.press(CEES, backup11, ACK), confirm=True)
    await s.restart("backup acknowledgement stored, confirmed")
    await s.acknowledged(i11, CEES)

    # 20. An /alarm is stored, its confirm lost: Telegram serves it again, it is asked once.
    i12 = Incident(12, "incident 12: gaslek Kerkstraat 12")
    alarm12 = fake.text_update(CACO, f"/alarm Soest: {i12.description}")
    await s.kill_when_stored(alarm12, confirm=False)
    await s.restart("alarm stored")
    prompt = await s.newest(CACO, i12.description, CONFIRM)
    fake.push(s.press(CACO, prompt, CONFIRM))
    page12 = await s.page_arrives(ANNA, i12)
    await s.acknowledge(i12, page12)

    await s.settle()
    incidents = [i1, i2, i3, i4, i5, i6, i7, i8, i9, i10, i11, i12]
    await check_nothing_lost(s, incidents, cees_took=(i6, i8, i11))
    check_nothing_twice_unmarked(fake)
    assert s.bot.kills == 20
    report(s, cold, time.monotonic() - began)


async def test_crash_loop(sqlite_url: str, tmp_path: Path, fake: CrashFake) -> None:
    """A crash loop: the bot is killed again right after each start, while a page is due.
    No start spends a try of the page before its transports can send (the bug: each start
    failed the page once and doubled its back-off)."""
    async with open_scene(sqlite_url, tmp_path, fake) as s:
        try:
            await s.bot.start(cold=True)
            await s.page_held(1, accepted=False)
            pending = "SELECT attempts FROM outbox WHERE topic LIKE 'page:%' AND status = 'pending'"
            for _ in range(4):
                await s.bot.start()
                await s.kill_now()
                attempts = await s.scalar(pending)
                if attempts is None:  # it went out before the kill
                    break
                # A start never spends a try before its transports can send: no back-off
                # grows with the restarts.
                assert attempts == 0
                await s.retry_falls_due()
        except BaseException:
            print(s.dump())
            raise


async def check_nothing_lost(
    s: Scene, incidents: list[Incident], cees_took: tuple[Incident, ...]
) -> None:
    fake = s.fake
    assert len({i.public_id for i in incidents}) == 12
    names = {ANNA: "Rol Anna", CEES: "Rol Cees"}
    # The messages the bot knows it sent (it edits those): chat:id in the ledger.
    known = {
        (int(chat), int(message_id))
        for (ref,) in await s.rows(
            "SELECT ref FROM ledger WHERE transport = 'telegram' AND status = 'sent'"
        )
        for chat, _, ids in [ref.partition(":")]
        for message_id in ids.split(",")
    }
    unknown: set[tuple[int, int]] = set()
    for incident in incidents:
        who = CEES if incident in cees_took else ANNA
        # Acknowledged once, by who pressed.
        pages = await s.rows(
            "SELECT p.status, x.key FROM page p JOIN incident i ON i.id = p.incident_id"
            " LEFT JOIN person x ON x.id = p.acknowledged_by WHERE i.public_id = :id",
            id=incident.public_id,
        )
        assert [tuple(r) for r in pages] == [("acknowledged", "rol-c" if who == CEES else "rol-a")]
        acks = await s.scalar(
            "SELECT count(*) FROM audit WHERE action = 'page.acknowledged' AND object = :id",
            id=incident.public_id,
        )
        assert acks == 1, incident
        # The Caco was told; every page message anyone got says who took it.
        told = f"{incident.public_id}: ✅ opgepakt door {names[who]} (ROL)"
        assert any(told in d.text for d in fake.sent(CACO)), incident
        copies = [
            m
            for chat in (ANNA, CEES)
            for m in fake.messages(chat)
            if incident.description in m.text and unmarked(m.text)[1].startswith(PAGE_TITLES)
        ]
        assert copies, incident
        for copy in copies:
            if (copy.chat_id, copy.message_id) in known:
                assert f"✅ Opgepakt door {names[who]} via Telegram" in copy.text, copy.text
                continue
            # Telegram took it, the bot died before reading the answer: it cannot know
            # the message (this copy may itself be a marked repeat), and sent the page
            # again, marked; that copy says who took it.
            unknown.add((copy.chat_id, copy.message_id))
            repeat = f"{MARK}\n{unmarked(copy.text)[1]}"
            later = [
                m
                for m in copies
                if m.chat_id == copy.chat_id
                and m.message_id > copy.message_id
                and (m.chat_id, m.message_id) in known
                and any(
                    d.message_id == m.message_id and d.text == repeat for d in fake.sent(m.chat_id)
                )
            ]
            assert later, f"no marked copy after {copy.text!r}"
    assert s.unread <= unknown
    declined = await s.scalar("SELECT count(*) FROM audit WHERE action = 'page.declined'")
    assert declined == 2
    # The analyse has every answer.
    analyse_id = await s.scalar(
        "SELECT a.id FROM analysis a JOIN incident i ON i.id = a.incident_id"
        " WHERE i.public_id = :id",
        id=incidents[8].public_id,
    )
    async with s.engine.connect() as conn:
        found = await conn.execute(
            select(FIELDS.c.key, FIELDS.c.value).where(FIELDS.c.analyse_id == analyse_id)
        )
        fields = dict(found.all())
    assert fields["opschaling"] == "GRIP 2"
    assert fields["feitelijk_beeld"] == FACTS
    assert fields["inzet"] == INZET
    # The Caco was asked once per alarm, also where the /alarm came twice.
    for incident in (i for i in incidents if i.number in (11, 12)):
        asked = [
            m for m in fake.messages(CACO) if incident.description in m.text and CONFIRM in m.labels
        ]
        assert len(asked) == 1, incident
    # Everything queued went out, but an edit that a later edit of the same message
    # replaced before it was sent (`superseded`: that later one was sent); every update was
    # handled; no escalation is left.
    await check_outbox_done(s)
    assert await s.rows("SELECT DISTINCT status FROM inbox") == [("done",)]
    assert (
        await s.scalar(
            "SELECT count(*) FROM timer WHERE kind = :kind AND status = 'pending'", kind=ESCALATE
        )
        == 0
    )


async def check_outbox_done(s: Scene) -> None:
    """Every outbox row was sent, but an edit that a later edit of the same message replaced
    before it went out (`superseded`; that later edit was sent)."""
    unfinished = await s.rows(
        "SELECT status, count(*) FROM outbox WHERE status NOT IN ('sent', 'superseded')"
        " GROUP BY status"
    )
    assert unfinished == []
    replaced_wrongly = await s.rows(
        "SELECT o.id FROM outbox o WHERE o.status = 'superseded' AND NOT (o.kind = 'edit'"
        " AND EXISTS (SELECT 1 FROM outbox later WHERE later.person_id = o.person_id"
        " AND later.topic = o.topic AND later.kind = 'edit' AND later.id > o.id"
        " AND later.status = 'sent'))"
    )
    assert replaced_wrongly == []


def check_nothing_twice_unmarked(fake: CrashFake) -> None:
    """No chat got a text twice without the repeat mark."""
    for chat_id in {d.chat_id for d in fake.log}:
        plain = Counter(
            base for mark, base in map(unmarked, (d.text for d in fake.sent(chat_id))) if not mark
        )
        # Anna's two text answers are each confirmed with the same words, once each.
        saved = plain.pop(SAVED, 0)
        assert saved == (2 if chat_id == ANNA else 0), f"{chat_id} got {SAVED!r} {saved} times"
        twice = {text: n for text, n in plain.items() if n > 1}
        assert not twice, f"sent to {chat_id} more than once unmarked: {twice}"


def report(s: Scene, cold: Start, seconds: float) -> None:
    lines = [f"cold start {cold.seconds:.2f} s; whole scenario {seconds:.1f} s"]
    for point, start, latency in s.restarts:
        due = f", due page after {latency:.2f} s" if latency is not None else ""
        at = start.began - cold.began
        lines.append(f"  {at:6.1f} s {point}: ready in {start.seconds:.2f} s{due}")
    sent = Counter(d.chat_id for d in s.fake.log)
    lines.append(f"  messages per chat: {dict(sent)}")
    print("\n".join(lines))
