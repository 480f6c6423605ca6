"""Alert -> page latency through the real Telegram stack, beside a bare python-telegram-bot.

One fake Bot API server on loopback (`tests.helpers.fake_telegram.FakeTelegram`, one aiohttp server
on one port) hosts two bot tokens, each with its own updates and chats:

- scm-bot: the whole bot as `scm-bot run` runs it (`scm_bot.instance.running` on SQLite: the
  inbox loop, the delivery loop, APScheduler for the timers, `SystemClock`), the test region
  (`tests.helpers`) with Telegram ids, and a started `TelegramBot(app.inbox, ...)` with its
  own long-polling loop: an update is stored in the inbox (`Inbox.accept`) before the next
  getUpdates confirms it; the inbox loop hands the fresh event to `Router.handle`; the
  commit hands the page row to a delivery worker (`Deliverer.offer`), which sends part by
  part, committing the ledger's `sending` before each part (the outcome goes with the
  row's next write). The units of work run on the event loop through SQLAlchemy's
  synchronous SQLite engine, each beginning with `BEGIN IMMEDIATE`.
  Each iteration the Caco sends `/alarm Soest: bench-NNN gaslek` (not measured) and then
  presses "Bevestigen en pagen" (measured): from the moment the fake serves that
  callback_query in a getUpdates answer to the moment the fake receives the sendMessage
  that carries the ROL's page (`bench-NNN` in a ROL's chat).
- bare: a python-telegram-bot `Application` with one `CallbackQueryHandler` that answers the
  query and sends one message (HTML, two buttons, like a page) to another chat, polling the
  same server; measured the same way (served -> the relayed sendMessage received). It
  stores nothing.

The two are interleaved (alternating which goes first), after a warm-up, on one event loop.
The Telegram transport is unpaced (`per_chat_interval=0`, `per_second=1000`): the ROL gets
a page every iteration, which the default 1 s per chat would otherwise dominate. Where
scm-bot's time goes is traced through SQLAlchemy's pool and connection events
(`benchmarks._trace`): the units of work on each page's path.

    .venv/bin/python -m benchmarks.telegram_latency [--iterations 1000]
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dtm
import math
import sqlite3
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web
from sqlalchemy import text
from sqlalchemy.engine import make_url
from telegram import InlineKeyboardButton, InlineKeyboardMarkup, Update
from telegram.constants import ParseMode
from telegram.ext import Application, ApplicationBuilder, CallbackQueryHandler, ContextTypes

from benchmarks import _trace as trace
from benchmarks._common import (
    log_summary,
    machine,
    ms,
    percentile,
    quiet_logging,
    sqlite_database,
    table,
    update_readme,
)
from bots.telegram import TelegramBot, TelegramTransport
from bots.telegram.bot import ALLOWED_UPDATES
from core.clock import SystemClock
from scm_bot.app import App
from scm_bot.instance import running
from storage.database import make_engine
from tests.helpers import REGION_FILE, load_region
from tests.helpers.fake_telegram import TOKEN, FakeTelegram

BARE_TOKEN = "987654321:BBF-bare-relay-token-for-the-benchmark"
IDS = {"caco": 1001, "rol-a": 1002, "rol-b": 1003, "rol-c": 1004, "coord": 1006}
CACO = IDS["caco"]
ROL_CHATS = {IDS["rol-a"], IDS["rol-b"], IDS["rol-c"]}
BARE_FROM, BARE_TO = 7001, 7002
CONFIRM = "Bevestigen en pagen"
WAIT = 20.0  # seconds for any one step before giving up
TARGET_RATIO = 1.5

# The session 5 engine (the update handed to `Router.handle` by PTB's own Updater, the
# commit handing the page to delivery in memory), from benchmarks/README.md at commit
# 78a935c (2026-11-24, AMD EPYC, 2 cores, load 0.7): p50, p99, max ms.
BEFORE_SCM = (3.8, 5.1, 18.1)
BEFORE_BARE = (3.2, 4.0, 5.1)
BEFORE_RATIO = (1.19, 1.28)
# The same engine's own script (`git archive 78a935c`, 300 iterations) run on this machine
# on a loaded day (2026-12-03), for comparing runs under load.
SAME_LOAD = (
    "Same-load reference: the session 5 engine's own script (`git archive 78a935c`, 300 "
    "iterations), run on this machine on 2026-12-03 06:46 UTC, load 4.9-6.1: scm-bot p50 "
    "21.0 / p99 56.9 ms, bare 18.2 / 43.1 ms, ratio **1.15x / 1.32x** (met)."
)

# The path of one page, in order: (stage, the unit of work that ends it).
STAGES = (
    ("served -> stored in the inbox (`Inbox.accept`)", trace.STORE),
    ("-> handled (`Router.handle`'s transaction, the fresh event handed over)", trace.HANDLE),
    ('-> ledger "sending" committed (the commit handed the row to a worker)', trace.SENDING),
)
assert tuple(kind for _, kind in STAGES) == trace.PATH


# --- the fake server: two bots on one port ------------------------------------------------


class ProbeFake(FakeTelegram):
    """The fake, stamping (perf_counter) when it serves each update and receives each
    sendMessage and answerCallbackQuery."""

    def __post_init__(self) -> None:
        super().__post_init__()
        self.served: dict[int, float] = {}
        self.answered: list[float] = []
        self.on_send: Callable[[float, dict[str, Any]], None] | None = None

    async def _api_getupdates(self, params: dict[str, Any]) -> Any:
        batch = await super()._api_getupdates(params)
        now = time.perf_counter()
        for update in batch:
            self.served.setdefault(update["update_id"], now)
        return batch

    async def _api_sendmessage(self, params: dict[str, Any]) -> Any:
        at = time.perf_counter()
        result = await super()._api_sendmessage(params)
        if self.on_send is not None:
            self.on_send(at, params)
        return result

    async def _api_answercallbackquery(self, params: dict[str, Any]) -> Any:
        self.answered.append(time.perf_counter())
        return await super()._api_answercallbackquery(params)


class TwoBotServer:
    """One aiohttp server on loopback that hands each request to the fake of its token."""

    def __init__(self, *fakes: FakeTelegram) -> None:
        self.fakes = {f"bot{fake.token}": fake for fake in fakes}
        self._runner: web.AppRunner | None = None

    async def start(self) -> None:
        app = web.Application()
        app.router.add_route("*", "/{path:.*}", self._handle)
        self._runner = web.AppRunner(
            app, access_log=None, handle_signals=False, shutdown_timeout=1.0
        )
        await self._runner.setup()
        await web.TCPSite(self._runner, "127.0.0.1", 0).start()
        port = int(self._runner.addresses[0][1])
        for fake in self.fakes.values():
            fake.port = port

    async def _handle(self, request: web.Request) -> web.Response:
        head = request.match_info["path"].partition("/")[0]
        fake = self.fakes.get(head) or next(iter(self.fakes.values()))  # 401 for a bad one
        return await fake._handle(request)

    async def close(self) -> None:
        for fake in self.fakes.values():
            await fake.close()  # releases waiting long polls
        if self._runner is not None:
            await self._runner.cleanup()


# --- measuring -----------------------------------------------------------------------------


@dataclass
class Sample:
    total: float  # served -> page / relayed message received by the fake
    answer: float  # served -> answerCallbackQuery received
    units: list[trace.Unit] = field(default_factory=list)  # scm: the page's path (STAGES)
    served: float = math.nan
    paged_at: float = math.nan
    off_path: Counter[str] = field(default_factory=Counter)  # other units on the way

    def stage(self, i: int) -> float:
        before = self.served if i == 0 else self.units[i - 1].end
        end = self.paged_at if i == len(self.units) else self.units[i].end
        return end - before


@dataclass
class Results:
    scm: list[Sample] = field(default_factory=list)
    bare: list[Sample] = field(default_factory=list)
    missing_scm: int = 0
    missing_bare: int = 0
    unchained: int = 0  # scm pages whose path could not be followed in the trace
    units_per_iteration: Counter[str] = field(default_factory=Counter)
    round_trips_per_iteration: float = math.nan
    select_uow: float = math.nan  # one small SELECT inside a unit of work (SQLAlchemy)
    select_direct: float = math.nan  # the same through sqlite3 directly


class Watch:
    """Waits for the first sendMessage matching a predicate; its arrival time."""

    def __init__(self, fake: ProbeFake) -> None:
        self.fake = fake
        self.match: Callable[[dict[str, Any]], bool] = lambda _p: False
        self.at: float | None = None
        self.seen = asyncio.Event()
        fake.on_send = self._sent

    def expect(self, match: Callable[[dict[str, Any]], bool]) -> None:
        self.match, self.at = match, None
        self.seen.clear()

    def _sent(self, at: float, params: dict[str, Any]) -> None:
        if self.at is None and self.match(params):
            self.at = at
            self.seen.set()

    async def wait(self) -> float | None:
        try:
            await asyncio.wait_for(self.seen.wait(), WAIT)
        except TimeoutError:
            return None
        return self.at


async def until(condition: Callable[[], bool], what: str) -> None:
    deadline = time.perf_counter() + WAIT
    while not condition():
        if time.perf_counter() > deadline:
            raise RuntimeError(f"timed out waiting for {what}")
        await asyncio.sleep(0.002)


async def settled(app: App) -> None:
    """Every stored event handled and answered, the outbox empty (polled; not measured)."""
    deadline = time.perf_counter() + WAIT
    while True:
        async with app.uows() as uow:
            left = await uow.inbox.count_pending() + await uow.outbox.count_pending()
        if not left:
            await app.inbox.answered()
            return
        if time.perf_counter() > deadline:
            raise RuntimeError("scm-bot did not settle")
        await asyncio.sleep(0.002)


def follow(units: list[trace.Unit], eid: str, served: float, paged_at: float) -> Sample | None:
    """The units of work on one page's path, followed back from its arrival at the fake."""
    path = trace.follow(units, eid, served, paged_at)
    if path is None:
        return None
    return Sample(paged_at - served, math.nan, path.units, served, paged_at, path.off_path)


# --- one iteration of each ------------------------------------------------------------------


@dataclass
class Scm:
    app: App
    fake: ProbeFake
    watch: Watch
    sql: trace.SqlTrace

    async def iteration(self, i: int, results: Results, keep: bool) -> None:
        tag = f"bench-{i:03d}"
        self.fake.push_text(CACO, f"/alarm Soest: {tag} gaslek Kerkstraat")

        def prompted() -> bool:
            messages = self.fake.messages(CACO)
            return bool(messages) and tag in messages[-1].text and CONFIRM in messages[-1].labels

        await until(prompted, f"the confirmation of {tag}")
        await settled(self.app)
        update = self.fake.press_update(CACO, CONFIRM)
        self.watch.expect(lambda p: p["chat_id"] in ROL_CHATS and tag in p["text"])
        answers = len(self.fake.answered)
        self.sql.clear()
        self.sql.recording = keep
        self.fake.push(update)
        page_at = await self.watch.wait()
        await settled(self.app)
        await until(lambda: len(self.fake.answered) > answers, "the button's answer")
        self.sql.recording = False
        if page_at is None:
            results.missing_scm += keep
            return
        if not keep:
            return
        served = self.fake.served[update["update_id"]]
        units = self.sql.bot_units()
        sample = follow(units, str(update["update_id"]), served, page_at)
        if sample is None:
            results.unchained += 1
            sample = Sample(page_at - served, math.nan)
        sample.answer = self.fake.answered[answers] - served
        results.scm.append(sample)
        results.units_per_iteration.update(u.kind.split(":")[0] for u in units)
        trips = sum(u.round_trips("sqlite") for u in units)
        n = len(results.scm)
        previous = 0.0 if n == 1 else results.round_trips_per_iteration * (n - 1)
        results.round_trips_per_iteration = (previous + trips) / n


@dataclass
class Bare:
    application: Application[Any, Any, Any, Any, Any, Any]
    fake: ProbeFake
    watch: Watch
    handled: int = 0

    async def relay(self, update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        query = update.callback_query
        if query is None:
            return
        await query.answer()
        tag = (query.data or "").partition(":")[2]
        await context.bot.send_message(
            BARE_TO,
            f"<b>ALARM – reageer nu</b>\nALARMERING Soest: {tag} gaslek Kerkstraat",
            parse_mode=ParseMode.HTML,
            reply_markup=InlineKeyboardMarkup(
                [
                    [
                        InlineKeyboardButton("Ik pak het op", callback_data=f"pg:{tag}:ack"),
                        InlineKeyboardButton("Kan niet", callback_data=f"pg:{tag}:decline"),
                    ]
                ]
            ),
        )
        self.handled += 1

    async def iteration(self, i: int, results: Results, keep: bool) -> None:
        tag = f"bench-{i:03d}"
        prompt = self.fake.last(BARE_FROM)
        update = self.fake.callback_update(BARE_FROM, f"relay:{tag}", message=prompt)
        self.watch.expect(lambda p: p["chat_id"] == BARE_TO and tag in p["text"])
        answers, handled = len(self.fake.answered), self.handled
        self.fake.push(update)
        sent_at = await self.watch.wait()
        await until(lambda: self.handled > handled, "the relay handler to finish")
        if sent_at is None:
            results.missing_bare += keep
            return
        served = self.fake.served[update["update_id"]]
        if keep:
            results.bare.append(
                Sample(total=sent_at - served, answer=self.fake.answered[answers] - served)
            )


# --- the run --------------------------------------------------------------------------------


def region_text() -> str:
    text = REGION_FILE.read_text("utf-8")
    for key, user_id in IDS.items():
        text = text.replace(f"{{key: {key}, ", f"{{key: {key}, telegram_user_id: {user_id}, ")
    return text


async def measure(url: str, iterations: int, warmup: int) -> Results:
    setup = make_engine(url)
    await load_region(setup, region_text())
    await setup.dispose()
    scm_fake, bare_fake = ProbeFake(), ProbeFake(token=BARE_TOKEN)
    server = TwoBotServer(scm_fake, bare_fake)
    await server.start()
    results = Results()
    transport = TelegramTransport(per_chat_interval=0.0, per_second=1000.0)
    try:
        async with running(url, [transport], SystemClock()) as app:
            sql = trace.SqlTrace(app.uows.statement_engine, "sqlite", trace.classify)
            tg = TelegramBot(  # as scm_bot.runtime wires it
                app.inbox,
                token=TOKEN,
                base_url=scm_fake.base_url,
                transport=transport,
                poll_timeout=10.0,
            )
            bare_app = (
                ApplicationBuilder()
                .token(BARE_TOKEN)
                .base_url(bare_fake.base_url)
                .job_queue(None)
                .build()
            )
            bare = Bare(bare_app, bare_fake, Watch(bare_fake))
            bare_app.add_handler(CallbackQueryHandler(bare.relay))
            await tg.start()
            await bare_app.initialize()
            await bare_app.start()
            assert bare_app.updater is not None
            await bare_app.updater.start_polling(
                timeout=dtm.timedelta(seconds=10),
                allowed_updates=list(ALLOWED_UPDATES),
                drop_pending_updates=False,
            )
            try:
                await bare_app.bot.send_message(
                    BARE_FROM,
                    "Doorsturen?",
                    parse_mode=ParseMode.HTML,
                    reply_markup=InlineKeyboardMarkup(
                        [[InlineKeyboardButton("Doorsturen", callback_data="relay:x")]]
                    ),
                )
                await settled(app)
                scm = Scm(app, scm_fake, Watch(scm_fake), sql)
                for i in range(warmup + iterations):
                    keep = i >= warmup
                    pair = (scm, bare) if i % 2 == 0 else (bare, scm)
                    for side in pair:
                        await side.iteration(i, results, keep)
                    if keep and (i - warmup + 1) % 50 == 0:
                        print(f"  {i - warmup + 1} iterations", flush=True)
                sql.detach()
                await statement_cost(app, url, results)
            finally:
                if bare_app.updater.running:
                    await bare_app.updater.stop()
                if bare_app.running:
                    await bare_app.stop()
                await bare_app.shutdown()
                await tg.stop()
    finally:
        await server.close()
    return results


async def statement_cost(app: App, url: str, results: Results, n: int = 300) -> None:
    """What one small SELECT costs inside a unit of work (the path every statement of the
    bot takes: SQLAlchemy's synchronous engine, on the loop) and through sqlite3 directly,
    on the same file, the bots idle."""
    query = "SELECT id FROM person WHERE id = 1"
    async with app.uows() as uow:
        start = time.perf_counter()
        for _ in range(n):
            (await uow.conn.execute(text(query))).all()
        results.select_uow = (time.perf_counter() - start) / n
    direct = sqlite3.connect(make_url(url).database or "")
    try:
        start = time.perf_counter()
        for _ in range(n):
            direct.execute(query).fetchall()
        results.select_direct = (time.perf_counter() - start) / n
    finally:
        direct.close()


def stat(samples: list[Sample], what: str, p: float) -> float:
    return percentile([getattr(s, what) for s in samples], p)


def readme_body(results: Results, iterations: int, warmup: int) -> str:
    scm, bare = results.scm, results.bare
    p50 = stat(scm, "total", 50) / stat(bare, "total", 50)
    p99 = stat(scm, "total", 99) / stat(bare, "total", 99)
    rows = []
    for name, samples, before in (
        ("scm-bot: confirm -> ROL page", scm, BEFORE_SCM),
        ("bare PTB: relay", bare, BEFORE_BARE),
    ):
        rows.append(
            [
                name,
                len(samples),
                f"**{ms(stat(samples, 'total', 50))}**",
                f"**{ms(stat(samples, 'total', 99))}**",
                ms(max(s.total for s in samples)),
                ms(stat(samples, "answer", 50)),
                " / ".join(f"{x:.1f}" for x in before),
            ]
        )
    rows.append(
        [
            "ratio scm-bot / bare",
            "",
            f"**{p50:.2f}x**",
            f"**{p99:.2f}x**",
            "",
            "",
            f"{BEFORE_RATIO[0]:.2f}x / {BEFORE_RATIO[1]:.2f}x",
        ]
    )
    half = len(scm) // 2
    trend = (
        f"scm-bot p50 over the first {half} iterations {ms(stat(scm[:half], 'total', 50))} ms, "
        f"over the last {len(scm) - half} {ms(stat(scm[half:], 'total', 50))} ms "
        f"(open incidents grow by one per iteration)."
    )
    verdict = "met" if p50 <= TARGET_RATIO and p99 <= TARGET_RATIO else "NOT met"
    return "\n".join(
        [
            "`.venv/bin/python -m benchmarks.telegram_latency` (1-6 min; `--iterations`). "
            + machine().markdown(),
            "",
            "Real python-telegram-bot 22 on both sides, polling one fake Bot API server "
            "on loopback (one aiohttp server, two bot tokens, one event loop with both bots). "
            "scm-bot: `scm_bot.instance.running` on SQLite (inbox loop, delivery loop, "
            "APScheduler, "
            "`SystemClock`), the test region with Telegram ids, `TelegramBot(app.inbox, ...)` "
            "with its own getUpdates loop (an update is stored in the inbox before the next "
            "getUpdates confirms it); the Telegram transport **unpaced** "
            "(`per_chat_interval=0`, `per_second=1000`), since the same ROL is paged every "
            "iteration. Latency = from the fake serving the Caco's confirm callback_query in "
            "a getUpdates answer to the fake receiving the sendMessage with the ROL's page. "
            "Bare: an `Application` (PTB's own Updater) whose only `CallbackQueryHandler` "
            "answers the query and sends one HTML message with two buttons to another chat, "
            "measured the same way; it stores nothing. "
            f"{iterations} iterations of each, interleaved (alternating order), after "
            f"{warmup} warm-up iterations; missing: scm-bot {results.missing_scm}, bare "
            f"{results.missing_bare}. Times in ms. **Before** = the session 5 engine (commit "
            "78a935c, same machine type, load 0.7; PTB's Updater handed the update to "
            "`Router.handle`, whose commit handed the page to delivery in memory).",
            "",
            table(
                [
                    "",
                    "n",
                    "p50",
                    "p99",
                    "max",
                    "served -> answer p50",
                    "before (session 5 engine): p50 / p99 / max",
                ],
                rows,
            ),
            "",
            f"**Target: scm-bot at most {TARGET_RATIO}x the bare app: {verdict}** "
            f"(p50 {p50:.2f}x, p99 {p99:.2f}x; before {BEFORE_RATIO[0]:.2f}x / "
            f"{BEFORE_RATIO[1]:.2f}x).",
            "",
            SAME_LOAD,
            "",
            trend,
            "",
            where_it_goes(results),
            "",
            f"Logged (warning and above): {log_summary()}.",
        ]
    )


def where_it_goes(results: Results) -> str:
    scm, bare = results.scm, results.bare
    chained = [s for s in scm if s.units]
    if not chained:
        return "No page's path could be followed in the trace."
    rows = []
    for i, (label, _) in enumerate(STAGES):
        stage = [s.stage(i) for s in chained]
        held = [s.units[i].duration for s in chained]
        rows.append(
            [
                label,
                ms(percentile(stage, 50)),
                ms(percentile(stage, 99)),
                ms(percentile(held, 50)),
                f"{percentile([len(s.units[i].statements) for s in chained], 50):.0f}",
                f"{percentile([s.units[i].round_trips('sqlite') for s in chained], 50):.0f}",
            ]
        )
    last = [s.stage(len(STAGES)) for s in chained]
    rows.append(
        ["-> page received by the fake", ms(percentile(last, 50)), ms(percentile(last, 99))]
        + [""] * 3
    )
    statements = [sum(len(u.statements) for u in s.units) for s in chained]
    trips = [sum(u.round_trips("sqlite") for u in s.units) for s in chained]
    rows.append(
        [
            "**total**",
            f"**{ms(percentile([s.total for s in chained], 50))}**",
            f"**{ms(percentile([s.total for s in chained], 99))}**",
            ms(percentile([sum(u.duration for u in s.units) for s in chained], 50)),
            f"{percentile(statements, 50):.0f}",
            f"{percentile(trips, 50):.0f}",
        ]
    )
    off: Counter[str] = Counter()
    for s in chained:
        off.update(s.off_path)
    n = len(chained)
    per_iteration = results.units_per_iteration
    k = max(len(scm), 1)
    bare_send = stat(bare, "total", 50) - stat(bare, "answer", 50)
    handle = percentile([s.units[1].duration for s in chained], 50)
    return "\n".join(
        [
            f"Where scm-bot's time goes ({n} of {len(scm)} pages followed back through the "
            'trace; each stage measured from the end of the one before; "in the database" = '
            "the unit of work holding its connection, checkout to return; driver round trips "
            "= calls into `sqlite3`, on the event loop's own thread: every statement, "
            "`BEGIN IMMEDIATE` included, every commit and rollback), ms:",
            "",
            table(
                [
                    "stage",
                    "p50",
                    "p99",
                    "in the database p50",
                    "statements",
                    "driver round trips",
                ],
                rows,
            ),
            "",
            "Other units of work that started while the page was on its way (per page): "
            + (", ".join(f"{kind} {c / n:.1f}" for kind, c in off.most_common()) or "none")
            + ". All units of work per iteration (the press, until everything it caused was "
            "sent and the button answered): "
            + ", ".join(f"{kind} {c / k:.1f}" for kind, c in per_iteration.most_common())
            + f"; {results.round_trips_per_iteration:.0f} driver round trips in all.",
            "",
            "Where the difference comes from: the bare app's path is parsing the update, its "
            f"answer and one send (~{ms(bare_send)} ms from its answer to the send arriving). "
            f"scm-bot's path holds {len(STAGES)} units of work one after the other, each "
            "waiting for the task before it to wake the next (the poller, the inbox loop, the "
            "person's delivery worker): the store (the update is not confirmed before it), "
            f"the handling transaction (p50 {ms(handle)} ms in the database; the inbox loop "
            "hands the stored event over without reading the table), and the ledger's "
            "`sending` commit before the request goes out (the handling commit hands the page "
            "row to a worker without a look at the table). One small SELECT costs "
            f"{results.select_uow * 1e6:.0f} us inside a unit of work (SQLAlchemy's "
            f"synchronous engine, on the loop) against {results.select_direct * 1e6:.0f} us "
            "through sqlite3 directly (same file, same run): the difference is SQLAlchemy's "
            "per-statement work. The answer to the button now follows the handling (the bare app "
            "answers first).",
        ]
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--iterations", type=int, default=1000)  # p99: the 10th worst
    parser.add_argument("--warmup", type=int, default=10)
    parser.add_argument("--no-readme", action="store_true", help="only print")
    args = parser.parse_args()
    quiet_logging()
    with sqlite_database() as url:
        results = asyncio.run(measure(url, args.iterations, args.warmup))
    for name, samples in (("scm-bot", results.scm), ("bare", results.bare)):
        print(
            f"{name:8} n={len(samples)} p50 {ms(stat(samples, 'total', 50))} ms, "
            f"p99 {ms(stat(samples, 'total', 99))} ms"
        )
    body = readme_body(results, args.iterations, args.warmup)
    print()
    print(body)
    if not args.no_readme:
        update_readme("telegram_latency", "Telegram alert -> page latency", body)


if __name__ == "__main__":
    main()
