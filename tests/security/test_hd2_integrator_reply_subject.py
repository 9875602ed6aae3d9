"""The read-only integrator cannot make a dead letter or a replay appear through a pull request's reply subject.

The review from outside, on `jusou up`'s nats-server with its rendered users: the integrator may pull from a consumer
of its own (`$JS.API.CONSUMER.MSG.NEXT.JUSOU.<its consumer>`), and NATS permissions look at the subject a client
publishes on, never at the reply subject it names. A pull request whose reply subject is
`jusou-dlq.meeting.intake.CaseEscalated` (or `jusou-replay.meeting.…`) has the server deliver JUSOU's messages there,
and JUSOU_DLQ (JUSOU_REPLAY) keeps each, under its own `jusou.…` subject: no permission violation, as many as asked.
`jusou deadletters list` showed them as dead letters (consumer `intake`, subject `jusou.CaseEscalated`, no reason).

Only a message published without `Nats-Expected-Stream: JUSOU` is kept so (the relay always sends it; a copy fails it
elsewhere): one that someone holding a service's NATS password put on JUSOU. What the server keeps is not ours to stop (no permission sees a reply subject; docs say so); what Jusou's tools read
as dead letters and replays is only what was published on `jusou-dlq.…` and `jusou-replay.…`.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import nats as nats_py
import pytest
from support.poll import eventually
from support.servers import free_port

from jusou.runner import Suite
from security.conftest import SERVICES
from shared.contract.events import DEAD_LETTER_STREAM, REPLAY_STREAM, STREAM
from shared.messaging import natsauth
from shared.messaging.bus import connect
from shared.messaging.deadletters import dead_letters, replays

CONSUMER = "mhlw-reply-probe"


@pytest.fixture
def bus(tmp_path: Path) -> Iterator[Suite]:
    suite = Suite(tmp_path / "data", nats_port=free_port(), services=SERVICES)
    try:
        suite.start_nats()  # as `jusou up`: the generated users, the streams made by the operator
        yield suite
    finally:
        suite.stop()


async def test_a_pull_answered_on_the_dead_letter_and_replay_subjects_makes_no_dead_letter_nor_replay(
        bus: Suite) -> None:
    operator = await connect(bus.nats_url, "hd2-operator", *bus.nats_operator())
    js = operator.jetstream(timeout=5)
    forger = await nats_py.connect(bus.nats_url, user="intake", password=natsauth.credentials(
        bus.data_dir, bus.services)["intake"], inbox_prefix=natsauth.inbox_prefix("intake"), allow_reconnect=False)
    try:  # as whoever holds intake's password publishes: no `Nats-Expected-Stream` (which a copy elsewhere fails)
        for n in (1, 2):  # one for each pull below
            await forger.jetstream().publish("jusou.intake.CaseEscalated", b'{"forged": %d}' % n,
                                             headers={"Nats-Msg-Id": f"forged-{n}"})
    finally:
        await forger.close()
    await js.publish("jusou-dlq.meeting.intake.CaseEscalated", b'{"a": "dead letter"}', stream=DEAD_LETTER_STREAM,
                     headers={"Jusou-Dead-Letter-Reason": "parked", "Nats-Msg-Id": "meeting:1"})
    refused: list[str] = []

    async def record(error: Exception) -> None:
        refused.append(str(error))

    integrator = await nats_py.connect(bus.nats_url, user=natsauth.INTEGRATOR, password=natsauth.credentials(
        bus.data_dir, bus.services)[natsauth.INTEGRATOR], inbox_prefix=natsauth.inbox_prefix(natsauth.INTEGRATOR),
        allow_reconnect=False, error_cb=record)
    try:
        made = await integrator.request(f"$JS.API.CONSUMER.CREATE.{STREAM}.{CONSUMER}.jusou.>", json.dumps({
            "stream_name": STREAM, "config": {"name": CONSUMER, "durable_name": CONSUMER, "filter_subject": "jusou.>",
                                              "ack_policy": "none", "deliver_policy": "all"}}).encode(), timeout=5)
        assert "error" not in json.loads(made.data), made.data
        for reply in ("jusou-dlq.meeting.intake.CaseEscalated", "jusou-replay.meeting.intake.CaseEscalated"):
            await integrator.publish(f"$JS.API.CONSUMER.MSG.NEXT.{STREAM}.{CONSUMER}",
                                     json.dumps({"batch": 1, "no_wait": True}).encode(), reply=reply)
        await integrator.flush()

        async def kept() -> tuple[int, int] | None:  # the server's doing: both copies stored
            counts = ((await js.stream_info(DEAD_LETTER_STREAM)).state.messages,
                      (await js.stream_info(REPLAY_STREAM)).state.messages)
            return counts if counts == (2, 1) else None

        await eventually(kept, "the server to keep the delivered copies on JUSOU_DLQ and JUSOU_REPLAY")
        letters = await dead_letters(js)
        sent_back = await replays(js)
    finally:
        await integrator.close()
        await operator.close()

    assert not refused  # nothing a permission sees
    assert [(d.consumer, d.subject, d.data) for d in letters] == [
        ("meeting", "jusou.intake.CaseEscalated", b'{"a": "dead letter"}')]
    assert sent_back == []
