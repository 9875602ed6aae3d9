"""The inbox's policy (issue 14): handlers declared with `@handles`, dispatched by event type on the
library's own `process_event` path, and the subscriptions derived from them.

The expected subscriptions are written out from CONTRACT.md's consumers ("who reacts to what"), not
read from the code's tables: a handler lost or a consumer added by mistake changes a durable consumer.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any
from uuid import UUID, uuid4

import pytest
from eventsourcing.application import ProcessingEvent
from support.municipality import CITY, ELDERLY

from services.collaboration.application import CollaborationApplication
from services.community.application import CommunityApplication
from services.intake.application import IntakeApplication
from services.meeting.application import MeetingApplication
from services.outreach.application import OutreachApplication
from services.participation.application import ParticipationApplication
from shared.contract.events import (
    Actor,
    CaseEscalatedV1,
    CaseEscalatedV2,
    Envelope,
    MeetingDecidedV1,
    ResourceGapIdentifiedV1,
    Source,
)
from shared.kernel.app import Received, ServiceApplication, handles

MEETING_OUTCOMES = ("MeetingDecided", "PlanClosed", "PlanContinued", "PlanResumed", "PlanSuspended")
PLAN_EVENTS = ("PlanClosureRequested", "PlanProposed")

#: CONTRACT.md's consumers, service by service: source → event types (sorted)
EXPECTED = {
    IntakeApplication: {"collaboration": ("PlanProposed",),
                        "meeting": ("CaseReturnedToIntake", "MeetingCaseTakenUp", "MeetingDecided", "PlanClosed",
                                    "PlanContinued", "PlanResumed", "PlanSuspended"),
                        "outreach": ("OutreachHandedOver", "PlanProposed"), "participation": ("PlanProposed",)},
    CollaborationApplication: {"intake": ("CaseConnectionAnswered", "CaseEscalated"),
                               "meeting": ("CaseReturnedToIntake", *MEETING_OUTCOMES, "ResourceGapIdentified"),
                               "outreach": ("OutreachHandedOver",), "participation": ("ResourceShortageReported",)},
    MeetingApplication: {"collaboration": PLAN_EVENTS, "intake": ("CaseEscalated", "ConsentRecorded"),
                         "outreach": ("OutreachHandedOver", "OutreachStarted", *PLAN_EVENTS),
                         "participation": ("ParticipationStarted", *PLAN_EVENTS)},
    OutreachApplication: {"meeting": MEETING_OUTCOMES},
    ParticipationApplication: {"community": ("ResourceDeveloped",), "meeting": MEETING_OUTCOMES,
                               "outreach": ("OutreachHandedOver",)},
    CommunityApplication: {"collaboration": ("PromotionCouncilDecided",), "meeting": ("ResourceGapIdentified",),
                           "participation": ("ResourceShortageReported",)},
}


@pytest.mark.parametrize("app_class", list(EXPECTED), ids=lambda c: c.service)
def test_subscriptions_are_derived_from_the_handlers(app_class: type[ServiceApplication]) -> None:
    assert app_class.subscriptions == EXPECTED[app_class]


def test_a_service_may_not_list_its_subscriptions_beside_its_handlers() -> None:
    with pytest.raises(TypeError, match="derived from the @handles"):
        type("Listing", (ServiceApplication,), {"service": "x", "subscriptions": {"meeting": ("MeetingDecided",)}})


def test_a_handler_takes_the_newest_version_of_its_event() -> None:
    with pytest.raises(TypeError, match="arrives upcast"):
        handles(CaseEscalatedV1)


def test_a_handler_names_only_sources_that_publish_its_event() -> None:
    with pytest.raises(TypeError, match="not published by"):
        handles(MeetingDecidedV1, sources=("intake",))


def envelope(event_type: str, version: int, source: Source, payload: dict[str, Any], position: int = 1) -> Envelope:
    return Envelope(event_id=uuid4(), event_type=event_type, schema_version=version, source=source,
                    source_position=position, case_id=uuid4(), occurred_at=datetime.now(UTC),
                    correlation_id=uuid4(), causation_id=None, actor=Actor(service=source), payload=payload)


class Recorder(ServiceApplication):
    """A service whose handlers only note what they were given."""

    service = "community"
    seen: list[tuple[str, str, int]]

    @handles(CaseEscalatedV2)
    def _escalated(self, envelope: Envelope, payload: CaseEscalatedV2, processing: ProcessingEvent[UUID]) -> None:
        self.seen.append(("escalated", type(payload).__name__, envelope.schema_version))

    @handles(ResourceGapIdentifiedV1)
    def _gap(self, envelope: Envelope, payload: ResourceGapIdentifiedV1, processing: ProcessingEvent[UUID]) -> None:
        self.seen.append(("gap", type(payload).__name__, envelope.schema_version))


class Narrower(Recorder):
    """Overrides a handler without declaring it again: the base's declaration no longer applies."""

    def _gap(self, envelope: Envelope, payload: ResourceGapIdentifiedV1, processing: ProcessingEvent[UUID]) -> None:
        raise AssertionError("not a handler any more")


def test_the_policy_dispatches_by_type_after_upcasting_and_records_the_tracking() -> None:
    app = Recorder()
    app.seen = []
    v1 = CaseEscalatedV1(reason="8050", concerns=["elderly"], primary_agency=ELDERLY.ja)
    assert app.receive(envelope("CaseEscalated", 1, "intake", v1.model_dump(mode="json")), v1) is True
    assert app.seen == [("escalated", "CaseEscalatedV2", 2)]
    assert app.recorder.max_tracking_id("intake") == 1
    # the same position again is a duplicate: no handler runs
    assert app.receive(envelope("CaseEscalated", 1, "intake", v1.model_dump(mode="json")), v1) is False
    assert app.seen == [("escalated", "CaseEscalatedV2", 2)]


def test_an_overriding_method_without_handles_is_no_handler() -> None:
    assert Recorder.subscriptions == {"intake": ("CaseEscalated",), "meeting": ("ResourceGapIdentified",)}
    assert Narrower.subscriptions == {"intake": ("CaseEscalated",)}
    app = Narrower()
    app.seen = []
    gap = ResourceGapIdentifiedV1(need="居場所", area=CITY, description="no place")
    assert app.receive(envelope("ResourceGapIdentified", 1, "meeting", gap.model_dump(mode="json")), gap) is True
    assert app.seen == []


def test_the_policy_refuses_anything_but_a_received_event() -> None:
    app = Recorder()
    with pytest.raises(TypeError, match="Received"):
        app.policy(object(), ProcessingEvent())
    gap = ResourceGapIdentifiedV1(need="居場所", area=CITY, description="no place")
    received = Received(envelope("ResourceGapIdentified", 1, "meeting", gap.model_dump(mode="json"), position=7), gap)
    # the library's domain-event protocol: the upstream case and position
    assert (received.originator_id, received.originator_version) == (received.envelope.case_id, 7)
