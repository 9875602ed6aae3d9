"""Participation's use cases."""

from __future__ import annotations

from typing import Any
from uuid import UUID

from eventsourcing.application import ProcessingEvent
from pydantic import BaseModel

from services.participation.domain import Support
from shared.contracts import Envelope, MeetingDecidedV1
from shared.journey import NotFound, acting
from shared.plan_api import MEETING_OUTCOMES, PlanOwner


class ParticipationApplication(PlanOwner):
    """Starts from a meeting decision's connect_to; matches resources; reports shortages (D13)."""

    name = "participation"
    service = "participation"
    program = "participation"
    subscriptions = {"meeting": MEETING_OUTCOMES}

    def record_needs(self, actor: dict[str, str], case_id: UUID, needs: list[str]) -> None:
        support = self._support(case_id)
        with acting(actor):
            support.record_needs(needs)
        self.save(support)

    def match(self, actor: dict[str, str], case_id: UUID, resource_kind: str, resource_id: str) -> None:
        support = self._support(case_id)
        with acting(actor):
            support.match(resource_kind=resource_kind, resource_id=resource_id)
        self.save(support)

    def report_shortage(self, actor: dict[str, str], case_id: UUID, need: str, area: str, description: str) -> None:
        support = self._support(case_id)
        with acting(actor):
            support.report_shortage(need=need, area=area, description=description)
        self.save(support)

    def require_case(self, case_id: UUID) -> None:
        self._support(case_id)

    def support_view(self, case_id: UUID) -> dict[str, Any]:
        return self._support(case_id).view()  # type: ignore[no-any-return]

    def supports(self) -> list[dict[str, Any]]:
        return [self.support_view(i) for i in self.ids_of(Support)]

    def react(self, envelope: Envelope, payload: BaseModel, processing: ProcessingEvent[UUID]) -> None:
        if isinstance(payload, MeetingDecidedV1) and "participation" in payload.connect_to:
            try:
                self._support(envelope.case_id)
            except NotFound:
                processing.collect_events(Support(case_id=envelope.case_id, referred_by=f"meeting:{payload.meeting_id}", needs=[]))
        if envelope.event_type in MEETING_OUTCOMES:
            self.react_to_meeting(envelope, payload, processing)

    def _support(self, case_id: UUID) -> Support:
        support: Support = self.load(case_id, Support, "参加支援")
        return support
