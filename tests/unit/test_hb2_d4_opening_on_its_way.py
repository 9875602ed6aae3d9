"""D4: a first collaboration plan for a case the meeting has not heard opened is decided by what the server says of its
opening (services/meeting/openings.py), not by the clock and by whether intake's consumer moves.

Found in session 19: a forged plan arriving while intake's traffic kept the meeting's intake consumer moving waited out
the inbox's tries and was parked "failed … OpeningNotYetHeard" instead of refused with its reason; and a real plan whose
escalation took more than ~6 s to be applied was parked too. Now, where the server can be asked: no opening event from
before the plan is unsettled → refused at once with its reason, however busy intake is; one is → the plan waits
(`OpeningOnItsWay`, a `Waiting`: the inbox does not park it for its tries), however long. Here the server's answer is
given by hand (the meeting's `opening_probe`); tests/e2e/test_hb2_opening_on_its_way_bus.py asks a real nats-server."""

from __future__ import annotations

from uuid import UUID, uuid4

import pytest
from support.held import escalate

from services.meeting.application import MeetingApplication, OpeningNotYetHeard, OpeningOnItsWay
from services.meeting.domain import HeldCase
from services.meeting.openings import durable, subject_matches
from shared.contract.events import PoisonMessage
from shared.kernel.journey import acting
from shared.messaging.reasons import japanese
from shared.messaging.waiting import Waiting
from unit.builders import Upstream, consent_recorded, in_memory, plan_proposed
from unit.test_hb_plan_provenance import listed


class Server:
    """The probe's answers, given by hand: True (an opening before the plan unsettled), False, None (can't tell)."""

    def __init__(self, answer: bool | None) -> None:
        self.answer = answer
        self.asked: list[tuple[str, list[tuple[str, str]], UUID]] = []

    def __call__(self, program: str, openers: list[tuple[str, str]], case_id: UUID) -> bool | None:
        self.asked.append((program, openers, case_id))
        return self.answer


@pytest.fixture
def meeting() -> MeetingApplication:
    app = in_memory(MeetingApplication)
    app.catch_up_held_cases([], read_to=1)
    return app


def test_d4_a_forged_plan_is_refused_at_its_first_delivery_while_intake_keeps_moving(meeting: MeetingApplication) -> None:
    server, intake = Server(False), Upstream("intake")
    meeting.opening_probe = server
    meeting.receive(*intake.emit("ConsentRecorded", consent_recorded(True), uuid4()))  # intake's traffic
    case_id, plan_id = uuid4(), uuid4()

    with pytest.raises(PoisonMessage) as refused:
        meeting.receive(*Upstream("collaboration").emit("PlanProposed", plan_proposed(plan_id), case_id))

    reason = refused.value.reason
    assert f"for case {case_id} proposes plan {plan_id}" in reason and "never announced holding" in reason, reason
    assert "担当を始めた" in (japanese(reason) or "")
    assert server.asked == [("collaboration", [("intake", "CaseEscalated"), ("outreach", "OutreachHandedOver")], case_id)]
    assert not listed(meeting, plan_id) and not meeting._waiting


def test_d4_a_real_plan_waits_while_its_escalation_is_on_its_way_however_long(meeting: MeetingApplication) -> None:
    clock = [100.0]
    meeting.clock = lambda: clock[0]
    server, intake = Server(True), Upstream("intake")
    meeting.opening_probe = server
    case_id, plan_id = uuid4(), uuid4()
    proposal = Upstream("collaboration").emit("PlanProposed", plan_proposed(plan_id), case_id)

    for _ in range(10):  # nothing applied meanwhile, far past the timed rule's grace: it still waits
        with pytest.raises(OpeningOnItsWay) as waiting:
            meeting.receive(*proposal)
        clock[0] += 60
    assert isinstance(waiting.value, Waiting) and isinstance(waiting.value, OpeningNotYetHeard)

    escalate(meeting, case_id, intake)
    assert meeting.receive(*proposal) and meeting.listed(plan_id).program == "collaboration"


def test_d4_an_escalation_applied_while_the_server_was_asked_lets_the_plan_be_listed(
        meeting: MeetingApplication) -> None:
    """The server says settled because the escalation was applied (and acked) since the store was read, here by
    another replica: listed."""
    case_id, plan_id = uuid4(), uuid4()

    def settled_meanwhile(program: str, openers: list[tuple[str, str]], asked: UUID) -> bool:
        with acting({"service": "meeting"}):
            meeting.save(HeldCase(program=program, case_id=asked, via="event", source_position=1))
        return False

    meeting.opening_probe = settled_meanwhile
    assert meeting.receive(*Upstream("collaboration").emit("PlanProposed", plan_proposed(plan_id), case_id))
    assert meeting.listed(plan_id).case_id == case_id


def test_d4_when_the_server_cannot_tell_the_timed_rule_decides(meeting: MeetingApplication) -> None:
    meeting.opening_probe = Server(None)
    meeting.opening_grace = 0.0
    proposal = Upstream("collaboration").emit("PlanProposed", plan_proposed(uuid4()), uuid4())
    with pytest.raises(OpeningNotYetHeard) as first:
        meeting.receive(*proposal)
    assert not isinstance(first.value, Waiting)  # the timed rule's wait is counted by the inbox, as before
    with pytest.raises(PoisonMessage, match="never announced holding"):
        meeting.receive(*proposal)


def test_d6_outreach_and_participation_plans_never_ask_the_server(meeting: MeetingApplication) -> None:
    server = Server(True)
    meeting.opening_probe = server
    with pytest.raises(PoisonMessage, match="outreach never announced holding"):
        meeting.receive(*Upstream("outreach").emit("PlanProposed", plan_proposed(uuid4(), program="outreach"), uuid4()))
    assert server.asked == []


@pytest.mark.parametrize(("pattern", "subject", "matches"), [
    ("jusou.intake.CaseEscalated", "jusou.intake.CaseEscalated", True),
    ("jusou.intake.*", "jusou.intake.CaseEscalated", True),
    ("jusou.>", "jusou.intake.CaseEscalated", True),
    ("jusou.intake.ConsentRecorded", "jusou.intake.CaseEscalated", False),
    ("jusou.intake", "jusou.intake.CaseEscalated", False),
    ("jusou.intake.*.x", "jusou.intake.CaseEscalated", False),
    ("jusou.outreach.>", "jusou.intake.CaseEscalated", False),
])
def test_nats_subject_matching(pattern: str, subject: str, matches: bool) -> None:
    assert subject_matches(pattern, subject) is matches


def test_the_consumer_asked_is_the_cases_partition_consumer_when_partitioned() -> None:
    case_id = uuid4()
    assert durable("meeting", "intake", case_id, 1) == "meeting--intake"
    assert durable("meeting", "intake", case_id, 4).startswith("meeting--intake--p")
