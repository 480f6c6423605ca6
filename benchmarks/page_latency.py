"""Alert confirmed -> page handed to the transport: latency with 100 concurrent incidents.

The app runs as `scm-bot run` runs it (`scm_bot.app.running`: APScheduler in its own
thread, the delivery loop `Deliverer.run` as a background task woken by `Core.on_outbox`
and handing each person's messages to that person's worker, `SystemClock`). The latency of
an incident runs from just before its confirm button event is handed to `Router.handle`
until the fake transport's `send()` is called with that incident's page (timestamp taken
inside `send()`).

Target scenario ("steady"): a region with 3 Caco's (`--cacos`) and one ROL rotation. First
100 incidents are opened through the real flow and left open (`--open`; not measured): a
Caco sends `/alarm Soest: open-<i> ...`, presses "Bevestigen en pagen" once the prompt
arrived, the ROL on duty is paged and nobody answers, so every page stays active with its
escalation timer pending. Then, with those 100 still open, 200 further alerts (`--measured`)
are confirmed one at a time at a steady rate (`--rate`, 5/s): confirm i is handed in at
start + i / rate, whether or not earlier pages arrived yet (open loop). The Caco's take
turns; before each confirm its Caco sends `/alarm Soest: bench-<i> ...` and waits for the
prompt (not measured, but part of the load). Every page is also reported to every Caco
("ROL gepaged").

Stress rows (for information, `--no-burst` skips them): N Caco's (N = 10 and `--burst`,
100) each open an alarm, then N asyncio tasks, released together, each hand in their
confirm; every page is reported to all N Caco's (N x N messages).

    .venv/bin/python -m benchmarks.page_latency [--open 100] [--measured 200] [--rate 5]
        [--cacos 3] [--burst 100] [--no-burst]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import math
import re
import time
from dataclasses import dataclass, field

from benchmarks._common import (
    BenchTransport,
    available_kinds,
    database,
    machine,
    ms,
    percentile,
    quiet_logging,
    region_yaml,
    table,
    update_readme,
)
from core.clock import SystemClock
from core.events import ButtonEvent, Sender, parse_text
from core.messages import Message
from core.model import Origin, Person
from core.paging import ESCALATE
from core.region_file import parse_region
from scm_bot.app import App, running
from storage.database import make_engine
from storage.region import import_region

TAG = re.compile(r"\bbench-(\d+)\b")
CONFIRM = "al:confirm:"  # the alarm flow's confirm button
PAGE_TIMEOUT = 120.0  # seconds to wait for all pages before giving up
PROMPT_TIMEOUT = 30.0  # seconds to wait for the alarm flow's confirm prompt
TARGET = 0.05  # seconds: p99 at most 50 ms
LATE_HANDIN = 0.01  # a confirm handed in more than this after its slot counts as late
STEADY = "steady"
BURST = "burst"


@dataclass
class Result:
    kind: str
    scenario: str  # STEADY (the target scenario) or BURST (stress)
    open: int  # incidents open (paged, unanswered) before the measured confirms
    measured: int  # confirms measured
    cacos: int
    rate: float | None = None  # confirms per second (steady)
    latencies: list[float] = field(default_factory=list)  # confirm -> page at transport
    handle: list[float] = field(default_factory=list)  # Router.handle of the confirm
    before_page: list[int] = field(default_factory=list)  # sends between confirm and page
    late: list[float] = field(default_factory=list)  # seconds each confirm missed its slot
    all_paged: float | None = None  # first confirm handed in -> last page sent
    window: float | None = None  # first confirm handed in -> outbox empty
    drained: float | None = None  # last confirm handed in -> outbox empty
    sent: int = 0  # messages sent from the first confirm until the outbox was empty
    missing: int = 0
    escalations: tuple[int, int] = (0, 0)  # escalation timers pending before / after

    def p(self, p: float) -> float:
        """Percentile over every measured confirm; a page never sent counts as infinite."""
        values = self.latencies + [math.inf] * self.missing
        return percentile(values, p) if values else math.nan

    def label(self) -> str:
        if self.scenario == STEADY:
            return f"**target**: {self.open} open, {self.measured} confirms at {self.rate:g}/s"
        return f"stress (for information): {self.measured} confirms at once"


class PageProbe:
    """Timestamps, inside the fake transport's send(), the first page of each incident;
    notes each Caco's confirm prompts."""

    def __init__(self, transport: BenchTransport) -> None:
        self.transport = transport
        self.paged_at: dict[int, float] = {}
        self.sends_before: dict[int, int] = {}
        self.handed_in_at: dict[int, int] = {}  # transport.sends when the confirm went in
        self.all_paged = asyncio.Event()
        self.expected: set[int] = set()
        self.start_sends = 0
        self.prompts: dict[str, asyncio.Event] = {}
        transport.on_send = self.seen

    def expect(self, tags: set[int]) -> None:
        self.expected = set(tags)
        self.paged_at.clear()
        self.sends_before.clear()
        self.handed_in_at.clear()
        self.all_paged.clear()
        self.start_sends = self.transport.sends

    def handed_in(self, tag: int) -> None:
        self.handed_in_at[tag] = self.transport.sends

    def prompt(self, person: str) -> asyncio.Event:
        """A fresh event, set when `person` next gets a message with a confirm button."""
        event = self.prompts[person] = asyncio.Event()
        return event

    def seen(self, at: float, person: Person, message: Message) -> None:
        if any(b.data.startswith(CONFIRM) for b in message.buttons):
            event = self.prompts.get(person.key)
            if event is not None:
                event.set()
            return
        if not any(b.data.startswith("pg:") for b in message.buttons):
            return
        match = TAG.search(message.text)
        if match is None:
            return
        tag = int(match.group(1))
        if tag in self.expected and tag not in self.paged_at:
            self.paged_at[tag] = at
            since = self.handed_in_at.get(tag, self.start_sends)
            self.sends_before[tag] = self.transport.sends - 1 - since
            if self.expected <= self.paged_at.keys():
                self.all_paged.set()


async def pending_outbox(app: App) -> int:
    async with app.uows() as uow:
        return await uow.outbox.count_pending()


async def pending_escalations(app: App) -> int:
    async with app.uows() as uow:
        return sum(1 for t in await uow.timers.pending() if t.kind == ESCALATE)


async def wait_drained(app: App, limit: float) -> float | None:
    """Seconds until the outbox is empty (polled every 20 ms), None on timeout."""
    start = time.perf_counter()
    while time.perf_counter() - start < limit:
        if await pending_outbox(app) == 0:
            return time.perf_counter() - start
        await asyncio.sleep(0.02)
    return None


def caco(i: int) -> str:
    return f"caco-{i:03d}"


def sender(person: str) -> Sender:
    return Sender(Origin.CONSOLE, person)


async def draft(app: App, probe: PageProbe, person: str, tag: str) -> str:
    """`person` starts an alarm in one line and waits for its confirm prompt to arrive;
    returns the confirm button's data."""
    prompt = probe.prompt(person)
    await app.router.handle(parse_text(sender(person), f"/alarm Soest: {tag} gaslek"))
    try:
        await asyncio.wait_for(prompt.wait(), PROMPT_TIMEOUT)
    except TimeoutError:
        raise RuntimeError(f"no confirm prompt for {person} ({tag})") from None
    return probe.transport.button(person, CONFIRM)


async def open_incidents(app: App, probe: PageProbe, cacos: int, count: int) -> None:
    """`count` incidents raised and paged through the real flow, left unanswered."""
    for i in range(count):
        person = caco(i % cacos)
        data = await draft(app, probe, person, f"open-{i:03d}")
        await app.router.handle(ButtonEvent(sender(person), data))
    if await wait_drained(app, 60) is None:
        raise RuntimeError("the open incidents' messages were not delivered")


async def finish(app: App, probe: PageProbe, result: Result, started: dict[int, float]) -> None:
    """Wait for every page (and then the outbox); collect the figures."""
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(probe.all_paged.wait(), PAGE_TIMEOUT)
    first, last = min(started.values()), max(started.values())
    for i, t0 in started.items():
        if i in probe.paged_at:
            result.latencies.append(probe.paged_at[i] - t0)
            result.before_page.append(probe.sends_before[i])
        else:
            result.missing += 1
    if probe.paged_at:
        result.all_paged = max(probe.paged_at.values()) - first
    remaining = PAGE_TIMEOUT - (time.perf_counter() - last)
    if await wait_drained(app, max(remaining, 1.0)) is not None:
        result.window = time.perf_counter() - first
        result.drained = time.perf_counter() - last
    result.sent = probe.transport.sends - probe.start_sends


async def confirm_steady(app: App, probe: PageProbe, result: Result) -> None:
    """Confirm i is handed in at start + i / rate (open loop); the Caco's take turns, each
    drafting its next alarm right after handing in its previous confirm."""
    assert result.rate is not None
    rate = result.rate
    started: dict[int, float] = {}
    probe.expect(set(range(result.measured)))
    start = time.perf_counter() + 0.5

    async def drive(c: int) -> None:
        person = caco(c)
        for i in range(c, result.measured, result.cacos):
            data = await draft(app, probe, person, f"bench-{i:03d}")
            slot = start + i / rate
            await asyncio.sleep(max(0.0, slot - time.perf_counter()))
            probe.handed_in(i)
            started[i] = t0 = time.perf_counter()
            result.late.append(max(0.0, t0 - slot))
            await app.router.handle(ButtonEvent(sender(person), data))
            result.handle.append(time.perf_counter() - t0)

    await asyncio.gather(*(drive(c) for c in range(min(result.cacos, result.measured))))
    await finish(app, probe, result, started)


async def confirm_burst(
    app: App, probe: PageProbe, buttons: dict[int, str], result: Result
) -> None:
    """All confirms released at once."""
    gate = asyncio.Event()
    started: dict[int, float] = {}

    async def confirm(i: int) -> None:
        await gate.wait()
        probe.handed_in(i)
        started[i] = time.perf_counter()
        await app.router.handle(ButtonEvent(sender(caco(i)), buttons[i]))
        result.handle.append(time.perf_counter() - started[i])

    probe.expect(set(buttons))
    tasks = [asyncio.create_task(confirm(i)) for i in buttons]
    await asyncio.sleep(0.05)  # every task is parked at the gate
    gate.set()
    await asyncio.gather(*tasks)
    await finish(app, probe, result, started)


async def open_alarms(app: App, transport: BenchTransport, tags: range) -> dict[int, str]:
    """Every Caco opens an alarm; returns each one's confirm button data."""
    for i in tags:
        await app.router.handle(parse_text(sender(caco(i)), f"/alarm Soest: bench-{i:03d} gaslek"))
    if await wait_drained(app, 60) is None:
        raise RuntimeError("the confirmation prompts were not delivered")
    return {i: transport.button(caco(i), CONFIRM) for i in tags}


async def scenario(url: str, result: Result) -> None:
    setup = make_engine(url)
    await import_region(setup, parse_region(region_yaml(cacos=result.cacos)))
    await setup.dispose()
    transport = BenchTransport()
    probe = PageProbe(transport)
    async with running(url, [transport], SystemClock()) as app:
        if result.scenario == STEADY:
            await open_incidents(app, probe, result.cacos, result.open)
            before = await pending_escalations(app)
            await confirm_steady(app, probe, result)
        else:
            buttons = await open_alarms(app, transport, range(result.measured))
            before = await pending_escalations(app)
            await confirm_burst(app, probe, buttons, result)
        result.escalations = (before, await pending_escalations(app))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--open", type=int, default=100, help="incidents open while measuring (target)"
    )
    parser.add_argument("--measured", type=int, default=200, help="confirms measured (target)")
    parser.add_argument("--rate", type=float, default=5.0, help="confirms per second (target)")
    parser.add_argument("--cacos", type=int, default=3, help="Caco's in the region (target)")
    parser.add_argument("--burst", type=int, default=100, help="the large stress burst")
    parser.add_argument("--no-burst", action="store_true", help="skip the stress bursts")
    parser.add_argument("--no-readme", action="store_true", help="only print")
    args = parser.parse_args()
    quiet_logging()
    plans = [(STEADY, args.cacos, args.open, args.measured)]
    if not args.no_burst:
        plans += [(BURST, n, 0, n) for n in sorted({min(10, args.burst), args.burst})]
    kinds = available_kinds()
    results: list[Result] = []
    for name, cacos, open_, measured in plans:
        for kind in kinds:
            r = Result(kind, name, open_, measured, cacos, args.rate if name == STEADY else None)
            with database(kind) as url:
                asyncio.run(scenario(url, r))
            results.append(r)
            print(
                f"{kind:10} {name:6} {open_:3} open, {measured:3} confirms, {cacos:3} Caco: "
                f"p50 {ms(r.p(50))} ms, p99 {ms(r.p(99))} ms, max {ms(r.p(100))} ms, "
                f"handle p99 {ms(percentile(r.handle, 99))} ms, missing {r.missing}, "
                f"late hand-ins {sum(1 for x in r.late if x > LATE_HANDIN)}, "
                f"escalations pending {r.escalations[0]} -> {r.escalations[1]}"
            )
    body = readme_body(results)
    print()
    print(body)
    if not args.no_readme:
        update_readme("page_latency", "Page latency", body)


def seconds(value: float | None) -> str:
    return "timeout" if value is None else f"{value:.2f}"


def row(r: Result) -> list[object]:
    late = sum(1 for x in r.late if x > LATE_HANDIN)
    return [
        r.kind,
        r.label(),
        r.cacos,
        f"**{ms(r.p(50))}**",
        f"**{ms(r.p(99))}**",
        ms(r.p(100)),
        f"{ms(percentile(r.handle, 50))} / {ms(percentile(r.handle, 99))}",
        f"{percentile(r.before_page, 50):.0f}",
        f"{late} (max {ms(max(r.late))} ms)" if r.scenario == STEADY and r.late else "-",
        "-" if r.all_paged is None else f"{r.all_paged:.2f}",
        seconds(r.drained),
        f"{r.sent:,} ({r.sent / r.window:.0f}/s)" if r.window else f"{r.sent:,}",
        f"{r.escalations[0]} / {r.escalations[1]}",
        r.missing,
    ]


def verdict(r: Result) -> str:
    p99 = r.p(99)
    met = p99 <= TARGET and not r.missing
    figures = f"p99 {ms(p99)} ms, max {ms(r.p(100))} ms, {r.missing} pages missing"
    if r.scenario == STEADY:
        late = sum(1 for x in r.late if x > LATE_HANDIN)
        if late:
            figures += (
                f"; {late} of {r.measured} confirms were handed in more than "
                f"{ms(LATE_HANDIN)} ms after their slot (max {ms(max(r.late))} ms), so the "
                "offered rate was not fully kept"
            )
        return (
            f"**Target p99 <= 50 ms with {r.open} concurrent incidents, {r.kind} (target "
            f"scenario: {r.measured} further alerts confirmed one at a time at {r.rate:g}/s "
            f"by {r.cacos} Caco's): {'met' if met else 'NOT met'}** ({figures})."
        )
    return (
        f"Stress row, {r.kind} (for information, not the target scenario: {r.measured} "
        f"confirms released at the same instant by {r.cacos} Caco's, each page reported to "
        f"all {r.cacos}): p99 {'within' if met else '**over**'} the 50 ms bound ({figures})."
    )


def readme_body(results: list[Result]) -> str:
    steady = next((r for r in results if r.scenario == STEADY), None)
    lines = [
        machine().markdown(),
        "",
        "Latency = from just before the confirm button event is handed to `Router.handle` "
        "until the fake transport's `send()` is called with that incident's page; a page "
        "never sent counts as infinitely late. Delivery by the production delivery loop, "
        "one worker per person.",
        "",
    ]
    if steady is not None and steady.rate:
        lines += [
            f"**The target rows are the target scenario**: a region of {steady.cacos} Caco's "
            "and a ROL rotation; first "
            f"{steady.open} incidents are raised and confirmed through the real flow and left "
            "open (paged, unanswered, their escalation timers pending; not measured); then, "
            f"with those still open, {steady.measured} further alerts are confirmed one at a "
            f"time, one every {1 / steady.rate:.2f} s ({steady.rate:g}/s, open loop: the next "
            "confirm goes in at its slot whether or not earlier pages arrived). The Caco's "
            "take turns; each drafts its next alarm (`/alarm Soest: ...`, waiting for the "
            "prompt) right after its previous confirm, so those events are part of the load. "
            'Every page is also reported to every Caco. "late hand-ins" = confirms handed '
            f"in more than {ms(LATE_HANDIN)} ms after their slot.",
            "",
        ]
    if any(r.scenario == BURST for r in results):
        lines += [
            "The stress rows are reported for information, not for the target: N Caco's each "
            "open an alarm, then all N confirms are released at the same instant, and every "
            "page is reported to all N Caco's (N x N messages): a thundering herd, not N "
            "concurrent incidents.",
            "",
        ]
    lines += [
        table(
            [
                "DB",
                "scenario",
                "Caco's",
                "p50 ms",
                "p99 ms",
                "max ms",
                "confirm handle p50/p99 ms",
                "msgs sent between confirm and page (p50)",
                "late hand-ins",
                "last page, s after the first confirm",
                "outbox empty, s after the last confirm",
                "msgs delivered",
                "escalations pending before / after",
                "pages missing",
            ],
            [row(r) for r in results],
        ),
    ]
    for r in results:
        if r.scenario == STEADY:
            lines += ["", verdict(r)]
    for r in results:
        if r.scenario == BURST:
            lines += ["", verdict(r)]
    steadies = {r.kind: r for r in results if r.scenario == STEADY}
    ratios = []
    for kind, s in steadies.items():
        bursts = [r for r in results if r.kind == kind and r.scenario == BURST]
        if bursts and 0 < s.p(99) < math.inf:
            big = max(bursts, key=lambda r: r.measured)
            ratios.append(
                f"{kind}: burst of {big.measured} p99 / target p99 = {big.p(99) / s.p(99):.0f}x"
            )
    if "sqlite" in steadies and "postgresql" in steadies:
        sq, pg = steadies["sqlite"].p(99), steadies["postgresql"].p(99)
        if 0 < pg < math.inf and sq < math.inf:
            ratios.append(f"SQLite/PostgreSQL target p99 = {sq / pg:.2f}x")
    if ratios:
        lines += ["", "Ratios (same run): " + "; ".join(ratios) + "."]
    return "\n".join(lines)


if __name__ == "__main__":
    main()
