"""Schema evolution: CaseEscalated v2 beside v1, the upcaster, and consumers of either version (D3 D11)."""

from __future__ import annotations

import json
from uuid import uuid4

from support.municipality import ELDERLY, concern
from support.v1_consumer import escalation_reasons

from services.collaboration.application import CollaborationApplication
from services.intake.application import IntakeApplication
from services.intake.translate import translate as intake_translate
from shared.contract.events import (
    REGISTRY,
    UPCASTERS,
    CaseEscalatedV1,
    CaseEscalatedV2,
    Envelope,
    envelope_json,
    latest_version,
    parse,
    upcast,
)
from shared.web.asyncapi import PUBLISHED_VERSION
from unit.builders import COUNTER_STAFF, PERSON, Upstream, in_memory, only, published

REASON = "母の介護と本人のひきこもりが重なる"


def escalated_v1() -> Envelope:
    """The CaseEscalated a real intake publishes today (v1)."""
    intake = in_memory(IntakeApplication)
    case_id = intake.receive_consultation(COUNTER_STAFF, ELDERLY.code, ELDERLY.division, "窓口",
                                          ["高齢・介護", "ひきこもり"], dict(PERSON), None)
    intake.escalate_case(COUNTER_STAFF, case_id, REASON, ELDERLY.ja)
    return only(published(intake, intake_translate, "CaseEscalated"))


def as_v2(v1: Envelope, reason_code: str = "compound", position: int | None = None) -> Envelope:
    """The same escalation as a producer of v2 would publish it."""
    payload = CaseEscalatedV2(reason_code=reason_code, reason_text=v1.payload["reason"],  # type: ignore[arg-type]
                              concerns=v1.payload["concerns"], primary_agency=v1.payload["primary_agency"])
    return v1.model_copy(update={"schema_version": 2, "payload": payload.model_dump(mode="json"),
                                 "source_position": position or v1.source_position})


def wire(envelope: Envelope) -> bytes:
    return envelope_json(envelope)


def test_intake_still_publishes_case_escalated_v1_as_its_asyncapi_says() -> None:
    assert escalated_v1().schema_version == PUBLISHED_VERSION["CaseEscalated"] == 1


def test_upcast_turns_v1_into_v2_keeping_the_event() -> None:
    envelope, payload = parse(wire(escalated_v1()))

    upcast_envelope, upcast_payload = upcast(envelope, payload)

    assert isinstance(upcast_payload, CaseEscalatedV2)
    assert (upcast_payload.reason_code, upcast_payload.reason_text) == ("unclassified", REASON)
    assert upcast_payload.concerns == ["高齢・介護", "ひきこもり"]
    assert upcast_payload.primary_agency == ELDERLY.ja
    assert upcast_envelope.schema_version == 2
    assert upcast_envelope.payload == upcast_payload.model_dump(mode="json")
    same = ("event_id", "event_type", "source", "source_position", "case_id", "correlation_id", "causation_id")
    assert all(getattr(upcast_envelope, f) == getattr(envelope, f) for f in same)
    assert CaseEscalatedV2.model_validate(upcast_envelope.payload) == upcast_payload


def test_upcast_keeps_fields_a_newer_v1_producer_added() -> None:
    v1 = CaseEscalatedV1(reason="r", concerns=[], primary_agency="a", urgency="high")  # type: ignore[call-arg]
    envelope = escalated_v1().model_copy(update={"payload": v1.model_dump(mode="json")})
    _, payload = upcast(*parse(wire(envelope)))
    assert payload.model_extra == {"urgency": "high"}


def test_upcast_leaves_the_latest_version_and_other_events_alone() -> None:
    v2_envelope, v2_payload = parse(wire(as_v2(escalated_v1())))
    assert upcast(v2_envelope, v2_payload) == (v2_envelope, v2_payload)
    other = escalated_v1().model_copy(update={"event_type": "CaseConnected", "payload": {"to_agency": "a", "reason": "r"}})
    assert upcast(*parse(wire(other)))[0].schema_version == 1


def test_every_upcaster_chain_ends_at_the_latest_registered_version() -> None:
    for event_type, version in UPCASTERS:
        assert (event_type, version + 1) in REGISTRY
    multi = {e for e, v in REGISTRY if v > 1}
    for event_type in multi:
        assert all((event_type, v) in UPCASTERS for v in range(1, latest_version(event_type)))


def test_d3_collaboration_opens_the_case_from_v1() -> None:
    collaboration = in_memory(CollaborationApplication)
    v1 = escalated_v1()

    assert collaboration.receive(*parse(wire(v1)))

    view = collaboration.case_view(v1.case_id)
    assert (view["reason"], view["primary_agency"], view["status"]) == (REASON, ELDERLY.ja, "open")


def test_d3_collaboration_opens_the_case_from_v2_with_the_reason_label() -> None:
    collaboration = in_memory(CollaborationApplication)
    v2 = as_v2(escalated_v1(), "beyond_single_agency")

    assert collaboration.receive(*parse(wire(v2)))

    view = collaboration.case_view(v2.case_id)
    assert view["reason"] == f"【単独の支援機関では対応困難】{REASON}"
    assert (view["concerns"], view["primary_agency"], view["status"]) == (
        ["高齢・介護", "ひきこもり"], ELDERLY.ja, "open")


def test_the_same_event_in_another_version_is_a_duplicate() -> None:
    collaboration = in_memory(CollaborationApplication)
    v1 = escalated_v1()
    assert collaboration.receive(*parse(wire(v1)))
    assert not collaboration.receive(*parse(wire(as_v2(v1))))


def test_collaboration_handles_v1_and_v2_of_different_cases_from_one_upstream() -> None:
    collaboration = in_memory(CollaborationApplication)
    intake = Upstream("intake")
    first, _ = intake.emit("CaseEscalated", {"reason": "一件目", "concerns": [concern("disability")], "primary_agency": "A"}, uuid4())
    second_v1, _ = intake.emit("CaseEscalated", {"reason": "二件目", "concerns": ["困窮"], "primary_agency": "B"}, uuid4())
    second = as_v2(second_v1, "complex")
    for envelope in (first, second):
        assert collaboration.receive(*parse(wire(envelope)))
    assert [c["reason"] for c in collaboration.cases()] == ["一件目", "【複雑化】二件目"]


def test_a_v1_only_consumer_keeps_working_beside_v2() -> None:
    v1 = escalated_v1()
    v2_of_another_case = as_v2(escalated_v1())
    bodies = [wire(v1), wire(v2_of_another_case), json.dumps({**json.loads(wire(v1)), "event_type": "CaseConnected",
                                                              "payload": {"to_agency": "a", "reason": "r"}}).encode()]

    assert escalation_reasons(bodies) == {str(v1.case_id): REASON}
