"""`parse` refuses every body it cannot read as a PoisonMessage saying why, so the consumer parks it at once
(CONTRACT: a poison message goes to the dead-letter subject with its reason). The review from outside published
these with intake's NATS password: `json.loads` raised RecursionError or ValueError, not JSONDecodeError, and the
consumer took them for a passing failure, trying the same message again for ever
(tests/security/test_outside_review_bus.py shows it on a running suite).
"""

from __future__ import annotations

import pytest

from shared.contract.events import PoisonMessage, parse

BODIES = {
    "nested-100000-deep": b'{"event_id":' + b"[" * 100_000 + b"]" * 100_000 + b"}",
    "an-array-5000-deep": b"[" * 5000 + b"]" * 5000,
    "no-envelope-with-a-5000-digit-number": b'{"event_type": ' + b"7" * 5000 + b"}",
}


@pytest.mark.parametrize("kind", list(BODIES))
def test_a_body_json_cannot_read_is_poison_with_its_reason(kind: str) -> None:
    with pytest.raises(PoisonMessage) as refused:
        parse(BODIES[kind])
    assert refused.value.reason.startswith("body is not UTF-8 JSON"), refused.value.reason


# -- what `parse` takes and the contract does not: the consumer's reader (shared/messaging/inbox.py `read`) --------
# The review's leftovers, forged with a service's own NATS password (tests/security/test_bus_contract_leftovers.py
# on a running suite): a position written as a string was applied although the relay called the message foreign;
# a NUL or a lone surrogate failed in the handler's commit and was parked only after max_deliver tries.

def envelope(**fields: object) -> dict[str, object]:
    import uuid
    from datetime import UTC, datetime

    return {"event_id": str(uuid.uuid4()), "event_type": "CaseEscalated", "schema_version": 1, "source": "intake",
            "source_position": 5, "case_id": str(uuid.uuid4()), "occurred_at": datetime.now(UTC).isoformat(),
            "correlation_id": str(uuid.uuid4()), "causation_id": None, "actor": {"service": "intake"},
            "payload": {"reason": "複合的な課題", "concerns": ["ひきこもり"], "primary_agency": "地域包括支援センター"},
            **fields}


def body_of(fields: dict[str, object], ensure_ascii: bool = False) -> bytes:
    import json

    return json.dumps(fields, ensure_ascii=ensure_ascii).encode()


def test_contract_a_position_that_is_not_a_json_integer_is_poison_with_its_reason() -> None:
    from shared.messaging.inbox import read

    for position in ("5", 5.0, "0x05"):
        body = body_of(envelope(source_position=position))
        with pytest.raises(PoisonMessage) as refused:
            read(body)
        assert "source_position" in refused.value.reason and "integer" in refused.value.reason, refused.value.reason
    with pytest.raises(PoisonMessage) as refused:
        read(body_of(envelope(schema_version="1")))
    assert "schema_version" in refused.value.reason


@pytest.mark.parametrize(("where", "text"), [
    ("payload", "複合的な\x00課題"), ("payload", "半分\ud800だけ"), ("payload", "\udc00"),
    ("envelope", "s-001\x00"), ("key", "ab\x00"),
])
def test_contract_a_nul_or_a_lone_surrogate_is_poison_at_once_with_its_reason(where: str, text: str) -> None:
    from shared.messaging.inbox import read

    if where == "payload":
        fields = envelope(payload={"reason": text, "concerns": ["ひきこもり"], "primary_agency": "地域包括支援センター"})
    elif where == "envelope":
        fields = envelope(actor={"staff_id": text, "division": "elderly-support"})
    else:
        fields = envelope(payload={"reason": "r", "concerns": ["ひきこもり"], "primary_agency": "a", text: "x"})
    with pytest.raises(PoisonMessage) as refused:
        read(body_of(fields, ensure_ascii=True))  # json.dumps escapes them (`\\u0000`, `\\ud800`), as a forger's tool would
    assert "NUL" in refused.value.reason or "surrogate" in refused.value.reason, refused.value.reason


def test_contract_real_bodies_are_read_as_parse_reads_them() -> None:
    from shared.contract.events import parse
    from shared.messaging.inbox import read

    for fields, ascii_only in [(envelope(), False), (envelope(), True),  # escaped Japanese: `\\u8907…`, no surrogate
                               (envelope(payload={"reason": "絵文字 😀 と\\u0000（文字として）", "concerns": ["ひきこもり"],
                                                  "primary_agency": "地域包括支援センター"}), True),  # a pair, a backslash
                               (envelope(source_position=2**53 - 1), False)]:
        body = body_of(fields, ensure_ascii=ascii_only)
        assert read(body) == parse(body)
