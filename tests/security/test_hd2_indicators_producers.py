"""examples/indicators.py counts an event only from a service that publishes its type (CONTRACT.md, `PRODUCERS`).

The review from outside (an attacker with one service's NATS password): whoever holds outreach's password may publish
any body on `jusou.outreach.>`, and an envelope that agrees with its subject (`source: outreach`, `event_type:
ConsultationReceived`) passed the example's subject check, so the ministry's indicators counted consultations, escalations
and closed plans no counter, intake or meeting ever recorded. The contract package names each type's producers
(`jusou_contract.PRODUCERS`); the example passes over, and counts as skipped, a type from any other source."""

from __future__ import annotations

import json
from typing import Any
from uuid import uuid4

import pytest
from support.indicators_example import load_indicators_example

from shared.contract import events


@pytest.fixture
def example(monkeypatch: pytest.MonkeyPatch) -> Any:
    return load_indicators_example(monkeypatch, "indicators_example_hd2")


def envelope(source: str, event_type: str, payload: dict[str, Any], version: int = 1) -> bytes:
    return json.dumps({
        "event_id": str(uuid4()), "event_type": event_type, "schema_version": version, "source": source,
        "source_position": 3, "case_id": str(uuid4()), "occurred_at": "2026-12-01T01:02:03+00:00",
        "correlation_id": str(uuid4()), "causation_id": None,
        "actor": {"staff_id": "s1", "division": "elderly-support"}, "payload": payload,
    }).encode()


def plan_closed(source: str) -> bytes:
    return envelope(source, "PlanClosed", {"plan_id": str(uuid4()), "meeting_id": str(uuid4()),
                                           "evaluation": {"course": "経過", "outcome": "目標を達成"}})


def consultation(source: str) -> bytes:
    return envelope(source, "ConsultationReceived", {"person_ref": str(uuid4()), "counter": "houkatsu",
                                                     "division": "高齢者支援室", "channel": "来所", "concerns": []})


FORGED = {  # a body on the forger's own subject, its envelope agreeing with that subject
    "outreach's password closes a plan": ("jusou.outreach.PlanClosed", plan_closed("outreach"), "plans_closed", 0),
    "collaboration's password closes a plan": ("jusou.collaboration.PlanClosed", plan_closed("collaboration"),
                                               "plans_closed", 0),
    "community's password receives a consultation": ("jusou.community.ConsultationReceived", consultation("community"),
                                                     "consultations_by_counter", {}),
}


@pytest.mark.parametrize("forged", FORGED)
def test_an_event_type_on_a_subject_of_a_service_that_never_publishes_it_is_passed_over(example: Any,
                                                                                       forged: str) -> None:
    subject, body, field, untouched = FORGED[forged]
    envelope_, _ = events.parse(body)  # a valid envelope that agrees with its subject: only its source is wrong
    assert subject == f"jusou.{envelope_.source}.{envelope_.event_type}"
    assert envelope_.source not in events.PRODUCERS[envelope_.event_type]
    view = json.loads(json.dumps(example.EMPTY))

    with pytest.raises(events.PoisonMessage, match=f"{envelope_.source} does not publish {envelope_.event_type}"):
        example.apply(view, subject, body)

    assert view[field] == untouched


def test_the_same_events_from_their_producers_are_counted(example: Any) -> None:
    view = json.loads(json.dumps(example.EMPTY))

    example.apply(view, "jusou.meeting.PlanClosed", plan_closed("meeting"))
    body = consultation("intake")
    events.parse(body)
    example.apply(view, "jusou.intake.ConsultationReceived", body)

    assert view["plans_closed"] == 1 and view["consultations_by_counter"] == {"houkatsu": 1}
