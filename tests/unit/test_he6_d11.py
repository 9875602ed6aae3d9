"""D11 D12: every case has exactly one primary agency, the same in every program and on the bus.

A case the meeting returned to intake (the counter primary again), then handed by outreach to collaboration (D12:
outreach hands the person on to intake, collaboration or participation) with a primary agency: collaboration reopens
it with that primary, and the bus says so (shared/domain/primary.py); intake kept the case 「相談窓口へ戻し」 with the
counter's primary and let the counter record 対応終了 while collaboration held it open. Intake now holds it under
collaboration (as escalated) with the primary named, until its plan ends.

intake, collaboration, meeting and outreach in memory, the bus between them (tests/unit/he6_suite.py)."""

from __future__ import annotations

from uuid import UUID

import pytest
from support.municipality import ELDERLY, HARDSHIP, concern

from services.intake.domain import CaseStillUnderPlan
from unit.builders import COORDINATOR, COUNTER_STAFF, PERSON, ROLES, SECRETARIAT
from unit.he6_suite import GOAL, OUTREACH_STAFF, Suite


def returned_with_outreach(suite: Suite) -> UUID:
    """Escalated, collaboration's plan returned to intake by the meeting, outreach connected by that decision."""
    intake = suite.intake
    case_id = intake.receive_consultation(COUNTER_STAFF, ELDERLY.code, ELDERLY.division, "窓口",
                                          [concern("elderly-care"), concern("hikikomori")], dict(PERSON), None, True)
    intake.record_consent(COUNTER_STAFF, case_id, "重層的支援会議での情報共有", True, "書面", ["jusou_shien_kaigi"])
    intake.escalate_case(COUNTER_STAFF, case_id, "介護とひきこもり", ELDERLY.ja)
    suite.pump()
    plan_id = suite.collaboration.draft_plan(COORDINATOR, case_id, "方向性", [GOAL], ROLES)
    suite.collaboration.propose_plan(COORDINATOR, plan_id)
    suite.pump()
    suite.meeting.decide(SECRETARIAT, suite.meeting_id, plan_id, "returned_to_intake", "窓口で伴走", [], ["outreach"],
                         ELDERLY.ja, all_agree=True)
    suite.pump()
    assert intake.case_view(case_id)["status"] == "returned"
    assert suite.outreach.has_engagement(case_id)
    return case_id


def test_d11_a_returned_case_outreach_hands_to_collaboration_has_one_primary_everywhere() -> None:
    suite = Suite()
    case_id = returned_with_outreach(suite)

    suite.outreach.hand_over(OUTREACH_STAFF, case_id, "collaboration", "本人が家計の相談を望む", HARDSHIP.ja)
    suite.pump()

    collaboration = suite.collaboration.case_view(case_id)
    intake = suite.intake.case_view(case_id)
    assert (collaboration["status"], collaboration["primary_agency"]) == ("open", HARDSHIP.ja)
    assert (intake["status"], intake["primary"]) == ("escalated", HARDSHIP.ja)  # was returned, 地域包括


def test_d3_d7_the_counter_does_not_close_a_case_collaboration_holds_again_until_its_plan_ends() -> None:
    suite = Suite()
    case_id = returned_with_outreach(suite)
    suite.outreach.hand_over(OUTREACH_STAFF, case_id, "collaboration", "本人が家計の相談を望む", HARDSHIP.ja)
    suite.pump()

    with pytest.raises(CaseStillUnderPlan):
        suite.intake.close_case(COUNTER_STAFF, case_id, "resolved", "")

    plan_id = suite.collaboration.draft_plan(COORDINATOR, case_id, "家計から", [GOAL], ROLES)
    suite.collaboration.propose_plan(COORDINATOR, plan_id)
    suite.pump()
    suite.approve(plan_id)
    suite.end(suite.collaboration, plan_id, "closed")
    assert suite.intake.case_view(case_id)["status"] == "plan_closed"
    suite.intake.close_case(COUNTER_STAFF, case_id, "resolved", "")
    assert suite.intake.case_view(case_id)["status"] == "closed"


def test_d11_a_hand_over_of_a_case_collaboration_holds_open_changes_nothing_at_intake() -> None:
    suite = Suite()
    intake = suite.intake
    case_id = intake.receive_consultation(COUNTER_STAFF, ELDERLY.code, ELDERLY.division, "窓口",
                                          [concern("elderly-care")], dict(PERSON), None, True)
    intake.record_consent(COUNTER_STAFF, case_id, "重層的支援会議での情報共有", True, "書面", ["jusou_shien_kaigi"])
    intake.escalate_case(COUNTER_STAFF, case_id, "複合", ELDERLY.ja)
    suite.pump()
    plan_id = suite.collaboration.draft_plan(COORDINATOR, case_id, "方向性", [GOAL], ROLES)
    suite.collaboration.propose_plan(COORDINATOR, plan_id)
    suite.pump()
    suite.approve(plan_id, connect_to=["outreach"])
    before = len(list(intake.events_of(case_id)))

    suite.outreach.hand_over(OUTREACH_STAFF, case_id, "collaboration", "乗っ取り", HARDSHIP.ja)
    suite.pump()

    assert intake.case_view(case_id)["primary"] == ELDERLY.ja  # test_review_hb_handed_over: nor at collaboration
    assert len(list(intake.events_of(case_id))) == before
