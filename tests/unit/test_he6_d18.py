"""D18: what is due on a case is listed for its 担当者: at intake, the 見直し予定日 of the plan the case follows, the plan
of 多機関協働 it was escalated under. Outreach's (or participation's) own plan for the same case (D6: connected by the
meeting) has its own review date, due where that plan is kept; it took the place of collaboration's date at intake, so
the counter's 自分の担当 showed outreach's date and never collaboration's review when it came due.

intake, collaboration, meeting and outreach in memory, the bus between them (tests/unit/he6_suite.py)."""

from __future__ import annotations

from datetime import date

from support.municipality import ELDERLY, concern

from unit.builders import COORDINATOR, COUNTER_STAFF, PERSON, ROLES
from unit.he6_suite import GOAL, OUTREACH_STAFF, Suite

COLLABORATION_REVIEW = date(2027, 1, 15)
OUTREACH_REVIEW = date(2027, 6, 30)


def test_d18_the_counter_sees_the_review_date_of_the_plan_the_case_was_escalated_under() -> None:
    suite = Suite()
    intake = suite.intake
    case_id = intake.receive_consultation(COUNTER_STAFF, ELDERLY.code, ELDERLY.division, "窓口",
                                          [concern("elderly-care"), concern("hikikomori")], dict(PERSON), None, True)
    intake.record_consent(COUNTER_STAFF, case_id, "重層的支援会議での情報共有", True, "書面", ["jusou_shien_kaigi"])
    intake.escalate_case(COUNTER_STAFF, case_id, "介護とひきこもり", ELDERLY.ja)
    suite.pump()
    plan_id = suite.collaboration.draft_plan(COORDINATOR, case_id, "方向性", [GOAL], ROLES,
                                             starts_on=date(2026, 12, 10), review_on=COLLABORATION_REVIEW)
    suite.collaboration.propose_plan(COORDINATOR, plan_id)
    suite.pump()
    suite.approve(plan_id, connect_to=["outreach"])
    assert intake.case_view(case_id)["review_on"] == COLLABORATION_REVIEW.isoformat()

    outreach_plan = suite.outreach.draft_plan(OUTREACH_STAFF, case_id, "訪問を続ける", [GOAL], ROLES,
                                              starts_on=date(2026, 12, 20), review_on=OUTREACH_REVIEW)
    suite.outreach.propose_plan(OUTREACH_STAFF, outreach_plan)
    suite.pump()
    suite.approve(outreach_plan)
    suite.ask_closure(suite.outreach, outreach_plan)
    suite.evaluate(outreach_plan, "continued", date(2027, 9, 30))

    assert intake.case_view(case_id)["review_on"] == COLLABORATION_REVIEW.isoformat()  # not outreach's
    due = [item for item in intake.casework_due(case_id, [], date(2027, 1, 10)) if "見直し" in item.what]
    assert [item.due for item in due] == [COLLABORATION_REVIEW]  # listed a week ahead, on the counter's list
