"""D6 D12 D13: the meeting lists a first plan from outreach or participation only for a case that program holds.

With outreach's or participation's NATS password a PlanProposed for any case was listed by the meeting, and the
divisions its roles name then read that case's records at the meeting (consent, history; found by last session's
review). The meeting now hears OutreachStarted and ParticipationStarted (each comes before the program's plans for the
case, from the same source, on the same consumer) and refuses, as poison with its reason, a first plan for a case the
program never announced. A store made before this change is caught up once from the stream (services/meeting/
held_cases.py): until it is, such a plan is retried, not refused. The bus side is tests/e2e/test_hb_plan_provenance_bus.py.
"""

from __future__ import annotations

from uuid import UUID, uuid4

import pytest
from eventsourcing.persistence import Tracking
from support.municipality import ELDERLY

from services.meeting.application import HELD_CASES_READ, HeldCasesNotYetRead, MeetingApplication
from services.meeting.domain import HeldCase, PlanReview
from services.outreach.application import OutreachApplication
from services.outreach.translate import translate as outreach_translate
from shared.contract.events import PoisonMessage
from shared.kernel.journey import NotFound, acting
from shared.messaging.reasons import japanese
from unit.builders import (
    COORDINATOR,
    ROLES,
    Upstream,
    deliver,
    envelope_for,
    in_memory,
    plan_proposed,
    published,
)

STARTED = {"outreach": ("OutreachStarted", {"referred_by": "民生委員・児童委員", "reason": "長期のひきこもり"}),
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


def test_d4_collaborations_plans_are_listed_as_before(meeting: MeetingApplication) -> None:
    plan_id = uuid4()
    assert meeting.receive(*Upstream("collaboration").emit("PlanProposed", plan_proposed(plan_id), uuid4()))
    assert listed(meeting, plan_id)


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
