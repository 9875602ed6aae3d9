"""重層的支援会議 and 支援会議: consent, consensus, returns, evaluations and gaps (D5, D7–D11).

The meeting is fed the way production feeds it: PlanProposed, PlanClosureRequested and
ConsentRecorded envelopes through `receive`, each upstream with its own rising position.
"""

from __future__ import annotations

from datetime import date
from uuid import UUID, uuid4

import pytest
from support.held import escalate
from support.municipality import ELDERLY, partner

from services.meeting.application import MeetingApplication
from services.meeting.domain import (
    ConsentMissing,
    NotForShienKaigi,
    NotOnAgenda,
    OpenObjection,
)
from services.meeting.translate import translate
from shared.contract.events import Envelope
from shared.kernel.journey import Invalid, NotFound
from unit.builders import (
    ATTENDEES,
    SECRETARIAT,
    Upstream,
    consent_recorded,
    in_memory,
    only,
    plan_proposed,
    published,
    stored_count,
)

AGREE = [{"agency": a, "position": "agree"} for a in ATTENDEES]


class Feeds:
    """The meeting's upstream sources, each a fake producer with its own positions."""

    def __init__(self, meeting: MeetingApplication) -> None:
        self.meeting = meeting
        self.intake = Upstream("intake")
        self.collaboration = Upstream("collaboration")

    def propose(self, case_id: UUID, plan_id: UUID | None = None, revision: int = 1) -> UUID:
        """Collaboration proposes (or revises) a plan for the case, escalated to it by intake first (D4)."""
        plan_id = plan_id or uuid4()
        if not self.meeting.holds("collaboration", case_id):
            escalate(self.meeting, case_id, self.intake)
        assert self.meeting.receive(*self.collaboration.emit("PlanProposed", plan_proposed(plan_id, revision), case_id))
        return plan_id

    def consent(self, case_id: UUID, granted: bool = True) -> None:
        assert self.meeting.receive(*self.intake.emit("ConsentRecorded", consent_recorded(granted), case_id))

    def request_closure(self, case_id: UUID, plan_id: UUID) -> None:
        payload = {"plan_id": str(plan_id), "program": "collaboration", "progress": "半年の支援で目標を達成"}
        assert self.meeting.receive(*self.collaboration.emit("PlanClosureRequested", payload, case_id))


@pytest.fixture
def meeting() -> MeetingApplication:
    return in_memory(MeetingApplication)


@pytest.fixture
def feeds(meeting: MeetingApplication) -> Feeds:
    return Feeds(meeting)


def convene(meeting: MeetingApplication, meeting_type: str = "jusou_shien_kaigi") -> UUID:
    return meeting.convene(SECRETARIAT, meeting_type, date(2025, 5, 20), ATTENDEES)


def decide(meeting: MeetingApplication, sitting: UUID, plan_id: UUID, decision: str = "approved",
           positions: list[dict[str, str]] | None = None, connect_to: list[str] | None = None,
           primary_agency: str | None = None) -> None:
    meeting.decide(SECRETARIAT, sitting, plan_id, decision, "合議の結果", AGREE if positions is None else positions,
                   connect_to or [], primary_agency)


GOAL = "月1回の訪問で本人と会える関係をつくる"  # the one goal of builders.plan_proposed
GOAL_RESULTS = [{"goal": GOAL, "result": "achieved", "note": "毎月会えている"}]


def evaluate(meeting: MeetingApplication, sitting: UUID, plan_id: UUID, outcome: str, reason: str = "",
             next_review_on: date | None = None, goal_results: list[dict[str, str]] | None = None) -> None:
    meeting.evaluate(SECRETARIAT, sitting, plan_id, outcome, "月1回の訪問", "就労に至った", reason, next_review_on,
                     GOAL_RESULTS if goal_results is None else goal_results)


def on_agenda_with_consent(feeds: Feeds) -> tuple[UUID, UUID]:
    case_id = uuid4()
    feeds.consent(case_id)
    return case_id, feeds.propose(case_id)


def awaiting_evaluation(meeting: MeetingApplication, feeds: Feeds) -> tuple[UUID, UUID, UUID]:
    case_id, plan_id = on_agenda_with_consent(feeds)
    sitting = convene(meeting)
    decide(meeting, sitting, plan_id)
    feeds.request_closure(case_id, plan_id)
    return case_id, plan_id, sitting


def outputs(meeting: MeetingApplication, event_type: str) -> list[Envelope]:
    return published(meeting, translate, event_type)


# -- D9 D10: consent and the two meeting types -------------------------------------------------


def test_d9_meeting_refuses_without_consent(meeting: MeetingApplication, feeds: Feeds) -> None:
    plan_id = feeds.propose(uuid4())

    with pytest.raises(ConsentMissing):
        decide(meeting, convene(meeting, "jusou_shien_kaigi"), plan_id)


def test_d9_refused_decision_records_nothing(meeting: MeetingApplication, feeds: Feeds) -> None:
    plan_id = feeds.propose(uuid4())
    sitting = convene(meeting, "jusou_shien_kaigi")
    before = stored_count(meeting)

    with pytest.raises(ConsentMissing):
        decide(meeting, sitting, plan_id)

    assert stored_count(meeting) == before


def test_d9_meeting_decides_once_consent_is_granted(meeting: MeetingApplication, feeds: Feeds) -> None:
    _, plan_id = on_agenda_with_consent(feeds)

    decide(meeting, convene(meeting, "jusou_shien_kaigi"), plan_id)

    assert only(outputs(meeting, "MeetingDecided")).payload["meeting_type"] == "jusou_shien_kaigi"


def test_d9_consent_refused_from_the_start_is_no_consent(meeting: MeetingApplication, feeds: Feeds) -> None:
    case_id = uuid4()
    feeds.consent(case_id, granted=False)
    plan_id = feeds.propose(case_id)

    with pytest.raises(ConsentMissing):
        decide(meeting, convene(meeting, "jusou_shien_kaigi"), plan_id)


def test_d9_withdrawn_consent_refuses_again(meeting: MeetingApplication, feeds: Feeds) -> None:
    case_id, plan_id = on_agenda_with_consent(feeds)
    feeds.consent(case_id, granted=False)

    with pytest.raises(ConsentMissing):
        decide(meeting, convene(meeting, "jusou_shien_kaigi"), plan_id)


def test_d10_shien_kaigi_requests_revision_without_consent_and_its_reasons_stay_off_the_bus(
        meeting: MeetingApplication, feeds: Feeds) -> None:
    plan_id = feeds.propose(uuid4())

    decide(meeting, convene(meeting, "shien_kaigi"), plan_id, decision="revision_requested")

    decided = only(outputs(meeting, "MeetingDecided"))
    assert decided.payload["meeting_type"] == "shien_kaigi" and decided.payload["decision"] == "revision_requested"
    assert decided.payload["reasons"] == "", "D10: a 支援会議's reasons never travel on the bus"


def test_d10_shien_kaigi_does_not_approve_a_plan(meeting: MeetingApplication, feeds: Feeds) -> None:
    plan_id = feeds.propose(uuid4())

    with pytest.raises(NotForShienKaigi):
        decide(meeting, convene(meeting, "shien_kaigi"), plan_id)
    assert outputs(meeting, "MeetingDecided") == []


def test_d10_unknown_meeting_type_is_refused(meeting: MeetingApplication) -> None:
    with pytest.raises(Invalid):
        convene(meeting, "kaigi")


def test_d5_meeting_with_an_unknown_attendee_is_refused(meeting: MeetingApplication) -> None:
    with pytest.raises(Invalid):
        meeting.convene(SECRETARIAT, "shien_kaigi", date(2025, 5, 20), ["架空の機関"])


# -- D5: consensus ------------------------------------------------------------------------------


def test_d5_open_objection_blocks_the_decision(meeting: MeetingApplication, feeds: Feeds) -> None:
    _, plan_id = on_agenda_with_consent(feeds)
    positions = [*AGREE[1:], {"agency": ATTENDEES[0], "position": "object", "reason": "役割が重い"}]

    with pytest.raises(OpenObjection):
        decide(meeting, convene(meeting), plan_id, positions=positions)


def test_d5_position_from_a_non_attendee_is_refused(meeting: MeetingApplication, feeds: Feeds) -> None:
    _, plan_id = on_agenda_with_consent(feeds)

    with pytest.raises(Invalid):
        decide(meeting, convene(meeting), plan_id, positions=[{"agency": partner("hello-work"), "position": "agree"}])


def test_d5_decision_without_every_attendees_position_is_refused(meeting: MeetingApplication, feeds: Feeds) -> None:
    _, plan_id = on_agenda_with_consent(feeds)

    with pytest.raises(Invalid):
        decide(meeting, convene(meeting), plan_id, positions=AGREE[1:])


def test_d5_objection_without_a_reason_is_refused(meeting: MeetingApplication, feeds: Feeds) -> None:
    _, plan_id = on_agenda_with_consent(feeds)
    positions = [*AGREE[1:], {"agency": ATTENDEES[0], "position": "object", "reason": " "}]

    with pytest.raises(Invalid):
        decide(meeting, convene(meeting), plan_id, positions=positions)


def test_d5_decision_records_the_attendees_and_the_plans_revision(meeting: MeetingApplication, feeds: Feeds) -> None:
    _, plan_id = on_agenda_with_consent(feeds)

    decide(meeting, convene(meeting), plan_id)

    payload = only(outputs(meeting, "MeetingDecided")).payload
    assert (payload["plan_id"], payload["attendees"], payload["revision"]) == (str(plan_id), ATTENDEES, 1)


def test_d5_decided_plan_is_not_decided_again(meeting: MeetingApplication, feeds: Feeds) -> None:
    _, plan_id = on_agenda_with_consent(feeds)
    sitting = convene(meeting)
    decide(meeting, sitting, plan_id)

    with pytest.raises(NotOnAgenda):
        decide(meeting, sitting, plan_id)


def test_d5_plan_not_proposed_is_not_found(meeting: MeetingApplication) -> None:
    with pytest.raises(NotFound):
        decide(meeting, convene(meeting, "shien_kaigi"), uuid4())


def test_d6_revised_plan_is_decided_at_its_new_revision(meeting: MeetingApplication, feeds: Feeds) -> None:
    case_id, plan_id = on_agenda_with_consent(feeds)
    sitting = convene(meeting)
    decide(meeting, sitting, plan_id, "revision_requested")
    feeds.propose(case_id, plan_id, revision=2)

    decide(meeting, sitting, plan_id, "approved")

    assert [e.payload["revision"] for e in outputs(meeting, "MeetingDecided")] == [1, 2]


def test_d6_plan_proposed_delivered_twice_is_listed_once(meeting: MeetingApplication, feeds: Feeds) -> None:
    case_id = uuid4()
    escalate(meeting, case_id, feeds.intake)
    envelope, payload = feeds.collaboration.emit("PlanProposed", plan_proposed(uuid4()), case_id)
    meeting.receive(envelope, payload)
    recorded = stored_count(meeting)

    assert meeting.receive(envelope, payload) is False
    assert stored_count(meeting) == recorded


def test_d5_decision_connects_the_case_to_outreach_and_participation(meeting: MeetingApplication, feeds: Feeds) -> None:
    _, plan_id = on_agenda_with_consent(feeds)

    decide(meeting, convene(meeting), plan_id, connect_to=["outreach", "participation"])

    assert only(outputs(meeting, "MeetingDecided")).payload["connect_to"] == ["outreach", "participation"]


# -- D5 D11: return to intake ---------------------------------------------------------------------


def test_d11_return_to_intake_requires_the_primary_agency(meeting: MeetingApplication, feeds: Feeds) -> None:
    _, plan_id = on_agenda_with_consent(feeds)

    with pytest.raises(Invalid):
        decide(meeting, convene(meeting), plan_id, "returned_to_intake", primary_agency=None)


def test_d5_return_to_intake_publishes_the_decision(meeting: MeetingApplication, feeds: Feeds) -> None:
    _, plan_id = on_agenda_with_consent(feeds)

    decide(meeting, convene(meeting), plan_id, "returned_to_intake", primary_agency=ELDERLY.ja)

    assert only(outputs(meeting, "MeetingDecided")).payload["decision"] == "returned_to_intake"


def test_d11_return_to_intake_publishes_case_returned_with_the_primary(
        meeting: MeetingApplication, feeds: Feeds) -> None:
    case_id, plan_id = on_agenda_with_consent(feeds)
    sitting = convene(meeting)

    decide(meeting, sitting, plan_id, "returned_to_intake", primary_agency=ELDERLY.ja)

    returned = only(outputs(meeting, "CaseReturnedToIntake"))
    assert (returned.case_id, returned.payload["primary_agency"], returned.payload["meeting_id"]) == (
        case_id, ELDERLY.ja, str(sitting))


def test_d5_approval_does_not_return_the_case(meeting: MeetingApplication, feeds: Feeds) -> None:
    _, plan_id = on_agenda_with_consent(feeds)

    decide(meeting, convene(meeting), plan_id, "approved")

    assert outputs(meeting, "CaseReturnedToIntake") == []


# -- D7: evaluation at closure ----------------------------------------------------------------------


def test_d7_evaluation_closed_publishes_plan_closed(meeting: MeetingApplication, feeds: Feeds) -> None:
    case_id, plan_id, sitting = awaiting_evaluation(meeting, feeds)

    evaluate(meeting, sitting, plan_id, "closed")

    closed = only(outputs(meeting, "PlanClosed"))
    assert (closed.case_id, closed.payload["plan_id"], closed.payload["evaluation"]) == (
        case_id, str(plan_id), {"course": "月1回の訪問", "outcome": "就労に至った", "goals": GOAL_RESULTS})


def test_d7_suspension_requires_a_reason(meeting: MeetingApplication, feeds: Feeds) -> None:
    _, plan_id, sitting = awaiting_evaluation(meeting, feeds)

    with pytest.raises(Invalid):
        evaluate(meeting, sitting, plan_id, "suspended", reason="")


def test_d7_evaluation_suspended_publishes_plan_suspended(meeting: MeetingApplication, feeds: Feeds) -> None:
    _, plan_id, sitting = awaiting_evaluation(meeting, feeds)

    evaluate(meeting, sitting, plan_id, "suspended", reason="本人が転居")

    assert only(outputs(meeting, "PlanSuspended")).payload["reason"] == "本人が転居"


def test_d7_continuation_requires_a_next_review_date(meeting: MeetingApplication, feeds: Feeds) -> None:
    _, plan_id, sitting = awaiting_evaluation(meeting, feeds)

    with pytest.raises(Invalid):
        evaluate(meeting, sitting, plan_id, "continued", next_review_on=None)


def test_d7_evaluation_continued_publishes_plan_continued(meeting: MeetingApplication, feeds: Feeds) -> None:
    _, plan_id, sitting = awaiting_evaluation(meeting, feeds)

    evaluate(meeting, sitting, plan_id, "continued", next_review_on=date(2025, 11, 1))

    assert only(outputs(meeting, "PlanContinued")).payload["next_review_on"] == "2025-11-01"


def test_d7_evaluation_must_judge_every_goal_of_the_plan(meeting: MeetingApplication, feeds: Feeds) -> None:
    _, plan_id, sitting = awaiting_evaluation(meeting, feeds)

    with pytest.raises(Invalid):
        evaluate(meeting, sitting, plan_id, "closed", goal_results=[])


def test_d7_evaluation_of_a_goal_the_plan_lacks_is_refused(meeting: MeetingApplication, feeds: Feeds) -> None:
    _, plan_id, sitting = awaiting_evaluation(meeting, feeds)
    extra = [*GOAL_RESULTS, {"goal": "プランにない目標", "result": "achieved"}]

    with pytest.raises(Invalid):
        evaluate(meeting, sitting, plan_id, "closed", goal_results=extra)


def test_d7_evaluation_without_a_closure_request_is_refused(meeting: MeetingApplication, feeds: Feeds) -> None:
    _, plan_id = on_agenda_with_consent(feeds)
    sitting = convene(meeting)
    decide(meeting, sitting, plan_id)

    with pytest.raises(NotOnAgenda):
        evaluate(meeting, sitting, plan_id, "closed")


def test_d7_evaluated_plan_leaves_the_agenda(meeting: MeetingApplication, feeds: Feeds) -> None:
    _, plan_id, sitting = awaiting_evaluation(meeting, feeds)

    evaluate(meeting, sitting, plan_id, "closed")

    assert [item["plan_id"] for item in meeting.agenda()] == []


# -- D8: resource gaps ----------------------------------------------------------------------------


def test_d8_identified_gap_publishes_resource_gap_identified_for_the_case(meeting: MeetingApplication) -> None:
    case_id = uuid4()

    meeting.identify_gap(SECRETARIAT, convene(meeting, "shien_kaigi"), case_id, "夜間の居場所", "調布市東部",
                         "若者が夜に過ごせる場がない")

    gap = only(outputs(meeting, "ResourceGapIdentified"))
    assert (gap.case_id, gap.payload["need"], gap.payload["area"]) == (case_id, "夜間の居場所", "調布市東部")
