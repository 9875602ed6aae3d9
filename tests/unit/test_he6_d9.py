"""D9 D16: a household's cases escalated together go to ONE plan, which covers every member with goals per member; the
重層的支援会議 discusses each of those cases, so it needs each person's consent (本人同意), not only the lead case's.
Intake itself lists a consent awaited on every case held in a household's plan (「本人同意の確認待ち（重層的支援会議の前に）」,
due_at_intake); the meeting must refuse to decide or evaluate the plan until each case held with it has a consent that
covers the 重層的支援会議 (a 支援会議 needs none, D10).

intake, collaboration and the meeting in memory, the bus between them (tests/unit/he6_suite.py)."""

from __future__ import annotations

from datetime import date
from uuid import UUID

import pytest
from support.municipality import ELDERLY, concern

from services.meeting.domain import ConsentMissing
from unit.builders import COORDINATOR, ROLES, SECRETARIAT
from unit.he6_suite import GOAL, Suite

MOTHER = {"name": "布田 花子", "kana": "ふだ はなこ", "birth_date": "1940-02-29", "address": "調布市布田1-1-1",
          "phone": "042-481-7001"}
SON = {"name": "布田 一男", "kana": "ふだ かずお", "birth_date": "1972-12-31", "address": "調布市布田1-1-1",
       "phone": "042-481-7002"}
STAFF = {"staff_id": "s1", "division": ELDERLY.division}
SON_GOAL = "週1回、居場所に通う"
MEETING_CONSENT = ("重層的支援会議での情報共有", "書面", ["jusou_shien_kaigi"])


def household_plan(suite: Suite, son_consents: bool) -> tuple[UUID, UUID, UUID]:
    """8050: the mother's case and the son's at the elderly counter, one household, escalated together; the mother
    consented to sharing at the 重層的支援会議, the son as `son_consents`. Collaboration's plan for the household
    (goals for 本人 and for 長男) is proposed: (mother's case, son's case, plan)."""
    intake = suite.intake
    mother_case = intake.receive_consultation(STAFF, ELDERLY.code, ELDERLY.division, "来所", [concern("elderly-care")],
                                              dict(MOTHER), None, True)
    son_case = intake.receive_consultation(STAFF, ELDERLY.code, ELDERLY.division, "来所", [concern("hikikomori")],
                                           dict(SON), None, True)
    household = intake.form_household(STAFF, mother_case)
    intake.add_member(STAFF, household, "child", person_ref=intake.case_view(son_case)["person_ref"])
    scope, method, covers = MEETING_CONSENT
    intake.record_consent(STAFF, mother_case, scope, True, method, covers)
    if son_consents:
        intake.record_consent(STAFF, son_case, scope, True, method, covers)
    intake.escalate_household(STAFF, household, [mother_case, son_case], "8050: 介護とひきこもり", ELDERLY.ja)
    suite.pump()
    plan_id = suite.collaboration.draft_plan(COORDINATOR, mother_case, "世帯で支える", [GOAL], ROLES,
                                             members=[{"label": "長男", "goals": [SON_GOAL]}])
    suite.collaboration.propose_plan(COORDINATOR, plan_id)
    suite.pump()
    return mother_case, son_case, plan_id


def test_d9_a_household_plan_is_not_decided_at_the_jusou_meeting_without_each_members_consent() -> None:
    suite = Suite()
    _, son_case, plan_id = household_plan(suite, son_consents=False)

    with pytest.raises(ConsentMissing) as refused:
        suite.approve(plan_id)

    assert str(son_case)[:8] in str(refused.value), str(refused.value)  # which case lacks it
    assert suite.meeting.listed(plan_id).status == "proposed"  # nothing decided

    scope, method, covers = MEETING_CONSENT
    suite.intake.record_consent(STAFF, son_case, scope, True, method, covers)
    suite.pump()
    suite.approve(plan_id)
    assert suite.collaboration.plan_view(plan_id)["status"] == "approved"


def test_d9_a_household_plan_whose_members_all_consented_is_decided() -> None:
    suite = Suite()
    _, _, plan_id = household_plan(suite, son_consents=True)

    suite.approve(plan_id)

    assert suite.collaboration.plan_view(plan_id)["status"] == "approved"


def test_d9_a_members_consent_withdrawn_after_approval_stops_the_evaluation_at_the_jusou_meeting() -> None:
    suite = Suite()
    _, son_case, plan_id = household_plan(suite, son_consents=True)
    suite.approve(plan_id)
    scope, method, _ = MEETING_CONSENT
    suite.intake.record_consent(STAFF, son_case, scope, False, method, [])
    suite.ask_closure(suite.collaboration, plan_id)

    with pytest.raises(ConsentMissing):
        suite.meeting.evaluate(SECRETARIAT, suite.meeting_id, plan_id, "closed", "経過", "成果", "", None,
                               [{"goal": GOAL, "result": "achieved"}, {"goal": SON_GOAL, "result": "achieved"}])


def test_d9_a_store_caught_up_from_the_stream_knows_the_household_escalated_with_a_case() -> None:
    """A meeting store made before it kept which programs hold which cases reads the escalations once from the stream
    (services/meeting/held_cases.py): a household's escalation read so keeps its other cases as the consumer's does."""
    from uuid import uuid4

    from services.meeting.application import MeetingApplication
    from unit.builders import ATTENDEES, Upstream, consent_recorded, envelope_for, in_memory, plan_proposed

    meeting = in_memory(MeetingApplication)
    lead, other, plan_id = uuid4(), uuid4(), uuid4()
    escalation, _ = envelope_for("intake", 1, "CaseEscalated", {
        "reason": "8050", "concerns": ["介護"], "primary_agency": ELDERLY.ja, "household_ref": str(uuid4()),
        "related_case_ids": [str(other)]}, lead)
    assert meeting.catch_up_held_cases([escalation], None) == 1
    intake = Upstream("intake")
    intake.position = 1
    assert meeting.receive(*intake.emit("ConsentRecorded", consent_recorded(True), lead))
    assert meeting.receive(*Upstream("collaboration").emit("PlanProposed", plan_proposed(plan_id), lead))
    sitting = meeting.convene(SECRETARIAT, "jusou_shien_kaigi", date(2026, 12, 3), ATTENDEES)

    with pytest.raises(ConsentMissing) as refused:
        meeting.decide(SECRETARIAT, sitting, plan_id, "approved", "合議", [], [], None, all_agree=True)
    assert str(other)[:8] in str(refused.value)


def test_d9_d10_a_division_that_sat_where_the_household_plan_was_decided_reads_each_consenting_member() -> None:
    """The 重層的支援会議 took the household's plan up (its lead case); the son's case, held in that plan, was discussed
    there with his consent: a member division reads him on the consent basis (consent + a 重層的支援会議 that took his case
    up), as it reads the lead case's person. Before, intake noted the sitting on the lead case alone: 403 for the son."""
    from support.municipality import LEAD

    suite = Suite()
    mother_case, son_case, plan_id = household_plan(suite, son_consents=True)
    suite.approve(plan_id)

    coordinator = {"staff_id": "c1", "division": LEAD}
    for case_id, person in ((mother_case, MOTHER), (son_case, SON)):
        shown = suite.intake.disclose_person(coordinator, case_id, "consent", None)
        assert shown["name"] == person["name"]
