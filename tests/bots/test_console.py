"""The console transport: act as anyone, see who each message is for, press by number."""

from __future__ import annotations

import contextlib
import io
import os
import pty
import re
import select
import subprocess
import sys
import time
from pathlib import Path

import pytest
from sqlalchemy.ext.asyncio import AsyncEngine
from typer.testing import CliRunner

from bots.console import ConsoleSession, ConsoleTransport
from core.clock import FakeClock
from core.roster.reminders import RosterReminders
from scm_bot.app import build
from scm_bot.cli import app
from tests.helpers import REGION_FILE, START, load_region


async def test_console_session_plays_an_alarm(engine: AsyncEngine) -> None:
    await load_region(engine)
    out = io.StringIO()
    transport = ConsoleTransport(out)
    app = build(engine, FakeClock(START), [transport])
    session = ConsoleSession(app.router, transport, app.directory, app.deliverer.deliver_pending)

    assert "Kies eerst wie je bent" in (await session.line("/status") or "")
    assert "Onbekende persoon" in (await session.act_as("niemand"))
    assert "meerdere personen" in (await session.act_as("Rol"))
    assert "Je bent nu Caco Test [caco]" in await session.act_as("Caco Test")
    await session.line("/alarm Soest: gaslek")
    assert "── aan jou ──" in out.getvalue()
    assert "[1] Bevestigen en pagen" in out.getvalue()
    await session.line("1")
    text = out.getvalue()
    assert "── aan Rol Bert ──" in text  # labelled with the recipient
    assert "[4] I'll take it   [5] Can't" in text
    assert (
        await session.line("/knop 99")
        == "Er is geen knop [99] bij jou open. /knoppen toont je open knoppen."
    )

    await session.act_as("rol-b")
    await session.line("4")
    assert "── bijgewerkt, aan jou ──" in out.getvalue()
    assert "✅ Taken by Rol Bert" in out.getvalue()
    await app.close()


async def test_console_run_loop_reads_until_quit(engine: AsyncEngine) -> None:
    await load_region(engine)
    out = io.StringIO()
    transport = ConsoleTransport(out)
    app = build(engine, FakeClock(START), [transport])
    session = ConsoleSession(app.router, transport, app.directory, app.deliverer.deliver_pending)
    lines = iter(["/als caco", "/help", "/quit", "/never"])

    async def read(_prompt: str) -> str:
        return next(lines)

    await session.run(read)
    assert "Hallo Caco Test" in out.getvalue()
    await app.close()


async def test_a_digit_that_is_no_number_is_text(engine: AsyncEngine) -> None:
    """A superscript 2 is a digit to str.isdigit(), no number to int(): text, not a press."""
    await load_region(engine)
    out = io.StringIO()
    transport = ConsoleTransport(out)
    app = build(engine, FakeClock(START), [transport])
    session = ConsoleSession(app.router, transport, app.directory, app.deliverer.deliver_pending)
    await session.act_as("caco")
    await session.line("²")
    assert "Ik verwacht nu geen tekst" in out.getvalue()
    await app.close()


def _number(transport: ConsoleTransport, who: str, label: str) -> int:
    return max(n for n, b in transport.buttons.items() if b.person_key == who and b.label == label)


async def test_digits_press_a_button_only_of_the_open_question(engine: AsyncEngine) -> None:
    """`112` answers a text question; so does the number of a button on an earlier message
    (`/knop <nummer>` presses that one)."""
    await load_region(engine)
    out = io.StringIO()
    transport = ConsoleTransport(out)
    app = build(engine, FakeClock(START), [transport])
    session = ConsoleSession(app.router, transport, app.directory, app.deliverer.deliver_pending)
    await session.act_as("caco")
    await session.line("/alarm Soest: gaslek")
    await session.line(str(_number(transport, "caco", "Bevestigen en pagen")))
    await session.act_as("rol-b")
    await session.line(str(_number(transport, "rol-b", "I'll take it")))
    start = _number(transport, "rol-b", "Start strategic analysis")
    await session.line(str(start))
    await session.line(str(_number(transport, "rol-b", "GRIP 3")))
    await session.line(str(_number(transport, "rol-b", "CoPI")))
    await session.line(str(_number(transport, "rol-b", "Done")))
    assert "*Question 4/16: Factual picture (required)*" in out.getvalue()
    assert 112 not in transport.buttons and start in transport.buttons

    for answer in ("112", str(start)):
        before = len(out.getvalue())
        assert await session.line(answer) is None
        said = out.getvalue()[before:]
        # allowed: the "or" is in the text, not a second outcome
        assert said.startswith("── aan jou ──\nSaved. Send more text to add to it, or press Done.")
    async with app.uows() as uow:
        bert = (await uow.directory.load()).person_by_key("rol-b")
        assert bert is not None
        (analyse,) = await uow.analyses.for_editor(bert.id)
        fields = await uow.analyses.fields(analyse.id)
    assert fields["feitelijk_beeld"].value == f"112\n\n{start}"

    before = len(out.getvalue())
    await session.line(f"/knop {start}")
    assert "Saved. Send more text" not in out.getvalue()[before:]
    await app.close()


async def test_the_console_reaches_everyone_so_the_daily_check_names_nobody_unlinked(
    engine: AsyncEngine,
) -> None:
    """Every person is reachable in the console: the daily roster check warns about a gap,
    not about people without a linked Telegram or Slack account."""
    region = REGION_FILE.read_text().replace(
        'start: "2026-01-05T08:00:00"', 'start: "2026-12-01T08:00:00"'
    )
    await load_region(engine, region)
    out = io.StringIO()
    app = build(engine, FakeClock(START), [ConsoleTransport(out)])
    await RosterReminders().ensure(app.core)
    await app.settle()
    text = out.getvalue()
    assert "── aan Coord Cor ──\nLet op, het piketrooster (komende 14 dagen):" in text
    assert "niemand heeft piket van di 24 nov 03:07 tot di 1 dec 08:00" in text
    assert "gekoppeld chat-account" not in text
    await app.close()


@pytest.fixture
def data_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """`scm-bot run` with the console only, its data in a fresh folder."""
    monkeypatch.chdir(tmp_path)  # no stray .env
    for name in ("DATABASE_URL", "TELEGRAM_BOT_TOKEN", "SLACK_BOT_TOKEN", "SCM_CONSOLE"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("DATA_DIR", str(tmp_path / "data"))
    return tmp_path / "data"


def _run(*lines: str) -> str:
    result = CliRunner().invoke(app, ["run"], input="".join(f"{line}\n" for line in lines))
    assert result.exit_code == 0, result.output
    return result.output


def test_the_console_saves_every_attachment_and_prints_its_path(data_dir: Path) -> None:
    out = _run("/rooster", "/rooster", "/quit")
    folder = data_dir / "console" / "bijlagen" / "caco-carla"
    saved = re.findall(r"📎 rooster\.png \((\d+) bytes\), bewaard als (\S+)\n", out)
    assert [path for _size, path in saved] == [str(folder / "rooster.png")] * 2
    assert (folder / "rooster.png").read_bytes().startswith(b"\x89PNG")
    assert int(saved[0][0]) == (folder / "rooster.png").stat().st_size


def test_the_open_buttons_come_back_after_a_restart(data_dir: Path) -> None:
    first = _run("/alarm Soest: gaslek", "/quit")
    assert "[1] Bevestigen en pagen   [2] Wissel alarmering/alertering   [3] Annuleren" in first
    again = _run("/knoppen", "1", "/quit")
    listed = again.split("Je open knoppen", 1)[1]
    assert listed.startswith(
        " (een nummer alleen drukt op een knop van de laatste vraag, /knop <nummer> op elke "
        "knop):\n• Controleer het alarm:\n"
        "  [1] Bevestigen en pagen   [2] Wissel alarmering/alertering   [3] Annuleren\n"
    )
    assert "VRU-2026-0001: ROL gepaged" in listed, "the number pressed the button"


def test_the_console_starts_as_the_first_caco_of_the_region(data_dir: Path) -> None:
    result = CliRunner().invoke(app, ["region", "import", str(REGION_FILE)])
    assert result.exit_code == 0, result.output
    out = _run("/quit")
    assert "Onbekende persoon" not in out
    assert "Je bent nu Caco Test [caco] – functies: caco" in out


class _Terminal:
    """`scm-bot run` on a pseudo-terminal, as a person at a keyboard runs it."""

    def __init__(self, cwd: Path, data: Path) -> None:
        env = {k: v for k, v in os.environ.items() if not k.endswith(("_TOKEN", "_URL"))}
        env.update(DATA_DIR=str(data), TERM="dumb", SCM_CONSOLE="")
        self.fd, child = pty.openpty()
        self.process = subprocess.Popen(
            [str(Path(sys.executable).parent / "scm-bot"), "run"],
            stdin=child,
            stdout=child,
            stderr=child,
            cwd=cwd,
            env=env,
            start_new_session=True,
        )
        os.close(child)
        self.output = b""

    def _read(self, timeout: float) -> None:
        ready, _, _ = select.select([self.fd], [], [], timeout)
        if ready:
            with contextlib.suppress(OSError):  # EIO: the child closed the terminal
                self.output += os.read(self.fd, 65536)

    def until(self, pattern: bytes, within: float = 60.0) -> re.Match[bytes]:
        deadline = time.monotonic() + within
        while (match := re.search(pattern, self.output)) is None:
            assert time.monotonic() < deadline, self.output[-2000:].decode(errors="replace")
            self._read(deadline - time.monotonic())
        return match

    def type(self, text: str) -> None:
        data = text.encode()
        for i in range(0, len(data), 512):  # the echo is read as it comes: no full buffer
            os.write(self.fd, data[i : i + 512])
            self._read(0)

    def close(self) -> None:
        self.process.kill()
        self.process.wait()
        os.close(self.fd)


def test_a_line_longer_than_the_terminal_buffer_arrives_whole(tmp_path: Path) -> None:
    """A terminal in canonical mode keeps 4095 characters of a line and drops the rest
    without a word; the console reads through readline, which has no such limit."""
    terminal = _Terminal(tmp_path, tmp_path / "data")
    try:
        terminal.until(rb"caco-carla> ")
        terminal.type("/als " + "x" * 4995 + "\n")
        match = terminal.until(rb"Onbekende persoon ' ?(x+)'")
        assert len(match.group(1)) == 4995
        terminal.type("/quit\n")
        assert terminal.process.wait(timeout=30) == 0
    finally:
        terminal.close()
