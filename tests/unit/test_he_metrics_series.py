"""`/metrics`' consumer series (shared/web/metrics.py `Metrics.observe`) are looked up once per label set (issue 19: two
`labels()` a message, each hashing and locking) and the exposition is the same text for the same observations as
when each message asked `labels()` afresh (the old `observe`, kept here as the reference)."""

from __future__ import annotations

import random
from types import SimpleNamespace
from typing import Any

from fastapi import FastAPI
from prometheus_client import generate_latest

from shared.web.metrics import Metrics


class OldMetrics(Metrics):
    def observe(self, envelope: Any, outcome: str, seconds: float, tries: int, via: str = "stream") -> None:
        """Metrics.observe before issue 19's change, verbatim: the reference."""
        source, event_type = str(envelope.source), str(envelope.event_type)
        self.consumed.labels(self.service, source, event_type, outcome, via).inc()
        self.handler_seconds.labels(self.service, source, event_type).observe(seconds)
        if tries > 1:
            self.redeliveries.labels(self.service, source).inc()


def _text(metrics: Metrics) -> list[str]:
    """The exposition without the `_created` samples (each series' creation time: another instant in each registry)."""
    return [line for line in generate_latest(metrics.registry).decode().splitlines() if "_created" not in line]


def test_the_metrics_text_is_the_same_for_the_same_observations() -> None:
    rng = random.Random(19)
    old, new = OldMetrics("collaboration", FastAPI()), Metrics("collaboration", FastAPI())
    for _ in range(3000):
        envelope = SimpleNamespace(source=rng.choice(["intake", "meeting", "outreach"]),
                                   event_type=rng.choice(["CaseEscalated", "MeetingDecided", "PlanApproved", "相談"]))
        outcome = rng.choice(["applied", "applied", "duplicate", "failed"])
        seconds, tries, via = rng.choice([0.0, 0.0004, 0.003, 0.2, 7.0]), rng.choice([1, 1, 1, 2, 5]), rng.choice(
            ["stream", "stream", "replay"])
        for metrics in (old, new):
            metrics.observe(envelope, outcome, seconds, tries, via)
    text = _text(new)
    assert text == _text(old)
    assert any(line.startswith("jusou_events_consumed_total{") and 'via="replay"' in line for line in text)
    assert any(line.startswith("jusou_redeliveries_total{") for line in text)
    assert any(line.startswith("jusou_handler_seconds_bucket{") for line in text)


def test_each_label_set_is_looked_up_once() -> None:
    metrics = Metrics("meeting", FastAPI())
    asked: list[tuple[str, ...]] = []
    for family in (metrics.consumed, metrics.handler_seconds, metrics.redeliveries):
        labels = family.labels

        def counted(*values: str, labels: Any = labels) -> Any:
            asked.append(values)
            return labels(*values)

        family.labels = counted  # type: ignore[method-assign,assignment]
    envelope = SimpleNamespace(source="intake", event_type="CaseEscalated")
    for _ in range(5):
        metrics.observe(envelope, "applied", 0.01, 2)
    metrics.observe(envelope, "applied", 0.01, 2, "replay")
    assert len(asked) == 3 + 2  # consumed, handler and redeliveries once; a new `via`: consumed and handler again
