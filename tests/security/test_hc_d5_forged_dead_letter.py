"""D5 on the bus: a dead letter is replayed only as what its consumer parked from `JUSOU`, never as what it claims.

Each service's NATS user may publish its own dead letters, `jusou-dlq.<service>.>` (shared/messaging/natsauth.py).
`jusou deadletters` read a letter's consumer and original subject from its headers (`Jusou-Consumer`,
`Jusou-Original-Subject`), which whoever publishes it writes. Someone holding intake's NATS password parked, on
`jusou-dlq.intake.meeting.MeetingDecided`, a meeting's approval of a proposed plan that no meeting made, with the
headers of a letter collaboration's consumer had parked and a reason an operator replays after a fix ("failed 5
times: TimeoutError"). `jusou deadletters list` showed it as collaboration's parked MeetingDecided; `jusou deadletters
replay` sent it to collaboration, which approved the plan (review HC, session 19): intake's password spoke for the
meeting, which alone approves a plan (D5), through the operator's routine step.

What is asked: a letter is replayed to the service whose own subject it was parked on, and only when the message it
says it parked is on `JUSOU` as it was parked (the original's stream sequence is in the letter's `Nats-Msg-Id`,
`<service>:<sequence>`); else the replay is refused, saying why in Japanese and English, and nothing is sent.

Its own suite: the forged letter stays on `JUSOU_DLQ`.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime

import nats as nats_py
import pytest
from support.auth import reader
from support.journey import Journey
from support.municipality import LEAD_NAME
from support.ops import jusou

from jusou.runner import Suite
from security.conftest import journey_on, suite_as_jusou_up_runs_it
from shared.contract.events import DEAD_LETTER_STREAM
from shared.messaging import natsauth


@pytest.fixture(scope="module")
def suite(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Suite]:
    with suite_as_jusou_up_runs_it(tmp_path_factory.mktemp("forged-letter")) as running:
        yield running


@pytest.fixture
async def journey(suite: Suite) -> AsyncIterator[Journey]:
    async with journey_on(suite) as made:
        yield made


def approval(case_id: str, plan_id: str) -> bytes:
    """The meeting's approval of the plan, as the forger writes it."""
    return json.dumps({
        "event_id": str(uuid.uuid4()), "event_type": "MeetingDecided", "schema_version": 1, "source": "meeting",
        "source_position": 7, "case_id": case_id, "occurred_at": datetime.now(UTC).isoformat(),
        "correlation_id": str(uuid.uuid4()), "causation_id": None, "actor": {"service": "meeting"},
        "payload": {"meeting_id": str(uuid.uuid4()), "meeting_type": "jusou_shien_kaigi", "plan_id": plan_id,
                    "decision": "approved", "attendees": [LEAD_NAME], "reasons": "合意", "connect_to": [],
                    "program": "collaboration", "revision": 1},
    }).encode()


async def park_as_intake(suite: Suite, body: bytes) -> int:
    """As intake's NATS user: a letter on intake's own dead-letter subject, headed as collaboration's."""
    passwords = natsauth.credentials(suite.data_dir, suite.services)
    nc = await nats_py.connect(suite.nats_url, user="intake", password=passwords["intake"], allow_reconnect=False,
                               connect_timeout=5, inbox_prefix=natsauth.inbox_prefix("intake"))
    try:
        ack = await nc.jetstream().publish("jusou-dlq.intake.meeting.MeetingDecided", body, stream=DEAD_LETTER_STREAM,
                                           headers={"Jusou-Consumer": "collaboration",
                                                    "Jusou-Original-Subject": "jusou.meeting.MeetingDecided",
                                                    "Jusou-Dead-Letter-Reason": "failed 5 times: TimeoutError",
                                                    "Nats-Msg-Id": "collaboration:3"}, timeout=5)
        return int(ack.seq)
    finally:
        await nc.close()


async def test_d5_a_dead_letter_parked_with_another_services_password_is_not_replayed(
        suite: Suite, journey: Journey) -> None:
    case_id = await journey.receive_and_escalate()
    plan_id = await journey.draft_and_propose(case_id)
    seq = await park_as_intake(suite, approval(case_id, plan_id))

    done = jusou(suite, "deadletters", "replay", str(seq), "--wait", "5")

    assert done.returncode == 1, done.stdout + done.stderr
    said = done.stdout + done.stderr
    assert "再送しません" in said and "not replayed" in said, said
    replays = jusou(suite, "deadletters", "list", "--json")
    assert json.loads(replays.stdout)[-1]["status"] == "parked", replays.stdout
    plan = (await journey.http.get(suite.url("collaboration") + f"/plans/{plan_id}", headers=reader())).json()
    assert plan["status"] == "proposed", plan
