"""Every setting is documented in .env.example."""

from __future__ import annotations

from pathlib import Path

from scm_bot.settings import Settings


def test_env_example_lists_every_setting() -> None:
    text = (Path(__file__).parent.parent / ".env.example").read_text()
    names = {
        line.split("=", 1)[0] for line in text.splitlines() if line and not line.startswith("#")
    }
    assert names == {name.upper() for name in Settings.model_fields}
