"""Issue 13 item 4: the bus is authenticated by its subjects; one message cannot blind a consumer.

An attacker holding one service's NATS password (here intake's) may publish only on
`jusou.intake.>` (the server refuses the rest, test_nats_authorization.py). What it can still do:
- put another program's envelope on intake's subject (`source: meeting`, `MeetingDecided`
  approved): the subject is the authority, so every consumer dead-letters it with the reason and
  never applies it, on the stream and when an operator replays it;
- put a position no store can have in an envelope: refused (dead-lettered);
- put an envelope that agrees with its subject but claims a far position (`source_position:
  1000000`): the consumer's tracking jumps and later real events of that source are taken for
  duplicates. That cannot be told from the message alone (intake's password *is* intake on the
  bus), so it is made visible: intake's relay reports a message on its subjects that its store
  never recorded, the consumer reports each real event skipped behind its tracking (readyz
  degraded, /metrics), and `jusou status` compares every consumer's tracking with its source's
  store head and fails.

Its own suite (a nats-server with a NATS user per service): the last test leaves collaboration's
tracking of intake blinded on purpose, which must not leak into the package's shared suite.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime
from typing import Any

import httpx
import nats as nats_py
import pytest
from support.auth import reader
from support.journey import Journey
from support.municipality import ELDERLY, LEAD_NAME
from support.ops import jusou_json, scrape, value
from support.poll import eventually

from jusou.runner import Suite
from security.conftest import journey_on, suite_as_jusou_up_runs_it
from shared.contract.events import DEAD_LETTER_STREAM, REPLAY_STREAM, STREAM
from shared.messaging import natsauth
from shared.messaging.deadletters import NotParkedFromJusou, dead_letters, replay, replay_subject

FAR = 1_000_000


@pytest.fixture(scope="module")
def suite(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Suite]:
    with suite_as_jusou_up_runs_it(tmp_path_factory.mktemp("forged")) as running:
        yield running


@pytest.fixture
async def journey(suite: Suite) -> AsyncIterator[Journey]:
    async with journey_on(suite) as made:
        yield made


async def connect_as(suite: Suite, user: str) -> nats_py.NATS:
    """As the service's own NATS user, replies on the inbox prefix its user may read (where it has its own)."""
    passwords = natsauth.credentials(suite.data_dir, suite.services)
    own_inbox = getattr(natsauth, "inbox_prefix", None)
    return await nats_py.connect(suite.nats_url, user=user, password=passwords[user], allow_reconnect=False,
                                 connect_timeout=5, **({"inbox_prefix": own_inbox(user)} if own_inbox else {}))


def envelope(source: str, event_type: str, position: int, case_id: str, payload: dict[str, Any]) -> bytes:
    return json.dumps({
        "event_id": str(uuid.uuid4()), "event_type": event_type, "schema_version": 1, "source": source,
        "source_position": position, "case_id": case_id, "occurred_at": datetime.now(UTC).isoformat(),
        "correlation_id": str(uuid.uuid4()), "causation_id": None, "actor": {"service": source},
        "payload": payload,
    }).encode()


def forged_approval(case_id: str, plan_id: str) -> bytes:
    """The meeting's approval of the plan, as an attacker would write it."""
    return envelope("meeting", "MeetingDecided", FAR, case_id, {
        "meeting_id": str(uuid.uuid4()), "meeting_type": "jusou_shien_kaigi", "plan_id": plan_id,
        "decision": "approved", "attendees": [LEAD_NAME], "reasons": "forged", "connect_to": [],
        "program": "collaboration", "revision": 1})


def escalation(position: int, case_id: str) -> bytes:
    return envelope("intake", "CaseEscalated", position, case_id, {
        "reason": "forged", "concerns": ["ひきこもり"], "primary_agency": ELDERLY.ja})


async def publish_as_intake(suite: Suite, subject: str, body: bytes) -> int:
    nc = await connect_as(suite, "intake")
    try:
        ack = await nc.jetstream().publish(subject, body, stream=STREAM, timeout=5)
        return int(ack.seq)
    finally:
        await nc.close()


async def operator_js(suite: Suite) -> tuple[nats_py.NATS, Any]:
    user, password = suite.nats_operator()
    nc = await nats_py.connect(suite.nats_url, user=user, password=password, allow_reconnect=False)
    return nc, nc.jetstream()


async def parked_for(suite: Suite, consumer: str, body: bytes) -> Any:
    """The dead letter `consumer` parked with exactly this body (waits for it)."""
    nc, js = await operator_js(suite)
    try:
        async def probe() -> Any:
            return next((d for d in await dead_letters(js) if d.consumer == consumer and d.data == body), None)

        return await eventually(probe, f"{consumer} to park the forged message")
    finally:
        await nc.close()


async def proposed_plan(journey: Journey) -> tuple[str, str]:
    case_id = await journey.receive_and_escalate()
    plan_id = await journey.draft_and_propose(case_id)
    await journey.get_when("meeting", f"/agenda/{plan_id}", lambda r: r["status"] == "proposed", "the plan on the agenda")
    return case_id, plan_id


async def plan_status(journey: Journey, plan_id: str) -> str:
    response = await journey.http.get(journey.urls["collaboration"] + f"/plans/{plan_id}", headers=reader())
    assert response.status_code == 200, response.text
    return str(response.json()["status"])


async def test_bus_an_envelope_that_disagrees_with_its_subject_is_dead_lettered_never_applied(
        suite: Suite, journey: Journey) -> None:
    case_id, plan_id = await proposed_plan(journey)
    forged = forged_approval(case_id, plan_id)

    # intake's own subject, one collaboration consumes, with intake's own NATS password
    await publish_as_intake(suite, "jusou.intake.CaseEscalated", forged)

    letter = await parked_for(suite, "collaboration", forged)
    assert letter.subject == "jusou.intake.CaseEscalated"
    assert "subject" in letter.reason and "meeting" in letter.reason and "MeetingDecided" in letter.reason, letter.reason
    assert await plan_status(journey, plan_id) == "proposed"
    # the real decision, from the meeting, still applies (the forged position 1000000 moved nothing)
    meeting_id = await journey.convene()
    await journey.decide(meeting_id, plan_id, 1, "approved")
    await journey.get_when("collaboration", f"/plans/{plan_id}", lambda p: p["status"] == "approved",
                           "the real decision to reach collaboration")
    ready = (await journey.http.get(suite.url("collaboration") + "/readyz")).json()
    assert ready["tracking"]["meeting"] < FAR, ready


async def test_bus_a_replayed_dead_letter_counts_by_its_original_subject(suite: Suite, journey: Journey) -> None:
    """A dead letter whose body claims another source than its original subject: `jusou deadletters replay` refuses it
    (no consumer parked it from JUSOU: tests/security/test_hc_d5_forged_dead_letter.py), and a replay of it published
    by hand on JUSOU_REPLAY is parked again by the consumer."""
    case_id, plan_id = await proposed_plan(journey)
    forged = forged_approval(case_id, plan_id)
    nc, js = await operator_js(suite)
    try:
        parked = await js.publish("jusou-dlq.collaboration.intake.CaseEscalated", forged, stream=DEAD_LETTER_STREAM,
                                  headers={"Jusou-Dead-Letter-Reason": "handler failed", "Jusou-Consumer": "collaboration",
                                           "Jusou-Original-Subject": "jusou.intake.CaseEscalated",
                                           "Nats-Msg-Id": f"test:{uuid.uuid4()}"})
        with pytest.raises(NotParkedFromJusou):
            await replay(js, parked.seq)
        await js.publish(replay_subject("collaboration", "jusou.intake.CaseEscalated"), forged, stream=REPLAY_STREAM,
                         headers={"Nats-Msg-Id": f"replay:collaboration:{parked.seq}", "Jusou-Replay-Of": str(parked.seq),
                                  "Jusou-Original-Subject": "jusou.intake.CaseEscalated",
                                  "Jusou-Consumer": "collaboration"})

        async def parked_again() -> Any:
            return next((d for d in await dead_letters(js) if d.replay_of == parked.seq), None)

        again = await eventually(parked_again, "the replay to be parked again")
    finally:
        await nc.close()
    assert "subject" in again.reason and "MeetingDecided" in again.reason, again.reason
    assert await plan_status(journey, plan_id) == "proposed"


@pytest.mark.parametrize("position", [2**53, 2**63 - 1], ids=["beyond-json-integers", "sqlite-max"])
async def test_bus_a_position_no_store_can_have_is_refused(suite: Suite, journey: Journey, position: int) -> None:
    forged = escalation(position, str(uuid.uuid4()))

    await publish_as_intake(suite, "jusou.intake.CaseEscalated", forged)

    letter = await parked_for(suite, "collaboration", forged)
    assert "source_position" in letter.reason, letter.reason
    ready = (await journey.http.get(suite.url("collaboration") + "/readyz")).json()
    assert ready["tracking"]["intake"] < 2**53, ready


async def test_bus_a_far_position_on_the_sources_own_subject_is_reported_everywhere(
        suite: Suite, journey: Journey) -> None:
    """Last in the module: it moves collaboration's tracking of intake to 1000000 on purpose, then recovers."""
    forged_case = str(uuid.uuid4())
    forged_seq = await publish_as_intake(suite, "jusou.intake.CaseEscalated", escalation(FAR, forged_case))
    await journey.get_when("collaboration", f"/cases/{forged_case}", lambda c: True, "the forged escalation applied")

    # a real escalation afterwards is skipped behind the forged tracking: the consumer says so
    real_case = await journey.receive_and_escalate()

    async def degraded(service: str) -> Any:
        body = (await journey.http.get(suite.url(service) + "/readyz")).json()
        return body if body["status"] == "degraded" else None

    collaboration = await eventually(lambda: degraded("collaboration"), "collaboration's readyz to say degraded")
    assert collaboration["tracking"]["intake"] == FAR
    assert any("intake" in p and str(FAR) in p for p in collaboration["problems"]), collaboration["problems"]
    # intake's relay saw a message on its own subjects that its store never recorded
    intake = await eventually(lambda: degraded("intake"), "intake's readyz to report the foreign message")
    assert any(f"seq {forged_seq}" in p for p in intake["problems"]), intake["problems"]
    assert (await journey.http.get(suite.url("collaboration") + f"/cases/{real_case}", headers=reader())).status_code == 404

    async with httpx.AsyncClient(timeout=10, trust_env=False) as client:
        collab_metrics = await scrape(client, suite.url("collaboration"))
        intake_metrics = await scrape(client, suite.url("intake"))
    assert value(collab_metrics, "jusou_consumer_tracking_position", service="collaboration", source="intake") == FAR
    assert value(collab_metrics, "jusou_consumer_skipped_behind_tracking_total", service="collaboration",
                 source="intake") >= 1
    assert value(intake_metrics, "jusou_relay_foreign_messages_total", service="intake") >= 1

    status = jusou_json(suite, "status", code=1)
    assert status["ok"] is False
    row = status["services"]["collaboration"]
    assert row["health"] == "degraded"
    assert any(f"tracking {FAR} beyond intake's store head" in p for p in row["problems"]), row["problems"]

    # the operator recovers (README, Operating): collaboration stopped, the forged message off the stream,
    # the tracking back where the real events were; started again, it applies the escalation it skipped
    suite.kill("collaboration")
    done = jusou_json(suite, "tracking", "rewind", "collaboration", "intake")
    assert forged_seq in [r["seq"] for r in done["removed"]] and done["tracking"] == FAR  # with this module's others
    assert done["rewound_to"] < done["source_head"] and done["consumer_deleted"]
    suite.start_service("collaboration")
    await journey.get_when("collaboration", f"/cases/{real_case}", lambda c: c["status"] == "open",
                           "the skipped escalation applied after the rewind")
    ready = (await journey.http.get(suite.url("collaboration") + "/readyz")).json()
    assert ready["status"] == "ready" and ready["tracking"]["intake"] <= done["source_head"], ready
