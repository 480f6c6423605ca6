"""`scm-bot region import` is audited: who ran it and what it changed (issue 13, item 20)."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
from typer.testing import CliRunner

from core.model import Origin
from core.ports import AuditRecord
from scm_bot.cli import app
from storage.database import make_engine
from storage.uow import SqlUnitOfWorkFactory
from tests.helpers import REGION_FILE

runner = CliRunner()
SOEST = "{key: soest, name: Soest, burgemeester: bgm-soest, share_with: [gs-soest]}"


def _imports(url: str) -> list[AuditRecord]:
    async def read() -> list[AuditRecord]:
        engine = make_engine(url)
        try:
            async with SqlUnitOfWorkFactory(engine) as uows, uows() as uow:
                return [r for r in await uow.audit.all() if r.action == "region.import"]
        finally:
            await engine.dispose()

    return asyncio.run(read())


def test_every_region_import_is_audited_with_who_and_what_changed(
    db_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)  # no stray .env
    monkeypatch.setenv("DATABASE_URL", db_url)
    monkeypatch.setenv("LOGNAME", "jvdberg")
    first = runner.invoke(app, ["region", "import", str(REGION_FILE)])
    assert first.exit_code == 0, first.output
    acting = tmp_path / "region.yaml"
    acting.write_text(
        REGION_FILE.read_text().replace(
            SOEST, SOEST[:-1] + ", locoburgemeester: gs-soest, loco_acting: true}"
        )
    )
    assert runner.invoke(app, ["region", "import", str(acting)]).exit_code == 0
    assert runner.invoke(app, ["region", "import", str(acting)]).exit_code == 0

    created, loco, again = _imports(db_url)
    assert (created.actor, created.object, created.result, created.origin) == (
        "cli:jvdberg",
        "region:VRU",
        "ok",
        Origin.CLI,
    )
    assert created.detail["source"] == str(REGION_FILE)
    assert "person rol-a" in created.detail["created"]
    assert "gemeente soest" in created.detail["created"]
    assert (loco.actor, loco.result) == ("cli:jvdberg", "ok")
    assert loco.detail["updated"] == {
        "gemeente soest": {"locoburgemeester": [None, "gs-soest"], "loco_acting": [False, True]}
    }
    assert (again.result, again.detail["updated"], again.detail["created"]) == (
        "unchanged",
        {},
        [],
    )
