"""What an operator scrapes at `GET /metrics`: the Prometheus text format (prometheus-client).

One `Metrics` per process, built in the composition root with a registry of its own (not
prometheus-client's global one), so a test makes a fresh one and reads what a scrape shows.
The core imports no Prometheus: delivery and the inbox count what they do, and the core's
after-commit hook hands the committed audit records to `observe_audit`, which counts pages,
escalations and acknowledgements from them. The outbox depth is read from the table when
scraped (`App.scrape_metrics`), so it is the database's figure, the same on every instance.

Every name starts with `scm_bot_`; counters end in `_total` in the exposition:

- `scm_bot_pages_sent_total`: page messages queued for a person (first pages, repeats and
  escalations alike), counted when their transaction commits;
- `scm_bot_pages_delivered_total` / `scm_bot_pages_failed_total`: page messages that reached
  the person on at least one platform / on none (blocked, refused, given up);
- `scm_bot_acknowledgements_total`, `scm_bot_escalations_total` (a page moved on to a later
  step of its escalation policy);
- `scm_bot_page_ack_seconds` (histogram): from paging a function to its acknowledgement;
- `scm_bot_delivery_latency_seconds{kind="page"|"message"}` (histogram): from an outbox row's
  creation to the platform accepting it;
- `scm_bot_outbox_depth`: outbox rows not yet delivered;
- `scm_bot_rate_limited_total{platform}`: 429 answers ("slow down");
- `scm_bot_inbox_lag_seconds` (histogram): from an inbound event being stored to being handled;
- `scm_bot_leader` (1 on the leader) and `scm_bot_leader_changes_total`.
"""

from __future__ import annotations

from collections.abc import Iterable

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
)

from core.ports import AuditRecord

# Seconds. Acknowledging takes minutes (a page repeats after 5 by default); delivery and
# handling take milliseconds, or seconds while a platform pauses us.
ACK_BUCKETS = (15.0, 30.0, 60.0, 120.0, 300.0, 600.0, 900.0, 1800.0, 3600.0)
FAST_BUCKETS = (0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 300.0)


class Metrics:
    """The process's metrics, in a registry of their own."""

    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        self.registry = registry if registry is not None else CollectorRegistry()
        r = self.registry
        self.pages_sent = Counter(
            "scm_bot_pages_sent", "Page messages queued for a person.", registry=r
        )
        self.pages_delivered = Counter(
            "scm_bot_pages_delivered",
            "Page messages that reached the person on at least one platform.",
            registry=r,
        )
        self.pages_failed = Counter(
            "scm_bot_pages_failed",
            "Page messages that reached the person on no platform.",
            registry=r,
        )
        self.acknowledgements = Counter(
            "scm_bot_acknowledgements", "Pages acknowledged.", registry=r
        )
        self.escalations = Counter(
            "scm_bot_escalations", "Pages moved on to a later escalation step.", registry=r
        )
        self.ack_seconds = Histogram(
            "scm_bot_page_ack_seconds",
            "From paging a function to its acknowledgement.",
            buckets=ACK_BUCKETS,
            registry=r,
        )
        self.delivery_seconds = Histogram(
            "scm_bot_delivery_latency_seconds",
            "From an outbox row's creation to the platform accepting it.",
            ["kind"],
            buckets=FAST_BUCKETS,
            registry=r,
        )
        for kind in ("page", "message"):
            self.delivery_seconds.labels(kind)  # shown from the start, at zero
        self.outbox_depth = Gauge(
            "scm_bot_outbox_depth", "Outbox rows not yet delivered.", registry=r
        )
        self.rate_limited = Counter(
            "scm_bot_rate_limited",
            "429 answers (slow down) per platform.",
            ["platform"],
            registry=r,
        )
        self.inbox_lag = Histogram(
            "scm_bot_inbox_lag_seconds",
            "From an inbound event being stored to it being handled.",
            buckets=FAST_BUCKETS,
            registry=r,
        )
        self.leader = Gauge("scm_bot_leader", "1 while this instance is the leader.", registry=r)
        self.leader_changes = Counter(
            "scm_bot_leader_changes",
            "Times this instance became the leader or stopped being it.",
            registry=r,
        )
        self._leading = False

    def set_leader(self, leader: bool) -> None:
        """This instance is (no longer) the leader; a change is counted."""
        if leader != self._leading:
            self.leader_changes.inc()
        self._leading = leader
        self.leader.set(1 if leader else 0)

    def observe_audit(self, records: Iterable[AuditRecord]) -> None:
        """Count what one committed transaction did (the core's after-commit hook)."""
        steps: set[tuple[str, object, object]] = set()
        for record in records:
            if record.action == "page.sent":
                self.pages_sent.inc()
                step, attempt = record.detail.get("step"), record.detail.get("attempt")
                if isinstance(step, int) and step > 0 and attempt == 1:
                    # One escalation per page and step, however many people the step pages.
                    steps.add((record.object, record.detail.get("function"), step))
            elif record.action == "page.acknowledged":
                self.acknowledgements.inc()
                waited = record.detail.get("waited_seconds")
                if isinstance(waited, int | float):
                    self.ack_seconds.observe(waited)
        self.escalations.inc(len(steps))

    def exposition(self) -> tuple[bytes, str]:
        """The body and content type of a scrape (the Prometheus text format)."""
        return generate_latest(self.registry), CONTENT_TYPE_LATEST
