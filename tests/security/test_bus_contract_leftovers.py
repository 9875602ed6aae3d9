"""Two leftovers of the bus's review, forged with intake's own NATS password (which may publish on `jusou.intake.>`):

- an envelope whose `source_position` is the string "5": pydantic's lax reading took it for 5 and the consumer went
  on with it (applied, or acked as a duplicate), while intake's relay, reading the same body, called it foreign.
  CONTRACT.md: the position is an integer. Parked at once, with its reason;
- a NUL or a lone surrogate in a payload's text: the handler's commit failed on it, and the message was parked only
  after `max_deliver` tries (seconds of retries, the source's later events held behind it). Poison: parked on its
  first delivery with its reason, as tests/contracts/test_poison_bodies.py's deep bodies are.

A real escalation afterwards still reaches collaboration. Its own suite: the forged messages stay on its stream.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Iterator

import httpx
import pytest
from support.journey import Journey

from jusou.runner import Suite
from security.conftest import SERVICES, distinct_free_ports
from security.test_forged_envelope import parked_for, publish_as_intake
from security.test_outside_review_bus import envelope_with


def escaped(**fields: object) -> bytes:
    """As a forger's tool writes it: json.dumps escapes a NUL (`\\u0000`) and a lone surrogate (`\\ud800`)."""
    return json.dumps(envelope_with(**fields), ensure_ascii=True).encode()


PAYLOAD = {"concerns": ["ひきこもり"], "primary_agency": "地域包括支援センター"}
#: bodies collaboration must park on their first delivery, and a word its reason must hold
POISON = {
    "a-position-written-as-a-string": (escaped(source_position="5"), "source_position"),
    "a-nul-in-the-payload": (escaped(payload={"reason": "複合的な\x00課題", **PAYLOAD}), "NUL"),
    "a-lone-surrogate-in-the-payload": (escaped(payload={"reason": "半分\ud800だけ", **PAYLOAD}), "surrogate"),
}


@pytest.fixture(scope="module")
def suite(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Suite]:
    root = tmp_path_factory.mktemp("bus-leftovers")
    *service_ports, nats_port = distinct_free_ports(len(SERVICES) + 1)
    with Suite(root / "data", nats_port=nats_port, ports=dict(zip(SERVICES, service_ports, strict=True)),
               extra_env={"JUSOU_STORE": "sqlite"}) as running:
        yield running


@pytest.fixture
async def journey(suite: Suite) -> AsyncIterator[Journey]:
    async with httpx.AsyncClient(timeout=15, trust_env=False) as client:
        yield Journey({name: suite.url(name) for name in SERVICES}, client)


async def test_contract_a_string_position_a_nul_or_a_lone_surrogate_is_parked_at_once_and_the_events_go_on(
        suite: Suite, journey: Journey) -> None:
    for body, _ in POISON.values():
        await publish_as_intake(suite, "jusou.intake.CaseEscalated", body)

    for kind, (body, word) in POISON.items():
        letter = await parked_for(suite, "collaboration", body)
        assert letter.subject == "jusou.intake.CaseEscalated", (kind, letter)
        # its reason, not a handler's failure after max_deliver tries ("failed 5 times; last error …")
        assert word in letter.reason and not letter.reason.startswith("failed"), (kind, letter.reason)
    case_id = await journey.receive_and_escalate()
    await journey.get_when("collaboration", f"/cases/{case_id}", lambda c: c["status"] == "open",
                           "a real escalation after the forged messages to reach collaboration")
