"""Collaboration's use cases (多機関協働事業)."""

from __future__ import annotations

from typing import Any
from uuid import UUID

from eventsourcing.application import ProcessingEvent
from pydantic import BaseModel

from services.collaboration.domain import CollaborationCase
from shared.contracts import CaseEscalatedV1, Envelope
from shared.journey import NotFound
from shared.plan_api import MEETING_OUTCOMES, PlanOwner


class CollaborationApplication(PlanOwner):
    """Opens a case on CaseEscalated, writes its plan, follows the meeting (D4)."""

    name = "collaboration"
    service = "collaboration"
    program = "collaboration"
    subscriptions = {"intake": ("CaseEscalated",), "meeting": MEETING_OUTCOMES}

    def require_case(self, case_id: UUID) -> None:
        self.load(case_id, CollaborationCase, "多機関協働のケース")

    def case_view(self, case_id: UUID) -> dict[str, Any]:
        case: CollaborationCase = self.load(case_id, CollaborationCase, "多機関協働のケース")
        return case.view()

    def cases(self) -> list[dict[str, Any]]:
        return [self.case_view(i) for i in self.ids_of(CollaborationCase)]

    def react(self, envelope: Envelope, payload: BaseModel, processing: ProcessingEvent[UUID]) -> None:
        if isinstance(payload, CaseEscalatedV1):
            try:
                self.require_case(envelope.case_id)
                return  # escalated again after a return: the case is already open here
            except NotFound:
                pass
            case = CollaborationCase(
                case_id=envelope.case_id, reason=payload.reason, concerns=payload.concerns,
                primary_agency=payload.primary_agency,
            )
            processing.collect_events(case)
        elif envelope.event_type in MEETING_OUTCOMES:
            self.react_to_meeting(envelope, payload, processing)
