"""D4 on the bus, with intake busy: a PlanProposed published with collaboration's own NATS user for a case intake never
escalated is refused with its reason while intake's traffic keeps the meeting's intake consumer moving.

Found in session 19: the meeting waited for such a plan's escalation as long as its intake consumer applied anything
(a backlog might hold it), so under steady traffic the forgery waited out the inbox's tries and was parked as "failed
5 times; last error OpeningNotYetHeard …", a reason that reads like a fault, replayable. Now the meeting asks the server
(services/meeting/openings.py, with its own NATS user: `CONSUMER.INFO` of its consumers, `STREAM.MSG.GET.JUSOU`) whether
an escalation from before the plan is still unsettled on its intake consumer; none is, so the plan is refused at once
with why. Failed before: the letter's reason began "failed".

Its own suite, as `jusou up` runs it: the forged message is left parked."""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from collections.abc import AsyncIterator, Iterator

import pytest
from support.auth import reader
from support.journey import COUNTER_STAFF, PLAN, Journey
from support.poll import eventually

from jusou.runner import Suite
from security.conftest import journey_on, suite_as_jusou_up_runs_it
from security.test_forged_envelope import connect_as, envelope, parked_for
from shared.contract.events import STREAM

POSITION = 900_000  # a position collaboration's store does not have


@pytest.fixture(scope="module")
def suite(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Suite]:
    with suite_as_jusou_up_runs_it(tmp_path_factory.mktemp("hb2-forged-plan-traffic")) as running:
        yield running


@pytest.fixture
async def journey(suite: Suite) -> AsyncIterator[Journey]:
    async with journey_on(suite) as made:
        yield made


async def keep_intake_busy(journey: Journey, case_id: str, sent: list[int]) -> None:
    """Consents recorded one after another (ConsentRecorded: the meeting's intake consumer applies each)."""
    while True:
        await journey.post("intake", f"/cases/{case_id}/consent",
                           {"scope": "重層的支援会議での情報共有", "granted": True, "method": "書面"}, COUNTER_STAFF)
        sent.append(1)


async def test_d4_a_forged_collaboration_plan_is_refused_with_its_reason_while_intake_keeps_the_meeting_busy(
        suite: Suite, journey: Journey) -> None:
    busy_case = await journey.receive_and_escalate()
    real_plan = await journey.draft_and_propose(busy_case)
    await journey.get_when("meeting", f"/agenda/{real_plan}", lambda r: r["case_id"] == busy_case,
                           "collaboration's own plan on the agenda")

    sent: list[int] = []
    traffic = asyncio.create_task(keep_intake_busy(journey, busy_case, sent))
    try:
        await eventually(lambda: asyncio.sleep(0, len(sent) >= 3), "intake busy")
        target, plan_id = str(uuid.uuid4()), str(uuid.uuid4())
        body = envelope("collaboration", "PlanProposed", POSITION, target, {
            "plan_id": plan_id, "program": "collaboration", "revision": 1, "support_direction": "乗っ取り",
            "goals": ["forged"], "roles": [{"agency": r["agency"], "responsibility": "閲覧"} for r in PLAN["roles"]]})
        nc = await connect_as(suite, "collaboration")
        try:
            await nc.jetstream().publish("jusou.collaboration.PlanProposed", body, stream=STREAM, timeout=5)
        finally:
            await nc.close()
        letter = await parked_for(suite, "meeting", body)
    finally:
        traffic.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await traffic

    assert not letter.reason.startswith("failed"), letter.reason  # refused, with why, not a fault after its tries
    assert f"for case {target} proposes plan {plan_id}" in letter.reason, letter.reason
    assert "collaboration never announced holding (no CaseEscalated for it)" in letter.reason, letter.reason
    assert letter.reason_ja and "担当を始めた" in letter.reason_ja and target in letter.reason_ja, letter.reason_ja
    listed = await journey.http.get(journey.urls["meeting"] + f"/agenda/{plan_id}", headers=reader())
    assert listed.status_code == 404, listed.text
