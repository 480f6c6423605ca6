"""Issue 16: the logs of a full scenario hold no secret.

The real `scm-bot run` process, with JSON logs at DEBUG and every secret it can have
configured: the Telegram bot token and webhook secret (webhook mode, through the instance's
HTTP server), the Slack bot and app tokens and signing secret (HTTP mode, the same server),
the database password (PostgreSQL, a role of this test's own) and a calendar feed token
(`/rooster abonneer`). It runs a full scenario against the fake Bot API and the fake Slack
on loopback: an alarm confirmed, the page refused once with a 500 and once with a 429, an
acknowledgement on Slack, analyse answers, a calendar subscription fetched with its token
and with a wrong one, requests that are refused (unsigned, forged or malformed), and on
PostgreSQL the database unreachable for a moment (with the calendar fetched meanwhile).

The bot is then stopped as a service manager stops it (SIGTERM), and every line the
process and the CLI wrote is searched for each secret, as it is and URL-encoded, and for the
bot token's secret half alone (its numeric half is the bot's user id, which anyone it talks
to sees). None may occur, and the safety net (scm_bot.logs.Redact) must never have had to
blank one out: each secret is kept out of the logs where it is used. Every line is JSON
with the fields every line has, the incident's lines carry its id and the failures and
refusals were logged, which proves the search read the real logs; below warnings only
scm-bot itself speaks (a library's chatter carries URLs, payloads and headers).
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import hmac
import json
import re
import secrets
import socket
import time
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlencode

import aiohttp
import psycopg
import pytest
import yaml
from psycopg import sql
from sqlalchemy import text
from sqlalchemy.engine import make_url

from bots.telegram.bot import SECRET_HEADER
from core.i18n import t
from core.model import Language
from scm_bot.logs import REDACTED
from storage.database import is_sqlite, make_engine
from tests.helpers.crash import BotProcess, CrashFake, until, until_async
from tests.helpers.fake_slack import APP_TOKEN, BOT_TOKEN, FakeSlack, Posted
from tests.helpers.fake_telegram import TOKEN, Sent
from tests.helpers.tcp_proxy import TcpProxy
from tests.scm_bot.test_crash import ANNA, CACO, region

ANNA_SLACK = "UROLA0001"
WEBHOOK_PATH = "/telegram/hook"
CONFIRM = t(Language.NL, "alarm.button_confirm")
ACK = t(Language.NL, "page.button_ack")
START_ANALYSE = t(Language.NL, "page.button_start_analyse")
SKIP = t(Language.NL, "analyse.button_skip")
SAVED = t(Language.NL, "analyse.saved_text")
PAGE_TITLE = t(Language.NL, "page.title")
INCIDENT_ID = re.compile(r"VRU-\d{4}-\d{4}")
FEED = re.compile(r"http://127\.0\.0\.1:\d+/ical/([0-9a-f]+)\.ics")
FACTS = "Gaslek onder de Kerkstraat, 20 woningen ontruimd, geen gewonden."
# Every line has these (scm_bot.logs); an incident's lines also carry `incident`.
FIELDS = {"event", "level", "timestamp", "logger"}
OURS = {"bots", "core", "flows", "scm_bot", "storage", "asyncio"}


def _secret(prefix: str) -> str:
    return prefix + secrets.token_urlsafe(18)


@dataclass(frozen=True)
class Secrets:
    """What this run configures; each must stay out of every log line."""

    webhook: str = _secret("whs-")  # Telegram allows A-Z, a-z, 0-9, _ and -
    signing: str = _secret("sss-")
    db_password: str | None = None  # PostgreSQL only (`role_with_password`)

    def named(self, feed_token: str) -> dict[str, str]:
        found = {
            "the Telegram bot token": TOKEN,
            "the secret half of the bot token": TOKEN.partition(":")[2],
            "the Telegram webhook secret": self.webhook,
            "the Slack bot token": BOT_TOKEN,
            "the Slack app token": APP_TOKEN,
            "the Slack signing secret": self.signing,
            "the calendar feed token": feed_token,
        }
        if self.db_password is not None:
            found["the database password"] = self.db_password
        for name, value in list(found.items()):
            encoded = quote(value, safe="")
            if encoded != value:
                found[f"{name}, URL-encoded"] = encoded
        return found


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def region_on_two_platforms() -> str:
    """The crash test's region (Anna on duty, on Telegram), with Anna on Slack as well."""
    data = yaml.safe_load(region())
    for person in data["people"]:
        if person["key"] == "rol-a":
            person["slack_user_id"] = ANNA_SLACK
    return yaml.safe_dump(data, allow_unicode=True, sort_keys=False)


@contextlib.contextmanager
def role_with_password(admin_url: str) -> Iterator[tuple[str, str]]:
    """A login role of this test's own with a password (the server's trust authentication
    accepts it all the same), a member of the tables' owner; the URL that names both."""
    name = f"scm_logs_{secrets.token_hex(4)}"
    # With characters a URL must encode: DATABASE_URL holds it encoded, and that form is
    # searched for as well.
    password = "Pw#" + secrets.token_hex(6) + "/@%:" + secrets.token_hex(6)
    owner = make_url(admin_url).username or "postgres"
    with psycopg.connect(admin_url, autocommit=True) as admin:
        admin.execute(
            sql.SQL("CREATE ROLE {} LOGIN PASSWORD {}").format(
                sql.Identifier(name), sql.Literal(password)
            )
        )
        admin.execute(sql.SQL("GRANT {} TO {}").format(sql.Identifier(owner), sql.Identifier(name)))
    try:
        url = make_url(admin_url).set(username=name, password=password)
        yield url.render_as_string(hide_password=False), password
    finally:
        with psycopg.connect(admin_url, autocommit=True) as admin:
            admin.execute(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE usename = %s",
                (name,),
            )
            admin.execute(sql.SQL("DROP ROLE IF EXISTS {}").format(sql.Identifier(name)))


class Run:
    """The bot process, both fakes, and what the test does through the HTTP server."""

    def __init__(
        self,
        telegram: CrashFake,
        slack: FakeSlack,
        bot: BotProcess,
        http: aiohttp.ClientSession,
        port: int,
        keys: Secrets,
        db_url: str,
    ) -> None:
        self.telegram, self.slack, self.bot, self.http = telegram, slack, bot, http
        self.port, self.keys, self.db_url = port, keys, db_url
        self.cli_output: list[str] = []
        self._clicks = 0

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.port}{path}"

    async def get(self, path: str) -> tuple[int, str]:
        async with asyncio.timeout(10), self.http.get(self.url(path)) as response:
            return response.status, await response.text()

    async def raw(self, request: str) -> bytes:
        """Send bytes as they are (not HTTP a client library would send); the answer."""
        reader, writer = await asyncio.open_connection("127.0.0.1", self.port)
        try:
            writer.write(request.encode("latin-1"))
            await writer.drain()
            async with asyncio.timeout(10):
                return await reader.read()
        finally:
            writer.close()

    async def health(self) -> tuple[int, dict[str, Any]]:
        try:
            status, body = await self.get("/healthz")
        except (aiohttp.ClientError, TimeoutError):
            return 0, {}
        return status, json.loads(body)

    # Telegram, through the webhook ---------------------------------------------------------

    async def webhook(self, body: bytes, secret: str | None) -> int:
        headers = {"Content-Type": "application/json"}
        if secret is not None:
            headers[SECRET_HEADER] = secret
        async with self.http.post(self.url(WEBHOOK_PATH), data=body, headers=headers) as response:
            return response.status

    async def tg(self, update: dict[str, Any]) -> None:
        """Telegram posts an update; the bot stores it and answers 200."""
        assert await self.webhook(json.dumps(update).encode(), self.keys.webhook) == 200

    async def say(self, user_id: int, line: str) -> None:
        await self.tg(self.telegram.text_update(user_id, line))

    async def press(self, user_id: int, message: Sent, label: str) -> None:
        data = dict(message.buttons)[label]
        await self.tg(self.telegram.callback_update(user_id, data, message=message))

    async def newest(self, chat_id: int, needle: str, label: str | None = None) -> Sent:
        """The newest message in the Telegram chat that mentions `needle` (with button
        `label`)."""

        def find() -> Sent | None:
            for sent in reversed(self.telegram.messages(chat_id)):
                if needle in sent.text and (label is None or label in sent.labels):
                    return sent
            return None

        await until(lambda: find() is not None, f"{needle!r} ({label}) in chat {chat_id}", 20)
        found = find()
        assert found is not None
        return found

    # Slack, through the HTTP server ----------------------------------------------------------

    async def slack_post(self, body: str, headers: dict[str, str]) -> int:
        all_headers = {"Content-Type": "application/x-www-form-urlencoded", **headers}
        async with self.http.post(
            self.url("/slack/events"), data=body.encode(), headers=all_headers
        ) as response:
            return response.status

    def signed(self, body: str) -> dict[str, str]:
        stamp = str(int(time.time()))
        base = f"v0:{stamp}:{body}".encode()
        digest = hmac.new(self.keys.signing.encode(), base, hashlib.sha256).hexdigest()
        return {"X-Slack-Request-Timestamp": stamp, "X-Slack-Signature": f"v0={digest}"}

    def click_body(self, user: str, posted: Posted, label: str) -> str:
        """The block_actions payload of `user` pressing `label` on `posted`, as Slack sends it."""
        self._clicks += 1
        element = next(e for e in posted.buttons() if e["text"]["text"] == label)
        payload = {
            "type": "block_actions",
            "user": {"id": user, "username": user.lower(), "team_id": "T0SCMTEST"},
            "api_app_id": "A0SCMBOT",
            "container": {"type": "message", "message_ts": posted.ts, "channel_id": posted.channel},
            "trigger_id": f"{self._clicks}.logs.click",
            "team": {"id": "T0SCMTEST", "domain": "scm-test"},
            "channel": {"id": posted.channel, "name": "directmessage"},
            "message": {"type": "message", "ts": posted.ts, "text": posted.text},
            "actions": [
                {
                    "action_id": element["action_id"],
                    "block_id": "b1",
                    "text": {"type": "plain_text", "text": label},
                    "value": element["value"],
                    "type": "button",
                    "action_ts": f"1790000{self._clicks}.000100",
                }
            ],
        }
        return urlencode({"payload": json.dumps(payload)})

    async def slack_page(self, needle: str) -> Posted:
        def find() -> Posted | None:
            for posted in reversed(self.slack.dm(ANNA_SLACK)):
                if needle in posted.body() and posted.button_value(ACK) is not None:
                    return posted
            return None

        await until(lambda: find() is not None, f"the page on Slack ({needle!r})", 20)
        found = find()
        assert found is not None
        return found

    # The database ------------------------------------------------------------------------------

    async def scalar(self, query: str) -> Any:
        engine = make_engine(self.db_url)
        try:
            async with engine.connect() as conn:
                return (await conn.execute(text(query))).scalar()
        finally:
            await engine.dispose()

    async def settle(self) -> None:
        async def quiet() -> bool:
            busy = await self.scalar(
                "SELECT (SELECT count(*) FROM outbox WHERE status = 'pending')"
                " + (SELECT count(*) FROM inbox WHERE status = 'pending')"
            )
            return int(busy) == 0

        await until_async(quiet, "the outbox and the inbox to empty", 30)


@pytest.fixture
async def fakes() -> AsyncIterator[tuple[CrashFake, FakeSlack]]:
    telegram, slack = CrashFake(), FakeSlack()
    await telegram.start()
    await slack.start()
    try:
        yield telegram, slack
    finally:
        await slack.close()
        await telegram.close()


@contextlib.asynccontextmanager
async def running(
    db_url: str, bot_db_url: str, keys: Secrets, tmp_path: Path, fakes: tuple[CrashFake, FakeSlack]
) -> AsyncIterator[Run]:
    """The region imported, the bot started and leading with both transports connected."""
    telegram, slack = fakes
    port = free_port()
    env = {
        "PATH": "/usr/bin:/bin",
        "HOME": str(tmp_path),
        "DATABASE_URL": bot_db_url,
        "LOG_FORMAT": "json",
        "LOG_LEVEL": "DEBUG",
        "SCM_CONSOLE": "false",
        "HTTP_PORT": str(port),
        "TELEGRAM_BOT_TOKEN": TOKEN,
        "TELEGRAM_BASE_URL": telegram.base_url,
        "TELEGRAM_WEBHOOK_URL": f"http://127.0.0.1:{port}{WEBHOOK_PATH}",
        "TELEGRAM_WEBHOOK_SECRET": keys.webhook,
        "SLACK_BOT_TOKEN": BOT_TOKEN,
        "SLACK_APP_TOKEN": APP_TOKEN,
        "SLACK_SIGNING_SECRET": keys.signing,
        "SLACK_MODE": "http",
        "SLACK_API_URL": slack.base_url,
    }
    (tmp_path / "region.yaml").write_text(region_on_two_platforms(), "utf-8")
    bot = BotProcess(telegram, env, tmp_path, tmp_path / "bot.log")
    async with aiohttp.ClientSession() as http:
        run = Run(telegram, slack, bot, http, port, keys, db_url)
        try:
            run.cli_output.append(await bot.cli("region", "import", str(tmp_path / "region.yaml")))
            await bot.start(cold=True, polls=False)  # webhook mode: it never polls

            async def ready() -> bool:
                status, body = await run.health()
                return (
                    status == 200
                    and body["role"] == "leader"
                    and body["transports"] == {"telegram": True, "slack": True}
                )

            await until_async(ready, "the bot to lead with both transports", 60)
            assert telegram.webhook is not None
            assert telegram.webhook["secret_token"] == keys.webhook
            yield run
        except BaseException:
            print(bot.tail(120))
            raise
        finally:
            await bot.stop()


async def scenario(run: Run, proxy: TcpProxy | None) -> tuple[str, str]:
    """The full scenario; the incident's public id and the calendar feed token."""
    tg = run.telegram
    description = "gaslek Kerkstraat, 20 woningen ontruimd"

    # The alarm, confirmed; Telegram refuses the page once with a 500, once with a 429.
    await run.say(CACO, f"/alarm Soest: {description}")
    prompt = await run.newest(CACO, description, CONFIRM)
    tg.server_error(500, method="sendMessage", chat_id=ANNA)
    tg.rate_limit(1, method="sendMessage", chat_id=ANNA)
    await run.press(CACO, prompt, CONFIRM)
    page = await run.newest(ANNA, description, ACK)
    assert page.text.startswith(PAGE_TITLE)
    refused = [c.status for c in tg.calls_to("sendMessage") if c.params.get("chat_id") == ANNA]
    assert refused[:2] == [500, 429], refused
    found = INCIDENT_ID.search(page.text)
    assert found is not None, page.text
    incident = found.group()

    # Anna acknowledges on Slack (a signed request to the HTTP server).
    on_slack = await run.slack_page(description)
    body = run.click_body(ANNA_SLACK, on_slack, ACK)
    assert await run.slack_post(body, run.signed(body)) == 200
    begin = await run.newest(ANNA, f"Je hebt {incident} opgepakt", START_ANALYSE)

    # The analyse: a choice, a skipped question, a text answer.
    await run.press(ANNA, begin, START_ANALYSE)
    await run.press(ANNA, await run.newest(ANNA, "Vraag 2/", "GRIP 2"), "GRIP 2")
    await run.press(ANNA, await run.newest(ANNA, "Vraag 3/", SKIP), SKIP)
    await run.newest(ANNA, "Vraag 4/", SKIP)
    await run.say(ANNA, FACTS)
    await run.newest(ANNA, SAVED)

    # A calendar subscription; its feed fetched with its token, and with others.
    await run.say(ANNA, "/rooster abonneer")
    subscribed = await run.newest(ANNA, "/ical/")
    feed = FEED.search(subscribed.text)
    assert feed is not None, subscribed.text
    token = feed.group(1)
    status, calendar = await run.get(f"/ical/{token}.ics")
    assert status == 200 and calendar.startswith("BEGIN:VCALENDAR"), (status, calendar[:200])
    wrong = secrets.token_hex(len(token) // 2)
    assert (await run.get(f"/ical/{wrong}.ics"))[0] == 404
    assert (await run.get(f"/ical/{token}.ics/extra"))[0] == 404

    # Refused requests: Slack unsigned and forged, the webhook without and with a wrong
    # secret, and a malformed update with the right one.
    assert await run.slack_post(body, {}) == 401
    forged = {**run.signed(body), "X-Slack-Signature": "v0=" + "0" * 64}
    assert await run.slack_post(body, forged) == 401
    update = json.dumps(tg.text_update(CACO, "/status")).encode()
    assert await run.webhook(update, None) == 403
    assert await run.webhook(update, run.keys.webhook + "x") == 403
    assert await run.webhook(b'{"update_id": "not an update', run.keys.webhook) == 400

    # Requests aiohttp cannot parse, quoting a feed's token and the webhook's secret.
    malformed = [
        f"GET /ical/{token}.ics HTTP/9.9\r\nHost: x\r\n\r\n",
        f"GET {WEBHOOK_PATH} HTTP/1.1\r\n{SECRET_HEADER}: {run.keys.webhook}\x01\r\n\r\n",
    ]
    for raw in malformed:
        assert (await run.raw(raw)).startswith(b"HTTP/1.0 400 Bad Request")

    if proxy is not None:
        # The database is unreachable for a moment; the calendar is asked for meanwhile.
        proxy.cut()

        async def unreachable() -> bool:
            return (await run.health())[0] == 503

        await until_async(unreachable, "/healthz to answer 503", 15)
        assert (await run.get(f"/ical/{token}.ics"))[0] == 500
        proxy.restore()

        async def leading() -> bool:
            status, body = await run.health()
            return status == 200 and body["role"] == "leader"

        await until_async(leading, "the bot to lead again", 30)

    # Still working: the Caco's status shows the incident.
    await run.say(CACO, "/status")
    await run.newest(CACO, incident)
    await run.settle()
    return incident, token


def read_lines(run: Run) -> list[dict[str, Any]]:
    """Every line the process wrote, parsed: each must be a JSON log line (BotProcess's
    own start headers aside)."""
    parsed: list[dict[str, Any]] = []
    for line in run.bot.log_path.read_text("utf-8").splitlines():
        if not line or line.startswith("===== start "):
            continue
        try:
            entry = json.loads(line)
        except ValueError:
            raise AssertionError(f"not a JSON log line: {line[:300]!r}") from None
        assert isinstance(entry, dict) and entry.keys() >= FIELDS, line[:300]
        parsed.append(entry)
    return parsed


def check_no_secret(run: Run, incident: str, token: str) -> list[dict[str, Any]]:
    raw = run.bot.log_path.read_text("utf-8") + "".join(run.cli_output)
    leaks = {name: raw.count(value) for name, value in run.keys.named(token).items()}
    assert not {name: n for name, n in leaks.items() if n}, leaks
    # The safety net never had to act: every secret is kept out where it is used.
    netted = [line for line in raw.splitlines() if REDACTED in line]
    assert not netted, netted[:5]

    lines = read_lines(run)
    events = {entry["event"] for entry in lines}
    # The lines are the real logs of this scenario: DEBUG is on, the incident's lines carry
    # its id, and the refused requests and failures were logged.
    assert {entry["level"] for entry in lines} >= {"debug", "info", "warning", "error"}
    assert any(entry.get("incident") == incident for entry in lines)
    expected = {
        "scm-bot.running",
        "telegram.connected",
        "slack.authenticated",
        "delivery.platform_failing",
        "telegram.webhook_forbidden",
        "telegram.webhook_bad_update",
        "http.malformed_request: BadStatusLine (400)",
        "http.malformed_request: BadHttpMessage (400)",
    }
    assert expected <= events, expected - events
    # Below warnings only scm-bot speaks (and asyncio, once): a library's chatter carries
    # URLs, payloads and headers (scm_bot.logs.QUIET_LOGGERS).
    chatter = {
        (entry["logger"], entry["event"][:80])
        for entry in lines
        if entry["level"] in ("debug", "info") and entry["logger"].partition(".")[0] not in OURS
    }
    assert not chatter, chatter
    return lines


async def check_feed_token_not_stored(run: Run, token: str) -> None:
    """Delivered, the subscription's message keeps no token in the outbox."""
    outbox = await run.scalar(
        "SELECT count(*) FROM outbox WHERE CAST(payload AS TEXT) LIKE '%" + token + "%'"
    )
    assert outbox == 0


async def test_the_logs_of_a_full_scenario_hold_no_secret_on_postgresql(
    pg_url: str, tmp_path: Path, fakes: tuple[CrashFake, FakeSlack]
) -> None:
    proxy = await TcpProxy.to(pg_url).start()
    try:
        with role_with_password(pg_url) as (url, password):
            keys = Secrets(db_password=password)
            async with running(url, proxy.url(url), keys, tmp_path, fakes) as run:
                incident, token = await scenario(run, proxy)
                assert await run.bot.terminate() == 0
            lines = check_no_secret(run, incident, token)
            events = {entry["event"] for entry in lines}
            assert {"health.database_unreachable", "ical.failed"} <= events
            await check_feed_token_not_stored(run, token)
    finally:
        await proxy.close()


async def test_the_logs_of_a_full_scenario_hold_no_secret_on_sqlite(
    sqlite_url: str, tmp_path: Path, fakes: tuple[CrashFake, FakeSlack]
) -> None:
    assert is_sqlite(sqlite_url)
    async with running(sqlite_url, sqlite_url, Secrets(), tmp_path, fakes) as run:
        incident, token = await scenario(run, None)
        assert await run.bot.terminate() == 0
    check_no_secret(run, incident, token)
    await check_feed_token_not_stored(run, token)
