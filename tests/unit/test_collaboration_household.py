"""D16 (issue 15): a household's cases escalated together (CaseEscalated's `household_ref` and
`related_case_ids`) are held by collaboration as ONE case whose one plan covers the household; a later
escalation of a related case is recognised and opens no second case; a case recorded before still loads."""

from __future__ import annotations

from uuid import uuid4

from support.municipality import ELDERLY, HARDSHIP

from services.collaboration.application import CollaborationApplication
from unit.builders import COORDINATOR, ROLES, Upstream, in_memory, stored_count

ESCALATED = {"reason": "8050: 母の介護と本人のひきこもり", "concerns": ["高齢・介護"], "primary_agency": HARDSHIP.ja}


def test_d16_household_escalation_is_held_as_one_case_with_its_related_cases() -> None:
    app, intake = in_memory(CollaborationApplication), Upstream("intake")
    case_id, mother, sister, household = uuid4(), uuid4(), uuid4(), uuid4()
    household_escalated = {**ESCALATED, "household_ref": str(household),
                           "related_case_ids": [str(mother), str(sister), str(mother), str(case_id)]}

    assert app.receive(*intake.emit("CaseEscalated", household_escalated, case_id))

    shown = app.case_view(case_id)
    assert shown["household_ref"] == str(household)
    assert shown["related_case_ids"] == [str(mother), str(sister)]  # its own id and the repeat left out, order kept
    assert [c["case_id"] for c in app.cases()] == [str(case_id)]  # one case, not three
    assert app.holding_case(mother) == case_id and app.holding_case(sister) == case_id
    # the one plan covers the household: a member's goals are written in it, labelled by case (no personal info)
    plan_id = app.draft_plan(COORDINATOR, case_id, "世帯で支える", ["就労体験に参加する"], ROLES,
                             members=[{"label": f"世帯員（ケース {str(mother)[:8]}）", "goals": ["デイサービスを利用する"]}])
    persons = app.plan_view(plan_id)["persons"]
    assert [p["label"] for p in persons] == ["本人", f"世帯員（ケース {str(mother)[:8]}）"]


def test_d16_a_later_escalation_of_a_related_case_opens_no_second_case_and_records_nothing() -> None:
    app, intake = in_memory(CollaborationApplication), Upstream("intake")
    case_id, mother, household = uuid4(), uuid4(), uuid4()
    assert app.receive(*intake.emit("CaseEscalated", {**ESCALATED, "household_ref": str(household),
                                                      "related_case_ids": [str(mother)]}, case_id))
    before = stored_count(app)

    later = intake.emit("CaseEscalated", {**ESCALATED, "reason": "母の介護"}, mother)
    assert app.receive(*later)
    assert not app.receive(*later)  # redelivered: applied once

    assert stored_count(app) == before
    assert [c["case_id"] for c in app.cases()] == [str(case_id)]


def test_d16_a_case_escalated_alone_holds_no_household() -> None:
    app, intake = in_memory(CollaborationApplication), Upstream("intake")
    case_id = uuid4()

    assert app.receive(*intake.emit("CaseEscalated", ESCALATED, case_id))

    shown = app.case_view(case_id)
    assert (shown["household_ref"], shown["related_case_ids"]) == (None, [])
    assert app.holding_case(case_id) is None


def test_d16_d11_once_the_household_case_was_returned_a_related_case_escalated_alone_opens_its_own_case() -> None:
    app, intake, meeting = in_memory(CollaborationApplication), Upstream("intake"), Upstream("meeting")
    case_id, mother, household = uuid4(), uuid4(), uuid4()
    assert app.receive(*intake.emit("CaseEscalated", {**ESCALATED, "household_ref": str(household),
                                                      "related_case_ids": [str(mother)]}, case_id))
    assert app.receive(*meeting.emit("CaseReturnedToIntake", {"meeting_id": str(uuid4()),
                                                              "primary_agency": ELDERLY.ja, "reason": ""}, case_id))

    assert app.receive(*intake.emit("CaseEscalated", {**ESCALATED, "reason": "母の介護"}, mother))

    assert app.case_view(mother)["status"] == "open"
    assert {c["case_id"] for c in app.cases()} == {str(case_id), str(mother)}
