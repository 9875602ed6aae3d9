"""The contract in code equals the contract in files; every CONTRACT.md event is in the registry."""

from __future__ import annotations

import json
from pathlib import Path
from uuid import uuid4

import pytest

from shared.contract.events import (
    REGISTRY,
    Envelope,
    PoisonMessage,
    json_schemas,
    parse,
)

SCHEMAS = Path(__file__).resolve().parents[2] / "shared" / "contract" / "schemas"

# CONTRACT.md, "The events (minimum)": each with the payload fields it fixes.
CONTRACT_EVENTS = {
    "ConsultationReceived": {"counter", "division", "channel", "concerns", "person_ref"},
    "ConsentRecorded": {"scope", "granted", "method"},
    "CaseConnected": {"to_agency", "reason"},
    "CaseEscalated": {"reason", "concerns", "primary_agency"},
    "PlanProposed": {"plan_id", "program", "revision", "support_direction", "goals", "roles"},
    "OutreachStarted": {"referred_by", "reason"},
    "ResourceMatched": {"resource_kind", "resource_id"},
    "PlanClosureRequested": {"plan_id", "progress"},
    "MeetingDecided": {"meeting_id", "meeting_type", "plan_id", "decision", "attendees", "reasons", "connect_to"},
    "CaseReturnedToIntake": {"meeting_id", "primary_agency", "reason"},
    "PlanClosed": {"plan_id", "meeting_id", "evaluation"},
    "PlanSuspended": {"plan_id", "meeting_id", "evaluation", "reason"},
    "ResourceGapIdentified": {"need", "area", "description"},
}


def test_checked_in_schemas_equal_the_models() -> None:
    generated = json_schemas()
    on_disk = {p.name: json.loads(p.read_text(encoding="utf-8")) for p in SCHEMAS.glob("*.json")}
    assert sorted(on_disk) == sorted(generated), "run `jusou schemas export` and commit shared/contract/schemas"
    for name, schema in generated.items():
        assert on_disk[name] == schema, f"{name} differs from its model: run `jusou schemas export`"


@pytest.mark.parametrize("event_type", sorted(CONTRACT_EVENTS))
def test_every_contract_event_has_a_model_with_its_fields(event_type: str) -> None:
    model = REGISTRY[(event_type, 1)]
    assert CONTRACT_EVENTS[event_type] <= set(model.model_fields)


def envelope(**overrides: object) -> dict[str, object]:
    body: dict[str, object] = {
        "event_id": str(uuid4()), "event_type": "CaseEscalated", "schema_version": 1, "source": "intake",
        "source_position": 3, "case_id": str(uuid4()), "occurred_at": "2026-11-28T01:02:03+00:00",
        "correlation_id": str(uuid4()), "causation_id": None, "actor": {"staff_id": "s1", "division": "elderly-support"},
        "payload": {"reason": "複合", "concerns": ["障害"], "primary_agency": "障害者相談支援事業"},
    }
    return {**body, **overrides}


def test_tolerant_reader_keeps_unknown_fields() -> None:
    env, payload = parse(json.dumps(envelope(extra_field=1, payload={
        "reason": "r", "concerns": [], "primary_agency": "a", "added_in_future": True})).encode())
    assert env.model_extra == {"extra_field": 1}
    assert payload.model_extra == {"added_in_future": True}


@pytest.mark.parametrize(
    ("overrides", "reason"),
    [
        ({"event_type": "Nope"}, "unknown event Nope v1"),
        ({"schema_version": 9}, "unknown event CaseEscalated v9"),
        ({"payload": {"reason": "r"}}, "invalid payload of CaseEscalated v1: concerns"),
        ({"occurred_at": "2026-11-28T01:02:03"}, "invalid envelope: occurred_at"),
        ({"source": "elsewhere"}, "invalid envelope: source"),
    ],
)
def test_bad_messages_are_refused_with_a_reason(overrides: dict[str, object], reason: str) -> None:
    with pytest.raises(PoisonMessage) as refused:
        parse(json.dumps(envelope(**overrides)).encode())
    assert reason in refused.value.reason


def test_no_personal_identifiers_in_any_event_schema() -> None:
    forbidden = {"name", "kana", "address", "phone", "birth_date", "household"}
    for (event_type, _), model in REGISTRY.items():
        assert not forbidden & set(model.model_fields), f"{event_type} carries personal information"
    assert not forbidden & set(Envelope.model_fields)
