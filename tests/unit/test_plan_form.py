"""The plan form as staff fill it in (D4 D16) and 伴走支援 after the goals are met (D11 「本人に寄り添い、伴走する」)."""

from __future__ import annotations

from datetime import date
from uuid import uuid4

import pytest
from support.held import escalate
from support.municipality import ELDERLY

from services.collaboration.application import CollaborationApplication
from services.collaboration.translate import translate
from services.meeting.application import MeetingApplication
from shared.domain.plan import NotAccompanying, Plan, PlanNotEditable, PlanPeriodInvalid
from shared.kernel.journey import DomainError, Invalid, acting
from unit.builders import COORDINATOR, deliver, in_memory, only, published

ROLES = [{"agency": ELDERLY.ja, "responsibility": "母の介護サービス調整"}]
MOTHER = {"label": "母", "goals": ["介護サービスを週2回使う"]}


def plan(**form: object) -> Plan:
    with acting(COORDINATOR):
        return Plan.draft(uuid4(), "collaboration", "世帯の孤立を防ぐ", ["週1回外出する"], ROLES, **form)  # type: ignore[arg-type]


def in_force() -> Plan:
    p = plan(members=[MOTHER])
    with acting(COORDINATOR):
        p.propose()
        p.record_decision(uuid4(), "jusou_shien_kaigi", "approved", "合議", 1)
    return p


def test_d16_a_plan_covers_honnin_first_and_each_household_member_with_their_goals() -> None:
    p = plan(intention="家で母と暮らし続けたい", starts_on=date(2026, 4, 1), review_on=date(2026, 10, 1), members=[MOTHER])

    view = p.view()
    assert view["persons"] == [{"label": "本人", "goals": ["週1回外出する"]}, MOTHER]
    assert (view["intention"], view["starts_on"], view["review_on"]) == ("家で母と暮らし続けたい", "2026-04-01", "2026-10-01")


def test_d16_each_person_the_plan_covers_has_a_goal() -> None:
    with pytest.raises(Invalid, match="母"):
        plan(members=[{"label": "母", "goals": []}])


def test_d16_a_member_is_not_honnin_and_not_listed_twice() -> None:
    with pytest.raises(Invalid):
        plan(members=[{"label": "本人", "goals": ["x"]}])
    with pytest.raises(Invalid):
        plan(members=[MOTHER, MOTHER])


def test_d4_the_review_date_comes_after_the_start() -> None:
    with pytest.raises(PlanPeriodInvalid):
        plan(starts_on=date(2026, 4, 1), review_on=date(2026, 4, 1))


def test_d4_proposed_plan_carries_its_period_and_every_goal_but_not_the_intention_or_the_persons() -> None:
    app = in_memory(CollaborationApplication)
    p = plan(intention="家で母と暮らし続けたい", starts_on=date(2026, 4, 1), review_on=date(2026, 10, 1), members=[MOTHER])
    with acting(COORDINATOR):
        p.propose()
    app.save(p)

    payload = only(published(app, translate, "PlanProposed")).payload
    assert (payload["starts_on"], payload["review_on"]) == ("2026-04-01", "2026-10-01")
    assert payload["goals"] == ["週1回外出する", "介護サービスを週2回使う"]  # the meeting evaluates each goal
    assert "家で母と暮らし続けたい" not in str(payload) and "母" not in str(payload["goals"][0])
    assert "members" not in payload and "intention" not in payload


def test_d4_a_plan_without_a_period_proposes_as_before() -> None:
    app = in_memory(CollaborationApplication)
    p = plan()
    with acting(COORDINATOR):
        p.propose()
    app.save(p)

    assert "starts_on" not in only(published(app, translate, "PlanProposed")).payload


def test_accompaniment_begins_only_when_every_goal_is_met() -> None:
    p = in_force()

    with pytest.raises(Invalid, match="介護サービスを週2回使う"), acting(COORDINATOR):
        p.accompany(date(2026, 10, 1), ["週1回外出する"])

    with acting(COORDINATOR):
        p.accompany(date(2026, 10, 1), ["週1回外出する", "介護サービスを週2回使う"])
    assert (p.status, p.view()["accompanying_since"]) == ("accompanying", "2026-10-01")


def test_accompaniment_is_not_for_a_plan_that_is_not_in_force() -> None:
    with pytest.raises(PlanNotEditable), acting(COORDINATOR):
        plan().accompany(date(2026, 10, 1), ["週1回外出する"])


def test_accompaniment_records_check_ins_with_their_dates_in_order() -> None:
    p = in_force()
    with acting(COORDINATOR):
        p.accompany(date(2026, 10, 1), ["週1回外出する", "介護サービスを週2回使う"])
        p.check_in(date(2026, 12, 1), "訪問", "母と落ち着いて暮らしている")
        p.check_in(date(2026, 11, 1), "電話", "変わりなし")

    assert [(c["on"], c["how"]) for c in p.view()["check_ins"]] == [("2026-11-01", "電話"), ("2026-12-01", "訪問")]


def test_a_check_in_is_recorded_only_in_accompaniment_and_not_before_it_began() -> None:
    p = in_force()
    with pytest.raises(NotAccompanying), acting(COORDINATOR):
        p.check_in(date(2026, 11, 1), "電話", "")
    with acting(COORDINATOR):
        p.accompany(date(2026, 10, 1), ["週1回外出する", "介護サービスを週2回使う"])
    with pytest.raises(NotAccompanying), acting(COORDINATOR):
        p.check_in(date(2026, 9, 30), "電話", "")


def test_accompaniment_is_distinct_from_closure_and_ends_in_closure_or_a_new_plan() -> None:
    ending, renewing = in_force(), in_force()
    with acting(COORDINATOR):
        for p in (ending, renewing):
            p.accompany(date(2026, 10, 1), ["週1回外出する", "介護サービスを週2回使う"])
        assert ending.status != "closed"
        ending.request_closure("伴走支援で安定、終結を依頼")  # 終結: the meeting evaluates it
        renewing.revise("母の入院に備える", ["入院中も本人が食事をとれる"], ROLES)  # a new plan: a new revision
        renewing.propose()
    assert (ending.status, renewing.status, renewing.revision) == ("closure_requested", "proposed", 2)


def test_a_plan_in_force_is_not_edited_until_it_leaves_force() -> None:
    p = in_force()
    with pytest.raises(DomainError), acting(COORDINATOR):
        p.revise("方向性", ["目標"], ROLES)


def test_d4_the_meeting_lists_a_proposed_plan_with_its_period() -> None:
    owner, meeting = in_memory(CollaborationApplication), in_memory(MeetingApplication)
    p = plan(intention="家で母と暮らし続けたい", starts_on=date(2026, 4, 1), review_on=date(2026, 10, 1))
    with acting(COORDINATOR):
        p.propose()
    owner.save(p)
    escalate(meeting, p.case_id)  # (D4: the meeting lists a collaboration plan for an escalated case)

    assert deliver(only(published(owner, translate, "PlanProposed")), meeting)

    listed = meeting.review(p.id).view()
    assert (listed["starts_on"], listed["review_on"]) == ("2026-04-01", "2026-10-01")
    assert "intention" not in listed
