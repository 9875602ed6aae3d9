"""D4: a program keeps at most one plan not ended per case (HD's review as staff: 「プランを作成」 pressed in two tabs, or by
two coordinators, made two plans of one case, both proposed and both on the meeting's agenda, where both could be
approved: two role divisions for one case, D11). A new draft is refused (409) naming the open plan and where it is in
staff's words, until the meeting has ended it (終結) or returned the case to intake; a suspended plan (中断) is not ended:
it is resumed by its own act, or the meeting ends it first. Revising the plan is not a new plan. In memory
(collaboration; outreach and participation draft through the same PlanOwner)."""

from __future__ import annotations

from uuid import UUID, uuid4

import pytest
from support.municipality import ELDERLY

from services.collaboration.application import CollaborationApplication
from shared.domain.plan import OpenPlanExists
from shared.domain.plan_owner import PlanOwner
from unit.builders import COORDINATOR, ROLES, Upstream, in_memory

EVALUATION = {"course": "訪問12回", "outcome": "目標達成", "goals": []}


@pytest.fixture
def collaboration() -> CollaborationApplication:
    return in_memory(CollaborationApplication)


def escalated(app: CollaborationApplication, intake: Upstream, case_id: UUID | None = None) -> UUID:
    case_id = case_id or uuid4()
    app.receive(*intake.emit("CaseEscalated", {"reason": "複合的な課題", "concerns": ["高齢・介護"],
                                               "primary_agency": ELDERLY.ja}, case_id))
    return case_id


def a_plan(app: CollaborationApplication, case_id: UUID) -> UUID:
    return app.draft_plan(COORDINATOR, case_id, "世帯の孤立を防ぐ", ["月1回の訪問"], ROLES)


def decided(app: CollaborationApplication, meeting: Upstream, case_id: UUID, plan_id: UUID, decision: str) -> None:
    app.receive(*meeting.emit("MeetingDecided", {
        "meeting_id": str(uuid4()), "meeting_type": "jusou_shien_kaigi", "plan_id": str(plan_id), "decision": decision,
        "reasons": "合議", "program": "collaboration", "revision": 1, "attendees": [ELDERLY.ja]}, case_id))


def closed_by_the_meeting(app: PlanOwner, case_id: UUID, plan_id: UUID, meeting: Upstream) -> None:
    """The plan proposed, approved, asked to close and closed (終結, D7), as the meeting's events bring it (`meeting`:
    the app's one meeting upstream, its positions going on): ended, so that the case may take another plan (tests about
    several plans of one case)."""
    app.propose_plan(COORDINATOR, plan_id)
    app.receive(*meeting.emit("MeetingDecided", {
        "meeting_id": str(uuid4()), "meeting_type": "jusou_shien_kaigi", "plan_id": str(plan_id), "decision": "approved",
        "reasons": "合議", "program": app.program, "revision": app.plan_view(plan_id)["revision"],
        "attendees": [ELDERLY.ja]}, case_id))
    app.request_plan_closure(COORDINATOR, plan_id, "目標を達成")
    app.receive(*meeting.emit("PlanClosed", {"plan_id": str(plan_id), "meeting_id": str(uuid4()),
                                             "evaluation": EVALUATION, "program": app.program}, case_id))
    assert app.plan_view(plan_id)["status"] == "closed"


def test_d4_a_second_plan_of_a_case_with_a_draft_is_refused_naming_the_draft(
        collaboration: CollaborationApplication) -> None:
    case_id = escalated(collaboration, Upstream("intake"))
    first = a_plan(collaboration, case_id)

    with pytest.raises(OpenPlanExists) as refused:
        a_plan(collaboration, case_id)

    assert refused.value.status == 409 and refused.value.plan_id == str(first)
    assert "下書き" in str(refused.value) and str(first) in str(refused.value)
    assert [p["plan_id"] for p in collaboration.plans(case_id)] == [str(first)]  # nothing recorded


@pytest.mark.parametrize(("after", "status_ja"), [("proposed", "会議に提出中"), ("approved", "承認"),
                                                  ("suspended", "中断")])
def test_d4_a_plan_proposed_in_force_or_suspended_is_not_ended(
        collaboration: CollaborationApplication, after: str, status_ja: str) -> None:
    meeting = Upstream("meeting")
    case_id = escalated(collaboration, Upstream("intake"))
    plan_id = a_plan(collaboration, case_id)
    collaboration.propose_plan(COORDINATOR, plan_id)
    if after != "proposed":
        decided(collaboration, meeting, case_id, plan_id, "approved")
    if after == "suspended":
        collaboration.request_plan_closure(COORDINATOR, plan_id, "入院")
        collaboration.receive(*meeting.emit("PlanSuspended", {
            "plan_id": str(plan_id), "meeting_id": str(uuid4()), "evaluation": EVALUATION, "reason": "入院",
            "program": "collaboration"}, case_id))
    assert collaboration.plan_view(plan_id)["status"] == after

    with pytest.raises(OpenPlanExists, match=status_ja):
        a_plan(collaboration, case_id)


def test_d4_once_the_meeting_closed_the_plan_a_new_one_is_drafted(collaboration: CollaborationApplication) -> None:
    case_id = escalated(collaboration, Upstream("intake"))
    plan_id = a_plan(collaboration, case_id)
    closed_by_the_meeting(collaboration, case_id, plan_id, Upstream("meeting"))

    assert a_plan(collaboration, case_id) != plan_id


def test_d4_a_plan_whose_case_the_meeting_returned_has_ended(collaboration: CollaborationApplication) -> None:
    intake, meeting = Upstream("intake"), Upstream("meeting")
    case_id = escalated(collaboration, intake)
    plan_id = a_plan(collaboration, case_id)
    collaboration.propose_plan(COORDINATOR, plan_id)
    decided(collaboration, meeting, case_id, plan_id, "returned_to_intake")
    escalated(collaboration, intake, case_id)  # the counter escalates the case again later

    assert a_plan(collaboration, case_id) != plan_id


def test_d4_another_cases_plan_is_no_obstacle(collaboration: CollaborationApplication) -> None:
    intake = Upstream("intake")
    a_plan(collaboration, escalated(collaboration, intake))
    a_plan(collaboration, escalated(collaboration, intake))
