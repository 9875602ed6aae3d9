"""D6 D12 D13: the meeting lists a first plan from outreach or participation only for a case that program holds.

With outreach's or participation's NATS password a PlanProposed for any case was listed by the meeting, and the
divisions its roles name then read that case's records at the meeting (consent, history; found by last session's
review). The meeting now hears OutreachStarted and ParticipationStarted (each comes before the program's plans for the
case, from the same source, on the same consumer) and refuses, as poison with its reason, a first plan for a case the
program never announced. A store made before this change is caught up once from the stream (services/meeting/
held_cases.py): until it is, such a plan is retried, not refused. The bus side is tests/e2e/test_hb_plan_provenance_bus.py.
"""

from __future__ import annotations

from typing import Any
from uuid import UUID, uuid4

import pytest
from eventsourcing.persistence import Tracking
from support.held import ESCALATION, escalate
from support.municipality import ELDERLY

from services.collaboration.application import CollaborationApplication
from services.collaboration.translate import translate as collaboration_translate
from services.intake.application import IntakeApplication
from services.intake.translate import translate as intake_translate
from services.meeting.application import (
    ESCALATIONS_READ,
    HELD_CASES_READ,
    HeldCasesNotYetRead,
    MeetingApplication,
    OpeningNotYetHeard,
)
from services.meeting.domain import HeldCase, PlanReview
from services.outreach.application import OutreachApplication
from services.outreach.translate import translate as outreach_translate
from shared.contract.events import REGISTRY, PoisonMessage
from shared.kernel.journey import NotFound, acting
from shared.messaging.reasons import japanese
from unit.builders import (
    COORDINATOR,
    COUNTER_STAFF,
    PERSON,
    ROLES,
    Upstream,
    consent_recorded,
    deliver,
    envelope_for,
    in_memory,
    plan_proposed,
    published,
)

ESCALATED_V2: dict[str, Any] = {"reason_code": "compound", "reason_text": "介護と困窮が重なる", "concerns": ["介護"],
                "primary_agency": ELDERLY.ja}
STARTED: dict[str, tuple[str, dict[str, Any]]] = {"outreach": ("OutreachStarted", {"referred_by": "民生委員・児童委員", "reason": "長期のひきこもり"}),
           "participation": ("ParticipationStarted", {"referred_by": "outreach", "needs": ["居場所"]})}


@pytest.fixture
def meeting() -> MeetingApplication:
    """A meeting whose store knows every case announced (a new store, or one caught up)."""
    app = in_memory(MeetingApplication)
    app.catch_up_held_cases([], read_to=1)
    return app


def listed(meeting: MeetingApplication, plan_id: UUID) -> bool:
    try:
        meeting.listed(plan_id)
    except NotFound:
        return False
    return True


@pytest.mark.parametrize("program", ["outreach", "participation"])
def test_d6_a_first_plan_for_a_case_the_program_never_held_is_refused(meeting: MeetingApplication, program: str) -> None:
    plan_id, case_id = uuid4(), uuid4()
    with pytest.raises(PoisonMessage) as refused:
        meeting.receive(*Upstream(program).emit("PlanProposed", plan_proposed(plan_id, program=program), case_id))
    reason = refused.value.reason
    assert f"for a case {program} never announced holding (no {STARTED[program][0]} for it)" in reason, reason
    assert "not applied" in reason and str(case_id) in reason and reason.isascii(), reason  # (a NATS header)
    ja = japanese(reason) or ""  # `jusou deadletters` shows it in Japanese first
    assert "担当を始めた" in ja and str(case_id) in ja and str(plan_id) in ja and "反映しません" in ja, ja
    assert not listed(meeting, plan_id)
    assert meeting.agenda() == [] and meeting.recorder.max_tracking_id(program) is None  # nothing, not even tracking


@pytest.mark.parametrize("program", ["outreach", "participation"])
def test_d6_a_plan_for_a_case_the_program_announced_is_listed(meeting: MeetingApplication, program: str) -> None:
    plan_id, case_id, source = uuid4(), uuid4(), Upstream(program)
    event_type, payload = STARTED[program]
    assert meeting.receive(*source.emit(event_type, payload, case_id))
    assert meeting.holds(program, case_id)
    assert meeting.receive(*source.emit("PlanProposed", plan_proposed(plan_id, program=program), case_id))
    assert meeting.listed(plan_id).program == program


def test_d6_another_programs_start_does_not_let_a_program_propose(meeting: MeetingApplication) -> None:
    case_id, plan_id = uuid4(), uuid4()
    meeting.receive(*Upstream("participation").emit(*STARTED["participation"], case_id))
    with pytest.raises(PoisonMessage, match="outreach never announced holding"):
        meeting.receive(*Upstream("outreach").emit("PlanProposed", plan_proposed(plan_id, program="outreach"), case_id))
    assert not listed(meeting, plan_id)


def test_d6_a_start_for_another_case_does_not_let_a_program_propose_for_this_one(meeting: MeetingApplication) -> None:
    outreach, plan_id = Upstream("outreach"), uuid4()
    meeting.receive(*outreach.emit(*STARTED["outreach"], uuid4()))
    with pytest.raises(PoisonMessage, match="never announced holding"):
        meeting.receive(*outreach.emit("PlanProposed", plan_proposed(plan_id, program="outreach"), uuid4()))


# -- collaboration: its cases open on intake's CaseEscalated or outreach's OutreachHandedOver (D4) -----------------


def test_d4_meeting_refuses_a_collaboration_plan_for_a_case_never_escalated(meeting: MeetingApplication) -> None:
    """With collaboration's NATS password a plan for any case (one intake never escalated, another program's) was
    listed, and the divisions its roles name then read the case at the meeting. Now its first delivery is retried (the
    escalation comes on another consumer and may be late); after the grace, nothing having come, it is refused."""
    plan_id, case_id = uuid4(), uuid4()
    meeting.opening_grace = 0.0
    proposal = Upstream("collaboration").emit("PlanProposed", plan_proposed(plan_id), case_id)
    with pytest.raises(OpeningNotYetHeard):
        meeting.receive(*proposal)
    assert not listed(meeting, plan_id) and meeting.recorder.max_tracking_id("collaboration") is None
    with pytest.raises(PoisonMessage) as refused:
        meeting.receive(*proposal)  # (redelivered)
    reason = refused.value.reason
    assert "for a case collaboration never announced holding (no CaseEscalated for it)" in reason, reason
    assert "intake's CaseEscalated or outreach's OutreachHandedOver to collaboration" in reason, reason
    assert "not applied" in reason and str(case_id) in reason and reason.isascii(), reason
    ja = japanese(reason) or ""
    assert "担当を始めた" in ja and str(case_id) in ja and str(plan_id) in ja and "反映しません" in ja, ja
    assert not listed(meeting, plan_id) and meeting.agenda() == []
    assert meeting.recorder.max_tracking_id("collaboration") is None


@pytest.mark.parametrize("version", [1, 2])
def test_d4_a_collaboration_plan_for_an_escalated_case_is_listed(meeting: MeetingApplication, version: int) -> None:
    """CaseEscalated v1 (raised to v2, as collaboration takes it) or v2."""
    case_id, plan_id = uuid4(), uuid4()
    payload = ESCALATED_V2 if version == 2 else ESCALATION
    escalated = REGISTRY[("CaseEscalated", version)].model_validate(payload)
    envelope, _ = envelope_for("intake", 1, "CaseEscalated", escalated, case_id)
    assert meeting.receive(envelope.model_copy(update={"schema_version": version}), escalated)
    assert meeting.holds("collaboration", case_id) and not meeting.holds("intake", case_id)
    assert meeting.receive(*Upstream("collaboration").emit("PlanProposed", plan_proposed(plan_id), case_id))
    assert meeting.listed(plan_id).program == "collaboration"


@pytest.mark.parametrize("to_program", ["collaboration", "participation", "intake"])
def test_d4_outreachs_hand_over_lets_collaboration_propose_only_when_it_names_collaboration(
        meeting: MeetingApplication, to_program: str) -> None:
    case_id, plan_id = uuid4(), uuid4()
    meeting.opening_grace = 0.0
    meeting.receive(*Upstream("outreach").emit("OutreachHandedOver", {"to_program": to_program, "reason": "世帯の課題"},
                                               case_id))
    proposal = Upstream("collaboration").emit("PlanProposed", plan_proposed(plan_id), case_id)
    if to_program == "collaboration":
        assert meeting.receive(*proposal) and meeting.listed(plan_id).program == "collaboration"
        return
    assert not meeting.holds("collaboration", case_id)
    with pytest.raises(OpeningNotYetHeard):
        meeting.receive(*proposal)
    with pytest.raises(PoisonMessage, match="collaboration never announced holding"):
        meeting.receive(*proposal)


def test_d4_an_escalation_for_another_case_does_not_let_collaboration_propose_for_this_one(
        meeting: MeetingApplication) -> None:
    """Nor does another program's hold of the case (outreach started it): the plan names collaboration."""
    case_id, plan_id = uuid4(), uuid4()
    meeting.opening_grace = 0.0
    escalate(meeting, uuid4())
    meeting.receive(*Upstream("outreach").emit(*STARTED["outreach"], case_id))
    proposal = Upstream("collaboration").emit("PlanProposed", plan_proposed(plan_id), case_id)
    with pytest.raises(OpeningNotYetHeard):
        meeting.receive(*proposal)
    with pytest.raises(PoisonMessage, match="collaboration never announced holding"):
        meeting.receive(*proposal)
    assert not listed(meeting, plan_id)


def test_d4_a_collaboration_plan_that_came_before_its_escalation_waits_for_it(meeting: MeetingApplication) -> None:
    """The escalation comes on the meeting's intake consumer, the plan on its collaboration consumer: the plan may be
    delivered first (the intake consumer behind). It is retried, not refused, within the grace and while the intake
    consumer still applies events; then listed once the escalation is applied."""
    clock = [100.0]
    meeting.clock = lambda: clock[0]
    case_id, plan_id, intake = uuid4(), uuid4(), Upstream("intake")
    proposal = Upstream("collaboration").emit("PlanProposed", plan_proposed(plan_id), case_id)
    with pytest.raises(OpeningNotYetHeard):
        meeting.receive(*proposal)
    clock[0] += meeting.opening_grace + 1  # past the grace, but the intake consumer moved meanwhile (a backlog)
    meeting.receive(*intake.emit("ConsentRecorded", consent_recorded(True), uuid4()))
    with pytest.raises(OpeningNotYetHeard):
        meeting.receive(*proposal)
    escalate(meeting, case_id, intake)
    assert meeting.receive(*proposal) and meeting.listed(plan_id).program == "collaboration"
    assert not meeting._waiting  # (nothing left remembered)


def test_d4_past_the_grace_with_nothing_applied_meanwhile_the_plan_is_refused(meeting: MeetingApplication) -> None:
    clock = [100.0]
    meeting.clock = lambda: clock[0]
    proposal = Upstream("collaboration").emit("PlanProposed", plan_proposed(uuid4()), uuid4())
    with pytest.raises(OpeningNotYetHeard):
        meeting.receive(*proposal)
    clock[0] += meeting.opening_grace / 2
    with pytest.raises(OpeningNotYetHeard):  # within the grace
        meeting.receive(*proposal)
    clock[0] += meeting.opening_grace
    with pytest.raises(PoisonMessage, match="never announced holding"):
        meeting.receive(*proposal)


def test_d4_the_escalation_does_not_widen_who_reads_the_case_at_the_meeting(meeting: MeetingApplication) -> None:
    """The escalation's actor (intake's counselor, another division) is not recorded as upstream of the held case."""
    case_id = uuid4()
    before = meeting.case_divisions(case_id)
    assert ELDERLY.division not in before
    meeting.receive(*envelope_for("intake", 1, "CaseEscalated", ESCALATION, case_id,
                                  actor={"staff_id": "s1", "division": ELDERLY.division}))
    history = meeting.history(case_id)
    assert [row["event"] for row in history] == ["HeldCase.Announced"], history
    assert history[0]["actor"] == {"service": "meeting"} and "upstream_divisions" not in history[0], history[0]
    assert meeting.case_divisions(case_id) == before


def test_d16_a_households_plan_is_on_its_escalated_case_and_none_on_a_related_one(
        meeting: MeetingApplication) -> None:
    """A household escalation: collaboration opens the escalated case, holding the related ones in it, and drafts no
    plan on a related case; the meeting holds the escalated case for it, and a plan on a related case is refused."""
    collaboration, intake = in_memory(CollaborationApplication), Upstream("intake")
    case_id, mother, household = uuid4(), uuid4(), uuid4()
    escalation = intake.emit("CaseEscalated", {**ESCALATION, "household_ref": str(household),
                                               "related_case_ids": [str(mother)]}, case_id)
    for service in (collaboration, meeting):
        assert service.receive(*escalation)
    with pytest.raises(NotFound):
        collaboration.draft_plan(COORDINATOR, mother, "世帯で支える", ["月1回会う"], ROLES)
    plan_id = collaboration.draft_plan(COORDINATOR, case_id, "世帯で支える", ["月1回会う"], ROLES)
    collaboration.propose_plan(COORDINATOR, plan_id)
    for envelope in published(collaboration, collaboration_translate, "PlanProposed"):
        deliver(envelope, meeting)
    assert meeting.listed(plan_id).case_id == case_id
    assert meeting.holds("collaboration", case_id) and not meeting.holds("collaboration", mother)
    meeting.opening_grace = 0.0
    forged = envelope_for("collaboration", (meeting.recorder.max_tracking_id("collaboration") or 0) + 1,
                          "PlanProposed", plan_proposed(uuid4()), mother)
    with pytest.raises(OpeningNotYetHeard):
        meeting.receive(*forged)
    with pytest.raises(PoisonMessage, match="never announced holding"):
        meeting.receive(*forged)


def test_d4_the_real_escalation_from_intake_lets_the_real_plan_be_listed() -> None:
    """Intake's own CaseEscalated as its relay publishes it, then collaboration's own plan."""
    meeting, intake_app, collaboration = (in_memory(MeetingApplication), in_memory(IntakeApplication),
                                          in_memory(CollaborationApplication))
    case_id = intake_app.receive_consultation(COUNTER_STAFF, ELDERLY.code, ELDERLY.division, "来所", ["高齢・介護"],
                                              dict(PERSON), None, True)
    intake_app.escalate_case(COUNTER_STAFF, case_id, "介護と困窮が重なる", ELDERLY.ja)
    escalations = published(intake_app, intake_translate, "CaseEscalated")
    assert escalations
    for envelope in escalations:
        deliver(envelope, collaboration)
        deliver(envelope, meeting)
    plan_id = collaboration.draft_plan(COORDINATOR, case_id, "世帯で支える", ["月1回会う"], ROLES)
    collaboration.propose_plan(COORDINATOR, plan_id)
    for envelope in published(collaboration, collaboration_translate, "PlanProposed"):
        deliver(envelope, meeting)
    assert meeting.listed(plan_id).program == "collaboration"


def test_d6_a_start_heard_twice_is_recorded_once(meeting: MeetingApplication) -> None:
    case_id, outreach = uuid4(), Upstream("outreach")
    meeting.receive(*outreach.emit(*STARTED["outreach"], case_id))
    meeting.receive(*outreach.emit(*STARTED["outreach"], case_id))  # (another position: not a duplicate delivery)
    assert meeting.ids_of(HeldCase) and len(meeting.ids_of(HeldCase)) == 1


def test_d6_the_real_outreach_journey_is_listed() -> None:
    """Outreach's own events as its relay publishes them, in store order: start, then the plan."""
    meeting, outreach = in_memory(MeetingApplication), in_memory(OutreachApplication)
    meeting.catch_up_held_cases([], read_to=1)
    case_id = outreach.start(COORDINATOR, None, "民生委員・児童委員", "長期のひきこもりが心配")
    plan_id = outreach.draft_plan(COORDINATOR, case_id, "関係づくりから", ["月1回会う"], ROLES)
    outreach.propose_plan(COORDINATOR, plan_id)
    for envelope in published(outreach, outreach_translate):
        deliver(envelope, meeting)
    assert meeting.listed(plan_id).program == "outreach"


def test_d6_the_held_case_does_not_widen_who_reads_the_case_at_the_meeting(meeting: MeetingApplication) -> None:
    """The start event's actor (an outreach worker's division) is not recorded as upstream of the held case: who reads
    the meeting's record of a case is what its plans and sittings name, as before."""
    case_id = uuid4()
    before = meeting.case_divisions(case_id)
    assert ELDERLY.division not in before  # (a division the meeting's program does not give every case)
    meeting.receive(*envelope_for("outreach", 1, *STARTED["outreach"], case_id,
                                  actor={"staff_id": "o1", "division": ELDERLY.division}))
    history = meeting.history(case_id)
    assert [row["event"] for row in history] == ["HeldCase.Announced"], history
    assert "upstream_divisions" not in history[0] and history[0]["actor"] == {"service": "meeting"}, history[0]
    assert meeting.case_divisions(case_id) == before


# -- a store made before this change (services/meeting/held_cases.py) ---------------------------------------------


def test_d6_before_the_catch_up_a_first_plan_for_an_unknown_case_waits_and_is_not_refused() -> None:
    old = in_memory(MeetingApplication)  # no HELD_CASES_READ: not caught up
    plan_id, case_id = uuid4(), uuid4()
    with pytest.raises(HeldCasesNotYetRead):
        old.receive(*Upstream("outreach").emit("PlanProposed", plan_proposed(plan_id, program="outreach"), case_id))
    assert not listed(old, plan_id) and old.recorder.max_tracking_id("outreach") is None  # retried, not skipped


def test_d6_the_catch_up_records_the_cases_without_moving_the_consumers_tracking() -> None:
    """The consumer's tracking of outreach is past its start events already (its old filter never delivered them): the
    catch-up records them without a tracking record, and the next plans are listed or refused as on a new store."""
    old = in_memory(MeetingApplication)
    outreach, participation = Upstream("outreach"), Upstream("participation")
    held, other_case = uuid4(), uuid4()
    started, _ = outreach.emit(*STARTED["outreach"], held)  # position 1, never delivered to the meeting
    other_started, _ = participation.emit(*STARTED["participation"], other_case)
    outreach.position = 2
    old.recorder.insert_tracking(Tracking(application_name="outreach", notification_id=2))  # the old consumer's
    old.catch_up_held_cases([started], read_to=None)  # a read not yet to the end marks nothing
    assert not old.held_cases_read()

    assert old.catch_up_held_cases([started, other_started], read_to=7) == 1  # (the first one was recorded above)
    assert old.held_cases_read() and old.recorder.max_tracking_id(HELD_CASES_READ) == 7
    assert old.recorder.max_tracking_id("outreach") == 2 and old.recorder.max_tracking_id("participation") is None
    assert old.holds("outreach", held) and old.holds("participation", other_case)
    assert not old.holds("outreach", other_case)
    assert old.catch_up_held_cases([started], read_to=8) == 0  # read again: nothing new
    assert {old.read(i, HeldCase, "held").via for i in old.ids_of(HeldCase)} == {"catch_up"}

    plan_id = uuid4()
    assert old.receive(*outreach.emit("PlanProposed", plan_proposed(plan_id, program="outreach"), held))
    assert old.listed(plan_id).program == "outreach"
    with pytest.raises(PoisonMessage, match="never announced holding"):
        old.receive(*outreach.emit("PlanProposed", plan_proposed(uuid4(), program="outreach"), other_case))


def test_d6_a_plan_listed_before_the_check_for_a_case_never_held_is_named_after_the_catch_up() -> None:
    """A store made before may hold a plan forged with outreach's password: the catch-up names it for the operator."""
    old = in_memory(MeetingApplication)
    forged_case, real_case, forged_plan, real_plan = uuid4(), uuid4(), uuid4(), uuid4()
    with acting({"service": "meeting"}):  # listed as the version before listed any, unchecked
        old.save(PlanReview(case_id=forged_case, plan_id=forged_plan, program="outreach", revision=1, summary={}),
                 PlanReview(case_id=real_case, plan_id=real_plan, program="outreach", revision=1, summary={}))
    started, _ = Upstream("outreach").emit(*STARTED["outreach"], real_case)
    old.catch_up_held_cases([started], read_to=3)
    assert old.plans_never_held() == [{"plan_id": str(forged_plan), "program": "outreach", "case_id": str(forged_case)}]


def test_d6_a_start_read_from_the_stream_counts_before_it_is_recorded() -> None:
    """The one-off read knows a case as soon as it read its start event: a first plan waiting for it is listed then,
    while the recording goes on (it takes several times longer than the read)."""
    old = in_memory(MeetingApplication)
    outreach, case_id, plan_id = Upstream("outreach"), uuid4(), uuid4()
    started, _ = outreach.emit(*STARTED["outreach"], case_id)
    proposal = outreach.emit("PlanProposed", plan_proposed(plan_id, program="outreach"), case_id)
    with pytest.raises(HeldCasesNotYetRead):
        old.receive(*proposal)
    old.heard_on_stream([started])
    assert not old.holds("outreach", case_id) and not old.held_cases_read()
    assert old.receive(*proposal) and old.listed(plan_id).program == "outreach"
    with pytest.raises(HeldCasesNotYetRead):  # another case: still waits for the end of the read
        old.receive(*outreach.emit("PlanProposed", plan_proposed(uuid4(), program="outreach"), uuid4()))
    old.catch_up_held_cases([started], read_to=4)
    assert old.holds("outreach", case_id) and old.held_cases_read()


# -- a store caught up for outreach and participation before collaboration's cases were kept --------------------------


def test_d4_a_store_caught_up_before_reads_the_escalations_and_hand_overs_once() -> None:
    """A store of the version before holds the mark for outreach's and participation's start events
    (`HELD_CASES_READ`), not collaboration's: its intake and outreach consumers are past every old escalation and
    hand-over. A first collaboration plan for an unknown case waits (outreach's are checked as before) until the
    one-off read (services/meeting/held_cases.py) records them, without tracking, and marks `ESCALATIONS_READ`."""
    old = in_memory(MeetingApplication)
    old.recorder.insert_tracking(Tracking(application_name=HELD_CASES_READ, notification_id=5))
    old.recorder.insert_tracking(Tracking(application_name="intake", notification_id=3))  # the old consumers'
    old.recorder.insert_tracking(Tracking(application_name="outreach", notification_id=3))
    assert old.held_cases_read("outreach") and not old.held_cases_read("collaboration")
    assert old.unread_programs() == ["collaboration"]
    old.opening_grace = 0.0
    escalated_case, handed_case, to_intake_case = uuid4(), uuid4(), uuid4()
    escalated, _ = envelope_for("intake", 2, "CaseEscalated", ESCALATION, escalated_case)
    handed, _ = envelope_for("outreach", 1, "OutreachHandedOver", {"to_program": "collaboration", "reason": "r"},
                             handed_case)
    to_intake, _ = envelope_for("outreach", 2, "OutreachHandedOver", {"to_program": "intake", "reason": "r"},
                                to_intake_case)
    collaboration, plan_id = Upstream("collaboration"), uuid4()
    with pytest.raises(HeldCasesNotYetRead):
        old.receive(*collaboration.emit("PlanProposed", plan_proposed(plan_id), escalated_case))
    with pytest.raises(PoisonMessage, match="outreach never announced"):  # outreach's mark is there: as before
        old.receive(*envelope_for("outreach", 4, "PlanProposed", plan_proposed(uuid4(), program="outreach"), uuid4()))

    assert old.catch_up_held_cases([escalated, handed, to_intake], read_to=9) == 2
    assert old.recorder.max_tracking_id(ESCALATIONS_READ) == 9 and old.held_cases_read()
    assert old.recorder.max_tracking_id(HELD_CASES_READ) == 5  # (its own mark, unchanged)
    assert old.recorder.max_tracking_id("intake") == 3 and old.recorder.max_tracking_id("outreach") == 3
    assert old.holds("collaboration", escalated_case) and old.holds("collaboration", handed_case)
    assert not old.holds("collaboration", to_intake_case) and not old.holds("intake", escalated_case)
    assert {old.read(i, HeldCase, "held").via for i in old.ids_of(HeldCase)} == {"catch_up"}

    assert old.receive(*collaboration.emit("PlanProposed", plan_proposed(plan_id), escalated_case))
    assert old.receive(*collaboration.emit("PlanProposed", plan_proposed(uuid4()), handed_case))
    forged = collaboration.emit("PlanProposed", plan_proposed(uuid4()), to_intake_case)
    with pytest.raises(OpeningNotYetHeard):
        old.receive(*forged)
    with pytest.raises(PoisonMessage, match="collaboration never announced holding"):
        old.receive(*forged)


def test_d4_an_escalation_read_from_the_stream_counts_before_it_is_recorded() -> None:
    old = in_memory(MeetingApplication)
    case_id, plan_id = uuid4(), uuid4()
    escalated, _ = envelope_for("intake", 1, "CaseEscalated", ESCALATION, case_id)
    proposal = Upstream("collaboration").emit("PlanProposed", plan_proposed(plan_id), case_id)
    with pytest.raises(HeldCasesNotYetRead):
        old.receive(*proposal)
    old.heard_on_stream([escalated])
    assert old.receive(*proposal) and old.listed(plan_id).program == "collaboration"


def test_d4_a_collaboration_plan_listed_before_the_check_for_a_case_never_escalated_is_named_after_the_catch_up() -> None:
    old = in_memory(MeetingApplication)
    forged_case, real_case, forged_plan, real_plan = uuid4(), uuid4(), uuid4(), uuid4()
    with acting({"service": "meeting"}):  # listed as the versions before listed them, unchecked
        old.save(PlanReview(case_id=forged_case, plan_id=forged_plan, program="collaboration", revision=1, summary={}),
                 PlanReview(case_id=real_case, plan_id=real_plan, program="collaboration", revision=1, summary={}))
    escalated, _ = envelope_for("intake", 1, "CaseEscalated", ESCALATION, real_case)
    old.catch_up_held_cases([escalated], read_to=3)
    assert old.plans_never_held() == [
        {"plan_id": str(forged_plan), "program": "collaboration", "case_id": str(forged_case)}]


def test_d4_with_partitions_a_backlog_on_any_partition_consumer_counts_as_moving(
        meeting: MeetingApplication, monkeypatch: pytest.MonkeyPatch) -> None:
    """JUSOU_PARTITIONS > 1 (docs/capacity.md §6): the meeting's intake events are applied by partition consumers,
    tracked as `intake#p<k>`, not `intake`. A plan that came before its escalation waits while any of them applies
    events, as the unpartitioned consumer's tracking would show, and is listed once its escalation is applied."""
    monkeypatch.setenv("JUSOU_PARTITIONS", "2")
    clock = [100.0]
    meeting.clock = lambda: clock[0]
    case_id, plan_id = uuid4(), uuid4()
    proposal = Upstream("collaboration").emit("PlanProposed", plan_proposed(plan_id), case_id)
    with pytest.raises(OpeningNotYetHeard):
        meeting.receive(*proposal)
    for position in (1, 2):  # two partition consumers' backlogs, one after the other, each past the grace
        clock[0] += meeting.opening_grace + 1
        consent = envelope_for("intake", position, "ConsentRecorded", consent_recorded(True), uuid4())
        assert meeting.receive(*consent, tracking=f"intake#p{position - 1}")
        with pytest.raises(OpeningNotYetHeard):
            meeting.receive(*proposal)
    escalation = envelope_for("intake", 3, "CaseEscalated", ESCALATION, case_id)
    assert meeting.receive(*escalation, tracking="intake#p1")
    assert meeting.receive(*proposal) and meeting.listed(plan_id).program == "collaboration"
