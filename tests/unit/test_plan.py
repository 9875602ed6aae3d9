"""プラン: drafting, revising, proposing, decisions and evaluations on the Plan aggregate (D4–D7)."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date
from typing import Any
from uuid import UUID, uuid4

import pytest
from support.municipality import ELDERLY, HARDSHIP

from services.collaboration.application import CollaborationApplication
from shared.domain.plan import Plan, PlanNotEditable, PlanWithoutRoles
from shared.kernel.journey import DomainError, Invalid, NotFound, acting
from unit.builders import COORDINATOR, ROLES, Upstream, in_memory

MEETING = uuid4()
EVALUATION = {"course": "月1回の訪問を継続", "outcome": "本人が居場所に通い始めた"}


@pytest.fixture(autouse=True)
def coordinator_acting() -> Iterator[None]:
    """Domain commands record who acts (D15); here the collaboration coordinator."""
    with acting(COORDINATOR):
        yield


def draft(goals: list[str] | None = None, roles: list[dict[str, Any]] | None = None) -> Plan:
    return Plan.draft(uuid4(), "collaboration", "本人の社会参加を段階的に支える", goals or ["訪問で会える関係"],
                      ROLES if roles is None else roles)


def proposed() -> Plan:
    plan = draft()
    plan.propose()
    return plan


def approved() -> Plan:
    plan = proposed()
    plan.record_decision(MEETING, "jusou_shien_kaigi", "approved", "合意", plan.revision)
    return plan


def closure_requested() -> Plan:
    plan = approved()
    plan.request_closure("半年の支援で目標を達成")
    return plan


def test_d4_plan_without_roles_is_refused() -> None:
    with pytest.raises(PlanWithoutRoles):
        draft(roles=[])


def test_d4_role_without_agency_is_refused() -> None:
    with pytest.raises(PlanWithoutRoles):
        draft(roles=[{"agency": "  ", "responsibility": "家計相談"}])


def test_d4_role_without_responsibility_is_refused() -> None:
    with pytest.raises(PlanWithoutRoles):
        draft(roles=[{"agency": HARDSHIP.ja, "responsibility": ""}])


def test_d4_draft_keeps_each_roles_agency_and_responsibility() -> None:
    plan = draft()

    assert [(r["agency"], r["responsibility"]) for r in plan.roles] == [
        (r["agency"], r["responsibility"]) for r in ROLES]


def test_draft_can_be_revised() -> None:
    plan = draft()

    plan.revise("新しい方向性", ["新しい目標"], ROLES)

    assert (plan.support_direction, plan.goals) == ("新しい方向性", ["新しい目標"])


def test_d4_revision_without_roles_is_refused() -> None:
    plan = draft()

    with pytest.raises(PlanWithoutRoles):
        plan.revise("新しい方向性", ["新しい目標"], [])


def test_d5_proposed_plan_cannot_be_revised() -> None:
    plan = proposed()

    with pytest.raises(PlanNotEditable):
        plan.revise("新しい方向性", ["新しい目標"], ROLES)


def test_d5_approved_plan_cannot_be_revised() -> None:
    plan = approved()

    with pytest.raises(PlanNotEditable):
        plan.revise("新しい方向性", ["新しい目標"], ROLES)


def test_d5_plan_can_be_revised_after_the_meeting_asks_for_revision() -> None:
    plan = proposed()
    plan.record_decision(MEETING, "jusou_shien_kaigi", "revision_requested", "役割を見直す", 1)

    plan.revise("新しい方向性", ["新しい目標"], ROLES)

    assert plan.goals == ["新しい目標"]


def test_d4_first_proposal_is_revision_1() -> None:
    plan = proposed()

    assert (plan.revision, plan.status) == (1, "proposed")


def test_d5_proposed_plan_cannot_be_proposed_again() -> None:
    plan = proposed()

    with pytest.raises(PlanNotEditable):
        plan.propose()


def test_d5_proposal_after_a_revision_request_is_revision_2() -> None:
    plan = proposed()
    plan.record_decision(MEETING, "jusou_shien_kaigi", "revision_requested", "役割を見直す", 1)
    plan.revise("新しい方向性", ["新しい目標"], ROLES)

    plan.propose()

    assert plan.revision == 2


def test_d6_each_proposal_carries_its_own_goals_and_roles() -> None:
    plan = draft(goals=["最初の目標"])
    plan.propose()
    plan.record_decision(MEETING, "jusou_shien_kaigi", "revision_requested", "役割を見直す", 1)
    plan.revise("新しい方向性", ["二つ目の目標"], ROLES[:1])
    plan.propose()

    proposals = [e for e in plan.collect_events() if isinstance(e, Plan.Proposed)]

    assert [(e.revision, e.goals, len(e.roles)) for e in proposals] == [
        (1, ["最初の目標"], 2), (2, ["二つ目の目標"], 1)]


@pytest.mark.parametrize("decision, status", [
    ("approved", "approved"), ("revision_requested", "revision_requested"), ("returned_to_intake", "returned")])
def test_d5_plan_follows_the_meetings_decision(decision: str, status: str) -> None:
    plan = proposed()

    plan.record_decision(MEETING, "jusou_shien_kaigi", decision, "合議の結果", 1)

    assert plan.status == status


def test_d5_decision_on_an_older_revision_changes_nothing() -> None:
    plan = proposed()
    plan.record_decision(MEETING, "jusou_shien_kaigi", "revision_requested", "役割を見直す", 1)
    plan.revise("新しい方向性", ["新しい目標"], ROLES)
    plan.propose()
    plan.collect_events()

    plan.record_decision(uuid4(), "jusou_shien_kaigi", "approved", "遅れて届いた決定", 1)

    assert plan.collect_events() == []
    assert plan.status == "proposed"


def test_d5_decision_on_a_plan_not_proposed_changes_nothing() -> None:
    plan = draft()
    plan.collect_events()

    plan.record_decision(MEETING, "jusou_shien_kaigi", "approved", "合意", 0)

    assert plan.collect_events() == []


def test_d7_closure_of_a_draft_is_refused() -> None:
    with pytest.raises(DomainError):
        draft().request_closure("経過")


def test_d7_closure_of_a_plan_awaiting_decision_is_refused() -> None:
    with pytest.raises(DomainError):
        proposed().request_closure("経過")


def test_d7_closure_of_an_approved_plan_is_requested() -> None:
    plan = approved()

    plan.request_closure("半年の支援で目標を達成")

    assert plan.status == "closure_requested"


def test_d7_closure_request_needs_the_progress() -> None:
    with pytest.raises(Invalid):
        approved().request_closure("   ")


@pytest.mark.parametrize("outcome, review", [
    ("closed", None), ("suspended", None), ("continued", date(2025, 10, 1))])
def test_d7_plan_follows_the_meetings_evaluation(outcome: str, review: date | None) -> None:
    plan = closure_requested()

    plan.record_evaluation(outcome, MEETING, EVALUATION, review)

    assert plan.status == outcome


def test_d7_evaluation_without_a_closure_request_changes_nothing() -> None:
    plan = approved()
    plan.collect_events()

    plan.record_evaluation("closed", MEETING, EVALUATION, None)

    assert plan.collect_events() == []
    assert plan.status == "approved"


@pytest.mark.parametrize("outcome", ["suspended", "continued"])
def test_d7_suspended_or_continued_plan_can_be_brought_to_closure_again(outcome: str) -> None:
    plan = closure_requested()
    plan.record_evaluation(outcome, MEETING, EVALUATION, date(2025, 10, 1) if outcome == "continued" else None)

    plan.request_closure("再評価を依頼")

    assert plan.status == "closure_requested"


# -- the plan use cases a program runs (PlanOwner) --------------------------------------------


def test_d4_plan_owner_refuses_a_plan_for_a_case_it_does_not_hold() -> None:
    collaboration = in_memory(CollaborationApplication)

    with pytest.raises(NotFound):
        collaboration.draft_plan(COORDINATOR, uuid4(), "方向性", ["目標"], ROLES)


def test_d4_plan_owner_refuses_a_role_for_an_unknown_agency() -> None:
    collaboration = in_memory(CollaborationApplication)
    case_id = open_collaboration_case(collaboration)

    with pytest.raises(Invalid):
        collaboration.draft_plan(COORDINATOR, case_id, "方向性", ["目標"],
                                 [{"agency": "架空の機関", "responsibility": "何か"}])


def open_collaboration_case(collaboration: CollaborationApplication) -> UUID:
    case_id = uuid4()
    collaboration.receive(*Upstream("intake").emit(
        "CaseEscalated", {"reason": "複合的な課題", "concerns": ["高齢・介護"], "primary_agency": ELDERLY.ja},
        case_id))
    return case_id
