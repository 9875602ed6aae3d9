"""D4: one open plan per case and program, held by the store (shared/domain/open_plan.py), not only by a check before
saving. Found in session 19: `require_no_open_plan` reads the plans already recorded, so two drafts made from the same
state (two tabs, two coordinators) both passed it and both saved. Here the second draft is forced into that gap (made
while the first one is between its check and its save): the first one's save is refused by the store's optimistic
concurrency on the case's `OpenPlan` record and answered as OpenPlanExists (409 open_plan_exists) naming the plan that
won. In memory; tests/integration/test_hb2_d4_open_plan_race_stores.py does the same on SQLite and PostgreSQL with two
replicas. Failed before the record existed: both drafts were saved."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any
from uuid import UUID, uuid4

import pytest
from support.municipality import ELDERLY

from services.collaboration.application import CollaborationApplication
from shared.domain.labels import EVENT_LABELS, KIND_LABELS
from shared.domain.open_plan import OpenPlan, open_plan_id
from shared.domain.plan import OpenPlanExists, Plan
from shared.domain.plan_owner import PlanOwner
from shared.kernel.journey import acting
from unit.builders import COORDINATOR, ROLES, Upstream, in_memory
from unit.test_hd_d4_one_open_plan import closed_by_the_meeting, escalated


def a_plan(app: PlanOwner, case_id: UUID, direction: str = "世帯の孤立を防ぐ") -> UUID:
    return app.draft_plan(COORDINATOR, case_id, direction, ["月1回の訪問"], ROLES)


def racing(first: PlanOwner, second: Callable[[], UUID]) -> list[UUID]:
    """Make `first`'s next save wait for `second` (another draft, by this or another replica) to be made and saved:
    the two drafts were checked from the same state. Returns what `second` drafted."""
    won: list[UUID] = []
    started: list[bool] = []
    save = first.save

    def save_after_the_other(*objs: Any, **kwargs: Any) -> Any:
        if not started and any(isinstance(o, Plan) for o in objs):
            started.append(True)
            won.append(second())
        return save(*objs, **kwargs)

    first.save = save_after_the_other  # type: ignore[method-assign]
    return won


def own_plans(app: PlanOwner, case_id: UUID) -> list[UUID]:
    return [p for p in app.ids_of_case(Plan, case_id)
            if app.read(p, Plan, "プラン").program == app.program]


@pytest.fixture
def collaboration() -> CollaborationApplication:
    return in_memory(CollaborationApplication)


def test_d4_two_drafts_from_the_same_state_one_is_refused_naming_the_other(
        collaboration: CollaborationApplication) -> None:
    case_id = escalated(collaboration, Upstream("intake"))
    won = racing(collaboration, lambda: a_plan(collaboration, case_id, "二つ目のタブ"))

    with pytest.raises(OpenPlanExists) as refused:
        a_plan(collaboration, case_id)

    assert len(won) == 1 and refused.value.status == 409 and refused.value.plan_id == str(won[0])
    assert "下書き" in str(refused.value) and "revise that one" in str(refused.value)
    assert own_plans(collaboration, case_id) == won  # one plan: the refused draft recorded nothing
    assert collaboration.read(open_plan_id("collaboration", case_id), OpenPlan, "記録").plan_id == won[0]


def test_d4_after_a_plan_ended_two_new_drafts_from_the_same_state_one_is_refused(
        collaboration: CollaborationApplication) -> None:
    case_id = escalated(collaboration, Upstream("intake"))
    ended = a_plan(collaboration, case_id)
    closed_by_the_meeting(collaboration, case_id, ended, Upstream("meeting"))
    won = racing(collaboration, lambda: a_plan(collaboration, case_id, "二つ目のタブ"))

    with pytest.raises(OpenPlanExists) as refused:
        a_plan(collaboration, case_id)

    assert refused.value.plan_id == str(won[0])
    assert own_plans(collaboration, case_id) == [ended, won[0]]
    assert a_plan_after_that_is_refused(collaboration, case_id) == str(won[0])


def a_plan_after_that_is_refused(app: PlanOwner, case_id: UUID) -> str:
    with pytest.raises(OpenPlanExists) as refused:
        a_plan(app, case_id)
    return refused.value.plan_id


def test_d4_a_store_from_before_the_record_counts_the_plans_already_open(collaboration: CollaborationApplication) -> None:
    """A plan drafted before the `OpenPlan` record existed (saved alone) is open: a new draft is refused naming it;
    once the meeting ended it, the next draft makes the record."""
    case_id = escalated(collaboration, Upstream("intake"))
    with acting(COORDINATOR):
        old = Plan.draft(case_id, "collaboration", "以前のプラン", ["月1回の訪問"], ROLES)
    collaboration.save(old)  # as the version before saved it: no record

    assert a_plan_after_that_is_refused(collaboration, case_id) == str(old.id)
    closed_by_the_meeting(collaboration, case_id, old.id, Upstream("meeting"))
    new = a_plan(collaboration, case_id)

    assert collaboration.read(open_plan_id("collaboration", case_id), OpenPlan, "記録").plan_id == new
    assert a_plan_after_that_is_refused(collaboration, case_id) == str(new)


def test_d4_each_program_has_its_own_record_of_a_case() -> None:
    case_id = uuid4()
    assert len({open_plan_id(p, case_id) for p in ("collaboration", "outreach", "participation")}) == 3
    assert open_plan_id("collaboration", case_id) != open_plan_id("collaboration", uuid4())


def test_the_open_plan_record_reads_in_staff_words() -> None:
    assert KIND_LABELS["OpenPlan"] and EVENT_LABELS["OpenPlan.Taken"] and EVENT_LABELS["OpenPlan.TakenAgain"]
    assert ELDERLY.ja  # (the municipality file the builders' roles come from is loaded)
