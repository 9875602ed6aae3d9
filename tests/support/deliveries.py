"""Deliveries a consumer reacts to, for the tests of what a delivery costs (issue 19, docs/capacity.md §5.11)."""

from __future__ import annotations

from datetime import UTC, datetime
from uuid import UUID, uuid4

from shared.contract.events import Actor, Envelope, MeetingDecidedV1
from support.municipality import ELDERLY, HARDSHIP, LEAD


def decided(position: int, connect_to: list[str], case_id: UUID | None = None) -> tuple[Envelope, MeetingDecidedV1]:
    """A `MeetingDecided` about collaboration's plan at `position` of the meeting's store, connecting `connect_to`
    (none: outreach and participation react to it with nothing, as to three of their four deliveries a journey)."""
    payload = MeetingDecidedV1(meeting_id=uuid4(), meeting_type="jusou_shien_kaigi", plan_id=uuid4(),
                               decision="approved", attendees=[ELDERLY.ja, HARDSHIP.ja], reasons="",
                               connect_to=connect_to, program="collaboration", revision=1)  # type: ignore[arg-type]
    return Envelope(event_id=uuid4(), event_type="MeetingDecided", schema_version=1, source="meeting",
                    source_position=position, case_id=case_id or uuid4(), occurred_at=datetime.now(UTC),
                    correlation_id=uuid4(), causation_id=None, actor=Actor(staff_id="kaigi-001", division=LEAD),
                    payload=payload.model_dump(mode="json")), payload
