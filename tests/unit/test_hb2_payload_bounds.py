"""The contract's payloads are bounded (session 20): a 919 KB CaseEscalated published with intake's NATS user was taken
and stored by its consumers, as no text or list of a payload had a bound. Now every text and list of every payload
(and the envelope's actor) has one, with room to spare over the HTTP edge's (what staff can type: an event the suite
publishes always validates), unknown fields too; a body over them is poison (`parse`: dead-lettered at once by the
consumer, with the reason, in Japanese in `jusou deadletters`). Failed before: the oversized bodies parsed."""

from __future__ import annotations

import json
from typing import Any
from uuid import uuid4

import pytest

from shared.contract.events import (
    EXTRA_MAX,
    EXTRAS_MAX,
    ITEMS_MAX,
    NAME_MAX,
    TEXT_MAX,
    PoisonMessage,
    json_schemas,
    parse,
)
from shared.messaging.reasons import japanese
from shared.web.limits import MAX_ITEMS

#: string formats and shapes that bound themselves
BOUNDED_FORMATS = {"uuid", "date", "date-time"}


def unbounded(schema: Any, path: str, defs: dict[str, Any], found: list[str]) -> list[str]:
    """The places of a JSON Schema where a string has no maxLength (nor enum, const or a format of fixed length) or an
    array no maxItems."""
    if isinstance(schema, dict):
        if "$ref" in schema:
            name = schema["$ref"].rsplit("/", 1)[-1]
            if name not in {p.split(":")[0] for p in found if p.startswith("#seen")}:
                found.append(f"#seen{name}:")
                unbounded(defs[name], f"{path}<{name}>", defs, found)
            return found
        kind = schema.get("type")
        if kind == "string" and not ({"maxLength", "enum", "const"} & set(schema)) \
                and schema.get("format") not in BOUNDED_FORMATS:
            found.append(path)
        if kind == "array" and "maxItems" not in schema:
            found.append(path)
        for key, value in schema.items():
            if key in ("properties", "$defs"):
                for name, sub in value.items():
                    unbounded(sub, f"{path}.{name}", defs, found)
            elif key in ("items", "anyOf", "additionalProperties") and key != "$defs":
                for sub in (value if isinstance(value, list) else [value]):
                    unbounded(sub, f"{path}[{key}]", defs, found)
    return found


@pytest.mark.parametrize("name", sorted(json_schemas()))
def test_contract_every_text_and_list_of_a_payload_is_bounded(name: str) -> None:
    schema = json_schemas()[name]
    found = unbounded({k: v for k, v in schema.items() if k != "$defs"}, name, schema.get("$defs", {}), [])
    places = [p for p in found if not p.startswith("#seen")]
    if name == "Envelope.json":  # the envelope's payload is the payload schema's, checked by its own file
        places = [p for p in places if ".payload" not in p]
    assert places == [], places


def test_contract_the_bounds_leave_room_over_the_http_edges() -> None:
    # the edge: names and codes up to 500 characters, free texts up to 4,000, lists up to MAX_ITEMS (shared/web/limits.py)
    assert NAME_MAX >= 500 and TEXT_MAX >= 4000 and ITEMS_MAX >= MAX_ITEMS


def body(event_type: str, payload: dict[str, Any], **envelope: Any) -> bytes:
    return json.dumps({
        "event_id": str(uuid4()), "event_type": event_type, "schema_version": 1, "source": "intake",
        "source_position": 7, "case_id": str(uuid4()), "occurred_at": "2026-12-07T09:00:00+09:00",
        "correlation_id": str(uuid4()), "causation_id": None, "actor": {"service": "intake"}, "payload": payload,
        **envelope}, ensure_ascii=False).encode()


ESCALATED = {"reason": "複合的な課題", "concerns": ["高齢・介護"], "primary_agency": "地域包括支援センター"}


def refused(data: bytes) -> str:
    with pytest.raises(PoisonMessage) as caught:
        parse(data)
    return caught.value.reason


def test_contract_an_escalation_as_big_as_the_one_taken_before_is_poison_with_its_reason() -> None:
    reason = refused(body("CaseEscalated", {**ESCALATED, "reason": "あ" * 306_000}))  # 919 KB of UTF-8
    assert reason.startswith("invalid payload of CaseEscalated v1: reason: ") and f"at most {TEXT_MAX}" in reason
    ja = japanese(reason)
    assert ja is not None and "上限" in ja and "CaseEscalated" in ja


@pytest.mark.parametrize(("where", "payload", "envelope"), [
    ("concerns", {**ESCALATED, "concerns": ["高齢・介護"] * (ITEMS_MAX + 1)}, {}),
    ("concerns.0", {**ESCALATED, "concerns": ["あ" * (NAME_MAX + 1)]}, {}),
    ("primary_agency", {**ESCALATED, "primary_agency": "あ" * (NAME_MAX + 1)}, {}),
    ("(root)", {**ESCALATED, "padding": "x" * (EXTRA_MAX + 1)}, {}),
    ("(root)", {**ESCALATED, **{f"f{i}": i for i in range(EXTRAS_MAX + 1)}}, {}),
])
def test_contract_a_text_a_list_or_an_unknown_field_over_its_bound_is_poison(
        where: str, payload: dict[str, Any], envelope: dict[str, Any]) -> None:
    reason = refused(body("CaseEscalated", payload, **envelope))
    assert reason.startswith(f"invalid payload of CaseEscalated v1: {where}: ") and "at most" in reason, reason
    assert "上限" in (japanese(reason) or "")


def test_contract_an_actor_over_its_bound_is_poison() -> None:
    reason = refused(body("CaseEscalated", ESCALATED, actor={"staff_id": "s" * (NAME_MAX + 1), "division": "d"}))
    assert reason.startswith("invalid envelope: actor.staff_id: ") and "at most" in reason, reason


def test_contract_a_plan_as_big_as_the_edge_lets_staff_write_it_still_parses() -> None:
    """PlanIn (shared/web/plan_api.py): a direction of 4,000 characters, MAX_ITEMS goals of 2,000, MAX_ITEMS roles with
    a responsibility of 2,000 and names of 200; and a few unknown fields of a newer producer."""
    roles = [{"agency": "機" * 200, "responsibility": "役" * 2000, "contact": "担" * 200, "agency_code": "division:x"}
             for _ in range(MAX_ITEMS)]
    payload = {"plan_id": str(uuid4()), "program": "collaboration", "revision": 1, "support_direction": "方" * 4000,
               "goals": ["目" * 2000] * MAX_ITEMS, "roles": roles, "newer_field": "x" * 100, "newer_list": [1, 2, 3]}
    _, parsed = parse(body("PlanProposed", payload))
    assert len(parsed.goals) == MAX_ITEMS and parsed.model_extra == {"newer_field": "x" * 100, "newer_list": [1, 2, 3]}
