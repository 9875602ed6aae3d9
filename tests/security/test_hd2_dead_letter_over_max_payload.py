"""One message a few hundred bytes under NATS's max_payload must not cut a consuming service off the bus.

The review from outside (an attacker holding intake's NATS password, which may publish on `jusou.intake.>`): a body
of max_payload − 210 bytes on `jusou.intake.CaseEscalated`, no envelope. Collaboration and the meeting each parked it
with its reason: the body plus the dead letter's headers, over max_payload. nats-py checks the body alone, so it sent
the message, nats-server answered `-ERR 'Maximum Payload Violation'` and closed the connection, and nats-py took that
as final: no reconnect, every consumer of both services failing once a second for good (the message unacked, so a
restart met it again), while /readyz answered "ready".

A dead letter that would not fit is parked without its body, saying so (`Jusou-Dead-Letter-Body-Omitted`: its size
and where the original is, JUSOU at the sequence its `Nats-Msg-Id` names), and the bus goes on.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator

import pytest
from support.journey import Journey
from support.poll import eventually

from jusou.runner import Suite
from security.conftest import journey_on, suite_as_jusou_up_runs_it
from security.test_forged_envelope import operator_js, publish_as_intake
from shared.messaging.deadletters import DeadLetter, NotParkedFromJusou, dead_letters, replay
from shared.messaging.natsheaders import BODY_OMITTED

SUBJECT = "jusou.intake.CaseEscalated"


@pytest.fixture(scope="module")
def suite(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Suite]:
    with suite_as_jusou_up_runs_it(tmp_path_factory.mktemp("hd2-max-payload")) as running:
        yield running


@pytest.fixture
async def journey(suite: Suite) -> AsyncIterator[Journey]:
    async with journey_on(suite) as made:
        yield made


async def test_a_message_just_under_max_payload_is_parked_without_its_body_and_the_bus_goes_on(
        suite: Suite, journey: Journey) -> None:
    nc, _ = await operator_js(suite)
    try:
        room = nc.max_payload - 210
    finally:
        await nc.close()
    body = b'{"x": "' + b"A" * (room - 9) + b'"}'
    seq = await publish_as_intake(suite, SUBJECT, body)

    async def parked() -> list[DeadLetter] | None:
        nc, js = await operator_js(suite)
        try:
            found = [d for d in await dead_letters(js) if d.subject == SUBJECT and d.headers.get("Nats-Msg-Id", "")
                     .endswith(f":{seq}")]
        finally:
            await nc.close()
        return found if {d.consumer for d in found} >= {"collaboration", "meeting"} else None

    letters = await eventually(parked, "collaboration and the meeting to park the message")
    for letter in letters:
        assert letter.reason and letter.data == b"", letter
        assert letter.headers[BODY_OMITTED].startswith(f"{len(body)} bytes"), letter.headers
        assert f"JUSOU seq {seq}" in letter.headers[BODY_OMITTED]
    # the bus goes on: a real escalation afterwards reaches collaboration, whose consumers still pull
    case_id = await journey.receive_and_escalate()
    await journey.get_when("collaboration", f"/cases/{case_id}", lambda c: c["status"] == "open",
                           "a real escalation after the large message to reach collaboration")
    ready = await journey.http.get(suite.url("collaboration") + "/readyz")
    assert ready.status_code == 200 and ready.json()["status"] in ("ready", "degraded"), ready.text
    # `jusou deadletters replay` has nothing to send back, and says so (not that someone forged it)
    nc, js = await operator_js(suite)
    try:
        with pytest.raises(NotParkedFromJusou, match="parked without its body") as refused:
            await replay(js, letters[0].seq)
    finally:
        await nc.close()
    assert "本文が大きすぎて" in str(refused.value) and f"JUSOU seq {seq}" in str(refused.value)
