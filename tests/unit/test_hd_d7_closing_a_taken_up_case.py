"""D7 D11 D12: a counter that takes up outreach's referral of a case intake escalated (Case.take_up_referral) handles the
case as its own again, but the plan of 多機関協働 the case was escalated under is still in force: only the meeting ends a
plan (終結, D7). Before (HD's review as staff), the counter could record 対応終了 at once, and collaboration kept the case
対応中 with its plan 承認 (and the meeting its agenda item) with no one told: the case closed at intake, its plan in force
elsewhere. Now 対応終了 is refused (409) while that plan is in force, saying what to do; once the meeting closes or
suspends the plan, or returns the case to intake, the counter closes it. A case taken up that was not under a plan
(returned, closed) closes at once, as before. In memory (intake's application, its upstream events as the bus gives
them)."""

from __future__ import annotations

from uuid import UUID, uuid4

import pytest
from support.municipality import ELDERLY, HARDSHIP, concern

from services.intake.application import IntakeApplication
from services.intake.domain import CaseStillUnderPlan
from unit.builders import COUNTER_STAFF, PERSON, Upstream, in_memory

FIRST = {**COUNTER_STAFF, "division": ELDERLY.division}
THERE = {"staff_id": "s9", "division": HARDSHIP.division}
EVALUATION = {"course": "訪問12回", "outcome": "目標達成", "goals": []}


@pytest.fixture
def intake() -> IntakeApplication:
    return in_memory(IntakeApplication)


def taken_up(app: IntakeApplication, meeting: Upstream, escalate: bool = True) -> UUID:
    """Received at the elderly counter, escalated (its plan then approved at the meeting, with outreach connected),
    handed by outreach to the 生活困窮 counter, and taken up there."""
    case_id = app.receive_consultation(FIRST, ELDERLY.code, ELDERLY.division, "窓口", [concern("elderly-care")],
                                       dict(PERSON), None, confirm_new_person=True)
    if escalate:
        app.escalate_case(FIRST, case_id, "介護と家計が重なる", ELDERLY.ja)
    else:
        app.receive(*meeting.emit("CaseReturnedToIntake", {"meeting_id": str(uuid4()), "primary_agency": ELDERLY.ja,
                                                           "reason": "窓口で対応"}, case_id))
    app.receive(*Upstream("outreach").emit("OutreachHandedOver", {
        "to_program": "intake", "reason": "家計の相談を希望", "counter": HARDSHIP.code}, case_id))
    app.receive_consultation(THERE, HARDSHIP.code, HARDSHIP.division, "窓口", [concern("poverty")], None, None,
                             referral=case_id)
    assert app.case_view(case_id)["status"] == "open"
    return case_id


def plan_event(kind: str, program: str = "collaboration") -> dict[str, object]:
    body: dict[str, object] = {"plan_id": str(uuid4()), "meeting_id": str(uuid4()), "program": program}
    if kind in ("PlanClosed", "PlanSuspended"):
        body["evaluation"] = EVALUATION
    if kind == "PlanSuspended":
        body["reason"] = "入院"
    if kind == "PlanResumed":
        body.update(meeting_type="jusou_shien_kaigi", reason="退院")
    return body


def test_d7_a_case_taken_up_while_its_plan_is_in_force_is_not_closed_at_the_counter(intake: IntakeApplication) -> None:
    case_id = taken_up(intake, Upstream("meeting"))

    with pytest.raises(CaseStillUnderPlan) as refused:
        intake.close_case(THERE, case_id, "resolved", "就労につながった")

    assert refused.value.status == 409
    said = str(refused.value)
    assert "終結" in said and "多機関協働" in said and " / " in said, said  # what to do, in Japanese and English
    assert intake.case_view(case_id)["status"] == "open"  # nothing recorded


@pytest.mark.parametrize("ended", ["PlanClosed", "PlanSuspended"])
def test_d7_once_the_meeting_ended_or_suspended_the_plan_the_counter_closes_the_case(
        intake: IntakeApplication, ended: str) -> None:
    meeting = Upstream("meeting")
    case_id = taken_up(intake, meeting)
    intake.receive(*meeting.emit(ended, plan_event(ended), case_id))

    assert intake.case_view(case_id)["status"] == "open"  # still the counter's own case, not 終結 or 中断
    intake.close_case(THERE, case_id, "resolved", "就労につながった")
    assert intake.case_view(case_id)["status"] == "closed"


def test_d7_another_programs_plan_ending_does_not_end_the_plan_the_case_was_escalated_under(
        intake: IntakeApplication) -> None:
    meeting = Upstream("meeting")
    case_id = taken_up(intake, meeting)
    intake.receive(*meeting.emit("PlanClosed", plan_event("PlanClosed", program="outreach"), case_id))

    with pytest.raises(CaseStillUnderPlan):
        intake.close_case(THERE, case_id, "resolved", "")


def test_d7_a_plan_suspended_then_resumed_after_the_take_up_is_in_force_again(intake: IntakeApplication) -> None:
    meeting = Upstream("meeting")
    case_id = taken_up(intake, meeting)
    intake.receive(*meeting.emit("PlanSuspended", plan_event("PlanSuspended"), case_id))
    intake.receive(*meeting.emit("PlanResumed", plan_event("PlanResumed"), case_id))

    with pytest.raises(CaseStillUnderPlan):
        intake.close_case(THERE, case_id, "resolved", "")
    assert intake.case_view(case_id)["status"] == "open"


def test_d7_a_case_the_meeting_returned_after_the_take_up_closes_at_the_counter(intake: IntakeApplication) -> None:
    meeting = Upstream("meeting")
    case_id = taken_up(intake, meeting)
    intake.receive(*meeting.emit("CaseReturnedToIntake", {"meeting_id": str(uuid4()), "primary_agency": HARDSHIP.ja,
                                                          "reason": "窓口で対応"}, case_id))

    intake.close_case(THERE, case_id, "resolved", "")
    assert intake.case_view(case_id)["status"] == "closed"


def test_d3_a_case_taken_up_that_was_under_no_plan_closes_at_once(intake: IntakeApplication) -> None:
    case_id = taken_up(intake, Upstream("meeting"), escalate=False)

    intake.close_case(THERE, case_id, "resolved", "")
    assert intake.case_view(case_id)["status"] == "closed"
