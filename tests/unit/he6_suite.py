"""Four services in memory (intake, collaboration, meeting, outreach) and a bus delivering what each publishes to
whoever subscribes, in each source's order (tests/unit/test_d11_primary.py's pump): HE's probes of the domain rules
across programs (tests/unit/test_he6_*.py) drive them with the services' own commands."""

from __future__ import annotations

from datetime import date
from uuid import UUID

from support.municipality import ELDERLY

from services.collaboration.application import CollaborationApplication
from services.collaboration.translate import translate as collaboration_out
from services.intake.application import IntakeApplication
from services.intake.translate import translate as intake_out
from services.meeting.application import MeetingApplication
from services.meeting.translate import translate as meeting_out
from services.outreach.application import OutreachApplication
from services.outreach.translate import translate as outreach_out
from shared.kernel.app import ServiceApplication
from unit.builders import ATTENDEES, COORDINATOR, SECRETARIAT, deliver, in_memory, published

OUTREACH_STAFF = {"staff_id": "o1", "division": ELDERLY.division}
GOAL = "月1回の訪問で本人と会える関係をつくる"
HELD_ON = date(2027, 3, 31)  # the sitting: the last day of 令和8年度


class Suite:
    """intake, collaboration, meeting and outreach in memory, and a bus between them."""

    def __init__(self) -> None:
        self.intake = in_memory(IntakeApplication)
        self.collaboration = in_memory(CollaborationApplication)
        self.meeting = in_memory(MeetingApplication)
        self.outreach = in_memory(OutreachApplication)
        self.producers = {
            "intake": (self.intake, intake_out),
            "collaboration": (self.collaboration, collaboration_out),
            "meeting": (self.meeting, meeting_out),
            "outreach": (self.outreach, outreach_out),
        }
        self.consumers: list[ServiceApplication] = [self.intake, self.collaboration, self.meeting, self.outreach]
        self.delivered: dict[tuple[str, str], int] = {}
        self.meeting_id = self.meeting.convene(SECRETARIAT, "jusou_shien_kaigi", HELD_ON, ATTENDEES)

    def pump(self) -> None:
        moved = True
        while moved:
            moved = False
            for source, (app, translate) in self.producers.items():
                for envelope in published(app, translate):
                    for consumer in self.consumers:
                        key = (consumer.service, source)
                        wanted = consumer.subscriptions.get(source, ())
                        if envelope.event_type in wanted and envelope.source_position > self.delivered.get(key, 0):
                            deliver(envelope, consumer)
                            self.delivered[key] = envelope.source_position
                            moved = True

    def approve(self, plan_id: UUID, connect_to: list[str] = ()) -> None:  # type: ignore[assignment]
        self.meeting.decide(
            SECRETARIAT, self.meeting_id, plan_id, "approved", "合議", [], list(connect_to), None, all_agree=True
        )
        self.pump()

    def ask_closure(self, owner: ServiceApplication, plan_id: UUID) -> None:
        owner.request_plan_closure(COORDINATOR, plan_id, "目標に届いた")  # type: ignore[attr-defined]
        self.pump()

    def evaluate(self, plan_id: UUID, outcome: str, next_review_on: date | None = None) -> None:
        self.meeting.evaluate(
            SECRETARIAT,
            self.meeting_id,
            plan_id,
            outcome,
            "訪問12回",
            "目標達成",
            "入院" if outcome == "suspended" else "",
            next_review_on,
            [{"goal": GOAL, "result": "achieved"}],
        )
        self.pump()

    def end(self, owner: ServiceApplication, plan_id: UUID, outcome: str) -> None:
        self.ask_closure(owner, plan_id)
        self.evaluate(plan_id, outcome)
