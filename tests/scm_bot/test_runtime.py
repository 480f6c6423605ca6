"""`scm-bot run` starts what is configured, and a region form replaces the default."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml
from pydantic import SecretStr

from bots.slack.bot import SlackBot
from bots.telegram.bot import TelegramBot
from core.analyse.form import FormFileError, load_form
from core.clock import FakeClock
from scm_bot.app import build
from scm_bot.instance import running
from scm_bot.runtime import _bots, run_bot
from scm_bot.settings import Settings
from storage.database import make_engine
from tests.helpers import START, load_region


async def test_each_configured_transport_gets_a_bot(sqlite_url: str) -> None:
    settings = Settings(
        database_url=sqlite_url,
        telegram_bot_token=SecretStr("123:abc"),
        slack_bot_token=SecretStr("xoxb-1"),
        slack_app_token=SecretStr("xapp-1"),
    )
    engine = make_engine(sqlite_url)
    try:
        async with build(engine, FakeClock(START), []) as app:
            bots = _bots(settings, app, None)
            assert [type(b) for b in bots] == [TelegramBot, SlackBot]
            assert _bots(Settings(database_url=sqlite_url), app, None) == []
    finally:
        await engine.dispose()


async def test_the_base_url_settings_reach_the_clients(sqlite_url: str) -> None:
    settings = Settings(
        database_url=sqlite_url,
        telegram_bot_token=SecretStr("123:abc"),
        telegram_base_url="http://botapi.internal:8081/bot",
        slack_bot_token=SecretStr("xoxb-1"),
        slack_app_token=SecretStr("xapp-1"),
        slack_api_url="http://slack.internal/api/",
    )
    engine = make_engine(sqlite_url)
    try:
        async with build(engine, FakeClock(START), []) as app:
            telegram, slack = _bots(settings, app, None)
        assert isinstance(telegram, TelegramBot) and isinstance(slack, SlackBot)
        assert telegram.application.bot.base_url == "http://botapi.internal:8081/bot123:abc"
        assert slack.app.client.base_url == "http://slack.internal/api/"
    finally:
        await engine.dispose()


async def test_a_second_bot_on_the_same_database_says_why_it_stops(
    sqlite_url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    engine = make_engine(sqlite_url)
    await load_region(engine)
    await engine.dispose()
    settings = Settings(database_url=sqlite_url, telegram_bot_token=SecretStr("123:abc"))
    async with running(sqlite_url, []):
        assert await run_bot(settings) == 1
    out = capsys.readouterr().out
    assert "scm-bot draait al op deze database" in out
    assert "twee pollers op één Telegram-token laten updates vallen" in out


def test_secrets_never_show_in_the_settings_repr() -> None:
    settings = Settings(
        telegram_bot_token=SecretStr("123:very-secret"),
        slack_signing_secret=SecretStr("signing-secret"),
    )
    assert "very-secret" not in repr(settings) and "signing-secret" not in str(settings)


def test_a_region_form_replaces_the_default(tmp_path: Path) -> None:
    form = {
        "families": [],
        "fields": [
            {"key": "beeld", "label": {"nl": "Beeld"}, "prompt": {"nl": "Wat is er?"}},
            {
                "key": "advies",
                "label": {"nl": "Advies"},
                "prompt": {"nl": "Advies?"},
                "type": "choice",
                "choices": ["Ja", "Nee"],
                "required": False,
                "kernbeeld": False,
            },
        ],
    }
    path = tmp_path / "form.yaml"
    path.write_text(yaml.safe_dump(form))
    loaded = load_form(path)
    assert [f.key for f in loaded.fields] == ["beeld", "advies"]
    path.write_text(
        yaml.safe_dump(
            {
                "fields": [
                    {"key": "x", "label": {"nl": "X"}, "prompt": {"nl": "X?"}, "type": "choice"}
                ]
            }
        )
    )
    with pytest.raises(ValueError, match="keuzeveld heeft keuzes nodig"):
        load_form(path)


def test_a_form_problem_is_one_line_even_for_a_key_with_a_newline(tmp_path: Path) -> None:
    path = tmp_path / "form.yaml"
    path.write_text('"\\n": 1\n')
    with pytest.raises(FormFileError) as info:
        load_form(path)
    assert "\n" not in str(info.value)
    assert str(info.value).startswith(f"{path}: fields: Field required; '\\n': Extra inputs")


def test_a_form_key_written_twice_is_refused_with_its_line(tmp_path: Path) -> None:
    path = tmp_path / "form.yaml"
    path.write_text("fields: []\nfamilies: []\nfields: []\n")
    with pytest.raises(FormFileError) as info:
        load_form(path)
    assert str(info.value) == f"{path}: regel 3: dubbele sleutel 'fields' (ook op regel 1)"
