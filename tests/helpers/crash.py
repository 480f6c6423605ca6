"""What the crash test needs around the real `scm-bot run` process: a fake Bot API that can
kill the bot at an exact point of a call, and the bot's process, started and SIGKILLed.

`CrashFake` is the shared fake Telegram server (tests/helpers/fake_telegram.py) with a few hooks of
its own: it logs every message as it was sent (edits change `Sent`, not this log), records
every getUpdates with its offset and time, can hold the getUpdates that would confirm an
update (and then let it through or drop it), can hold an edit, and can run a callback at the
moment a batch of updates is served or a message is stored, before the answer leaves: a
kill there is a kill with the request done at "Telegram" and its answer never read.

`BotProcess` runs `scm-bot run`: the first start is the console script itself; every
restart is a process forked from a fork server that imported the same modules once, and
then runs the same `main()` with `run`. Importing costs about 3 s of CPU a start (on a busy
2-core machine 5-20 s of wall time): 28 restarts would spend most of the test there. A
start is ready when the new process asks for updates for the first time.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import sys
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

from tests.helpers.fake_telegram import FakeTelegram, Sent

POLL = 0.02  # seconds between two looks at the fake or the database (I/O, not timers)
# The fork server: imports what `scm-bot` imports, then forks a child per "run" line that
# calls the console script's own `main()` with `run` (stdin /dev/null, stdout to the log),
# and reaps a child on "wait <pid>", answering its exit code. At the end of stdin it kills
# and reaps every child it still has.
FORK_SERVER = """\
import os
import signal
import sys
import traceback

import scm_bot.runtime
from scm_bot.cli import main

children = set()
for line in sys.stdin:
    command, _, arg = line.strip().partition(" ")
    if command == "run":
        pid = os.fork()
        if pid == 0:
            null = os.open(os.devnull, os.O_RDONLY)
            os.dup2(null, 0)
            os.dup2(2, 1)
            sys.argv = ["scm-bot", "run"]
            code = 1
            try:
                main()
                code = 0
            except SystemExit as end:
                code = end.code if isinstance(end.code, int) else int(end.code is not None)
            except BaseException:
                traceback.print_exc()
            finally:
                sys.stdout.flush()
                sys.stderr.flush()
                os._exit(code)
        children.add(pid)
        print(pid, flush=True)
    elif command == "wait":
        _, status = os.waitpid(int(arg), 0)
        children.discard(int(arg))
        print(os.waitstatus_to_exitcode(status), flush=True)
for pid in children:
    os.kill(pid, signal.SIGKILL)
    os.waitpid(pid, 0)
"""


@dataclass(frozen=True)
class Delivered:
    """One message as the bot sent it (its text before any edit), when it was stored."""

    chat_id: int
    message_id: int
    text: str
    at: float  # time.monotonic() of this (the test's) process


@dataclass(frozen=True)
class Poll:
    at: float
    offset: int


@dataclass
class CrashFake(FakeTelegram):
    log: list[Delivered] = field(default_factory=list)
    polls: list[Poll] = field(default_factory=list)
    # While set, a getUpdates waits here; its result says whether it then goes on (True:
    # the offset confirms what it names) or returns nothing and confirms nothing (False).
    poll_gate: asyncio.Future[bool] | None = None
    edit_holds: dict[int, asyncio.Event] = field(default_factory=dict)
    edits_held: list[int] = field(default_factory=list)
    on_poll: Callable[[Poll], None] | None = None
    on_served: Callable[[list[dict[str, Any]]], None] | None = None
    on_stored: Callable[[Sent], None] | None = None

    def _store(self, chat_id: int, html: str, markup: dict[str, Any] | None) -> Sent:
        sent = super()._store(chat_id, html, markup)
        self.log.append(Delivered(chat_id, sent.message_id, sent.text, time.monotonic()))
        if self.on_stored is not None:
            self.on_stored(sent)
        return sent

    async def _api_getupdates(self, params: dict[str, Any]) -> Any:
        poll = Poll(time.monotonic(), int(params.get("offset") or 0))
        self.polls.append(poll)
        if self.on_poll is not None:
            self.on_poll(poll)
        gate = self.poll_gate
        if gate is not None and not await asyncio.shield(gate):
            return []
        batch = await super()._api_getupdates(params)
        if batch and self.on_served is not None:
            self.on_served(batch)
        return batch

    async def _api_editmessagetext(self, params: dict[str, Any]) -> Any:
        hold = self.edit_holds.get(params.get("chat_id", 0))
        if hold is not None:
            self.edits_held.append(params.get("chat_id", 0))
            await hold.wait()
        return await super()._api_editmessagetext(params)

    def fresh_hold(self, chat_id: int) -> asyncio.Event:
        """`hold(chat_id)`, anew even where an earlier hold was released."""
        self._held.pop(chat_id, None)
        return self.hold(chat_id)

    def sent(self, chat_id: int, since: float = 0.0) -> list[Delivered]:
        return [d for d in self.log if d.chat_id == chat_id and d.at >= since]


async def until(condition: Callable[[], bool], what: str, within: float = 30.0) -> float:
    """Poll I/O (the fake's records) until `condition` holds; when it first did."""
    deadline = time.monotonic() + within
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {within} s waiting for {what}")
        await asyncio.sleep(POLL)  # allowed: polls HTTP I/O between the bot and the fake
    return time.monotonic()


async def until_async(
    condition: Callable[[], Awaitable[bool]], what: str, within: float = 30.0
) -> None:
    """Poll I/O (the database) until `condition` holds."""
    deadline = time.monotonic() + within
    while not await condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {within} s waiting for {what}")
        await asyncio.sleep(POLL)  # allowed: polls the database the bot writes, no timer


@dataclass(frozen=True)
class Start:
    cold: bool
    began: float  # when the process was told to run
    ready: float  # its first getUpdates

    @property
    def seconds(self) -> float:
        return self.ready - self.began


class BotProcess:
    """`scm-bot run` as a child process, against `fake`; its output goes to `log_path`.

    The first start runs the console script; every restart is forked by a fork server
    (FORK_SERVER) that imported the same modules once: the same `main()`, in a new process
    that is SIGKILLed by its pid, without importing for 3 s of CPU at every restart."""

    def __init__(self, fake: CrashFake, env: dict[str, str], cwd: Path, log_path: Path) -> None:
        self.fake = fake
        self.env = env
        self.cwd = cwd
        self.log_path = log_path
        self.pid: int | None = None  # the bot running now
        self._cold: asyncio.subprocess.Process | None = None  # the first start
        self._server: asyncio.subprocess.Process | None = None
        self._log: IO[bytes] | None = None
        self.starts: list[Start] = []
        self.kills = 0

    @property
    def bin_dir(self) -> Path:
        return Path(sys.executable).parent

    def _output(self) -> IO[bytes]:
        if self._log is None:
            self._log = self.log_path.open("ab")
        return self._log

    def _header(self, what: str) -> None:
        out = self._output()
        out.write(f"\n===== start {len(self.starts) + 1} ({what}) =====\n".encode())
        out.flush()

    async def cli(self, *args: str) -> str:
        """Run another `scm-bot` command to its end; its output (it must succeed)."""
        proc = await asyncio.create_subprocess_exec(
            str(self.bin_dir / "scm-bot"),
            *args,
            env=self.env,
            cwd=self.cwd,
            stdin=asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.STDOUT,
        )
        out, _ = await proc.communicate()
        text = out.decode()
        assert proc.returncode == 0, f"scm-bot {' '.join(args)} failed:\n{text}"
        return text

    async def prepare(self) -> None:
        """Start the fork server (it imports while the test does other things)."""
        if self._server is None:
            self._server = await asyncio.create_subprocess_exec(
                sys.executable,
                "-c",
                FORK_SERVER,
                env=self.env,
                cwd=self.cwd,
                stdin=asyncio.subprocess.PIPE,
                stdout=asyncio.subprocess.PIPE,
                stderr=self._output(),
            )

    async def _ask(self, line: str) -> int:
        await self.prepare()
        server = self._server
        assert server is not None and server.stdin is not None and server.stdout is not None
        server.stdin.write(f"{line}\n".encode())
        await server.stdin.drain()
        answer = await server.stdout.readline()
        assert answer, f"the fork server ended:\n{self.tail()}"
        return int(answer)

    async def start(self, *, cold: bool = False, polls: bool = True) -> Start:
        """Start the bot (the console script when `cold`, else a fork) and wait until it
        polls for updates (a standby beside a leader does not: `polls=False` waits for
        nothing)."""
        assert self.pid is None, "the bot still runs"
        if cold:
            self._header("cold: scm-bot run")
            began = time.monotonic()
            self._cold = await asyncio.create_subprocess_exec(
                str(self.bin_dir / "scm-bot"),
                "run",
                env=self.env,
                cwd=self.cwd,
                stdin=asyncio.subprocess.DEVNULL,
                stdout=self._output(),
                stderr=self._output(),
            )
            self.pid = self._cold.pid
        else:
            await self.prepare()
            self._header("forked: main() with run")
            began = time.monotonic()
            self.pid = await self._ask("run")
        ready = await self._ready(began) if polls else began
        start = Start(cold, began, ready)
        self.starts.append(start)
        return start

    def _ended(self) -> bool:
        """Whether the bot ended (a zombie, or already reaped)."""
        assert self.pid is not None
        try:
            stat = Path(f"/proc/{self.pid}/stat").read_text()
        except FileNotFoundError:
            return True
        return stat.rpartition(")")[2].split()[0] == "Z"

    async def _ready(self, began: float) -> float:
        deadline = began + 60.0
        while True:
            after = [poll.at for poll in self.fake.polls if poll.at >= began]
            if after:
                return after[0]
            if self._ended():
                code = await self._reap()
                raise AssertionError(f"scm-bot run ended with {code} at start:\n{self.tail()}")
            if time.monotonic() > deadline:
                raise AssertionError(f"scm-bot run did not poll within 60 s:\n{self.tail()}")
            await asyncio.sleep(POLL)  # allowed: waits for the process to reach the fake

    def kill(self) -> None:
        """SIGKILL the running bot, now (callable from inside a fake's handler)."""
        assert self.pid is not None, "no bot is running"
        os.kill(self.pid, signal.SIGKILL)
        self.kills += 1

    async def _reap(self) -> int:
        assert self.pid is not None
        if self._cold is not None and self._cold.pid == self.pid:
            code = await self._cold.wait()
            self._cold = None
        else:
            code = await self._ask(f"wait {self.pid}")
        self.pid = None
        return code

    async def reap(self) -> None:
        """Wait for the killed bot to be gone."""
        code = await self._reap()
        assert code == -signal.SIGKILL, f"scm-bot run ended by itself ({code}):\n{self.tail()}"

    async def terminate(self) -> int:
        """Ask the bot to stop (SIGTERM, as a service manager does); its exit code."""
        assert self.pid is not None, "no bot is running"
        os.kill(self.pid, signal.SIGTERM)
        return await self._reap()

    async def stop(self) -> None:
        """End every process this started (teardown)."""
        if self.pid is not None:
            with contextlib.suppress(ProcessLookupError):
                os.kill(self.pid, signal.SIGKILL)
            await self._reap()
        if self._server is not None:
            assert self._server.stdin is not None
            self._server.stdin.close()  # it kills and reaps what it still has, and ends
            await self._server.wait()
            self._server = None
        if self._log is not None:
            self._log.close()
            self._log = None

    def tail(self, lines: int = 60) -> str:
        if self._log is not None:
            self._log.flush()
        text = self.log_path.read_text("utf-8", errors="replace")
        return "\n".join(text.splitlines()[-lines:])
