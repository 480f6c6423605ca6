"""Hypothesis over every parser and the router: whatever comes in, the answer is a clear one.

The router gets random commands (every registered name and alias, with random arguments),
random texts (surrogates, control characters, very long text, any unicode) and random button
payloads (every registered prefix with random ids and actions, the real buttons on the
sender's screen, and garbage), from every kind of person of the test region and from
strangers. Nothing may escape `Router.handle`: bad input is a `UserError`, which the router
turns into an answer. The pure parsers may raise only their own error: `UserError` for dates
and times, `RegionFileError` for the region file, `FormFileError` for the analyse form.

Bounded: the router runs on SQLite, on one harness for the whole test (each event is its own
transaction, so the state stays valid from one example to the next).
"""

from __future__ import annotations

import asyncio
import shutil
import tempfile
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
import yaml
from hypothesis import HealthCheck, given, note, settings
from hypothesis import strategies as st

from core.analyse.form import FormFileError, load_form
from core.analyse.when import MAX_AHEAD, parse_moment
from core.callbacks import KINDS, MAX_NUMBER, unpack
from core.clock import FakeClock
from core.errors import RegionFileError, UserError
from core.events import ButtonEvent, CommandEvent, Sender, TextEvent, parse_text
from core.i18n import t
from core.model import Language, Origin
from core.region.file import dump_region, parse_region
from core.roster.dates import parse_instant, parse_local, parse_period
from flows.router import FLOW_ALIASES
from scm_bot.app import build
from storage.database import make_engine
from tests.helpers import REGION_FILE, START, Harness, RecordingTransport, dispose, make_harness

# -- what the router knows ------------------------------------------------------------------


def _vocabulary() -> tuple[list[str], list[str]]:
    """Every command name (with aliases and flow commands) and every button prefix."""
    app = build(make_engine("sqlite:///:memory:"), FakeClock(START), [RecordingTransport()])
    router = app.router
    flow_commands = {c for flow in router._flows.values() for c in flow.commands}
    names = sorted({*router._commands, *flow_commands, *FLOW_ALIASES})
    return names, sorted(router._buttons)


COMMANDS, PREFIXES = _vocabulary()
PEOPLE = ("caco", "rol-a", "rol-b", "rol-c", "im", "coord", "bgm-soest", "bgm-debilt", "gs-soest")
ACTIONS = (
    *("ack", "decline", "seen", "yes", "no", "start", "read", "call", "share", "bt"),
    *("approve", "reject", "done", "skip", "keep", "toggle", "unknown", "g1", "g0"),
    *("alarmering", "alertering", "grip1", "mcp", "0", "1", "3"),
)
TOKENS = (
    *("Soest", "Soest:", "De Bilt", "Atlantis", "gemeente", "gaslek", "alertering", "Zeist,"),
    *("Bert", "Anna", "Cees", "Ineke", "rol-a", "Coord", "door", "van", "tot", "voor", "backup"),
    *("rol", "im", "coordinator", "caco", "burgemeester", "regio", "piketregio:noord"),
    *("morgen", "vandaag", "ma", "zo", "08:00", "18.30", "8u", "uur", "om", "over", "45", "min"),
    *("01-01-0001", "0001-01-01", "31-12-9999", "29-02", "31-02", "12-13", "00:05", "24:00"),
    *("2026-03-29", "02:30", "2026-10-25", "12 dec", "dec", "2026", "T", "-", ":", "/", "?"),
    *("VRU-2026-0001", "VRU-2026-0002", "0001", "1", "2", "0", "-1", str(2**31), str(2**63)),
    *("9" * 30, "week", "maand", "ical", "abonneer", "opzeggen", "abonnementen", "toon"),
    *("export", "md", "pdf", "kernbeeld", "uitnodigen", "feitelijk_beeld", "volgende_update"),
    *("teams", "families", "opschaling", "advies", "en", "nl", "klingon", "GRIP 2", "SPC"),
)
ANY_CHAR = st.characters(codec=None, exclude_categories=())  # surrogates and controls too
# Characters that broke something once: surrogates and NUL (no database stores them), digits
# str.isdigit() accepts and int() does not, direction marks, escapes.
NASTY = st.sampled_from(
    ["\ud800", "\udfff", "\x00", "\u202e", "\ufeff", "\n", "\t", "\x1b", "²", "١٢", "\u0660"]
)
TOKEN = st.one_of(
    st.sampled_from(TOKENS),
    st.text(ANY_CHAR, max_size=10),
    NASTY,
    st.integers(-(10**25), 10**25).map(str),
)
PHRASE = st.lists(TOKEN, max_size=8).map(" ".join)
NASTY_TEXT = st.lists(st.one_of(NASTY, st.sampled_from(TOKENS)), min_size=1, max_size=4).map(
    "".join
)
FREE_TEXT = st.one_of(
    PHRASE,
    PHRASE,
    NASTY_TEXT,
    st.text(ANY_CHAR, max_size=80),
    st.integers(1000, 20000).map(lambda n: ("lang " * n)[:n]),  # very long
)
NUMBER_ID = st.one_of(
    st.integers(-2, 6),
    st.sampled_from([MAX_NUMBER, MAX_NUMBER + 1, 2**63 - 1, 2**63, 2**64, 10**20, 10**30]),
    st.integers(0, 2**70),
).map(str)
BUTTON_ID = st.one_of(
    NUMBER_ID,
    NUMBER_ID,
    st.builds(lambda a, b: f"{a}.{b}", NUMBER_ID, NUMBER_ID),
    st.sampled_from(["gemeente", "pick", "kind", "location", "opschaling", "confirm", ""]),
    NASTY_TEXT,
    st.text(ANY_CHAR, max_size=8),
)
BUTTON_ACTION = st.one_of(
    st.sampled_from(ACTIONS),
    NUMBER_ID,
    NUMBER_ID.map("g{}".format),
    NASTY_TEXT,
    st.text(ANY_CHAR, max_size=8),
)
BUTTON_DATA = st.one_of(
    st.builds(lambda p, i, a: f"{p}:{i}:{a}", st.sampled_from(PREFIXES), BUTTON_ID, BUTTON_ACTION),
    st.builds(lambda p, i, a: f"{p}:{i}:{a}", st.sampled_from(PREFIXES), BUTTON_ID, BUTTON_ACTION),
    NASTY_TEXT,
    st.text(ANY_CHAR, max_size=70),
)


@st.composite
def senders(draw: st.DrawFn) -> Sender:
    """Mostly the region's people in private; sometimes a stranger, or a group chat."""
    kind = draw(st.sampled_from(["person"] * 6 + ["stranger", "telegram", "slack", "group"]))
    if kind == "person":
        return Sender(Origin.CONSOLE, draw(st.sampled_from(PEOPLE)))
    if kind == "stranger":
        return Sender(Origin.CONSOLE, "nobody")
    user = draw(st.one_of(NUMBER_ID, NASTY_TEXT, st.text(ANY_CHAR, max_size=12)))
    if kind == "telegram":
        return Sender(Origin.TELEGRAM, user, chat_id=user)
    if kind == "slack":
        return Sender(Origin.SLACK, user, chat_id=draw(st.text(ANY_CHAR, max_size=12)))
    who = draw(st.sampled_from(PEOPLE))
    return Sender(Origin.CONSOLE, who, chat_id=draw(NUMBER_ID), private=False)


@st.composite
def steps(draw: st.DrawFn) -> tuple[str, Sender, Any]:
    sender = draw(senders())
    kind = draw(st.sampled_from(["command"] * 4 + ["text"] * 2 + ["button"] * 3 + ["real"] * 2))
    if draw(st.integers(0, 20)) == 0:
        kind = "advance"
    if kind == "command":
        name = draw(st.one_of(st.sampled_from(COMMANDS), NASTY_TEXT, st.text(ANY_CHAR, max_size=8)))
        args = draw(st.one_of(PHRASE, FREE_TEXT))
        return kind, sender, f"/{name} {args}"
    if kind == "text":
        return kind, sender, draw(FREE_TEXT)
    if kind == "button":
        return kind, sender, draw(BUTTON_DATA)
    if kind == "real":  # one of the buttons on the person's screen, resolved when run
        return kind, sender, draw(st.integers(0, 10**6))
    return kind, sender, draw(st.integers(1, 30))


class World:
    """One harness on SQLite, on an event loop of its own, kept for a whole fuzz test."""

    def __init__(self, path: Path) -> None:
        self.loop = asyncio.new_event_loop()
        self.engine = make_engine(f"sqlite:///{path}")
        self.harness: Harness = self.loop.run_until_complete(self._start())

    async def _start(self) -> Harness:
        harness = await make_harness(self.engine)
        # Something for the buttons and flows to act on: an acknowledged incident with its
        # analyse started, a second one still paging, a roster change waiting.
        await harness.raise_alarm()
        await harness.press("rol-b", "I'll take it")
        await harness.say("rol-b", "/analyse")
        await harness.raise_alarm("alertering De Bilt: rookontwikkeling")
        await harness.say("coord", "/vervang Bert door Anna van morgen 08:00 tot do 18:00")
        await harness.say("rol-b", "/ruil Cees")
        return harness

    def run(self, kind: str, sender: Sender, value: Any) -> None:
        self.loop.run_until_complete(self._run(kind, sender, value))

    async def _run(self, kind: str, sender: Sender, value: Any) -> None:
        harness = self.harness
        if kind == "advance":
            await harness.advance(value)
            return
        if kind == "real":
            buttons = [b.data for m in harness.inbox(sender.user_id)[-6:] for b in m.buttons] or [
                "pg:1:ack"
            ]
            value = buttons[value % len(buttons)]
        event = (
            ButtonEvent(sender, value) if kind in ("button", "real") else parse_text(sender, value)
        )
        note(f"{event!r}")
        await harness.app.router.handle(event)
        await harness.app.deliverer.deliver_pending()

    def close(self) -> None:
        async def stop() -> None:
            await self.harness.app.close()
            await dispose(self.engine)

        self.loop.run_until_complete(stop())
        self.loop.close()


@pytest.fixture
def world(sqlite_template: Path) -> Iterator[World]:
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "fuzz.sqlite"
        shutil.copy(sqlite_template, path)
        world = World(path)
        try:
            yield world
        finally:
            world.close()


@settings(
    max_examples=250,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(script=st.lists(steps(), min_size=1, max_size=6))
def test_nothing_escapes_the_router(world: World, script: list[tuple[str, Sender, Any]]) -> None:
    for kind, sender, value in script:
        world.run(kind, sender, value)


# -- the pure parsers ---------------------------------------------------------------------

TIME_ZONES = st.sampled_from(
    [
        "Europe/Amsterdam",
        "UTC",
        "Pacific/Kiritimati",  # +14
        "Pacific/Pago_Pago",  # -11
        "Asia/Kathmandu",  # +05:45
        "Australia/Lord_Howe",  # a half-hour daylight saving time shift
        "America/St_Johns",
    ]
).map(ZoneInfo)
NOWS = st.datetimes(datetime(2000, 1, 1), datetime(2090, 12, 31), timezones=st.just(UTC))
NUM = st.one_of(
    st.sampled_from(["0001", "0000", "9999", "1", "00", "01", "12", "29", "31", "2026"]),
    st.integers(0, 99).map(str),
    st.integers(0, 99).map(lambda n: f"{n:02d}"),
    st.integers(0, 99999).map(lambda n: f"{n:04d}"),
)
MONTH_WORDS = st.sampled_from(["jan", "dec", "mei", "okt", "march", "foo", "sept"])
DAY_WORDS = st.sampled_from(["morgen", "vandaag", "overmorgen", "ma", "zo", "fri", "om", ""])
# Components as integers: Hypothesis likes their bounds (day 1, month 1, year 1, 00:00).
DAY, MONTH, HOUR = (st.integers(0, n).map(str) for n in (32, 13, 24))
MINUTE = st.integers(0, 60).map("{:02d}".format)
YEAR = st.integers(0, 9999).map("{:04d}".format)
DATE_PARTS = st.one_of(
    st.builds("{}-{}-{} {}:{}".format, DAY, MONTH, YEAR, HOUR, MINUTE),
    st.builds("{}-{}-{}T{}:{}".format, YEAR, MONTH, DAY, HOUR, MINUTE),
    st.builds("{}-{}-{} {}:{}".format, YEAR, MONTH, DAY, HOUR, MINUTE),
    st.builds("{} jan {} {}:{}".format, DAY, YEAR, HOUR, MINUTE),
)
MOMENT_TEXT = st.one_of(
    DATE_PARTS,
    DATE_PARTS,
    st.builds("{}-{}-{} {}:{}".format, NUM, NUM, NUM, NUM, NUM),
    st.builds("{}-{} {}:{}".format, NUM, NUM, NUM, NUM),
    st.builds("{}-{}-{}T{}:{}".format, NUM, NUM, NUM, NUM, NUM),
    st.builds("{}-{}-{} {}:{}".format, NUM, NUM, NUM, NUM, NUM),
    st.builds("{} {} {} {}:{}".format, NUM, MONTH_WORDS, NUM, NUM, NUM),
    st.builds("{}/{}/{} {}.{} uur".format, NUM, NUM, NUM, NUM, NUM),
    st.builds("{} {}:{}".format, DAY_WORDS, NUM, NUM),
    st.builds("over {} {}".format, NUM, st.sampled_from(["min", "uur", "h", "minuten"])),
    st.builds("+{}{}".format, NUM, st.sampled_from(["m", "u"])),
    PHRASE,
    st.text(ANY_CHAR, max_size=30),
)


def _renders(error: UserError) -> None:
    """A refusal is an answer in both languages: its key exists and its text formats."""
    for language in Language:
        params = {k: v(language) if callable(v) else v for k, v in error.params.items()}
        assert t(language, error.key, **params)


@given(text=st.one_of(st.text(ANY_CHAR), FREE_TEXT))
def test_parse_text_takes_any_text(text: str) -> None:
    event = parse_text(Sender(Origin.CONSOLE, "caco"), text)
    assert isinstance(event, CommandEvent | TextEvent)


@given(data=st.one_of(st.text(ANY_CHAR, max_size=80), BUTTON_DATA))
def test_callback_data_decodes_what_it_encodes_and_nothing_it_could_not(data: str) -> None:
    for kind in KINDS:
        decoded = kind.unpack(data)
        if decoded is not None:
            assert type(decoded) is kind
            assert decoded.pack() == data
            assert data.isascii()
            assert unpack(data) == decoded


def test_every_kind_of_button_is_routed() -> None:
    assert sorted(kind.prefix for kind in KINDS) == PREFIXES


@settings(max_examples=300)
@given(text=MOMENT_TEXT, now=NOWS, tz=TIME_ZONES)
def test_parse_moment_answers_or_refuses_clearly(text: str, now: datetime, tz: ZoneInfo) -> None:
    try:
        at = parse_moment(text, now, tz)
    except UserError as error:
        _renders(error)
    else:
        assert now < at <= now + MAX_AHEAD


@settings(max_examples=300)
@given(start=MOMENT_TEXT, end=MOMENT_TEXT, now=NOWS, tz=TIME_ZONES)
def test_roster_dates_answer_or_refuse_clearly(
    start: str, end: str, now: datetime, tz: ZoneInfo
) -> None:
    local_now = now.astimezone(tz).replace(tzinfo=None)
    parses: list[Callable[[], datetime]] = [
        lambda: parse_local(start, local_now),
        lambda: parse_local(end, local_now, local_now + timedelta(hours=1)),
        lambda: parse_instant(start, now, tz),
    ]
    for parse in parses:
        try:
            parse()
        except UserError as error:
            _renders(error)
    try:
        first, last = parse_period(start, end, now, tz)
    except UserError as error:
        _renders(error)
    else:
        assert first < last


YAML_LEAVES = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-(2**70), 2**70),
    st.floats(allow_nan=True),
    st.text(ANY_CHAR.filter(lambda c: not "\ud800" <= c <= "\udfff"), max_size=12),
    st.sampled_from(["rol", "caco", "soest", "on_duty", "backup", "2026-01-05T08:00:00", "x"]),
)
YAML_VALUES = st.recursive(
    YAML_LEAVES,
    lambda inner: st.one_of(
        st.lists(inner, max_size=4), st.dictionaries(st.text(max_size=8), inner, max_size=4)
    ),
    max_leaves=25,
)
YAML_SOUP = st.lists(
    st.sampled_from(
        [
            *("{", "}", "[", "]", ": ", ", ", "- ", "\n", "  ", "? ", "|", ">", "'", '"', "#"),
            *("&a ", "*a", "!!timestamp ", "!!binary ", "!!python/object ", "!!set ", "%YAML"),
            *("2026-02-30", "0000-01-01", "2026-01-05 08:00:00 +99:00", "1e999", "0x1F", "~"),
            *("region", "code", "VRU", "people", "key", "telegram_user_id", str(2**63), "---"),
            *("rotations", "start", "members", "functions", "escalation", "steps", "chats"),
            *("fields", "label", "nl", "prompt", "type", "choice", "choices", "\t", "\x00"),
        ]
    ),
    max_size=40,
).map("".join)
REGION = yaml.safe_load(REGION_FILE.read_text("utf-8"))


@st.composite
def mutated(draw: st.DrawFn, base: Any) -> Any:
    """`base` with one value somewhere in it replaced by a random one."""
    if isinstance(base, dict) and base and draw(st.booleans()):
        key = draw(st.sampled_from(sorted(base, key=str)))
        return {**base, key: draw(mutated(base[key]))}
    if isinstance(base, list) and base and draw(st.booleans()):
        i = draw(st.integers(0, len(base) - 1))
        return [*base[:i], draw(mutated(base[i])), *base[i + 1 :]]
    return draw(YAML_VALUES)


def _dump(data: Any) -> str:
    return yaml.safe_dump(data, allow_unicode=True, sort_keys=False)


@settings(max_examples=150, deadline=None)
@given(
    text=st.one_of(
        st.text(ANY_CHAR, max_size=200),
        YAML_SOUP,
        YAML_VALUES.map(_dump),
        mutated(REGION).map(_dump),
        mutated(REGION).map(_dump),
        st.integers(1, 3000).map(lambda n: "region: " + "[" * n + "]" * n),
    )
)
def test_the_region_file_parser_raises_only_region_file_errors(text: str) -> None:
    try:
        doc = parse_region(text)
    except RegionFileError as error:
        problems = error.problems
    else:
        assert parse_region(dump_region(doc)) == doc  # what it accepts, it writes back
        return
    assert problems


FORM = yaml.safe_load(Path(__file__).parents[1].joinpath("core/data/analyse-form.yaml").read_text())


@settings(max_examples=100, deadline=None)
@given(
    text=st.one_of(
        st.text(ANY_CHAR.filter(lambda c: not "\ud800" <= c <= "\udfff"), max_size=200),
        YAML_SOUP,
        YAML_VALUES.map(_dump),
        mutated(FORM).map(_dump),
        mutated(FORM).map(_dump),
        st.integers(1, 3000).map(lambda n: "fields: " + "[" * n + "]" * n),
    )
)
def test_the_analyse_form_loader_raises_only_form_file_errors(text: str) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "form.yaml"
        path.write_text(text, "utf-8")
        try:
            load_form(path)
        except FormFileError as error:
            message = str(error)
        else:
            return
    assert message.startswith(f"{path}: ") and "\n" not in message
