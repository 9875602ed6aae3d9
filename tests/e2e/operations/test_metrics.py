"""GET /metrics on the running suite: the figures move as a journey says they should."""

from __future__ import annotations

import httpx
from support.auth import reader
from support.journey import Journey
from support.ops import Samples, scrape, value
from support.poll import eventually

from jusou.runner import Suite


async def test_metrics_follow_a_journey_across_intake_collaboration_and_meeting(
    running_suite: Suite, journey: Journey
) -> None:
    urls = {name: running_suite.url(name) for name in ("intake", "collaboration", "meeting")}
    async with httpx.AsyncClient(timeout=10, headers=reader()) as client:
        before = {name: await scrape(client, url) for name, url in urls.items()}

        case_id = await journey.receive_and_escalate()  # consultation, consent, escalation at intake
        await journey.get_when("collaboration", f"/cases/{case_id}", lambda c: c["status"] == "open",
                               "collaboration to open the escalated case")

        async def settled() -> dict[str, Samples] | None:
            now = {name: await scrape(client, url) for name, url in urls.items()}
            intake_idle = value(now["intake"], "jusou_relay_lag", service="intake") == 0
            meeting_done = value(now["meeting"], "jusou_consumer_pending", service="meeting",
                                 consumer="meeting--intake", stream="JUSOU") == 0
            return now if intake_idle and meeting_done else None

        after = await eventually(settled, "intake's relay and meeting's consumer to catch up")

    def delta(service: str, name: str, **labels: str) -> float:
        return value(after[service], name, service=service, **labels) - value(before[service], name, service=service,
                                                                               **labels)

    # HTTP commands, by route template: the case id is never a label.
    for route in ("/consultations", "/cases/{case_id}/consent", "/cases/{case_id}/escalate"):
        commands = [v for (name, labels), v in after["intake"].items() if name == "jusou_http_requests_total"
                    and dict(labels)["route"] == route and dict(labels)["method"] == "POST"]
        was = [v for (name, labels), v in before["intake"].items() if name == "jusou_http_requests_total"
               and dict(labels)["route"] == route and dict(labels)["method"] == "POST"]
        assert sum(commands) - sum(was) == 1, route
    assert not any(case_id in str(labels) for samples in after.values() for (_, labels) in samples)

    # intake recorded a person, a case, its consent and its escalation; three of them went out.
    assert delta("intake", "jusou_events_recorded_total", type="Case.Received") == 1
    assert delta("intake", "jusou_events_recorded_total", type="Case.ConsentRecorded") == 1
    assert delta("intake", "jusou_events_recorded_total", type="Case.Escalated") == 1
    recorded = sum(v for (name, _), v in after["intake"].items() if name == "jusou_events_recorded_total")
    assert recorded == value(after["intake"], "jusou_store_position", service="intake")
    assert delta("intake", "jusou_events_published_total") == 3  # ConsultationReceived, ConsentRecorded, CaseEscalated
    assert value(after["intake"], "jusou_relay_position", service="intake") == value(
        after["intake"], "jusou_store_position", service="intake")
    assert value(after["intake"], "jusou_store_bytes", service="intake") > 0

    # collaboration applied the escalation once, timed it, and opened its own case.
    consumed = {"source": "intake", "type": "CaseEscalated", "via": "stream"}
    assert delta("collaboration", "jusou_events_consumed_total", outcome="applied", **consumed) == 1
    assert delta("collaboration", "jusou_events_consumed_total", outcome="failed", **consumed) == 0
    assert delta("collaboration", "jusou_handler_seconds_count", source="intake", type="CaseEscalated") == 1
    assert delta("collaboration", "jusou_events_recorded_total", type="CollaborationCase.Opened") == 1
    assert delta("collaboration", "jusou_store_position") == 1

    # meeting applied the consent; its consumer on intake is caught up, as JetStream says.
    assert delta("meeting", "jusou_events_consumed_total", source="intake", type="ConsentRecorded",
                 outcome="applied", via="stream") == 1
    consumer = {"service": "meeting", "consumer": "meeting--intake", "stream": "JUSOU"}
    assert value(after["meeting"], "jusou_consumer_info_up", **consumer) == 1
    assert value(after["meeting"], "jusou_consumer_ack_pending", **consumer) == 0
    assert value(after["meeting"], "jusou_consumer_delivered_sequence", **consumer) > value(
        before["meeting"], "jusou_consumer_delivered_sequence", **consumer)
    assert value(after["meeting"], "jusou_consumer_info_up", service="meeting", consumer="meeting--replay",
                 stream="JUSOU_REPLAY") == 1
