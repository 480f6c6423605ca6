"""The deployment files hold what production needs (these machines build no images, so
the files are read): a non-root image installed from the lock the way the dev script and
CI install it, with a health check; two bot instances on PostgreSQL; a systemd unit."""

from __future__ import annotations

import re
import shlex
from pathlib import Path
from typing import Any

import yaml

from scm_bot.settings import Settings

ROOT = Path(__file__).resolve().parent.parent


def dockerfile() -> list[tuple[str, str]]:
    """(instruction, arguments) with continuation lines joined and comments left out."""
    text = re.sub(r"\\\n\s*", " ", (ROOT / "Dockerfile").read_text())
    lines = [line.strip() for line in text.splitlines()]
    return [
        (line.split(maxsplit=1)[0], line.split(maxsplit=1)[1])
        for line in lines
        if line and not line.startswith("#")
    ]


def test_the_image_runs_as_a_user_installs_the_lock_and_checks_its_health() -> None:
    steps = dockerfile()
    assert steps[0] == ("FROM", "python:3.11-slim")
    users = [args for op, args in steps if op == "USER"]
    assert users == ["scm-bot"]
    assert any("useradd --system --uid 10001" in args for op, args in steps if op == "RUN")
    runs = " ".join(args for op, args in steps if op == "RUN")
    # The same pip steps as scripts/dev.py (and so CI): the lock with hashes, then scm-bot.
    dev = (ROOT / "scripts" / "dev.py").read_text()
    assert '"install", "--quiet", "--require-hashes", "-r", LOCK' in dev
    assert "pip install --quiet --require-hashes -r requirements.lock" in runs
    assert "pip install --quiet --no-deps ." in runs
    copied = {args.split()[0] for op, args in steps if op == "COPY"}
    assert {"bots", "core", "flows", "storage", "scm_bot"} <= copied
    [health] = [args for op, args in steps if op == "HEALTHCHECK"]
    assert "/healthz" in health and "HTTP_PORT" in health
    [cmd] = [args for op, args in steps if op == "CMD"]
    assert cmd == '["sh", "-c", "scm-bot migrate && exec scm-bot run"]'


def test_compose_runs_two_instances_on_postgresql_with_health_checks() -> None:
    compose: dict[str, Any] = yaml.safe_load((ROOT / "compose.yaml").read_text())
    services = compose["services"]
    assert set(services) == {"db", "bot-a", "bot-b"}
    assert services["db"]["image"].startswith("postgres:")
    assert "pg_isready" in " ".join(services["db"]["healthcheck"]["test"])
    fields = {name.upper() for name in Settings.model_fields}
    for name in ("bot-a", "bot-b"):
        bot = services[name]
        assert set(bot["environment"]) <= fields
        assert bot["environment"]["DATABASE_URL"].startswith("postgresql://scm:")
        assert bot["environment"]["DATABASE_URL"].endswith("@db:5432/scm")
        assert bot["environment"]["HTTP_PORT"] == "8080"
        assert bot["depends_on"]["db"] == {"condition": "service_healthy"}
        assert bot["ports"][0].endswith(":8080")
    # One migration at a time: the second instance starts once the first is healthy.
    assert services["bot-b"]["depends_on"]["bot-a"] == {"condition": "service_healthy"}


def test_the_systemd_unit_migrates_then_runs_as_its_own_user() -> None:
    unit = (ROOT / "deploy" / "scm-bot.service").read_text()
    settings = dict(
        line.split("=", 1) for line in unit.splitlines() if "=" in line and line[0] != "#"
    )
    assert settings["User"] == "scm-bot"
    assert shlex.split(settings["ExecStartPre"])[1:] == ["migrate"]
    assert shlex.split(settings["ExecStart"])[1:] == ["run"]
    assert settings["Restart"] == "always"
    assert settings["EnvironmentFile"] == "/etc/scm-bot/scm-bot.env"
