"""A message body is read by pydantic's JSON parser first (issue 19): the same envelope as `json.loads` and
validation give, for every body; the same reason for every body that is not one (dead letters say what is wrong)."""

from __future__ import annotations

import json
import random
from datetime import UTC, datetime
from uuid import uuid4

import pytest

from shared.contract.events import Envelope, PoisonMessage, _envelope_plainly, envelope_json, parse


def body() -> bytes:
    return envelope_json(Envelope(
        event_id=uuid4(), event_type="ConsentRecorded", schema_version=1, source="intake", source_position=41,
        case_id=uuid4(), occurred_at=datetime.now(UTC), correlation_id=uuid4(), causation_id=None,
        actor={"staff_id": "s-001", "division": "高齢福祉課"},
        payload={"scope": "重層的支援会議での情報共有", "granted": True, "method": "書面"}))


def outcome(read, raw: bytes) -> tuple[str, str]:
    try:
        found = read(raw)
    except PoisonMessage as exc:
        return "poison", exc.reason
    envelope = found[0] if isinstance(found, tuple) else found
    return "envelope", repr(envelope.model_dump())  # repr: NaN and lone surrogates compare too


def plainly(raw: bytes) -> Envelope:
    return _envelope_plainly(raw)


def fast_envelope(raw: bytes) -> Envelope:
    try:
        return parse(raw)[0]
    except PoisonMessage as exc:
        if exc.reason.startswith(("unknown event", "invalid payload")):
            return _envelope_plainly(raw)  # the envelope was read: compare it
        raise


EDITS = [
    (b'"source_position":41', b'"source_position":41.0'), (b'"source_position":41', b'"source_position":"41"'),
    (b'"source_position":41', b'"source_position":true'), (b'"source_position":41', b'"source_position":1e400'),
    (b'"granted":true', b'"granted":NaN'), (b'"granted":true', b'"granted":"\\ud800"'),
    (b'"granted":true', b'"granted":123456789012345678901234567890'), (b'"method"', b'"method":1,"method"'),
    (b'"scope"', b'"sc\xffope"'), (b'{', b'\xef\xbb\xbf{'), (b'"schema_version":1', b'"schema_version":"1"'),
    (b'"causation_id":null', b'"causation_id":""'), (b'"source":"intake"', b'"source":"nobody"'),
    (b'"actor":{', b'"actor":{"extra":[1,2.5,null],'), (b'}', b'} x'), (b'"event_type":"ConsentRecorded"', b''),
]


@pytest.mark.parametrize(("old", "new"), EDITS)
def test_a_body_reads_as_the_plain_way_reads_it(old: bytes, new: bytes) -> None:
    raw = body().replace(old, new, 1)
    assert outcome(fast_envelope, raw) == outcome(plainly, raw)


def test_random_damage_reads_as_the_plain_way_reads_it() -> None:
    rng = random.Random(19)
    original = body()
    for _ in range(3000):
        raw = bytearray(original)
        for _ in range(rng.randint(1, 3)):
            at = rng.randrange(len(raw))
            choice = rng.random()
            if choice < 0.4:
                raw[at] = rng.randrange(256)
            elif choice < 0.7:
                del raw[at]
            else:
                raw.insert(at, rng.choice(b'{}[]",:0123456789.eE+-tfn \\u'))
        assert outcome(fast_envelope, bytes(raw)) == outcome(plainly, bytes(raw)), bytes(raw)


def test_a_valid_body_gives_the_envelope_and_payload() -> None:
    raw = body()
    envelope, payload = parse(raw)
    assert envelope == Envelope.model_validate(json.loads(raw))
    assert payload.model_dump()["method"] == "書面"
