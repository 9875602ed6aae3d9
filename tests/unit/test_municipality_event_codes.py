"""Events carry codes, never only display names (issue 18): agencies and concern fields travel with the municipality
file's codes beside their names (added in place: optional fields, left out of events recorded before them)."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace
from uuid import uuid4

import pytest
from support.municipality import ELDERLY, HARDSHIP, LEAD, SHAKYO

from services.collaboration.application import CollaborationApplication
from services.collaboration.translate import translate as collaboration_translate
from services.intake.application import IntakeApplication
from services.intake.translate import translate as intake_translate
from services.meeting.application import MeetingApplication
from services.meeting.translate import translate as meeting_translate
from shared.contract.events import CaseEscalatedV2, Role, codes_of, parse, upcast
from shared.organisation import reference
from shared.organisation.municipality import DATA, DEFAULT_FILE, load
from unit.builders import ATTENDEES, COUNTER_STAFF, PERSON, Upstream, in_memory, only, published
from unit.test_meeting import Feeds, convene, decide


def test_intake_events_carry_the_agencies_and_concern_fields_codes() -> None:
    intake = in_memory(IntakeApplication)
    case_id = intake.receive_consultation(COUNTER_STAFF, ELDERLY.code, ELDERLY.division, "窓口",
                                          ["高齢・介護", "ひきこもり"], dict(PERSON), None)
    intake.connect_case(COUNTER_STAFF, case_id, HARDSHIP.ja, "家計の相談")
    intake.connect_case(COUNTER_STAFF, case_id, "どこにもない会", "名簿にない相手")
    intake.escalate_case(COUNTER_STAFF, case_id, "複合的な課題", SHAKYO)

    received = only(published(intake, intake_translate, "ConsultationReceived")).payload
    connected = [e.payload for e in published(intake, intake_translate, "CaseConnected")]
    escalated = only(published(intake, intake_translate, "CaseEscalated"))

    assert received["concern_codes"] == ["elderly-care", "hikikomori"] and received["concerns"] == ["高齢・介護", "ひきこもり"]
    assert received["primary_agency_code"] == f"counter:{ELDERLY.code}"
    assert connected[0]["to_agency_code"] == f"counter:{HARDSHIP.code}" and connected[0]["to_agency"] == HARDSHIP.ja
    assert "to_agency_code" not in connected[1]  # a name the file does not know has no code: left out
    assert escalated.payload["primary_agency_code"] == "partner:shakyo"
    assert escalated.payload["concern_codes"] == ["elderly-care", "hikikomori"]
    _, v2 = upcast(*parse(escalated.model_dump_json().encode()))
    assert isinstance(v2, CaseEscalatedV2) and v2.primary_agency_code == "partner:shakyo"  # the upcaster keeps them


def test_a_meeting_decision_carries_its_attendees_codes_and_a_returns_primary_code() -> None:
    meeting = in_memory(MeetingApplication)
    feeds = Feeds(meeting)
    case_id = uuid4()
    plan_id = feeds.propose(case_id)
    feeds.consent(case_id)

    decide(meeting, convene(meeting), plan_id, "returned_to_intake", primary_agency=ELDERLY.ja)

    decided = only(published(meeting, meeting_translate, "MeetingDecided")).payload
    returned = only(published(meeting, meeting_translate, "CaseReturnedToIntake")).payload
    assert decided["attendees"] == ATTENDEES  # 地域包括支援センター, 調布ライフサポート, 福祉総務課
    assert decided["attendee_codes"] == [f"counter:{ELDERLY.code}", f"counter:{HARDSHIP.code}", f"division:{LEAD}"]
    assert returned["primary_agency_code"] == f"counter:{ELDERLY.code}"


def test_an_event_recorded_before_the_codes_is_published_as_it_was() -> None:
    """A domain event without the code fields (recorded before issue 18) gives none to its translation; a plan
    role without a code is written without `agency_code`, byte for byte as before."""
    before = SimpleNamespace(to_agency=HARDSHIP.ja, reason="家計")

    assert codes_of(before, "to_agency_code") == {}
    assert codes_of(SimpleNamespace(to_agency_code=None), "to_agency_code") == {}
    assert Role(agency=ELDERLY.ja, responsibility="訪問").model_dump_json() == (
        '{"agency":"地域包括支援センター","responsibility":"訪問","contact":null}')
    assert Role(agency="a", responsibility="r", agency_code="counter:houkatsu").model_dump()["agency_code"] == "counter:houkatsu"


@pytest.mark.parametrize("path", [DEFAULT_FILE, DATA / "kakushi.toml"], ids=["chofu", "kakushi"])
def test_a_proposed_plans_roles_carry_their_agencies_codes_on_either_file(
        monkeypatch: pytest.MonkeyPatch, path: Path) -> None:
    monkeypatch.setenv(reference.VARIABLE, str(path))
    model = load(path).model
    counter, partner = model.counters[0], next(p for p in model.partners if p.code == "shakyo")
    coordinator = {"staff_id": "c1", "division": reference.lead_division()}
    app, case_id = in_memory(CollaborationApplication), uuid4()
    app.receive(*Upstream("intake").emit("CaseEscalated", {"reason": "複合的な課題", "concerns": ["高齢・介護"],
                                                           "primary_agency": counter.ja}, case_id))
    roles = [{"agency": counter.ja, "responsibility": "訪問"}, {"agency": partner.ja, "responsibility": "見守り"}]

    app.propose_plan(coordinator, app.draft_plan(coordinator, case_id, "孤立を防ぐ", ["月1回の訪問"], roles))

    proposed = only(published(app, collaboration_translate, "PlanProposed")).payload
    started = only(published(app, collaboration_translate, "CollaborationStarted")).payload
    assert [(r["agency"], r["agency_code"]) for r in proposed["roles"]] == [
        (counter.ja, f"counter:{counter.code}"), (partner.ja, "partner:shakyo")]
    assert started["primary_agency_code"] == f"counter:{counter.code}"
