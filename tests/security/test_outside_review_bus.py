"""What the review from outside found on the bus: one message, published with a service's own NATS password (here
intake's, which may publish on `jusou.intake.>` only), that stopped a program's events for good.

A body nested deeper than Python's JSON reader goes (`[[[[…]]]]`, 100,000 deep), or one that is no envelope and holds
a number of more than 4300 digits, made `json.loads` raise RecursionError / ValueError where only
JSONDecodeError was caught:
- the consumer (collaboration--intake) took it for a passing failure and tried the same message again every second,
  for ever, so no later event of intake reached collaboration (CONTRACT: a poison message is parked at once, with its
  reason);
- intake's relay, which reads its own subjects' tail to find messages its store never recorded, failed on it at
  every turn and published nothing more.

Each must be parked on the dead-letter subject with its reason, reported by intake's relay as a message its store
never recorded, and the bus goes on: a real escalation afterwards reaches collaboration.

Its own suite: the forged messages stay on its stream.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime
from typing import Any

import pytest
from support.journey import Journey

from jusou.runner import Suite
from security.conftest import journey_on, suite_as_jusou_up_runs_it
from security.test_forged_envelope import parked_for, publish_as_intake

DEEP = b'{"event_id":' + b"[" * 100_000 + b"]" * 100_000 + b"}"


def envelope_with(**fields: Any) -> dict[str, Any]:
    return {"event_id": str(uuid.uuid4()), "event_type": "CaseEscalated", "schema_version": 1, "source": "intake",
            "source_position": 1, "case_id": str(uuid.uuid4()), "occurred_at": datetime.now(UTC).isoformat(),
            "correlation_id": str(uuid.uuid4()), "causation_id": None, "actor": {"service": "intake"},
            "payload": {"reason": "forged", "concerns": ["ひきこもり"], "primary_agency": "地域包括支援センター"},
            **fields}


#: bodies the consumer must park at once, by what is wrong with them
BODIES = {
    "nested-100000-deep": DEEP,
    "nested-in-the-payload": json.dumps(envelope_with()).replace(
        '"payload": {', '"payload": {"z": ' + "[" * 5000 + "]" * 5000 + ", ", 1).encode(),
    "no-envelope-with-a-5000-digit-number": b'{"event_type": ' + b"7" * 5000 + b"}",
}


@pytest.fixture(scope="module")
def suite(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Suite]:
    with suite_as_jusou_up_runs_it(tmp_path_factory.mktemp("outside-bus")) as running:
        yield running


@pytest.fixture
async def journey(suite: Suite) -> AsyncIterator[Journey]:
    async with journey_on(suite) as made:
        yield made


async def test_bus_bodies_json_cannot_read_are_dead_lettered_and_the_events_go_on(suite: Suite,
                                                                                journey: Journey) -> None:
    seqs = {kind: await publish_as_intake(suite, "jusou.intake.CaseEscalated", body) for kind, body in BODIES.items()}

    for kind, body in BODIES.items():
        letter = await parked_for(suite, "collaboration", body)
        assert letter.subject == "jusou.intake.CaseEscalated" and letter.reason, (kind, letter)
    # the bus goes on: intake still publishes, collaboration still applies
    case_id = await journey.receive_and_escalate()
    await journey.get_when("collaboration", f"/cases/{case_id}", lambda c: c["status"] == "open",
                           "a real escalation after the forged messages to reach collaboration")
    ready = (await journey.http.get(suite.url("intake") + "/readyz")).json()
    for kind, seq in seqs.items():  # reported, as any message on intake's subjects its store never recorded
        assert any(f"seq {seq} " in problem for problem in ready["problems"]), (kind, ready)
