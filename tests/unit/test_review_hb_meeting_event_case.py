"""D4 D7 on the bus: a meeting's decision or evaluation applies to a plan only for the plan's own case (HB's review).

The meeting refuses a PlanProposed or closure request naming a plan of another case (`_same_plan`), but the plan's
owner took the meeting's MeetingDecided, PlanClosed, PlanSuspended, PlanContinued and PlanResumed by `plan_id` alone:
one naming case B and case A's plan recorded the decision on A's plan (終結, 中断, approved…) while intake, which
follows the envelope's case, showed B as decided or closed. Now the owner refuses it as poison (dead-lettered at
once with the reason, in Japanese in `jusou deadletters`) and the plan is unchanged."""

from __future__ import annotations

from typing import Any
from uuid import UUID, uuid4

import pytest
from support.municipality import ELDERLY, LEAD_NAME

from services.collaboration.application import CollaborationApplication
from shared.contract.events import PoisonMessage
from shared.messaging.reasons import japanese
from unit.builders import COORDINATOR, Upstream, in_memory

ROLES = [{"agency": ELDERLY.ja, "responsibility": "母の介護"}]
EVALUATION = {"course": "月1回の訪問を続けた", "outcome": "本人が外出できるようになった"}


def proposed(app: CollaborationApplication, intake: Upstream) -> tuple[UUID, UUID]:
    case_id = uuid4()
    assert app.receive(*intake.emit("CaseEscalated", {
        "reason": "8050", "concerns": ["高齢・介護"], "primary_agency": ELDERLY.ja}, case_id))
    plan_id = app.draft_plan(COORDINATOR, case_id, "方向性", ["目標"], ROLES)
    app.propose_plan(COORDINATOR, plan_id)
    return case_id, plan_id


def meeting_events(plan_id: UUID) -> list[tuple[str, dict[str, Any]]]:
    meeting_id = str(uuid4())
    return [
        ("MeetingDecided", {"meeting_id": meeting_id, "meeting_type": "jusou_shien_kaigi", "plan_id": str(plan_id),
                            "decision": "approved", "attendees": [LEAD_NAME], "reasons": "合意",
                            "program": "collaboration", "revision": 1}),
        ("PlanClosed", {"plan_id": str(plan_id), "meeting_id": meeting_id, "evaluation": EVALUATION}),
        ("PlanSuspended", {"plan_id": str(plan_id), "meeting_id": meeting_id, "evaluation": EVALUATION,
                           "reason": "入院"}),
    ]


@pytest.mark.parametrize("index", range(3), ids=["MeetingDecided", "PlanClosed", "PlanSuspended"])
def test_d7_a_meeting_event_naming_another_cases_plan_is_refused_and_changes_nothing(index: int) -> None:
    app, intake = in_memory(CollaborationApplication), Upstream("intake")
    _case_id, plan_id = proposed(app, intake)
    other_case, _ = proposed(app, intake)
    before = app.plan_view(plan_id)
    event_type, payload = meeting_events(plan_id)[index]

    with pytest.raises(PoisonMessage) as refused:
        app.receive(*Upstream("meeting").emit(event_type, payload, other_case))

    assert f"names plan {plan_id} of case" in refused.value.reason, refused.value.reason
    assert "別のケース" in (japanese(refused.value.reason) or "")
    after = app.plan_view(plan_id)
    assert (after["status"], after["history"]) == (before["status"], before["history"]), after


def test_d7_the_meeting_event_for_the_plans_own_case_applies() -> None:
    app = in_memory(CollaborationApplication)
    case_id, plan_id = proposed(app, Upstream("intake"))
    event_type, payload = meeting_events(plan_id)[0]
    assert app.receive(*Upstream("meeting").emit(event_type, payload, case_id))
    assert app.plan_view(plan_id)["status"] == "approved"
