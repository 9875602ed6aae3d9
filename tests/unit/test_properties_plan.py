"""Any sequence of commands leaves a plan (プラン) and a collaboration case valid (D4, D5, D6, D7, D11).

Invariants of a plan, from DOMAIN.md:
- D4: it always names at least one role, each with an agency and what it does;
- D4: every proposed revision is kept as proposed, numbered 1, 2, …; `revision` is the last;
- D5: only a decision on the proposed revision moves it (approved, revision requested, returned);
- D7: it is closed, suspended or continued only after its owner asked for closure, with progress;
- a proposed or decided plan is not edited until the meeting asks for a revision (or suspends it).
A collaboration case always has a primary agency (D11). Refused commands change nothing, and
each aggregate is rebuilt equal from its stored events.
"""

from __future__ import annotations

from datetime import date
from typing import Any
from uuid import uuid4

import pytest
from hypothesis import given
from hypothesis import strategies as st
from support.municipality import DISABILITY, ELDERLY, HARDSHIP, concern

from services.collaboration.application import CollaborationApplication
from services.collaboration.domain import CollaborationCase
from shared.domain.plan import Plan, PlanWithoutRoles
from shared.kernel.journey import acting
from unit.aggregate_laws import PROPERTIES, Subject
from unit.builders import COORDINATOR, in_memory

APP = in_memory(CollaborationApplication)
TEXT = st.text(max_size=10)
ROLE = st.fixed_dictionaries({"agency": st.sampled_from([ELDERLY.ja, "", " "]),
                              "responsibility": st.sampled_from(["家計相談", "", "  "])})
ROLES = st.lists(ROLE, max_size=3)
STATUSES = {"draft", "proposed", "approved", "revision_requested", "returned", "closure_requested", "closed",
            "suspended", "continued", "resumed", "accompanying"}
DECIDED = {"approved": "approved", "revision_requested": "revision_requested", "returned_to_intake": "returned"}
#: The oracle, from DOMAIN.md and not from shared/domain/plan.py: the owner writes (and proposes) a plan while it is
#: a draft; after the meeting asks for a revision (D5: "back to the plan's owner"); and after a suspension
#: (D7: 中断 "can be resumed by its own act once the reason is gone"). Proposed, approved, returned, closing,
#: closed or continued plans are the meeting's to move.
#: 伴走支援 (D11) is left for a new plan by a new revision.
EDITABLE = frozenset({"draft", "revision_requested", "suspended", "accompanying"})
#: D7: the owner asks for closure of a plan in force: approved, continued with a new review date, resumed after a
#: suspension; or of a suspended one; or of one in 伴走支援 (to end it in 終結).
CLOSABLE = frozenset({"approved", "continued", "resumed", "suspended", "accompanying"})
#: 伴走支援 begins from a plan in force (every goal met)
IN_FORCE = frozenset({"approved", "continued", "resumed"})

PLAN_COMMANDS = st.one_of(
    st.tuples(st.just("revise"), TEXT, st.lists(TEXT, max_size=2), ROLES),
    st.tuples(st.just("propose")),
    st.tuples(st.just("decide"), st.sampled_from(list(DECIDED)), st.sampled_from([0, 0, 0, -1, 1])),
    st.tuples(st.just("close"), st.sampled_from(["", " ", "訪問が定着"])),
    st.tuples(st.just("evaluate"), st.sampled_from(["closed", "suspended", "continued"])),
    st.tuples(st.just("resume")),
    st.tuples(st.just("accompany")),
)


def roles_are_whole(roles: list[dict[str, Any]]) -> bool:
    return bool(roles) and all(str(r.get("agency") or "").strip() and str(r.get("responsibility") or "").strip()
                               for r in roles)


def check_plan(plan: Plan, status: str, decisions: int) -> None:
    assert plan.status == status and plan.status in STATUSES
    assert roles_are_whole(plan.roles), "D4: a plan without a whole role"
    revisions = getattr(plan, "revisions", [])
    assert [r["revision"] for r in revisions] == list(range(1, plan.revision + 1)), "D4: every revision kept"
    assert len(plan.history) == decisions, "D5 D7: every decision and evaluation that reached the plan is kept"


def run_plan_command(subject: Subject[Plan], op: tuple[Any, ...], model: dict[str, Any]) -> None:
    plan, status = subject.aggregate, model["status"]
    kind = op[0]
    if kind == "revise":
        _, direction, goals, roles = op
        ok = subject.apply(lambda p: p.revise(direction, goals, roles))
        assert ok == (status in EDITABLE and roles_are_whole(roles)), (status, roles)
    elif kind == "propose":
        if subject.apply(lambda p: p.propose()):
            assert status in EDITABLE
            model["status"] = "proposed"
        else:
            assert status not in EDITABLE
    elif kind == "decide":
        _, decision, offset = op
        revision = plan.revision + offset
        subject.apply(lambda p: p.record_decision(uuid4(), "jusou_shien_kaigi", decision, "合議", revision))
        if status == "proposed" and offset == 0:  # D5: only a decision on the proposed revision counts
            model["status"] = DECIDED[decision]
            model["decisions"] += 1
    elif kind == "close":
        if subject.apply(lambda p: p.request_closure(op[1])):
            assert status in CLOSABLE and op[1].strip(), "D7"
            model["status"] = "closure_requested"
        else:
            assert status not in CLOSABLE or not op[1].strip()
    elif kind == "evaluate":
        outcome = op[1]
        review_on = date(2027, 3, 1) if outcome == "continued" else None
        subject.apply(lambda p: p.record_evaluation(outcome, uuid4(), {"course": "経過", "outcome": "成果"}, review_on))
        if status == "closure_requested":  # D7: an evaluation reaches only a plan whose closure was asked for
            model["status"] = outcome
            model["decisions"] += 1
    elif kind == "resume":
        subject.apply(lambda p: p.record_resumption(uuid4(), "jusou_shien_kaigi", "同意を得た"))
        if status == "suspended":  # D7: only a suspended plan resumes
            model["status"] = "resumed"
            model["decisions"] += 1
    elif kind == "accompany":
        ok = subject.apply(lambda p: p.accompany(date(2027, 1, 1), p.all_goals()))
        assert ok == (status in IN_FORCE), status
        if ok:
            model["status"] = "accompanying"

@PROPERTIES
@given(program=st.sampled_from(["collaboration", "outreach", "participation"]), ops=st.lists(PLAN_COMMANDS, max_size=14))
def test_d4_d5_d6_d7_any_commands_leave_a_plan_valid(program: str, ops: list[tuple[Any, ...]]) -> None:
    subject = Subject(APP, lambda: Plan.draft(uuid4(), program, "世帯の孤立を防ぐ", ["月1回の訪問"],
                                              [{"agency": ELDERLY.ja, "responsibility": "母の介護"}]))
    model = {"status": "draft", "decisions": 0}
    for op in ops:
        run_plan_command(subject, op, model)
        check_plan(subject.aggregate, model["status"], model["decisions"])
    check_plan(subject.rebuilt(), model["status"], model["decisions"])


#: How a plan reaches each status, as its owner and the meeting move it (D4 D5 D7).
PATHS: dict[str, list[tuple[Any, ...]]] = {
    "draft": [],
    "proposed": [("propose",)],
    "approved": [("propose",), ("decide", "approved", 0)],
    "revision_requested": [("propose",), ("decide", "revision_requested", 0)],
    "returned": [("propose",), ("decide", "returned_to_intake", 0)],
    "closure_requested": [("propose",), ("decide", "approved", 0), ("close", "訪問が定着")],
    **{outcome: [("propose",), ("decide", "approved", 0), ("close", "訪問が定着"), ("evaluate", outcome)]
       for outcome in ("closed", "suspended", "continued")},
    "resumed": [("propose",), ("decide", "approved", 0), ("close", "訪問が定着"), ("evaluate", "suspended"), ("resume",)],
    "accompanying": [("propose",), ("decide", "approved", 0), ("accompany",)],
}


@pytest.mark.parametrize("status", sorted(STATUSES))
def test_d5_d7_a_plan_is_revised_proposed_and_closed_only_in_the_statuses_domain_names(status: str) -> None:
    """Every status, not only those a random search happens to reach: EDITABLE and CLOSABLE above decide."""
    outcomes = {}
    for name, command in (("revise", lambda p: p.revise("方向性", ["目標"], [{"agency": HARDSHIP.ja,
                                                                               "responsibility": "家計相談"}])),
                          ("propose", lambda p: p.propose()), ("close", lambda p: p.request_closure("経過"))):
        subject = Subject(APP, lambda: Plan.draft(uuid4(), "collaboration", "世帯の孤立を防ぐ", ["月1回の訪問"],
                                                  [{"agency": ELDERLY.ja, "responsibility": "母の介護"}]))
        model = {"status": "draft", "decisions": 0}
        for op in PATHS[status]:
            run_plan_command(subject, op, model)
        assert subject.aggregate.status == status
        outcomes[name] = subject.apply(command)
    assert outcomes == {"revise": status in EDITABLE, "propose": status in EDITABLE, "close": status in CLOSABLE}


@PROPERTIES
@given(roles=ROLES.filter(lambda r: not roles_are_whole(r)))
def test_d4_a_plan_without_a_whole_role_is_never_drafted(roles: list[dict[str, Any]]) -> None:
    with acting(COORDINATOR), pytest.raises(PlanWithoutRoles):
        Plan.draft(uuid4(), "collaboration", "方向性", ["目標"], roles)


CASE_COMMANDS = st.one_of(
    st.tuples(st.just("reopen"), TEXT, st.lists(st.sampled_from(["高齢・介護", concern("disability")]), max_size=2),
              st.sampled_from(["", DISABILITY.ja, HARDSHIP.ja])),
    st.tuples(st.just("follow"), st.sampled_from([DISABILITY.ja, HARDSHIP.ja])),
)


@PROPERTIES
@given(ops=st.lists(CASE_COMMANDS, max_size=10))
def test_d11_a_collaboration_case_always_has_the_primary_agency_last_named(ops: list[tuple[Any, ...]]) -> None:
    subject = Subject(APP, lambda: CollaborationCase(case_id=uuid4(), reason="複合", concerns=["高齢・介護"],
                                                     primary_agency=ELDERLY.ja))
    primary = ELDERLY.ja
    for op in ops:
        if op[0] == "reopen":
            _, reason, concerns, named = op
            assert subject.apply(lambda c: c.reopen(reason, concerns, named))  # noqa: B023 - applied at once
            primary = named or primary  # D11: a return and a new escalation may name a new primary
        else:
            assert subject.apply(lambda c: c.follow_primary(op[1]))  # noqa: B023 - applied at once
            primary = op[1]
        assert subject.aggregate.primary_agency == primary and subject.aggregate.status == "open"
    assert subject.rebuilt().primary_agency == primary

