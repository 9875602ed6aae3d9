"""D6 D7 D11: a case intake escalated is under collaboration's plan; the meeting may also connect it to outreach
(D5), whose own plan for the same case goes to the meeting the same way (D6) and ends at the meeting (D7). Only the
plan the case was escalated under (collaboration's) says the case is 終結 or 中断 at intake: outreach's plan ending
while collaboration's is still in force leaves the case under its plan (支援中), not closable at the counter.

Four services in memory (intake, collaboration, meeting, outreach), a bus delivering what each publishes to whoever
subscribes (tests/unit/test_d11_primary.py's pump), every step a command of the services' own."""

from __future__ import annotations

from datetime import date
from uuid import UUID

import pytest
from support.municipality import ELDERLY, concern

from services.intake.domain import CaseStillUnderPlan
from shared.kernel.journey import DomainError, Invalid
from unit.builders import COORDINATOR, COUNTER_STAFF, PERSON, ROLES
from unit.he6_suite import GOAL, OUTREACH_STAFF, Suite


def escalated_with_outreach_plan(suite: Suite) -> tuple[UUID, UUID, UUID]:
    """A case escalated at the counter, collaboration's plan approved with outreach connected, and outreach's own plan
    for the case approved too: (case, collaboration's plan, outreach's plan)."""
    intake = suite.intake
    case_id = intake.receive_consultation(
        COUNTER_STAFF,
        ELDERLY.code,
        ELDERLY.division,
        "窓口",
        [concern("elderly-care"), concern("hikikomori")],
        dict(PERSON),
        None,
        confirm_new_person=True,
    )
    intake.record_consent(COUNTER_STAFF, case_id, "重層的支援会議での情報共有", True, "書面", ["jusou_shien_kaigi"])
    intake.escalate_case(COUNTER_STAFF, case_id, "介護とひきこもりが重なる", ELDERLY.ja)
    suite.pump()
    collaboration_plan = suite.collaboration.draft_plan(COORDINATOR, case_id, "方向性", [GOAL], ROLES)
    suite.collaboration.propose_plan(COORDINATOR, collaboration_plan)
    suite.pump()
    suite.approve(collaboration_plan, connect_to=["outreach"])
    assert suite.outreach.has_engagement(case_id)
    outreach_plan = suite.outreach.draft_plan(OUTREACH_STAFF, case_id, "訪問を続ける", [GOAL], ROLES)
    suite.outreach.propose_plan(OUTREACH_STAFF, outreach_plan)
    suite.pump()
    suite.approve(outreach_plan)
    assert suite.intake.case_view(case_id)["status"] == "escalated"
    return case_id, collaboration_plan, outreach_plan


@pytest.mark.parametrize("outcome", ["closed", "suspended"])
def test_d7_outreachs_plan_ending_leaves_the_escalated_case_under_collaborations_plan(outcome: str) -> None:
    suite = Suite()
    case_id, collaboration_plan, outreach_plan = escalated_with_outreach_plan(suite)

    suite.end(suite.outreach, outreach_plan, outcome)

    assert suite.outreach.plan_view(outreach_plan)["status"] == outcome
    assert suite.collaboration.plan_view(collaboration_plan)["status"] == "approved"  # still in force
    assert suite.intake.case_view(case_id)["status"] == "escalated"  # not 終結 / 中断 at the counter
    with pytest.raises(CaseStillUnderPlan):
        suite.intake.close_case(COUNTER_STAFF, case_id, "resolved", "")


def test_d7_collaborations_plan_ending_still_ends_the_escalated_case() -> None:
    suite = Suite()
    case_id, collaboration_plan, _ = escalated_with_outreach_plan(suite)

    suite.end(suite.collaboration, collaboration_plan, "closed")

    assert suite.intake.case_view(case_id)["status"] == "plan_closed"
    suite.intake.close_case(COUNTER_STAFF, case_id, "resolved", "")
    assert suite.intake.case_view(case_id)["status"] == "closed"


@pytest.mark.parametrize("next_review_on", [date(2027, 3, 31), date(2027, 3, 30), date(2026, 4, 1)])
def test_d7_a_plan_continued_at_a_sitting_is_reviewed_after_that_sitting_not_on_or_before_it(next_review_on: date) -> None:
    """D7: 「継続」 continues the plan with a NEW review date: one on or before the sitting that set it is already due
    the day it is recorded (自分の担当 lists it overdue, the plan's page shows a review that has passed)."""
    suite = Suite()
    _, collaboration_plan, _ = escalated_with_outreach_plan(suite)
    suite.ask_closure(suite.collaboration, collaboration_plan)

    with pytest.raises(Invalid) as refused:
        suite.evaluate(collaboration_plan, "continued", next_review_on)

    said = str(refused.value)
    assert "次回の見直し日" in said and "令和9年3月31日" in said and " / " in said, (
        said
    )  # the sitting's day, as staff read it
    assert suite.meeting.listed(collaboration_plan).status == "closure_requested"  # nothing recorded
    assert suite.collaboration.plan_view(collaboration_plan)["status"] == "closure_requested"


def test_d7_a_plan_continued_to_the_day_after_the_sitting_across_the_fiscal_year_is_continued() -> None:
    suite = Suite()
    case_id, collaboration_plan, _ = escalated_with_outreach_plan(suite)
    suite.ask_closure(suite.collaboration, collaboration_plan)

    suite.evaluate(collaboration_plan, "continued", date(2027, 4, 1))

    plan = suite.collaboration.plan_view(collaboration_plan)
    assert (plan["status"], plan["next_review_on"]) == ("continued", "2027-04-01")
    assert suite.intake.case_view(case_id)["review_on"] == "2027-04-01"


def test_d7_a_suspended_plan_brought_to_closure_is_ended_or_left_suspended_not_continued_around_its_resumption() -> None:
    """D7: a suspended plan (中断) comes back in force by its own act, its resumption (再開, at the 重層的支援会議 once the
    person's consent was given again: D9). Its owner may ask for its closure (to end it in 終結); the meeting then ends it
    or leaves it suspended. 「継続」 there put the plan back in force without a resumption: the plan and the meeting said
    継続, while intake, which follows PlanResumed, kept showing the case 中断 and let the counter record 対応終了."""
    suite = Suite()
    case_id, collaboration_plan, _ = escalated_with_outreach_plan(suite)
    suite.end(suite.collaboration, collaboration_plan, "suspended")
    assert suite.intake.case_view(case_id)["status"] == "plan_suspended"
    suite.ask_closure(suite.collaboration, collaboration_plan)

    with pytest.raises(DomainError) as refused:
        suite.evaluate(collaboration_plan, "continued", date(2027, 6, 1))

    said = str(refused.value)
    assert "再開" in said and " / " in said, said
    assert suite.collaboration.plan_view(collaboration_plan)["status"] == "closure_requested"  # nothing recorded
    suite.evaluate(collaboration_plan, "closed")  # 終結 as asked
    assert suite.intake.case_view(case_id)["status"] == "plan_closed"


def test_d7_a_suspended_plan_revised_and_approved_again_puts_the_case_back_under_its_plan_at_intake() -> None:
    """D7: a suspended plan may be revised and proposed again (plan.py EDITABLE); approved, it is in force: the case at
    intake is under its plan again (支援中), not 「中断」, and 対応終了 waits for it. Before, intake followed PlanResumed
    only: the case stayed 「中断」 and the counter could close it under the plan approved again."""
    suite = Suite()
    case_id, collaboration_plan, _ = escalated_with_outreach_plan(suite)
    suite.end(suite.collaboration, collaboration_plan, "suspended")
    suite.collaboration.revise_plan(COORDINATOR, collaboration_plan, "入院後の方向性", [GOAL], ROLES)
    suite.collaboration.propose_plan(COORDINATOR, collaboration_plan)
    suite.pump()

    suite.approve(collaboration_plan)

    assert suite.collaboration.plan_view(collaboration_plan)["status"] == "approved"
    assert suite.intake.case_view(case_id)["status"] == "escalated"
    with pytest.raises(CaseStillUnderPlan):
        suite.intake.close_case(COUNTER_STAFF, case_id, "resolved", "")


def test_d7_a_new_plan_approved_after_the_last_one_ended_puts_the_case_back_under_a_plan_at_intake() -> None:
    suite = Suite()
    case_id, collaboration_plan, _ = escalated_with_outreach_plan(suite)
    suite.end(suite.collaboration, collaboration_plan, "closed")
    assert suite.intake.case_view(case_id)["status"] == "plan_closed"
    new_plan = suite.collaboration.draft_plan(COORDINATOR, case_id, "次の段階", [GOAL], ROLES)
    suite.collaboration.propose_plan(COORDINATOR, new_plan)
    suite.pump()

    suite.approve(new_plan)

    assert suite.intake.case_view(case_id)["status"] == "escalated"
    with pytest.raises(CaseStillUnderPlan):
        suite.intake.close_case(COUNTER_STAFF, case_id, "resolved", "")
