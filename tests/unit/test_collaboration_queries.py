"""Collaboration's queries the coordinator's pages read (D4, D5): a case's plans, the list of cases with
their plans in the reader's division scope, and a plan's story with who and when from its own events;
never the store from the UI."""

from __future__ import annotations

from uuid import UUID, uuid4

import pytest
from support.municipality import ELDERLY, LEAD, LEAD_NAME

from services.collaboration.application import CollaborationApplication
from shared.kernel.journey import NotFound
from shared.web.auth import Principal
from unit.builders import COORDINATOR, ROLES, Upstream, in_memory
from unit.test_hd_d4_one_open_plan import closed_by_the_meeting

COORDINATOR_2 = {"staff_id": "c2", "division": LEAD}


def escalated(app: CollaborationApplication, intake: Upstream) -> UUID:
    case_id = uuid4()
    app.receive(*intake.emit("CaseEscalated", {"reason": "複合的な課題", "concerns": ["高齢・介護"],
                                               "primary_agency": ELDERLY.ja}, case_id))
    return case_id


def test_d4_plans_of_a_case_and_the_list_of_cases_with_their_plans() -> None:
    app, intake = in_memory(CollaborationApplication), Upstream("intake")
    one, two = escalated(app, intake), escalated(app, intake)
    first = app.draft_plan(COORDINATOR, one, "方向性", ["目標"], ROLES)
    closed_by_the_meeting(app, one, first, Upstream("meeting"))  # D4: a case's next plan comes once the one before has ended
    second = app.draft_plan(COORDINATOR, one, "方向性2", ["目標"], ROLES)

    assert [p["plan_id"] for p in app.plans(one)] == [str(first), str(second)]
    assert app.plans(two) == []
    assert len(app.plans()) == 2

    coordinator = Principal(staff_id="c1", division=LEAD, roles=frozenset({"collaboration_coordinator"}))
    rows = {r["case_id"]: r for r in app.case_rows(coordinator)}
    assert set(rows) == {str(one), str(two)}
    assert [p["plan_id"] for p in rows[str(one)]["plans"]] == [str(first), str(second)]
    assert rows[str(one)]["latest"] is not None and rows[str(one)]["latest"]["plan_id"] == str(second)
    assert rows[str(two)]["plans"] == [] and rows[str(two)]["latest"] is None
    assert rows[str(one)]["primary_agency"] == ELDERLY.ja
    assert app.case_rows(None) == []  # no reader, no rows (division scope)


def test_d5_plan_steps_tell_who_did_what_and_when() -> None:
    app, intake, meeting = in_memory(CollaborationApplication), Upstream("intake"), Upstream("meeting")
    case_id = escalated(app, intake)
    plan_id = app.draft_plan(COORDINATOR, case_id, "方向性", ["目標"], ROLES)
    app.revise_plan(COORDINATOR_2, plan_id, "方向性（修正）", ["目標"], ROLES)
    app.propose_plan(COORDINATOR, plan_id)
    meeting_id = uuid4()
    app.receive(*meeting.emit("MeetingDecided", {
        "meeting_id": str(meeting_id), "meeting_type": "jusou_shien_kaigi", "plan_id": str(plan_id),
        "decision": "revision_requested", "attendees": [LEAD_NAME], "reasons": "役割を加えてください",
        "program": "collaboration", "revision": 1}, case_id))

    steps = app.plan_steps(plan_id)

    assert [s["kind"] for s in steps] == ["Drafted", "Revised", "Proposed", "DecisionRecorded"]
    assert [s["who"] for s in steps[:3]] == ["c1", "c2", "c1"]
    assert steps[3]["who"] == "自動（多機関協働）"  # recorded by the inbox, named as staff name the program
    assert all(s["at"].endswith("+09:00") for s in steps)
    assert steps[2]["revision"] == 1
    assert (steps[3]["decision"], steps[3]["reasons"], steps[3]["meeting_id"]) == (
        "revision_requested", "役割を加えてください", str(meeting_id))


def test_plan_steps_of_no_plan_is_not_found() -> None:
    app = in_memory(CollaborationApplication)
    case_id = escalated(app, Upstream("intake"))
    with pytest.raises(NotFound):
        app.plan_steps(uuid4())
    with pytest.raises(NotFound):
        app.plan_steps(case_id)  # a case's events are no plan's story
