"""The direction of imports shows the design: bots → flows → core ← storage."""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
FORBIDDEN = {
    "core": {
        "bots",
        "flows",
        "storage",
        "scm_bot",
        "telegram",
        "slack_bolt",
        "slack_sdk",
        "sqlalchemy",
        "sqlmodel",
        "aiosqlite",
        "asyncpg",
        "apscheduler",
        "alembic",
    },
    "flows": {
        "bots",
        "storage",
        "scm_bot",
        "telegram",
        "slack_bolt",
        "slack_sdk",
        "sqlalchemy",
        "sqlmodel",
    },
    "storage": {"bots", "flows", "scm_bot", "telegram", "slack_bolt", "slack_sdk"},
    "bots": {"storage", "scm_bot"},
}


def _imports(path: Path) -> set[str]:
    tree = ast.parse(path.read_text("utf-8"))
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module.split(".")[0])
    return names


def test_layers_import_only_inward() -> None:
    violations = []
    for package, forbidden in FORBIDDEN.items():
        for path in (ROOT / package).rglob("*.py"):
            bad = _imports(path) & forbidden
            if bad:
                violations.append(f"{path.relative_to(ROOT)} imports {sorted(bad)}")
    assert violations == []


def test_the_check_itself_sees_imports(tmp_path: Path) -> None:
    sample = tmp_path / "x.py"
    sample.write_text("import telegram.ext\nfrom slack_bolt import App\n")
    assert _imports(sample) == {"telegram", "slack_bolt"}
