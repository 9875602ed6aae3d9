"""Policies: how each service reacts to the others' integration events (D3, D5, D8, D11–D13, D15).

Upstream events are made the way production makes them where the producer exists: a real
service records a domain event, its translate builds the envelope, and the envelope crosses the
wire format (`deliver`) into the consumer's `receive`.
"""

from __future__ import annotations

from datetime import date
from uuid import UUID, uuid4

import pytest
from support.held import escalate
from support.municipality import ELDERLY, HARDSHIP

from services.collaboration.application import CollaborationApplication
from services.collaboration.translate import translate as collaboration_translate
from services.community.application import CommunityApplication
from services.community.domain import RegionalIssue
from services.community.translate import translate as community_translate
from services.intake.application import IntakeApplication
from services.intake.translate import translate as intake_translate
from services.meeting.application import MeetingApplication
from services.meeting.translate import translate as meeting_translate
from services.outreach.application import OutreachApplication
from services.outreach.domain import Engagement
from services.outreach.translate import translate as outreach_translate
from services.participation.application import ParticipationApplication
from services.participation.domain import Support
from services.participation.translate import translate as participation_translate
from shared.contract.events import (
    CaseReturnedToIntakeV1,
    Envelope,
    MeetingDecidedV1,
    ResourceShortageReportedV1,
)
from shared.kernel.journey import journey_id
from unit.builders import (
    ATTENDEES,
    COORDINATOR,
    COUNTER_STAFF,
    PERSON,
    ROLES,
    SECRETARIAT,
    Upstream,
    deliver,
    in_memory,
    only,
    published,
    stored_count,
)

AGREE = [{"agency": a, "position": "agree"} for a in ATTENDEES]


def escalated(intake: IntakeApplication) -> Envelope:
    """A consultation escalated at intake; returns the CaseEscalated envelope intake publishes."""
    case_id = intake.receive_consultation(COUNTER_STAFF, ELDERLY.code, ELDERLY.division, "窓口",
                                          ["高齢・介護", "ひきこもり"], dict(PERSON), None)
    intake.escalate_case(COUNTER_STAFF, case_id, "母の介護と本人のひきこもりが重なる", ELDERLY.ja)
    return only(published(intake, intake_translate, "CaseEscalated"))


def decided(case_id: UUID, plan_id: UUID, program: str, connect_to: list[str],
            decision: str = "approved", primary_agency: str | None = None) -> Envelope:
    """A real meeting decides a plan at the 重層的支援会議, the person's consent heard; returns its MeetingDecided."""
    meeting = in_memory(MeetingApplication)
    proposal = {"plan_id": str(plan_id), "program": program, "revision": 1, "support_direction": "方向性",
                "goals": ["目標"], "roles": ROLES}
    source, intake = Upstream(program), Upstream("intake")  # one source each: its positions rise
    if program == "outreach":  # a program proposes plans only for the cases it holds (D4 D6)
        meeting.receive(*source.emit("OutreachStarted", {"referred_by": "民生委員・児童委員", "reason": "r"}, case_id))
    elif program == "participation":
        meeting.receive(*source.emit("ParticipationStarted", {"referred_by": "outreach"}, case_id))
    else:
        escalate(meeting, case_id, intake)
    meeting.receive(*source.emit("PlanProposed", proposal, case_id))
    meeting.receive(*intake.emit("ConsentRecorded", {
        "scope": "重層的支援会議での情報共有", "granted": True, "method": "書面", "covers": ["jusou_shien_kaigi"]}, case_id))
    sitting = meeting.convene(SECRETARIAT, "jusou_shien_kaigi", date(2025, 5, 20), ATTENDEES)
    meeting.decide(SECRETARIAT, sitting, plan_id, decision, "合議の結果", AGREE, connect_to, primary_agency)
    return only(published(meeting, meeting_translate, "MeetingDecided"))


@pytest.fixture
def intake() -> IntakeApplication:
    return in_memory(IntakeApplication)


@pytest.fixture
def collaboration() -> CollaborationApplication:
    return in_memory(CollaborationApplication)


# -- collaboration opens a case on CaseEscalated (D3 D11) ------------------------------------------


def test_d3_collaboration_opens_a_case_on_case_escalated(intake: IntakeApplication,
                                                         collaboration: CollaborationApplication) -> None:
    escalation = escalated(intake)

    deliver(escalation, collaboration)

    assert collaboration.case_view(escalation.case_id)["primary_agency"] == ELDERLY.ja


def test_d3_case_escalated_delivered_twice_opens_one_case(intake: IntakeApplication,
                                                          collaboration: CollaborationApplication) -> None:
    escalation = escalated(intake)
    deliver(escalation, collaboration)
    recorded = stored_count(collaboration)

    again = deliver(escalation, collaboration)

    assert again is False
    assert stored_count(collaboration) == recorded


def test_d15_collaboration_started_is_acted_by_the_collaboration_policy(
        intake: IntakeApplication, collaboration: CollaborationApplication) -> None:
    deliver(escalated(intake), collaboration)

    started = only(published(collaboration, collaboration_translate, "CollaborationStarted"))

    assert started.actor.model_dump(exclude_none=True) == {"service": "collaboration"}


def test_d15_collaboration_started_is_caused_by_the_escalation(intake: IntakeApplication,
                                                              collaboration: CollaborationApplication) -> None:
    escalation = escalated(intake)
    deliver(escalation, collaboration)

    started = only(published(collaboration, collaboration_translate, "CollaborationStarted"))

    assert started.causation_id == escalation.event_id


def test_d15_collaboration_started_belongs_to_the_cases_journey(intake: IntakeApplication,
                                                               collaboration: CollaborationApplication) -> None:
    escalation = escalated(intake)
    deliver(escalation, collaboration)

    started = only(published(collaboration, collaboration_translate, "CollaborationStarted"))

    assert (started.case_id, started.correlation_id) == (escalation.case_id, journey_id(escalation.case_id))


def test_d11_re_escalation_after_a_return_updates_collaborations_primary_agency(
        intake: IntakeApplication, collaboration: CollaborationApplication) -> None:
    case_id = escalated(intake).case_id
    deliver(only(published(intake, intake_translate, "CaseEscalated")), collaboration)
    returned = CaseReturnedToIntakeV1(meeting_id=uuid4(), primary_agency=ELDERLY.ja, reason="単独で対応")
    intake.receive(*Upstream("meeting").emit("CaseReturnedToIntake", returned, case_id))
    intake.escalate_case(COUNTER_STAFF, case_id, "再び複合化した", HARDSHIP.ja)

    deliver(published(intake, intake_translate, "CaseEscalated")[-1], collaboration)

    assert collaboration.case_view(case_id)["primary_agency"] == intake.case_view(case_id)["primary"]


# -- a plan follows the meeting (D5 D6) -------------------------------------------------------------


def collaboration_plan(intake: IntakeApplication, collaboration: CollaborationApplication) -> tuple[UUID, UUID]:
    case_id = escalated(intake).case_id
    deliver(only(published(intake, intake_translate, "CaseEscalated")), collaboration)
    plan_id = collaboration.draft_plan(COORDINATOR, case_id, "方向性", ["目標"], ROLES)
    collaboration.propose_plan(COORDINATOR, plan_id)
    return case_id, plan_id


def test_d5_plan_follows_the_meetings_decision_on_it(intake: IntakeApplication,
                                                     collaboration: CollaborationApplication) -> None:
    case_id, plan_id = collaboration_plan(intake, collaboration)

    deliver(decided(case_id, plan_id, "collaboration", []), collaboration)

    assert collaboration.plan_view(plan_id)["status"] == "approved"


def test_d6_decision_on_another_programs_plan_changes_nothing(intake: IntakeApplication,
                                                              collaboration: CollaborationApplication) -> None:
    case_id, plan_id = collaboration_plan(intake, collaboration)
    recorded = stored_count(collaboration)

    deliver(decided(case_id, uuid4(), "participation", []), collaboration)

    assert stored_count(collaboration) == recorded
    assert collaboration.plan_view(plan_id)["status"] == "proposed"


def test_d6_decision_naming_another_program_is_not_followed_even_for_a_known_plan_id(
        intake: IntakeApplication, collaboration: CollaborationApplication) -> None:
    case_id, plan_id = collaboration_plan(intake, collaboration)
    decision = MeetingDecidedV1(meeting_id=uuid4(), meeting_type="shien_kaigi", plan_id=plan_id, decision="approved",
                                attendees=ATTENDEES, reasons="合意", program="outreach", revision=1)

    collaboration.receive(*Upstream("meeting").emit("MeetingDecided", decision, case_id))

    assert collaboration.plan_view(plan_id)["status"] == "proposed"


def test_d5_return_to_intake_reaches_intake_through_the_wire(intake: IntakeApplication) -> None:
    escalation = escalated(intake)
    case_id = escalation.case_id
    meeting = in_memory(MeetingApplication)
    deliver(escalation, meeting)  # the meeting hears intake's escalation too (D4: collaboration holds the case)
    plan_id = uuid4()
    proposal = {"plan_id": str(plan_id), "program": "collaboration", "revision": 1, "support_direction": "方向性",
                "goals": ["目標"], "roles": ROLES}
    meeting.receive(*Upstream("collaboration").emit("PlanProposed", proposal, case_id))
    sitting = meeting.convene(SECRETARIAT, "shien_kaigi", date(2025, 5, 20), ATTENDEES)
    meeting.decide(SECRETARIAT, sitting, plan_id, "returned_to_intake", "単独機関で対応できる", AGREE, [],
                   ELDERLY.ja)

    deliver(only(published(meeting, meeting_translate, "CaseReturnedToIntake")), intake)

    assert intake.case_view(case_id)["status"] == "returned"


# -- connect_to: participation and outreach (D5 D12 D13) -------------------------------------------


def test_d13_participation_starts_support_on_connect_to_participation() -> None:
    participation = in_memory(ParticipationApplication)
    case_id = uuid4()

    deliver(decided(case_id, uuid4(), "collaboration", ["participation"]), participation)

    assert participation.ids_of(Support) == [case_id]


def test_d13_participation_ignores_a_decision_not_connecting_it() -> None:
    participation = in_memory(ParticipationApplication)

    deliver(decided(uuid4(), uuid4(), "collaboration", ["outreach"]), participation)

    assert participation.ids_of(Support) == []


def test_d13_participation_started_names_the_meeting_as_referrer() -> None:
    participation = in_memory(ParticipationApplication)
    decision = decided(uuid4(), uuid4(), "collaboration", ["participation"])
    deliver(decision, participation)

    started = only(published(participation, participation_translate, "ParticipationStarted"))

    assert started.payload["referred_by"] == f"meeting:{decision.payload['meeting_id']}"


def test_d12_outreach_starts_an_engagement_on_connect_to_outreach() -> None:
    outreach = in_memory(OutreachApplication)
    case_id = uuid4()

    deliver(decided(case_id, uuid4(), "collaboration", ["outreach"]), outreach)

    assert outreach.ids_of(Engagement) == [case_id]


def test_d12_outreach_ignores_a_decision_not_connecting_it() -> None:
    outreach = in_memory(OutreachApplication)

    deliver(decided(uuid4(), uuid4(), "collaboration", ["participation"]), outreach)

    assert outreach.ids_of(Engagement) == []


def test_d12_outreach_starts_a_new_case_before_intake_or_escalation() -> None:
    outreach = in_memory(OutreachApplication)

    case_id = outreach.start(COORDINATOR, None, "民生委員・児童委員", "長期のひきこもりが心配")

    started = only(published(outreach, outreach_translate, "OutreachStarted"))
    assert (started.case_id, started.correlation_id) == (case_id, journey_id(case_id))


# -- community takes up gaps and shortages (D8) ----------------------------------------------------


def gap_identified() -> Envelope:
    meeting = in_memory(MeetingApplication)
    sitting = meeting.convene(SECRETARIAT, "shien_kaigi", date(2025, 5, 20), ATTENDEES)
    meeting.identify_gap(SECRETARIAT, sitting, uuid4(), "夜間の居場所", "調布市東部", "若者が夜に過ごせる場がない")
    return only(published(meeting, meeting_translate, "ResourceGapIdentified"))


def test_d8_community_opens_a_regional_issue_from_a_resource_gap() -> None:
    community = in_memory(CommunityApplication)

    deliver(gap_identified(), community)

    assert [issue["need"] for issue in community.issues()] == ["夜間の居場所"]


def test_d8_regional_issue_opened_names_the_gap_it_came_from() -> None:
    community = in_memory(CommunityApplication)
    gap = gap_identified()
    deliver(gap, community)

    opened = only(published(community, community_translate, "RegionalIssueOpened"))

    assert (opened.case_id, opened.payload["origin_event_id"]) == (gap.case_id, str(gap.event_id))


def test_d8_resource_gap_delivered_twice_opens_one_issue() -> None:
    community = in_memory(CommunityApplication)
    gap = gap_identified()
    deliver(gap, community)

    assert deliver(gap, community) is False
    assert len(community.ids_of(RegionalIssue)) == 1


def test_d8_community_opens_a_regional_issue_from_a_resource_shortage() -> None:
    community = in_memory(CommunityApplication)
    shortage = ResourceShortageReportedV1(need="住居", area="調布市西部", description="単身者向けの住まいがない")

    community.receive(*Upstream("participation").emit("ResourceShortageReported", shortage, uuid4()))

    assert [(i["need"], i["reported_by"]) for i in community.issues()] == [("住居", "participation")]


def test_d13_participation_publishes_a_resource_shortage_community_can_read() -> None:
    participation = in_memory(ParticipationApplication)
    community = in_memory(CommunityApplication)
    case_id = uuid4()
    deliver(decided(case_id, uuid4(), "collaboration", ["participation"]), participation)
    participation.report_shortage(COORDINATOR, case_id, "住居", "調布市西部", "単身者向けの住まいがない")

    deliver(only(published(participation, participation_translate, "ResourceShortageReported")), community)

    assert [issue["need"] for issue in community.issues()] == ["住居"]


# -- event ids (STYLE 6) ---------------------------------------------------------------------------


def test_event_id_is_the_same_when_the_same_stored_event_is_translated_again(intake: IntakeApplication) -> None:
    escalated(intake)

    first = published(intake, intake_translate)
    second = published(intake, intake_translate)

    assert [e.event_id for e in first] == [e.event_id for e in second]


def test_event_id_differs_between_services_sharing_a_case_id(intake: IntakeApplication,
                                                            collaboration: CollaborationApplication) -> None:
    escalation = escalated(intake)
    deliver(escalation, collaboration)

    received = only(published(intake, intake_translate, "ConsultationReceived"))
    started = only(published(collaboration, collaboration_translate, "CollaborationStarted"))

    assert received.case_id == started.case_id
    assert received.event_id != started.event_id
