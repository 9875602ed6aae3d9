"""Outreach's use cases."""

from __future__ import annotations

from typing import Any
from uuid import UUID, uuid4

from eventsourcing.application import ProcessingEvent
from pydantic import BaseModel

from services.outreach.domain import Engagement
from shared.contract.events import Envelope, MeetingDecidedV1
from shared.domain.reference import COUNTERS
from shared.kernel.journey import Invalid, NotFound, acting
from shared.web.plan_api import MEETING_OUTCOMES, PlanOwner


class OutreachApplication(PlanOwner):
    """Starts from intake, from a meeting's connect_to, or before any escalation (D12)."""

    name = "outreach"
    service = "outreach"
    program = "outreach"
    subscriptions = {"meeting": MEETING_OUTCOMES}

    def start(self, actor: dict[str, str], case_id: UUID | None, referred_by: str, reason: str) -> UUID:
        """D12: begin outreach; a new case when no one has met the person yet."""
        with acting(actor):
            engagement = Engagement(case_id=case_id or uuid4(), referred_by=referred_by, reason=reason)
        self.save(engagement)
        return engagement.id

    def record_contact(self, actor: dict[str, str], case_id: UUID, method: str, reached: bool, note: str, stage: str) -> None:
        engagement = self._engagement(case_id)
        with acting(actor):
            engagement.record_contact(method=method, reached=reached, note=note, stage=stage)
        self.save(engagement)

    def hand_over(
        self, actor: dict[str, str], case_id: UUID, to_program: str, reason: str, primary_agency: str | None,
        counter: str | None = None,
    ) -> None:
        """D12: hand the person on (OutreachHandedOver); intake, collaboration or participation takes it up."""
        if counter is not None and counter not in COUNTERS:
            raise Invalid(f"窓口 {counter!r} はありません。次のいずれかです / unknown counter: " + ", ".join(COUNTERS))
        engagement = self._engagement(case_id)
        with acting(actor):
            engagement.hand_over(to_program, reason, primary_agency, counter)
        self.save(engagement)

    def require_case(self, case_id: UUID) -> None:
        self._engagement(case_id)

    def engagement_view(self, case_id: UUID) -> dict[str, Any]:
        return self._engagement(case_id).view()

    def engagements(self) -> list[dict[str, Any]]:
        return [self.engagement_view(i) for i in self.ids_of(Engagement)]

    def react(self, envelope: Envelope, payload: BaseModel, processing: ProcessingEvent[UUID]) -> None:
        if isinstance(payload, MeetingDecidedV1) and "outreach" in payload.connect_to:
            try:
                self._engagement(envelope.case_id)
            except NotFound:
                processing.collect_events(Engagement(
                    case_id=envelope.case_id, referred_by="meeting",
                    reason=f"会議の決定によるつなぎ / connected by meeting {payload.meeting_id}",
                ))
        if envelope.event_type in MEETING_OUTCOMES:
            self.react_to_meeting(envelope, payload, processing)

    def _engagement(self, case_id: UUID) -> Engagement:
        engagement: Engagement = self.load(case_id, Engagement, "アウトリーチの関わり")
        return engagement
