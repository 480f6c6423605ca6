"""Every setting is documented in .env.example."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from pydantic import ValidationError

from scm_bot.settings import Settings

ENV_EXAMPLE = Path(__file__).parents[2] / ".env.example"


def test_env_example_lists_every_setting() -> None:
    text = ENV_EXAMPLE.read_text()
    names = {
        line.split("=", 1)[0] for line in text.splitlines() if line and not line.startswith("#")
    }
    assert names == {name.upper() for name in Settings.model_fields}


def _defaults_only(monkeypatch: pytest.MonkeyPatch, cwd: Path) -> None:
    monkeypatch.chdir(cwd)
    for name in Settings.model_fields:
        monkeypatch.delenv(name.upper(), raising=False)


def test_env_example_copied_to_env_leaves_every_setting_at_its_default(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`.env.example` says "copy to .env": its empty values must mean "not set"."""
    _defaults_only(monkeypatch, tmp_path)
    shutil.copy(ENV_EXAMPLE, tmp_path / ".env")
    settings = Settings()
    assert settings.model_dump() == Settings.model_construct().model_dump()
    assert settings.scm_console is None and settings.analyse_form is None
    assert settings.telegram_bot_token is None and settings.slack_bot_token is None
    assert not settings.has_chat_transport


def test_an_empty_environment_variable_is_not_set(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _defaults_only(monkeypatch, tmp_path)
    for name in Settings.model_fields:
        monkeypatch.setenv(name.upper(), "")
    assert Settings().model_dump() == Settings.model_construct().model_dump()


def test_the_audit_log_may_not_go_before_the_incidents_it_records() -> None:
    with pytest.raises(ValidationError, match="AUDIT_RETENTION_DAYS \\(90\\) must be at least"):
        Settings(_env_file=None, retention_days=365, audit_retention_days=90)
    kept = Settings(_env_file=None, retention_days=365, audit_retention_days=365)
    assert kept.audit_retention_days == 365
