"""/metrics `jusou_consumer_replaced_total{service, consumer}`: each existing consumer of a service's name it replaced
(or found wanting and could not replace) rather than adopted (shared/messaging/adoption.py, `Inbox.replaced`); readyz
`degraded` names the same consumers (session 20, HA)."""

from __future__ import annotations

from types import SimpleNamespace

from fastapi import FastAPI

from shared.web.metrics import JusouCollector, Snapshot


def test_each_consumer_replaced_rather_than_adopted_is_a_series() -> None:
    inbox = SimpleNamespace(replaced={"meeting--intake--p3": "meeting--intake--p3: … replaced"}, behind={},
                            dead_lettered=0)
    runtime = SimpleNamespace(inbox=inbox, relay=SimpleNamespace(position=0, published=0, foreign_count=0))
    collector = JusouCollector("meeting", FastAPI())
    collector.views = [("", runtime, Snapshot())]

    [family] = [f for f in collector.collect() if f.name == "jusou_consumer_replaced"]

    assert [(s.name, s.labels, s.value) for s in family.samples] == [
        ("jusou_consumer_replaced_total", {"service": "meeting", "consumer": "meeting--intake--p3"}, 1)]
