"""Every reader of what is on the bus survives a body that `json.loads` cannot read (the review from outside:
test_outside_review_bus.py publishes them with intake's own NATS password): nested deeper than the reader goes
(RecursionError), a number of more than 4300 digits (ValueError, not JSONDecodeError), a number JSON writes but no
integer holds (`1e400`: OverflowError on int()), a position that is not a number.

Beside the consumer and the relay (fixed in 9ff524b), the operator's commands read the same stream: `jusou audit
verify` (each message's `source_position`), `jusou tracking rewind` (a message's position and event id),
`jusou deadletters list|show` (a dead letter's body), and a partitioned consumer reads the case of each message. Each
must take such a body for what it is (no position, no case, its text) and go on, not stop with a traceback.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from jusou.verify import _envelope_fields, _source_position
from shared.messaging.deadletters import DeadLetter
from shared.messaging.partitions import case_of

BODIES = {
    "nested 100000 deep": b'{"source_position":' + b"[" * 100_000 + b"]" * 100_000 + b"}",
    "5000 digits": b'{"source_position": ' + b"7" * 5000 + b"}",
    "1e400": b'{"source_position": 1e400, "event_id": "x", "case_id": 1e400}',
    "a position of text": b'{"source_position": "five", "event_id": "x"}',
    "a position of a list": b'{"source_position": [5], "event_id": "x", "case_id": [1]}',
    "a list": b"[1, 2]",
}


def dead_letter(body: bytes) -> Any:
    return DeadLetter(seq=1, time=None, consumer="collaboration", subject="jusou.intake.CaseEscalated", reason="x",
                      headers={}, data=body).body()


READERS: dict[str, Callable[[bytes], Any]] = {
    "audit verify: _source_position": _source_position,
    "tracking rewind: _envelope_fields": _envelope_fields,
    "deadletters show: DeadLetter.body": dead_letter,
    "a partitioned consumer: case_of": case_of,
}


@pytest.mark.parametrize(("reader", "body"), [
    pytest.param(reader, body, id=f"{reader}-{body}")
    for reader in READERS for body in BODIES])
def test_a_reader_of_the_bus_takes_a_body_json_cannot_read_and_goes_on(reader: str, body: str) -> None:
    READERS[reader](BODIES[body])  # no exception: the body is no position, no case, or shown as its text
