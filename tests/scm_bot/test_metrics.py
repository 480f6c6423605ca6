"""GET /metrics: what a Prometheus scrape shows after a real scenario on Telegram (the fake
Bot API on loopback): an alarm whose page meets a 429, a repeat, an escalation, an
acknowledgement, and a page that cannot reach a person who blocked the bot."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import timedelta

import pytest
from prometheus_client.parser import text_string_to_metric_families
from sqlalchemy.ext.asyncio import AsyncEngine
from telegram import Update

from core.model import Origin
from core.ports import AuditRecord
from scm_bot.metrics import Metrics
from tests.helpers import START
from tests.helpers.fake_telegram import FakeTelegram
from tests.helpers.telegram_world import BERT, CACO, CEES, World, world

Samples = dict[tuple[str, tuple[tuple[str, str], ...]], float]


def scrape(body: bytes, content_type: str) -> Samples:
    """Parse the exposition as Prometheus would: (name, labels) -> value."""
    assert content_type.startswith("text/plain; version=")
    samples: Samples = {}
    for family in text_string_to_metric_families(body.decode()):
        for sample in family.samples:
            samples[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    return samples


def value(samples: Samples, name: str, **labels: str) -> float:
    return samples[(name, tuple(sorted(labels.items())))]


@pytest.fixture
async def fake() -> AsyncIterator[FakeTelegram]:
    async with FakeTelegram() as server:
        yield server


async def press_later(w: World, user_id: int, label: str, seconds: float) -> None:
    """The press is stored now and handled `seconds` later (the inbox lag)."""
    update = w.fake.press_update(user_id, label)
    await w.tg.receive([Update.de_json(update, w.tg.application.bot)])
    w.harness.clock.set(w.harness.clock.now() + timedelta(seconds=seconds))
    await w.handle()


async def test_a_scrape_shows_pages_escalations_acks_latency_and_429s(
    engine: AsyncEngine, fake: FakeTelegram
) -> None:
    async with world(engine, fake) as w:
        fake.rate_limit(1, chat_id=BERT)  # Bert's first page meets a 429
        await w.say(CACO, "/alarm Soest: gaslek Kerkstraat")
        await w.press(CACO, "Bevestigen en pagen")
        waiting = scrape(*await w.app.scrape_metrics())
        assert value(waiting, "scm_bot_outbox_depth") == 1  # the page to Bert waits
        assert value(waiting, "scm_bot_rate_limited_total", platform="telegram") == 1
        assert value(waiting, "scm_bot_pages_sent_total") == 1
        assert value(waiting, "scm_bot_pages_delivered_total") == 0

        await w.advance(1.1 / 60)  # the retry, 1.1 s after the page was queued
        assert "VRU-2026-0001" in fake.last(BERT).text
        await w.advance(10)  # a repeat to Bert at 5 minutes, Cees (the backup) at 10
        await press_later(w, CEES, "Ik pak het op", seconds=3)

        fake.block(chat_id=BERT, times=1)  # the second alarm cannot reach Bert
        await w.say(CACO, "/alarm Soest: tweede melding")
        await w.press(CACO, "Bevestigen en pagen")
        assert "VRU-2026-0002" in fake.last(CEES).text

        s = scrape(*await w.app.scrape_metrics())

    # Pages: Bert, Bert again, Cees; then Bert (blocked) and Cees at once.
    assert value(s, "scm_bot_pages_sent_total") == 5
    assert value(s, "scm_bot_pages_delivered_total") == 4
    assert value(s, "scm_bot_pages_failed_total") == 1
    assert value(s, "scm_bot_escalations_total") == 2
    assert value(s, "scm_bot_acknowledgements_total") == 1
    assert value(s, "scm_bot_rate_limited_total", platform="telegram") == 1
    assert value(s, "scm_bot_outbox_depth") == 0
    # Acknowledged 10 minutes, 1.1 s and 3 s after the page began.
    assert value(s, "scm_bot_page_ack_seconds_count") == 1
    assert value(s, "scm_bot_page_ack_seconds_sum") == pytest.approx(604.1)
    assert value(s, "scm_bot_page_ack_seconds_bucket", le="600.0") == 0
    assert value(s, "scm_bot_page_ack_seconds_bucket", le="900.0") == 1
    # Four pages arrived: the rate-limited one 1.1 s after it was queued, the rest at once.
    assert value(s, "scm_bot_delivery_latency_seconds_count", kind="page") == 4
    assert value(s, "scm_bot_delivery_latency_seconds_sum", kind="page") == pytest.approx(1.1)
    assert value(s, "scm_bot_delivery_latency_seconds_bucket", kind="page", le="1.0") == 3
    assert value(s, "scm_bot_delivery_latency_seconds_bucket", kind="page", le="2.5") == 4
    # Every event handled: two alarms and their confirmations, and the press 3 s late.
    assert value(s, "scm_bot_inbox_lag_seconds_count") == 5
    assert value(s, "scm_bot_inbox_lag_seconds_sum") == pytest.approx(3.0)
    assert value(s, "scm_bot_leader_changes_total") == 0


def test_leader_changes_count_only_changes() -> None:
    metrics = Metrics()
    for leading in (True, True, False, False, True):
        metrics.set_leader(leading)
    s = scrape(*metrics.exposition())
    assert value(s, "scm_bot_leader") == 1
    assert value(s, "scm_bot_leader_changes_total") == 3


def test_one_escalation_per_step_however_many_people_it_pages() -> None:
    """A step with everyone of a function (the coordinators) pages several people."""
    metrics = Metrics()

    def sent(actor: str, step: int, attempt: int) -> AuditRecord:
        detail = {"function": "rol", "step": step, "attempt": attempt}
        return AuditRecord(START, actor, "page.sent", "VRU-2026-0001", "ok", Origin.CONSOLE, detail)

    metrics.observe_audit([sent("coord-a", 2, 1), sent("coord-b", 2, 1)])
    metrics.observe_audit([sent("coord-a", 2, 2), sent("coord-b", 2, 2)])  # a repeat
    s = scrape(*metrics.exposition())
    assert value(s, "scm_bot_pages_sent_total") == 4
    assert value(s, "scm_bot_escalations_total") == 1
