"""BT call-out: a 60-function composition called out on Telegram and Slack together, against
fakes that enforce the platforms' limits.

Through the real stack on loopback, as `scm-bot run` runs it (`scm_bot.instance.running`:
the inbox loop, delivery with its pacers at the transports' default limits, APScheduler on
the real clock, so the board's refresh timer row really fires) with the real
`TelegramTransport` and `TelegramBot` (python-telegram-bot, long polling) and the real
`SlackTransport` and `SlackBot` (bolt, HTTP mode behind the instance's `HttpServer`).

The region: a GBT of 60 functions (technisch voorzitter, ROL, IM, advisers, the liaisons of
the 26 gemeenten of VRU; 52 required), each function a rotation of two (on duty, backup).
The on-duty members and backups of the first 30 functions are on Telegram, of the other 30
on Slack. The board's viewers: the burgemeester (Telegram), the technisch voorzitter (a
member, Telegram), the Caco (Slack) and the ROL (a member, Slack). A meldkamer group on
Telegram follows the incident.

The fakes enforce: Telegram 30 sends a second overall, 1 a second per chat, 20 a minute per
group (edits count); Slack 1 a second per channel (posts, updates and file shares count).
Beyond a limit the fake answers 429 with `retry_after`/`Retry-After` and does not count it.

The run: the Caco raises the alarm on Slack, the ROL takes it on Slack, the burgemeester
convenes the GBT on Telegram and confirms. Every member answers at a spread after their page
reached them (seeded: 35% "binnen 15", 30% "binnen 30", 15% "binnen 60", 12% "Ik kom niet",
which pages the backup at once, who then answers too; 8% never answer; the delay after the
page lognormal around 8 s, 2-40 s). Measured:

- pages: from the commit of the convening transaction until the fake accepted the last of
  the 60 first pages, per platform, against the minimum: pages / the platform's overall rate
  (Telegram 30/s; Slack publishes no workspace-wide figure for chat.postMessage, so the
  bot's own Slack rate, 20/s, `SlackTransport`'s default);
- 429s from the fakes, by method and reason; those refusing a board edit for the per-chat
  limit must be none;
- board latency: per answer and per viewer's chat, from the answer being served to the bot
  (Telegram: getUpdates returns it; Slack: the interaction is POSTed) until the fake accepts
  the first board message (edit) that shows it in that chat.

    .venv/bin/python -m benchmarks.bt_callout [--sqlite-only] [--no-readme]
"""

from __future__ import annotations

import argparse
import asyncio
import functools
import hashlib
import hmac
import itertools
import json
import math
import random
import re
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import urlencode
from zoneinfo import ZoneInfo

import aiohttp
import yaml
from sqlalchemy import event

from benchmarks._common import (
    available_kinds,
    database,
    log_summary,
    machine,
    percentile,
    quiet_logging,
    table,
    update_readme,
)
from bots.slack import SlackBot, SlackTransport
from bots.telegram import TelegramBot, TelegramTransport
from core.clock import SystemClock
from scm_bot.http import HttpServer
from scm_bot.instance import running
from storage.database import make_engine
from tests.helpers import load_region
from tests.helpers.fake_slack import BOT_TOKEN, FakeSlack, Posted
from tests.helpers.fake_telegram import LIMITED_PREFIXES, TOKEN, FakeTelegram

TZ = ZoneInfo("Europe/Amsterdam")
SECRET = "bench-signing-secret"
TG_RATE, SLACK_RATE = 30.0, 20.0  # the minimum's overall rates, messages per second
PAGE_TARGET, BOARD_TARGET = 1.2, 2.0  # x the minimum; seconds, p99
PAGE, BOARD = "Oproep GBT", "Aanwezigheid GBT"
BGM, COORD, GROUP, CACO = 690_001, 690_002, -1_001_777_000, "UCACO0001"
SEED = 15
ANSWERS = (("15", 0.35), ("30", 0.30), ("60", 0.15), ("not", 0.12), ("none", 0.08))
LABEL = {
    "15": "Ik kom (binnen 15 min)",
    "30": "Ik kom (binnen 30 min)",
    "60": "Ik kom (binnen 60 min)",
    "not": "Ik kom niet",
}
BASES = [
    ("technisch-voorzitter", "Technisch voorzitter"),
    ("gemeentesecretaris", "Gemeentesecretaris"),
    ("communicatieadviseur", "Communicatieadviseur"),
    ("notulist", "Notulist"),
    ("acb", "Adviseur crisisbeheersing"),
    ("adv-brandweer", "Adviseur brandweer"),
    ("adv-politie", "Adviseur politie"),
    ("adv-ghor", "Adviseur GHOR"),
    ("ovj", "Officier van justitie"),
    ("adv-defensie", "Adviseur Defensie"),
    ("adv-waterschap", "Adviseur waterschap"),
    ("adv-rws", "Adviseur Rijkswaterstaat"),
    ("adv-prorail", "Adviseur ProRail"),
    ("adv-odru", "Adviseur omgevingsdienst"),
    ("adv-bz", "Adviseur bevolkingszorg"),
    ("jurist", "Juridisch adviseur"),
    ("woordvoerder", "Woordvoerder burgemeester"),
    ("omgevingsanalist", "Omgevingsanalist"),
    ("adv-ggd", "Strategisch adviseur gezondheid"),
    ("adv-netbeheer", "Adviseur netbeheer"),
    ("adv-drinkwater", "Adviseur drinkwater"),
    ("adv-onderwijs", "Adviseur onderwijs"),
    ("adv-zorg", "Adviseur zorginstellingen"),
    ("adv-ov", "Adviseur openbaar vervoer"),
    ("adv-financien", "Adviseur financiën"),
    ("adv-nazorg", "Adviseur nazorg"),
    ("hoofd-comm", "Hoofd taakorganisatie communicatie"),
    ("hoofd-bz", "Hoofd taakorganisatie bevolkingszorg"),
    ("secretaris-bt", "Secretaris beleidsteam"),
    ("adv-veiligheidshuis", "Adviseur Veiligheidshuis"),
    ("rol", "ROL"),
    ("im", "Informatiemanager"),
    ("adv-rijk", "Liaison NCTV"),
    ("adv-provincie", "Liaison provincie"),
]
GEMEENTEN = [
    "Amersfoort",
    "Baarn",
    "Bunnik",
    "Bunschoten",
    "De-Bilt",
    "De-Ronde-Venen",
    "Eemnes",
    "Houten",
    "IJsselstein",
    "Leusden",
    "Lopik",
    "Montfoort",
    "Nieuwegein",
    "Oudewater",
    "Renswoude",
    "Rhenen",
    "Soest",
    "Stichtse-Vecht",
    "Utrecht",
    "Utrechtse-Heuvelrug",
    "Veenendaal",
    "Vijfheerenlanden",
    "Wijk-bij-Duurstede",
    "Woerden",
    "Woudenberg",
    "Zeist",
]
FIRST = [
    "Anouk",
    "Bram",
    "Carlijn",
    "Daan",
    "Eline",
    "Floor",
    "Gijs",
    "Hanna",
    "Iris",
    "Jasper",
    "Kim",
    "Lars",
    "Merel",
    "Niels",
    "Olga",
    "Pieter",
    "Quinten",
    "Roos",
    "Sanne",
    "Thijs",
    "Ursula",
    "Vera",
    "Wouter",
    "Yara",
]
LAST = [
    "de Vries",
    "Jansen",
    "van den Berg",
    "Bakker",
    "Visser",
    "Smit",
    "Meijer",
    "de Boer",
    "Mulder",
    "de Groot",
    "Bos",
    "Vos",
    "Peters",
    "Hendriks",
    "van Leeuwen",
    "Dekker",
    "Brouwer",
    "de Wit",
    "Dijkstra",
    "Smits",
    "de Graaf",
    "van der Meer",
    "van der Linden",
    "Kok",
]


@dataclass(frozen=True)
class Function:
    index: int
    key: str
    name: str
    required: bool

    @property
    def telegram(self) -> bool:
        return self.index < 30


FUNCTIONS = [
    Function(i, key, name, required=i % 7 != 6)
    for i, (key, name) in enumerate(
        [*BASES, *((f"liaison-{g.lower()}", f"Liaison {g.replace('-', ' ')}") for g in GEMEENTEN)]
    )
]
assert len(FUNCTIONS) == 60


def person_name(n: int) -> str:
    return f"{FIRST[n % 24]} {LAST[(n // 24 + n) % 24]}"


def person_key(f: Function, backup: bool) -> str:
    return f"p{f.index:02d}{'b' if backup else 'a'}"


def tg_id(f: Function, backup: bool) -> int:
    return 700_000 + 2 * f.index + backup


def slack_id(f: Function, backup: bool) -> str:
    return f"UBT{2 * f.index + backup:05d}"


def region_yaml() -> str:
    yesterday = datetime.now(TZ).date() - timedelta(days=1)
    start = f"{yesterday.isoformat()}T08:00:00"  # member a on duty for six more days
    people: list[dict[str, Any]] = [
        {"key": "bgm", "name": "Burgemeester Soest", "functions": ["burgemeester"]},
        {"key": "caco", "name": "Caco Meldkamer", "functions": ["caco"], "slack_user_id": CACO},
        {"key": "coord", "name": "Coord Rooster", "functions": ["coordinator"]},
    ]
    people[0]["telegram_user_id"] = BGM
    people[2]["telegram_user_id"] = COORD
    functions: list[dict[str, Any]] = [{"key": "coordinator", "name": "Piketcoördinator"}]
    rotations = []
    for f in FUNCTIONS:
        spec: dict[str, Any] = {"key": f.key, "name": f.name}
        if f.key == "rol":
            spec["escalation"] = {
                "repeat_after_minutes": 5,
                "repeats": 1,
                "steps": ["on_duty", "backup", {"function": "coordinator"}],
            }
        functions.append(spec)
        for backup in (False, True):
            person: dict[str, Any] = {
                "key": person_key(f, backup),
                "name": person_name(2 * f.index + backup),
                "functions": [f.key],
            }
            if f.telegram:
                person["telegram_user_id"] = tg_id(f, backup)
            else:
                person["slack_user_id"] = slack_id(f, backup)
            people.append(person)
        rotations.append(
            {
                "function": f.key,
                "members": [person_key(f, False), person_key(f, True)],
                "start": start,
                "shift_days": 7,
            }
        )
    team = {
        "key": "gbt",
        "kind": "GBT",
        "name": "GBT",
        "norm_minutes": 60,
        "answer_minutes": 10,
        "members": [
            f.key if f.required else {"function": f.key, "required": False} for f in FUNCTIONS
        ],
    }
    doc = {
        "region": {"code": "VRU", "name": "Veiligheidsregio Bench", "timezone": "Europe/Amsterdam"},
        "settings": {"alarm_functions": ["rol"], "teams": [team]},
        "functions": functions,
        "people": people,
        "gemeenten": [{"key": "soest", "name": "Soest", "burgemeester": "bgm"}],
        "rotations": rotations,
        "chats": [{"key": "meldkamer", "name": "Meldkamer VRU", "telegram_chat_id": GROUP}],
    }
    return yaml.safe_dump(doc, sort_keys=False, allow_unicode=True)


# --- the fakes, stamping what they accept ---------------------------------------------------


@dataclass
class Seen:
    at: float  # perf_counter when the fake accepted it
    platform: str
    chat: str
    kind: str  # send | edit
    text: str  # as the person sees it now


@dataclass
class Refusal:
    at: float
    platform: str
    method: str
    chat: str
    reason: str  # per chat | overall | per group
    board: bool  # it would have shown a board


class Log:
    def __init__(self) -> None:
        self.seen: list[Seen] = []
        self.refused: list[Refusal] = []
        self.served: dict[int, float] = {}  # Telegram update id -> served by getUpdates
        self.page_waiters: dict[str, asyncio.Future[Any]] = {}  # chat -> its first page

    def add(self, seen: Seen, page: Any) -> None:
        self.seen.append(seen)
        waiter = self.page_waiters.get(seen.chat)
        if seen.kind == "send" and seen.text.startswith(PAGE) and waiter and not waiter.done():
            waiter.set_result(page)


class BenchTelegram(FakeTelegram):
    def __post_init__(self) -> None:
        super().__post_init__()
        self.log = Log()
        self._ok_at: dict[int, list[float]] = {}

    def _flood(self, method: str, params: dict[str, Any]) -> int | None:
        retry_after = super()._flood(method, params)
        if not method.startswith(LIMITED_PREFIXES) or "chat_id" not in params:
            return retry_after
        now, chat = time.perf_counter(), params["chat_id"]
        if retry_after is None:
            self._ok_at.setdefault(chat, []).append(now)
            return None
        recent = [t for t in self._ok_at.get(chat, []) if t > now - 1.0]
        reason = "per chat" if recent else "per group" if chat < 0 else "overall"
        html = str(params.get("text", ""))
        self.log.refused.append(Refusal(now, "telegram", method, str(chat), reason, BOARD in html))
        return retry_after

    async def _api_getupdates(self, params: dict[str, Any]) -> Any:
        batch = await super()._api_getupdates(params)
        now = time.perf_counter()
        for update in batch:
            self.log.served.setdefault(update["update_id"], now)
        return batch

    async def _api_sendmessage(self, params: dict[str, Any]) -> Any:
        at = time.perf_counter()
        result = await super()._api_sendmessage(params)
        sent = self.chats[params["chat_id"]][-1]
        self.log.add(Seen(at, "telegram", str(sent.chat_id), "send", sent.text), sent)
        return result

    async def _api_editmessagetext(self, params: dict[str, Any]) -> Any:
        at = time.perf_counter()
        result = await super()._api_editmessagetext(params)
        sent = self._find(params)
        self.log.add(Seen(at, "telegram", str(sent.chat_id), "edit", sent.text), sent)
        return result


class BenchSlack(FakeSlack):
    def __post_init__(self) -> None:
        super().__post_init__()
        self.log = Log()

    def _flood(self, method: str, params: dict[str, Any]) -> int | None:
        retry_after = super()._flood(method, params)
        if retry_after is not None:
            chat = str(params.get("channel") or params.get("channel_id"))
            board = BOARD in json.dumps(params.get("blocks") or "", ensure_ascii=False)
            self.log.refused.append(
                Refusal(time.perf_counter(), "slack", method, chat, "per chat", board)
            )
        return retry_after

    def _chat_postMessage(self, params: dict[str, Any]) -> dict[str, Any]:
        result = super()._chat_postMessage(params)
        posted = self.channels[result["channel"]][-1]
        self.log.add(
            Seen(time.perf_counter(), "slack", posted.channel, "send", posted.body()), posted
        )
        return result

    def _chat_update(self, params: dict[str, Any]) -> dict[str, Any]:
        result = super()._chat_update(params)
        posted = next(p for p in self.channels[result["channel"]] if p.ts == result["ts"])
        self.log.add(
            Seen(time.perf_counter(), "slack", posted.channel, "edit", posted.body()), posted
        )
        return result


# --- driving the bot through both platforms ---------------------------------------------------


async def until(check: Callable[[], Any], what: str, within: float = 30.0) -> Any:
    """Poll `check` until it returns something truthy (the fakes run on this loop)."""
    deadline = time.perf_counter() + within
    while not (found := check()):
        if time.perf_counter() > deadline:
            raise TimeoutError(f"waited {within:.0f} s for {what}")
        await asyncio.sleep(0.01)
    return found


def sign(body: str, timestamp: int) -> str:
    base = f"v0:{timestamp}:{body}".encode()
    return "v0=" + hmac.new(SECRET.encode(), base, hashlib.sha256).hexdigest()


@dataclass
class Answer:
    function: Function
    backup: bool
    choice: str
    platform: str
    at: float = math.nan  # served (Telegram) or posted (Slack)
    update_id: int = 0  # Telegram


@dataclass
class Driver:
    tg: BenchTelegram
    slack: BenchSlack
    http: aiohttp.ClientSession
    url: str  # the Slack route of the instance's HTTP server
    rng: random.Random
    answers: list[Answer] = field(default_factory=list)
    missing: list[str] = field(default_factory=list)  # members whose page never came
    _n: int = 0

    # Telegram: updates pushed to the fake, which serves them to the bot's long poll.
    def tg_button(self, chat: int, label: str) -> Any:
        for sent in reversed(self.tg.messages(chat)):
            if label in sent.labels:
                return sent
        return None

    async def tg_press(self, chat: int, label: str) -> int:
        sent = await until(lambda: self.tg_button(chat, label), f"{label!r} in chat {chat}")
        update = self.tg.callback_update(chat, dict(sent.buttons)[label], message=sent)
        self.tg.push(update)
        return int(update["update_id"])

    # Slack: signed requests to the bot's HTTP route, as Slack sends them.
    def slack_button(self, user: str, label: str) -> Posted | None:
        for posted in reversed(self.slack.dm(user)):
            if posted.button_value(label) is not None:
                return posted
        return None

    async def post(self, fields: dict[str, str]) -> float:
        body = urlencode(fields)
        ts = int(time.time())
        headers = {
            "Content-Type": "application/x-www-form-urlencoded",
            "X-Slack-Request-Timestamp": str(ts),
            "X-Slack-Signature": sign(body, ts),
        }
        at = time.perf_counter()
        async with self.http.post(self.url, data=body.encode(), headers=headers) as response:
            await response.read()
            assert response.status == 200, response.status
        return at

    async def slack_command(self, user: str, text: str) -> None:
        self._n += 1
        await self.post(
            {
                "token": "x",
                "team_id": "T0SCMTEST",
                "channel_id": FakeSlack.dm_channel(user),
                "channel_name": "directmessage",
                "user_id": user,
                "user_name": user.lower(),
                "command": "/scm",
                "text": text,
                "api_app_id": "A0SCMBOT",
                "response_url": f"{self.slack.base_url}response",
                "trigger_id": f"{self._n}.bench.trigger",
            }
        )

    async def slack_click(self, user: str, label: str, posted: Posted | None = None) -> float:
        if posted is None:
            posted = await until(lambda: self.slack_button(user, label), f"{label!r} for {user}")
        element = next(e for e in posted.buttons() if e["text"]["text"] == label)
        self._n += 1
        payload = {
            "type": "block_actions",
            "user": {"id": user, "username": user.lower(), "team_id": "T0SCMTEST"},
            "api_app_id": "A0SCMBOT",
            "token": "x",
            "container": {
                "type": "message",
                "message_ts": posted.ts,
                "channel_id": posted.channel,
                "is_ephemeral": False,
            },
            "trigger_id": f"{self._n}.bench.click",
            "team": {"id": "T0SCMTEST", "domain": "scm-test"},
            "channel": {"id": posted.channel, "name": "directmessage"},
            "message": {"type": "message", "ts": posted.ts, "text": posted.text},
            "response_url": f"{self.slack.base_url}response",
            "actions": [
                {
                    "action_id": element["action_id"],
                    "block_id": "b1",
                    "text": {"type": "plain_text", "text": label},
                    "value": element["value"],
                    "type": "button",
                    "action_ts": f"{time.time():.6f}",
                }
            ],
        }
        return await self.post({"payload": json.dumps(payload)})

    # A member: waits for their page, answers after a while, as drawn.
    def expect_page(self, f: Function, backup: bool) -> asyncio.Future[Any]:
        chat = chat_of(f, backup)
        log = self.tg.log if f.telegram else self.slack.log
        waiter: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        log.page_waiters[chat] = waiter
        return waiter

    def draw(self) -> tuple[str, float]:
        r, choice = self.rng.random(), "none"
        for name, weight in ANSWERS:
            if r < weight:
                choice = name
                break
            r -= weight
        delay = min(max(self.rng.lognormvariate(math.log(8.0), 0.7), 2.0), 40.0)
        return choice, delay

    def plan(self) -> dict[tuple[int, bool], tuple[str, float]]:
        """Every member's answer and delay, drawn up front (the same in every run)."""
        plans = {}
        for f in FUNCTIONS:
            for backup in (False, True):
                choice, delay = self.draw()
                if backup and choice in ("not", "none"):
                    choice = "30"  # the backup comes
                if f.key in ("technisch-voorzitter", "rol"):
                    choice = "15"  # the two members who also hold a board come
                plans[f.index, backup] = choice, delay
        return plans

    async def member(
        self,
        f: Function,
        backup: bool,
        page: asyncio.Future[Any],
        plans: dict[tuple[int, bool], tuple[str, float]],
    ) -> None:
        choice, delay = plans[f.index, backup]
        try:
            found = await asyncio.wait_for(page, 60.0)
        except TimeoutError:
            self.missing.append(person_key(f, backup))
            return
        if choice == "none":
            return
        await asyncio.sleep(delay)
        backup_page = self.expect_page(f, True) if choice == "not" else None
        answer = Answer(f, backup, choice, "telegram" if f.telegram else "slack")
        self.answers.append(answer)
        if f.telegram:
            user = tg_id(f, backup)
            update = self.tg.callback_update(
                user, dict(found.buttons)[LABEL[choice]], message=found
            )
            answer.update_id = int(update["update_id"])
            self.tg.push(update)
        else:
            answer.at = await self.slack_click(slack_id(f, backup), LABEL[choice], found)
        if backup_page is not None:
            await self.member(f, True, backup_page, plans)


def chat_of(f: Function, backup: bool) -> str:
    return str(tg_id(f, backup)) if f.telegram else FakeSlack.dm_channel(slack_id(f, backup))


def commit_probe(engine: Any) -> dict[str, float]:
    """When the transaction that stored the call-out commits (SQLAlchemy's public events
    on the units of work's engine)."""
    found: dict[str, float] = {}
    writing: set[int] = set()

    def after(conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        if statement.lstrip().upper().startswith("INSERT INTO BT_CALLOUT "):
            writing.add(id(conn))

    def commit(conn: Any) -> None:
        if id(conn) in writing:
            writing.discard(id(conn))
            found.setdefault("commit", time.perf_counter())

    event.listen(engine, "after_cursor_execute", after)
    event.listen(engine, "commit", commit)
    return found


# --- one run --------------------------------------------------------------------------------


@dataclass
class Run:
    kind: str
    convene: float = math.nan  # the press served -> the call-out committed, s
    pages: dict[str, list[float]] = field(default_factory=dict)  # platform -> s after commit
    refused: list[Refusal] = field(default_factory=list)
    latency: dict[str, list[float]] = field(default_factory=dict)  # viewer platform -> s
    viewers: list[str] = field(default_factory=list)
    answers: Counter[str] = field(default_factory=Counter)
    backup_pages: list[float] = field(default_factory=list)  # "niet" served -> backup paged
    board_edits: dict[str, int] = field(default_factory=dict)
    min_gap: dict[str, float] = field(default_factory=dict)  # viewer chat -> s
    missing: list[str] = field(default_factory=list)
    wall: float = math.nan
    board_chars: int = 0  # the longest board text a viewer was shown
    truncated: int = 0  # board messages cut short ("…" at the end: the rest is not shown)


def shows(text: str, answer: Answer) -> bool:
    """The board `text` shows `answer` on its function's line, or, on a board grouped by
    where functions stand (a large team's), in the function's item of its group."""
    f = answer.function
    name = person_name(2 * f.index + answer.backup)
    if "✅ Komen of gezien (" in text or "⏳ Opgeroepen, nog geen antwoord (" in text:
        if answer.choice == "not":
            return f"{name} ({f.name})" in text.split("❌ Komen niet (", 1)[-1]
        coming = text.split("✅ Komen of gezien (", 1)[-1].split("\n\n", 1)[0]
        label = re.escape(f.name + (" *" if f.required else ""))
        return any(name in m for m in re.findall(rf"(?:^|, |: ){label} \(([^)]*)\)", coming))
    label = f.name + (" *" if f.required else "") + ": "
    want = "komt niet: " if answer.choice == "not" else "komt: "
    for line in text.splitlines():
        body = line.split(" ", 1)[1] if " " in line else ""
        if body.startswith(label):
            return any(
                seg.startswith(want) and name in seg for seg in body[len(label) :].split("; ")
            )
    return False


def latencies(d: Driver, events: dict[str, list[Seen]], viewers: list[str]) -> dict[str, float]:
    """Per answer and viewer chat: answer -> first board message there that shows it."""
    found: dict[str, float] = {}
    for n, answer in enumerate(d.answers):
        for chat in viewers:
            shown = next(
                (
                    e.at - answer.at
                    for e in events[chat]
                    if e.at >= answer.at and e.text.startswith(BOARD) and shows(e.text, answer)
                ),
                math.inf,
            )
            found[f"{n}:{chat}"] = shown
    return found


def by_chat(tg: BenchTelegram, slack: BenchSlack) -> dict[str, list[Seen]]:
    events: dict[str, list[Seen]] = {}
    for e in sorted([*tg.log.seen, *slack.log.seen], key=lambda e: e.at):
        events.setdefault(f"{e.platform}:{e.chat}", []).append(e)
    return events


async def pending(app: Any) -> int:
    async with app.uows() as uow:
        return int(await uow.outbox.count_pending())


async def call_out(kind: str, url: str) -> Run:
    run = Run(kind)
    started = time.perf_counter()
    setup = make_engine(url)
    await load_region(setup, region_yaml())
    await setup.dispose()
    tg = BenchTelegram(limit_overall=30, limit_per_chat=1, limit_per_group=20)
    slack = BenchSlack(limit_per_channel=1)
    await tg.start()
    await slack.start()
    tg_transport = TelegramTransport()  # the default limits
    slack_transport = SlackTransport(BOT_TOKEN, base_url=slack.base_url)
    try:
        async with running(url, [tg_transport, slack_transport], SystemClock()) as app:
            probe = commit_probe(app.uows.statement_engine)
            bot = TelegramBot(app.inbox, token=TOKEN, base_url=tg.base_url, transport=tg_transport)
            sbot = SlackBot(
                app.inbox,
                bot_token=BOT_TOKEN,
                signing_secret=SECRET,
                base_url=slack.base_url,
                mode="http",
            )
            server = HttpServer("127.0.0.1", 0, sbot.routes())
            await bot.start()
            await sbot.start()
            await server.start()
            try:
                async with aiohttp.ClientSession() as http:
                    url_ = f"http://127.0.0.1:{server.port}/slack/events"
                    d = Driver(tg, slack, http, url_, random.Random(SEED))
                    await drive(app, d, run, probe)
            finally:
                await server.stop()
                await sbot.stop()
                await bot.stop()
    finally:
        await tg.close()
        await slack.close()
    run.wall = time.perf_counter() - started
    return run


async def drive(app: Any, d: Driver, run: Run, probe: dict[str, float]) -> None:
    tg, slack = d.tg, d.slack
    rol = slack_id(FUNCTIONS[30], False)
    await d.slack_command(CACO, "alarm Soest: gaslek Kerkstraat, 20 woningen ontruimd")
    await d.slack_click(CACO, "Bevestigen en pagen")
    await d.slack_click(rol, "Ik pak het op")
    await until(lambda: d.slack_button(rol, "Ik pak het op") is None, "the ROL's answer")
    tg.push(tg.text_update(BGM, "/bt bijeenroepen"))
    await d.tg_press(BGM, "Norm")
    await until(lambda: any("Waar?" in t for t in tg.texts(BGM)), "the place question")
    tg.push(tg.text_update(BGM, "Gemeentehuis Soest"))
    await until(lambda: d.tg_button(BGM, "Bevestigen en oproepen"), "the composition", 60)
    for _ in range(600):  # the alarm's messages are out: the call-out starts calm
        if not await pending(app):
            break
        await asyncio.sleep(0.1)
    await asyncio.sleep(1.0)
    plans = d.plan()
    members = [
        asyncio.create_task(d.member(f, False, d.expect_page(f, False), plans)) for f in FUNCTIONS
    ]
    press = await d.tg_press(BGM, "Bevestigen en oproepen")
    await asyncio.gather(*members)
    for answer in d.answers:
        if answer.platform == "telegram":
            served = functools.partial(tg.log.served.get, answer.update_id)
            answer.at = await until(served, "an answer served")
    # The boards settle: every answer shown in every viewer's chat, or 10 s pass.
    deadline = time.perf_counter() + 10.0
    while time.perf_counter() < deadline:
        events = by_chat(tg, slack)
        viewers = [c for c, es in events.items() if any(e.text.startswith(BOARD) for e in es)]
        if all(math.isfinite(x) for x in latencies(d, events, viewers).values()):
            break
        await asyncio.sleep(0.25)
    await asyncio.sleep(1.5)  # anything refused or sent late would show now
    collect(run, d, probe["commit"], tg.log.served[press])


def collect(run: Run, d: Driver, commit: float, press: float) -> None:
    tg, slack = d.tg, d.slack
    run.convene = commit - press
    events = by_chat(tg, slack)
    for f in FUNCTIONS:
        platform = "telegram" if f.telegram else "slack"
        chat = f"{platform}:{chat_of(f, False)}"
        first = next((e.at for e in events.get(chat, []) if e.text.startswith(PAGE)), math.inf)
        run.pages.setdefault(platform, []).append(first - commit)
    run.refused = [*tg.log.refused, *slack.log.refused]
    run.viewers = [c for c, es in events.items() if any(e.text.startswith(BOARD) for e in es)]
    found = latencies(d, events, run.viewers)
    for key, value in found.items():
        run.latency.setdefault(key.split(":")[1], []).append(value)
    run.answers = Counter(a.choice for a in d.answers)
    for a in d.answers:
        if a.choice == "not" and not a.backup:
            chat = f"{a.platform}:{chat_of(a.function, True)}"
            paged = next((e.at for e in events.get(chat, []) if e.text.startswith(PAGE)), math.inf)
            run.backup_pages.append(paged - a.at)
    for chat in run.viewers:
        board = [e for e in events[chat] if e.text.startswith(BOARD)]
        run.board_edits[chat] = sum(1 for e in board if e.kind == "edit")
        times = [e.at for e in events[chat] if e.at >= commit]
        gaps = [b - a for a, b in itertools.pairwise(times)]
        run.min_gap[chat] = min(gaps) if gaps else math.nan
    run.missing = d.missing
    boards = [e for chat in run.viewers for e in events[chat] if e.text.startswith(BOARD)]
    run.board_chars = max((len(e.text) for e in boards), default=0)
    run.truncated = sum(1 for e in boards if e.text.rstrip().endswith("…"))


# --- the report -------------------------------------------------------------------------------


def fmt(x: float, unit: float = 1.0, digits: int = 2) -> str:
    return "never" if math.isinf(x) else "-" if math.isnan(x) else f"{x * unit:.{digits}f}"


MINIMUM = {"telegram": 30 / TG_RATE, "slack": 30 / SLACK_RATE}


def page_rows(run: Run) -> list[list[str]]:
    rows = []
    for platform in ("telegram", "slack"):
        times = run.pages.get(platform, [])
        last, minimum = max(times), MINIMUM[platform]
        rows.append(
            [
                run.kind,
                platform,
                f"{sum(math.isfinite(t) for t in times)}/{len(times)}",
                fmt(min(times)),
                f"**{fmt(last)}**",
                f"{minimum:.2f}",
                f"{last / minimum:.2f}x",
            ]
        )
    both = max(max(ts) for ts in run.pages.values())
    minimum = max(MINIMUM.values())
    rows.append(
        [run.kind, "both", "", "", f"**{fmt(both)}**", f"{minimum:.2f}", f"{both / minimum:.2f}x"]
    )
    return rows


def pages_met(run: Run) -> bool:
    return all(max(run.pages[p]) <= PAGE_TARGET * MINIMUM[p] for p in MINIMUM)


def board_refusals(run: Run) -> list[Refusal]:
    return [r for r in run.refused if r.board and r.reason == "per chat"]


def all_latencies(run: Run) -> list[float]:
    return [x for xs in run.latency.values() for x in xs]


def readme_body(runs: list[Run]) -> str:
    lines = [
        "`.venv/bin/python -m benchmarks.bt_callout` (~2.5 min; `--sqlite-only`). "
        + machine().markdown(),
        "",
        "A GBT of 60 functions (52 required; each a rotation of two, on duty and backup), "
        "the first 30 on Telegram, the other 30 on Slack, called out by the burgemeester on "
        "Telegram after the Caco's alarm (Slack) was taken by the ROL (Slack). The bot runs as "
        "`scm-bot run` runs it (`scm_bot.instance.running`: inbox loop, delivery, APScheduler "
        "on the real clock, so the board's refresh timer row really fires) "
        "with the real `TelegramTransport` + `TelegramBot` (python-telegram-bot, long polling) "
        "and `SlackTransport` + `SlackBot` (bolt, HTTP mode behind the instance's HTTP server), "
        "both at their default limits (Telegram 29/s, 1/s per chat, 3 s per group; Slack 20/s, "
        "1/s per channel). The fakes enforce the platforms' limits: Telegram 30 sends a second "
        "overall, 1 a second per chat, 20 a minute per group, edits included "
        "(`FakeTelegram(limit_overall=30, limit_per_chat=1, limit_per_group=20)`); Slack 1 a "
        "second per channel for posts, updates and file shares "
        "(`FakeSlack(limit_per_channel=1)`); beyond a limit a 429 with `retry_after` / "
        "`Retry-After`, not counted. Board viewers: the burgemeester and the technisch "
        "voorzitter (a member) on Telegram, the Caco and the ROL (a member) on Slack. Members "
        "answer after their page reached them (seeded draw: 35% binnen 15, 30% binnen 30, 15% "
        "binnen 60, 12% Ik kom niet, which pages the backup, who then comes; 8% never answer; "
        'delay lognormal around 8 s, 2-40 s); each answer brings its page\'s edit, "je komt" '
        "and the aandachtskaart (text and PDF) into the member's chat.",
        "",
        "**Pages**: from the commit of the convening transaction (SQLAlchemy's `commit` event) "
        "until the fake accepted the last of the first pages, per platform. Minimum = pages / "
        f"the platform's overall rate: Telegram 30 / {TG_RATE:g} per s; Slack publishes no "
        "workspace-wide figure for chat.postMessage (only about one a second per channel), so "
        f"the bot's own Slack rate, 30 / {SLACK_RATE:g} per s. Both platforms go side by side: "
        "the minimum for both is the larger one.",
        "",
        table(
            [
                "DB",
                "platform",
                "first pages accepted",
                "first s",
                "last s",
                "minimum s",
                "x minimum",
            ],
            [row for run in runs for row in page_rows(run)],
        ),
        "",
        "Convening (the burgemeester's press served to the bot -> the call-out's transaction "
        "committed): "
        + ", ".join(f"{r.kind} {fmt(r.convene, 1000, 0)} ms" for r in runs)
        + '. "Ik kom niet" served -> the backup\'s page accepted: '
        + ", ".join(
            f"{r.kind} p50 {fmt(percentile(r.backup_pages, 50))} s, max "
            f"{fmt(max(r.backup_pages, default=math.nan))} s ({len(r.backup_pages)})"
            for r in runs
        )
        + ".",
        "",
        "**429s** from the fakes, the whole run (alarm and convening included), by method and "
        "reason (per chat: the chat had a message accepted within the last second):",
        "",
    ]
    rows = []
    for run in runs:
        counted = Counter(
            (r.platform, r.method, r.reason, "board" if r.board else "other") for r in run.refused
        )
        rows += [[run.kind, *key, str(n)] for key, n in sorted(counted.items())]
        if not counted:
            rows.append([run.kind, "-", "-", "-", "-", "0"])
    lines += [table(["DB", "platform", "method", "reason", "message", "429s"], rows), ""]
    lines += [
        "**Board latency**: per answer and per viewer's chat, from the answer being served to "
        "the bot (Telegram: the fake's getUpdates returns it; Slack: the interaction is POSTed "
        "to the bot) until the fake accepted the first board message in that chat that shows "
        "it (its function's line says `komt: <name>` / `komt niet: <name>`). s.",
        "",
        table(
            [
                "DB",
                "viewers' platform",
                "answers x viewers",
                "p50",
                "p99",
                "max",
                "never shown",
            ],
            [
                [
                    run.kind,
                    platform,
                    str(len(xs)),
                    fmt(percentile(xs, 50)),
                    fmt(percentile(xs, 99)),
                    fmt(max(xs)),
                    str(sum(math.isinf(x) for x in xs)),
                ]
                for run in runs
                for platform, xs in sorted(run.latency.items())
            ]
            + [
                [
                    f"**{run.kind}**",
                    "**all**",
                    str(len(all_latencies(run))),
                    f"**{fmt(percentile(all_latencies(run), 50))}**",
                    f"**{fmt(percentile(all_latencies(run), 99))}**",
                    f"**{fmt(max(all_latencies(run)))}**",
                    str(sum(math.isinf(x) for x in all_latencies(run))),
                ]
                for run in runs
            ],
        ),
        "",
        "Board edits per viewer's chat, and the shortest gap between two messages the fake "
        "accepted in that chat from the call-out on: "
        + "; ".join(
            f"{run.kind}: "
            + ", ".join(
                f"{chat} {run.board_edits[chat]} edits, {fmt(run.min_gap[chat])} s"
                for chat in run.viewers
            )
            for run in runs
        )
        + ". Answers: "
        + "; ".join(
            f"{run.kind} " + ", ".join(f"{k} {n}" for k, n in sorted(run.answers.items()))
            for run in runs
        )
        + ". Run wall time: "
        + ", ".join(f"{run.kind} {run.wall:.0f} s" for run in runs)
        + ".",
        "",
    ]
    for run in runs:
        xs = all_latencies(run)
        p99 = percentile(xs, 99)
        lines.append(
            f"- {run.kind}: pages within {PAGE_TARGET}x the minimum: "
            + ("**met**" if pages_met(run) else "**NOT met**")
            + f" (both platforms {fmt(max(max(ts) for ts in run.pages.values()))} s against "
            f"{max(MINIMUM.values()):.2f} s); board edits refused for the per-chat limit: "
            f"{len(board_refusals(run))} ("
            + ("**met**" if not board_refusals(run) else "**NOT met**")
            + f"); board p99 {fmt(p99)} s <= {BOARD_TARGET:g} s: "
            + ("**met**" if p99 <= BOARD_TARGET else "**NOT met**")
            + (f". Pages that never came: {', '.join(run.missing)}" if run.missing else "")
            + "."
        )
    lines += [
        "",
        "Changed in the bot for this benchmark (`scm_bot/pacer.py`, `scm_bot/delivery.py`). "
        "Before, on SQLite (2026-12-03 12:51 UTC, load 1.4): 63 429s, 13 of them board edits "
        "refused for the per-chat limit, board latency p50 5.20 s, p99 17.30 s, max 17.93 s. "
        "(1) A chat's next turn counted from its sending slot; the request then waited for the "
        "ledger's `sending` commit (a send) or went at once (an edit), so two requests to one "
        "chat could reach the platform less than a second apart: refused. Now the turn also "
        "counts from the answer to the chat's previous request (`Pacer.answered`). (2) The "
        "board is refreshed about every second while answers come in, and a viewer's chat "
        "takes a message a second: a chat that fell behind once (a 429, a member's own "
        "messages) queued stale board edits and never caught up. Now an edit that a later "
        "edit of the same topic in the worker's batch replaces is finished as `superseded` "
        "without a request (`delivery.superseded`). Session 9, measured side by side with the "
        "code before it (2026-12-03 15:17 UTC, load 1.1-1.9): board p99 SQLite 9.18 -> 2.26 s, "
        "PostgreSQL 6.20 -> 2.37 s. (3) A member who is also a viewer (the ROL, the technisch "
        'voorzitter) gets the page\'s edit, "je komt" and the aandachtskaart (text and PDF) '
        "with each answer; at a message a second the board waited behind them. Now an edit of "
        "a message the chat already shows may go ahead of new messages queued before it, and "
        "after it went ahead the oldest new message goes next (`scm_bot/turns.py`); a worker "
        "picks its next row when the chat's turn comes, from all rows queued by then, so a "
        "newer board edit replaces the one waiting. (4) The refresh was made due a second after "
        "the board was last shown, at once after a quiet spell (it was always a second ahead). "
        "(5) The aandachtskaart's PDF is drawn once per call-out, language and analyse version "
        '(0.15-0.5 s of blocked event loop per "Ik kom" before).'
        " (6) The aandachtskaart's PDF follows the card as a message of its own, the file "
        "alone (one request on each platform), so a board edit can go between the two; and a "
        'member\'s first "Ik kom" is noted at the top of the card instead of in a message of '
        "its own. Runs after (1)-(6): SQLite p99 1.88 s and 2.07 s, PostgreSQL 2.09 s and "
        "1.90 s (AMD EPYC, 15:53 and 15:57 UTC): at the target, not reliably under it. "
        "Session 10 (Intel Xeon, 2026-12-03 17:56-18:20 UTC), the slowest answers traced "
        "through the fakes' logs and the database's commits: a refresh timer due a second "
        "after the last suits one chat's turns, not four chats' (the Telegram viewers' turns "
        "fell half a second after it), and a board edit that had waited a turn went out with "
        "the text of a second ago while the next refresh committed a few milliseconds too late "
        "for that turn. (7) The refresh is due at once; keeping each chat to one edit a second "
        "is delivery's (the newest board edit at the chat's turn, the rest superseded). (8) "
        "The newest board edit takes the place in the queue of the first edit it replaced, "
        "instead of waiting behind the member-viewer's own page edit queued between them; and "
        "once the oldest row went, an edit may go ahead again (`scm_bot/turns.py`). (9) The "
        'convener\'s "GBT is opgeroepen" goes before the board, during the pages, not between '
        "two board edits. Same machine, same hour, before (7)-(9): SQLite p99 1.89 s and 1.90 s, "
        "PostgreSQL 2.03 s and 2.71 s; after (7)-(9): SQLite 1.59 s and 1.58 s, PostgreSQL "
        "1.98 s and 2.07 s. What remained near 2 s: a member-viewer's chat (the ROL, the "
        "technisch voorzitter) took their own page edit, aandachtskaart and its PDF, each a "
        "turn in which the board could not go, so an answer just after a board edit there "
        "waited for that turn and the next. (10) The aandachtskaart and its PDF are reading "
        "for a meeting most of an hour away: in a chat that holds a board, the board's edits "
        "go first while they keep coming, for at most 30 s (`turns.for_later`); in a chat "
        "without one nothing is queued to wait for. After (10): the tables above.",
    ]
    for run in runs:
        if run.truncated:
            lines += [
                "",
                f"Found, not fixed ({run.kind}): the board of 60 functions is longer than one "
                f"Telegram message ({run.board_chars} characters at its longest, as Slack "
                "showed it whole; Telegram takes 4096): the first board went out as two "
                "messages, and an edit reaches only the last one, cut to one message with "
                f"an ellipsis ({run.truncated} board messages in the viewers' chats ended in an "
                "ellipsis). Lines past the cut (the last functions: the liaisons) show only "
                "once answers make the board short enough, which is the Telegram viewers' "
                "tail above, and the first message keeps the first board. Making the board "
                'fit one message (shorter lines for functions still waiting, the "Nog '
                "open\" list as a count when long) is a change of the board's layout and "
                "texts, left for its own change.",
            ]
            break
    lines += ["", f"Logged (warning and above): {log_summary()}."]
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sqlite-only", action="store_true")
    parser.add_argument("--no-readme", action="store_true", help="only print")
    args = parser.parse_args()
    quiet_logging()
    kinds = ["sqlite"] if args.sqlite_only else available_kinds()
    runs = []
    for kind in kinds:
        with database(kind) as url:
            run = asyncio.run(call_out(kind, url))
        runs.append(run)
        xs = all_latencies(run)
        print(
            f"{kind}: pages {', '.join(f'{p} {fmt(max(ts))} s' for p, ts in run.pages.items())}; "
            f"429s {len(run.refused)} (board per chat {len(board_refusals(run))}); board p50 "
            f"{fmt(percentile(xs, 50))} p99 {fmt(percentile(xs, 99))} max {fmt(max(xs))} s",
            flush=True,
        )
    body = readme_body(runs)
    print()
    print(body)
    if not args.no_readme:
        update_readme("bt_callout", "BT call-out: 60 functions on Telegram and Slack", body)


if __name__ == "__main__":
    main()
