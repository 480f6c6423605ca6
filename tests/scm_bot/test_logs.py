"""Log lines: JSON in production, the console renderer on a terminal, the incident id bound
around the work, and no configured secret in any line."""

from __future__ import annotations

import io
import json
import logging
import re
from typing import Any
from urllib.parse import quote, quote_plus

import pytest
import structlog

from core.log_context import about, log_context
from scm_bot.logs import REDACTED, default_format, setup_logging
from scm_bot.settings import Settings

TOKEN = "7000000001:AAE-secret-part-of-the-token_xyz"
DB_PASSWORD = "db-Pa55word-not-for-logs"


class Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def lines(stream: io.StringIO) -> list[dict[str, Any]]:
    return [json.loads(line) for line in stream.getvalue().splitlines()]


@pytest.fixture
def out() -> io.StringIO:
    stream = io.StringIO()
    setup_logging("DEBUG", "json", [TOKEN, DB_PASSWORD], stream)
    return stream


def test_every_line_is_one_json_object_ours_and_the_libraries(out: io.StringIO) -> None:
    structlog.get_logger("scm_bot.delivery").info("delivery.retry", outbox_id=7, in_seconds=2.0)
    logging.getLogger("aiohttp.server").warning("Error handling request from %s", "10.0.0.9")
    ours, library = lines(out)
    assert ours["event"] == "delivery.retry" and ours["outbox_id"] == 7
    assert ours["level"] == "info" and ours["logger"] == "scm_bot.delivery"
    assert ours["timestamp"].endswith("Z")
    assert library["event"] == "Error handling request from 10.0.0.9"
    assert library["level"] == "warning" and library["logger"] == "aiohttp.server"


def test_lines_carry_the_incident_the_work_touched_and_only_within_it(out: io.StringIO) -> None:
    log = structlog.get_logger("test")
    with log_context(origin="telegram", event_id="42"):
        log.info("before")
        about("VRU-2026-0001")  # an audit record named the incident
        log.info("after")
        about("rol-bert")  # a person's key is no incident
        log.info("still")
    log.info("outside")
    before, after, still, outside = lines(out)
    assert before["event_id"] == "42" and "incident" not in before
    assert after["incident"] == "VRU-2026-0001" and still["incident"] == "VRU-2026-0001"
    assert "incident" not in outside and "event_id" not in outside


def test_secrets_are_blanked_wherever_they_would_appear(out: io.StringIO) -> None:
    log = structlog.get_logger("test")
    log.error("telegram.failed", url=f"https://api.telegram.org/bot{TOKEN}/getMe")
    log.info("nested", detail={"dsn": f"postgresql://scm:{DB_PASSWORD}@db/scm", "n": [TOKEN]})
    logging.getLogger("httpx").warning("HTTP Request: POST /bot%s/sendMessage", TOKEN)
    try:
        raise RuntimeError(f"connect failed: password {DB_PASSWORD}")
    except RuntimeError:
        log.exception("storage.failed")
    text = out.getvalue()
    assert TOKEN not in text and DB_PASSWORD not in text
    first, nested, library, failed = lines(out)
    assert first["url"] == f"https://api.telegram.org/bot{REDACTED}/getMe"
    assert nested["detail"] == {"dsn": f"postgresql://scm:{REDACTED}@db/scm", "n": [REDACTED]}
    assert library["event"] == f"HTTP Request: POST /bot{REDACTED}/sendMessage"
    assert f"connect failed: password {REDACTED}" in failed["exception"]


def test_console_on_a_terminal_json_otherwise() -> None:
    assert default_format(Terminal()) == "console"
    assert default_format(io.StringIO()) == "json"
    terminal = Terminal()
    setup_logging("INFO", None, [], terminal)
    structlog.get_logger("test").info("scm-bot.running", transports=["telegram"])
    line = re.sub(r"\x1b\[[0-9;]*m", "", terminal.getvalue())  # in colour, on a terminal
    assert line != terminal.getvalue()
    assert re.fullmatch(
        r"\S+Z \[info\s*\] scm-bot.running\s+\[test\] transports=\['telegram'\]\n", line
    )


def test_the_level_filters_ours_and_the_libraries_stay_at_warnings() -> None:
    stream = io.StringIO()
    setup_logging("INFO", "json", [], stream)
    structlog.get_logger("test").debug("hidden")
    logging.getLogger("httpx").info("HTTP Request: GET /")  # chatty library: warnings only
    structlog.get_logger("test").info("shown")
    assert [line["event"] for line in lines(stream)] == ["shown"]


def test_settings_name_every_configured_secret(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in Settings.model_fields:
        monkeypatch.delenv(name.upper(), raising=False)
    settings = Settings(
        _env_file=None,
        database_url=f"postgresql://scm:{DB_PASSWORD}@db.internal:5432/scm",
        telegram_bot_token=TOKEN,
        telegram_webhook_secret="webhook-secret-value",
        slack_bot_token="xoxb-bot-token-value",
        slack_app_token="xapp-app-token-value",
        slack_signing_secret="signing-secret-value",
    )
    assert sorted(settings.secrets()) == sorted(
        [
            TOKEN,
            "webhook-secret-value",
            "xoxb-bot-token-value",
            "xapp-app-token-value",
            "signing-secret-value",
            DB_PASSWORD,
        ]
    )


def test_a_secret_is_blanked_url_encoded_too_and_so_is_a_feed_token() -> None:
    """The safety net also knows a secret as a URL carries it (a password with `#` or `@`
    in DATABASE_URL), and a calendar feed's token, which is in no setting."""
    password = "Pw#9/x@Lq%7:secret"
    feed = "0123456789abcdef0123456789abcdef01234567"
    stream = io.StringIO()
    setup_logging("INFO", "json", [password, TOKEN], stream)
    log = structlog.get_logger("test")
    log.warning("storage.url", url=f"postgresql://scm:{quote(password, safe='')}@db/scm")
    log.warning("telegram.url", url=f"https://api.telegram.org/bot{quote(TOKEN)}/x")
    log.warning("form", body=f"token={quote_plus(password)}")
    logging.getLogger("aiohttp.server").error("bad request line GET /ical/%s.ics", feed)
    url, telegram, form, request = lines(stream)
    assert url["url"] == f"postgresql://scm:{REDACTED}@db/scm"
    assert telegram["url"] == f"https://api.telegram.org/bot{REDACTED}/x"
    assert form["body"] == f"token={REDACTED}"
    assert request["event"] == f"bad request line GET /ical/{REDACTED}.ics"
    assert feed not in stream.getvalue() and "Pw%23" not in stream.getvalue()


def test_a_password_given_as_a_url_parameter_is_a_secret_too(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    for name in Settings.model_fields:
        monkeypatch.delenv(name.upper(), raising=False)
    settings = Settings(
        _env_file=None, database_url=f"postgresql://scm@db/scm?password={DB_PASSWORD}"
    )
    assert settings.secrets() == [DB_PASSWORD]
