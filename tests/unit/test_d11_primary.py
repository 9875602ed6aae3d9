"""D11: random journeys never leave a case without exactly one primary agency (主担当)."""

from __future__ import annotations

from datetime import date
from typing import Any
from uuid import UUID

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from services.collaboration.application import CollaborationApplication
from services.collaboration.translate import translate as collaboration_out
from services.intake.application import IntakeApplication
from services.intake.translate import translate as intake_out
from services.meeting.application import MeetingApplication
from services.meeting.translate import translate as meeting_out
from shared.contracts import Envelope
from shared.journey import DomainError
from shared.policy import division_of_agency
from shared.primary import primary_after
from unit.builders import ATTENDEES, COORDINATOR, COUNTER_STAFF, PERSON, ROLES, SECRETARIAT, deliver, in_memory, published

AGENCIES = ["地域包括支援センター", "調布ライフサポート", "調布市社会福祉協議会"]


class Suite:
    """Three services in memory, and a bus that delivers what each publishes to whoever subscribes."""

    def __init__(self) -> None:
        self.intake = in_memory(IntakeApplication)
        self.collaboration = in_memory(CollaborationApplication)
        self.meeting = in_memory(MeetingApplication)
        self.producers = {"intake": (self.intake, intake_out), "collaboration": (self.collaboration, collaboration_out),
                          "meeting": (self.meeting, meeting_out)}
        self.consumers = [self.intake, self.collaboration, self.meeting]
        self.delivered: dict[tuple[str, str], int] = {}
        self.log: list[Envelope] = []
        self.meeting_id = self.meeting.convene(SECRETARIAT, "jusou_shien_kaigi", date(2026, 11, 28), ATTENDEES)

    def pump(self) -> None:
        moved = True
        while moved:
            moved = False
            for source, (app, translate) in self.producers.items():
                for envelope in published(app, translate):
                    if envelope.event_id not in {e.event_id for e in self.log}:
                        self.log.append(envelope)
                    for consumer in self.consumers:
                        key = (consumer.service, source)
                        wanted = consumer.subscriptions.get(source, ())
                        if envelope.event_type in wanted and envelope.source_position > self.delivered.get(key, 0):
                            deliver(envelope, consumer)
                            self.delivered[key] = envelope.source_position
                            moved = True


def step(suite: Suite, case_id: UUID, op: tuple[str, Any]) -> None:
    kind, arg = op
    intake, collaboration, meeting = suite.intake, suite.collaboration, suite.meeting
    if kind == "connect":
        intake.connect_case(COUNTER_STAFF, case_id, AGENCIES[arg % 3], "つなぎ")
    elif kind == "answer":
        pending = [i for i, c in enumerate(intake.case_view(case_id)["connections"]) if c["status"] == "pending"]
        if pending:
            agency = intake.case_view(case_id)["connections"][pending[0]]["to_agency"]
            answering = {"staff_id": "s2", "division": division_of_agency(agency) or COUNTER_STAFF["division"]}
            intake.answer_connection(answering, case_id, pending[0], arg % 2 == 0, "理由")  # the agency answers
    elif kind == "escalate":
        intake.escalate_case(COUNTER_STAFF, case_id, "複合", AGENCIES[arg % 3])
    elif kind == "propose":
        plan_id = collaboration.draft_plan(COORDINATOR, case_id, "方向性", ["目標"], ROLES)
        collaboration.propose_plan(COORDINATOR, plan_id)
    elif kind == "decide":
        proposed = [r for r in meeting.agenda() if r["status"] == "proposed"]
        if proposed:
            decision = ("approved", "revision_requested", "returned_to_intake")[arg % 3]
            positions = [{"agency": a, "position": "agree"} for a in ATTENDEES]
            meeting.decide(SECRETARIAT, suite.meeting_id, UUID(proposed[0]["plan_id"]), decision, "合議", positions, [],
                           AGENCIES[arg % 3])


OPS = st.tuples(st.sampled_from(["connect", "answer", "escalate", "propose", "decide"]), st.integers(0, 5))


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(OPS, min_size=1, max_size=14))
def test_d11_every_case_has_exactly_one_primary_agency_at_any_time(ops: list[tuple[str, Any]]) -> None:
    suite = Suite()
    case_id = suite.intake.receive_consultation(COUNTER_STAFF, "houkatsu", "elderly-support", "窓口",
                                                ["高齢・介護", "ひきこもり"], dict(PERSON), None, True)
    suite.pump()
    for op in ops:
        try:
            step(suite, case_id, op)
        except DomainError:
            pass  # a command the rules refuse changes nothing; the invariant must still hold
        suite.pump()
        mine = [e for e in suite.log if e.case_id == case_id]
        primary = primary_after(sorted(mine, key=lambda e: e.occurred_at))
        assert isinstance(primary, str) and primary, "a case without a primary agency"
        assert suite.intake.case_view(case_id)["primary"] == primary
        if suite.intake.case_view(case_id)["status"] == "escalated":
            assert suite.collaboration.case_view(case_id)["primary_agency"] == primary
