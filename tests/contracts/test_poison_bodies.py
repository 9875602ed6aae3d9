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
