"""D6 D9 on the bus: outreach's NATS password cannot put a plan on the meeting's agenda for a case outreach never held.

Before: a PlanProposed on `jusou.outreach.PlanProposed` naming program outreach, for any case (here one escalated to
collaboration, whose records the meeting keeps), was listed by the meeting, and the divisions its roles name then read
that case's records there (consent, history). Now the meeting dead-letters it at once with its reason and lists nothing;
outreach's real plan, for the case it started, is listed as before. The meeting's own NATS user may read the start
events from the stream's start (the one-off catch-up of a store made before, services/meeting/held_cases.py). Its own
suite, as `jusou up` runs it: the forged message is left parked."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Iterator

import pytest
from support.auth import reader
from support.journey import OUTREACH_WORKER, PLAN, Journey

from jusou.runner import Suite
from security.conftest import journey_on, suite_as_jusou_up_runs_it
from security.test_forged_envelope import connect_as, envelope, parked_for
from services.meeting.application import MeetingApplication
from services.meeting.held_cases import catch_up
from shared.contract.events import STREAM

POSITION = 900_000  # a position outreach's store does not have


@pytest.fixture(scope="module")
def suite(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Suite]:
    with suite_as_jusou_up_runs_it(tmp_path_factory.mktemp("hb-plan-provenance")) as running:
        yield running


@pytest.fixture
async def journey(suite: Suite) -> AsyncIterator[Journey]:
    async with journey_on(suite) as made:
        yield made


async def outreach_case_with_a_plan(journey: Journey) -> tuple[str, str]:
    started = await journey.post("outreach", "/engagements", {"referred_by": "民生委員", "reason": "長期ひきこもりの疑い"},
                                 OUTREACH_WORKER)
    case_id = started["case_id"]
    plan = await journey.post("outreach", f"/cases/{case_id}/plans", PLAN, OUTREACH_WORKER)
    await journey.post("outreach", f"/plans/{plan['plan_id']}/propose", None, OUTREACH_WORKER)
    return case_id, plan["plan_id"]


async def test_d6_outreachs_password_cannot_list_a_plan_for_a_case_outreach_never_held(
        suite: Suite, journey: Journey) -> None:
    # outreach's own plan, for the case it started, reaches the agenda as before
    case_id, plan_id = await outreach_case_with_a_plan(journey)
    item = await journey.get_when("meeting", f"/agenda/{plan_id}", lambda r: r["program"] == "outreach",
                                  "outreach's own plan on the agenda")
    assert item["case_id"] == case_id

    # a case collaboration holds (escalated at intake), which outreach never started
    target = await journey.receive_and_escalate()
    forged_plan = str(uuid.uuid4())
    body = envelope("outreach", "PlanProposed", POSITION, target, {
        "plan_id": forged_plan, "program": "outreach", "revision": 1, "support_direction": "乗っ取り",
        "goals": ["forged"], "roles": [{"agency": role["agency"], "responsibility": "閲覧"} for role in PLAN["roles"]]})
    nc = await connect_as(suite, "outreach")
    try:
        await nc.jetstream().publish("jusou.outreach.PlanProposed", body, stream=STREAM, timeout=5)
    finally:
        await nc.close()

    letter = await parked_for(suite, "meeting", body)
    assert f"for case {target} proposes plan {forged_plan}" in letter.reason, letter.reason
    assert "outreach never announced holding (no OutreachStarted for it)" in letter.reason, letter.reason
    assert not letter.reason.startswith("failed"), letter.reason  # at once, with why
    assert letter.reason_ja and "担当を始めた" in letter.reason_ja and target in letter.reason_ja, letter.reason_ja
    listed = await journey.http.get(journey.urls["meeting"] + f"/agenda/{forged_plan}", headers=reader())
    assert listed.status_code == 404, listed.text
    agenda = await journey.http.get(journey.urls["meeting"] + "/agenda", headers=reader())
    assert agenda.status_code == 200 and forged_plan not in agenda.text and "乗っ取り" not in agenda.text



async def caught_up_as_the_meeting(suite: Suite) -> tuple[MeetingApplication, int | None]:
    """A store made before the meeting kept held cases (it knows no case), caught up from the stream with the meeting's
    own NATS user: (the store, how many cases it recorded)."""
    old_store = MeetingApplication(env={"PERSISTENCE_MODULE": "eventsourcing.popo"})
    nc = await connect_as(suite, "meeting")
    try:
        return old_store, await catch_up(old_store, nc.jetstream())
    finally:
        await nc.close()


async def test_d6_the_meetings_own_nats_user_may_read_the_start_events_to_catch_up_an_old_store(
        suite: Suite, journey: Journey) -> None:
    case_id, plan_id = await outreach_case_with_a_plan(journey)
    await journey.get_when("meeting", f"/agenda/{plan_id}", lambda r: True, "outreach's events on the stream")
    old_store, recorded = await caught_up_as_the_meeting(suite)
    assert recorded is not None and recorded >= 1
    assert old_store.holds("outreach", uuid.UUID(case_id)) and old_store.held_cases_read()
    assert not old_store.holds("participation", uuid.UUID(case_id))


async def test_d4_collaborations_password_cannot_list_a_plan_for_a_case_collaboration_never_held(
        suite: Suite, journey: Journey) -> None:
    """D4 D9: a PlanProposed on `jusou.collaboration.PlanProposed`, published with collaboration's own NATS user, for a
    case intake never escalated nor outreach handed over to collaboration (here outreach's own case, whose plan the
    meeting lists, and a case no program holds) is dead-lettered with its reason after its short wait for an
    escalation on the way, and listed nowhere; collaboration's real plan for an escalated case is listed as before."""
    real_case = await journey.receive_and_escalate()
    real_plan = await journey.draft_and_propose(real_case)
    await journey.get_when("meeting", f"/agenda/{real_plan}", lambda r: r["case_id"] == real_case,
                           "collaboration's own plan on the agenda")
    outreach_case, _ = await outreach_case_with_a_plan(journey)

    nc = await connect_as(suite, "collaboration")
    forged: dict[str, tuple[str, bytes]] = {}
    try:
        for offset, target in enumerate((outreach_case, str(uuid.uuid4()))):
            plan_id = str(uuid.uuid4())
            forged[target] = plan_id, envelope("collaboration", "PlanProposed", POSITION + offset, target, {
                "plan_id": plan_id, "program": "collaboration", "revision": 1, "support_direction": "乗っ取り",
                "goals": ["forged"], "roles": [{"agency": r["agency"], "responsibility": "閲覧"} for r in PLAN["roles"]]})
            await nc.jetstream().publish("jusou.collaboration.PlanProposed", forged[target][1], stream=STREAM, timeout=5)
    finally:
        await nc.close()

    for target, (plan_id, body) in forged.items():
        letter = await parked_for(suite, "meeting", body)
        assert f"for case {target} proposes plan {plan_id}" in letter.reason, letter.reason
        assert "collaboration never announced holding (no CaseEscalated for it)" in letter.reason, letter.reason
        assert not letter.reason.startswith("failed"), letter.reason  # refused, with why
        assert letter.reason_ja and "担当を始めた" in letter.reason_ja and target in letter.reason_ja, letter.reason_ja
        listed = await journey.http.get(journey.urls["meeting"] + f"/agenda/{plan_id}", headers=reader())
        assert listed.status_code == 404, listed.text
    agenda = await journey.http.get(journey.urls["meeting"] + "/agenda", headers=reader())
    assert agenda.status_code == 200 and "乗っ取り" not in agenda.text and real_plan in agenda.text
    assert all(plan_id not in agenda.text for plan_id, _ in forged.values())


async def test_d4_the_meetings_own_nats_user_may_read_the_escalations_to_catch_up_an_old_store(
        suite: Suite, journey: Journey) -> None:
    case_id = await journey.receive_and_escalate()
    await journey.get_when("collaboration", f"/cases/{case_id}", lambda c: c["status"] == "open",
                           "intake's escalation on the stream")
    old_store, recorded = await caught_up_as_the_meeting(suite)
    assert recorded is not None and recorded >= 1
    assert old_store.holds("collaboration", uuid.UUID(case_id)) and old_store.held_cases_read("collaboration")
