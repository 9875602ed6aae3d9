"""D4 D6 D7: only a plan's owning program puts it on the meeting's list, relists it or asks for its closure.

The NATS server lets only `<source>` publish on `jusou.<source>.…` (the subject is the authority), but a payload can name
any plan: with outreach's credentials, a PlanProposed naming collaboration's plan relisted it with content
collaboration never proposed (found by the integrator's review). The meeting refuses such a message as poison (the
inbox dead-letters it with the reason) and changes nothing."""

from __future__ import annotations

from uuid import uuid4

import pytest
from support.held import escalate

from services.meeting.application import MeetingApplication
from shared.contract.events import PoisonMessage
from shared.kernel.journey import NotFound
from unit.builders import Upstream, in_memory, plan_proposed


@pytest.fixture
def meeting() -> MeetingApplication:
    return in_memory(MeetingApplication)


def test_d6_a_plan_proposed_naming_another_program_is_refused(meeting: MeetingApplication) -> None:
    plan_id, case_id = uuid4(), uuid4()
    with pytest.raises(PoisonMessage, match="names plan .* as collaboration's"):
        meeting.receive(*Upstream("outreach").emit("PlanProposed", plan_proposed(plan_id, program="collaboration"), case_id))
    with pytest.raises(NotFound):
        meeting.listed(plan_id)  # nothing listed


def test_d6_another_programs_plan_is_not_relisted_by_a_program_that_does_not_own_it(meeting: MeetingApplication) -> None:
    plan_id, case_id = uuid4(), uuid4()
    escalate(meeting, case_id)
    assert meeting.receive(*Upstream("collaboration").emit("PlanProposed", plan_proposed(plan_id), case_id))
    forged = {**plan_proposed(plan_id, revision=2, program="outreach"), "support_direction": "乗っ取り"}
    with pytest.raises(PoisonMessage, match="which collaboration proposed"):
        meeting.receive(*Upstream("outreach").emit("PlanProposed", forged, case_id))
    listed = meeting.listed(plan_id)
    assert (listed.program, listed.revision, listed.summary["support_direction"]) == (
        "collaboration", 1, plan_proposed(plan_id)["support_direction"])


def test_d4_a_plan_is_relisted_only_for_its_own_case(meeting: MeetingApplication) -> None:
    plan_id, case_id = uuid4(), uuid4()
    collaboration = Upstream("collaboration")
    escalate(meeting, case_id)
    assert meeting.receive(*collaboration.emit("PlanProposed", plan_proposed(plan_id), case_id))
    with pytest.raises(PoisonMessage, match="a plan belongs to one case"):
        meeting.receive(*collaboration.emit("PlanProposed", plan_proposed(plan_id, revision=2), uuid4()))
    assert meeting.listed(plan_id).revision == 1
    assert meeting.receive(*collaboration.emit("PlanProposed", plan_proposed(plan_id, revision=2), case_id))
    assert meeting.listed(plan_id).revision == 2  # its owner, for its case: relisted as before


def test_d7_a_closure_is_asked_only_by_the_plans_owner(meeting: MeetingApplication) -> None:
    plan_id, case_id = uuid4(), uuid4()
    escalate(meeting, case_id)
    assert meeting.receive(*Upstream("collaboration").emit("PlanProposed", plan_proposed(plan_id), case_id))
    with pytest.raises(PoisonMessage, match="which collaboration proposed"):
        meeting.receive(*Upstream("participation").emit("PlanClosureRequested", {"plan_id": str(plan_id),
                                                                                  "progress": "終結"}, case_id))
    with pytest.raises(PoisonMessage, match="as collaboration's"):
        meeting.receive(*Upstream("participation").emit("PlanClosureRequested", {
            "plan_id": str(plan_id), "program": "collaboration", "progress": "終結"}, case_id))
    assert meeting.listed(plan_id).status != "closure_requested"
