"""Collaboration's use cases (多機関協働事業)."""

from __future__ import annotations

from typing import Any
from uuid import UUID

from eventsourcing.application import ProcessingEvent

from services.collaboration.domain import CollaborationCase
from shared.contract.events import (
    ESCALATION_REASONS,
    CaseConnectionAnsweredV1,
    CaseEscalatedV2,
    Envelope,
    OutreachHandedOverV1,
)
from shared.kernel.app import handles
from shared.kernel.journey import NotFound
from shared.web.plan_api import PlanOwner


class CollaborationApplication(PlanOwner):
    """Opens a case on CaseEscalated, writes its plan, follows the meeting (D4)."""

    name = "collaboration"
    service = "collaboration"
    program = "collaboration"

    def _open(self, case_id: UUID, reason: str, concerns: list[str], primary_agency: str,
              processing: ProcessingEvent[UUID]) -> None:
        try:
            case: CollaborationCase = self.load(case_id, CollaborationCase, "多機関協働のケース")
        except NotFound:
            case = CollaborationCase(case_id=case_id, reason=reason, concerns=concerns, primary_agency=primary_agency)
        else:
            case.reopen(reason, concerns, primary_agency)  # escalated again after a return to intake
        processing.collect_events(case)

    def require_case(self, case_id: UUID) -> None:
        self.load(case_id, CollaborationCase, "多機関協働のケース")

    def case_view(self, case_id: UUID) -> dict[str, Any]:
        case: CollaborationCase = self.load(case_id, CollaborationCase, "多機関協働のケース")
        return case.view()

    def cases(self) -> list[dict[str, Any]]:
        return [self.case_view(i) for i in self.ids_of(CollaborationCase)]

    @handles(CaseEscalatedV2)
    def _escalated(self, envelope: Envelope, payload: CaseEscalatedV2, processing: ProcessingEvent[UUID]) -> None:
        """D4: an escalated case opens here (v1 events arrive raised to v2)."""
        self._open(envelope.case_id, escalation_reason(payload), payload.concerns, payload.primary_agency, processing)

    @handles(CaseConnectionAnsweredV1)
    def _connection_answered(self, envelope: Envelope, payload: CaseConnectionAnsweredV1,
                             processing: ProcessingEvent[UUID]) -> None:
        """D11: an accepted つなぎ makes its agency the primary one here too."""
        if not payload.accepted:
            return
        try:
            case: CollaborationCase = self.load(envelope.case_id, CollaborationCase, "多機関協働のケース")
        except NotFound:
            return  # not escalated: intake alone knows the case
        case.follow_primary(payload.to_agency)
        processing.collect_events(case)

    @handles(OutreachHandedOverV1)
    def _handed_over(self, envelope: Envelope, payload: OutreachHandedOverV1, processing: ProcessingEvent[UUID]) -> None:
        """D12: outreach hands a person on before (or instead of) any escalation at intake."""
        if payload.to_program == "collaboration":
            self._open(envelope.case_id, payload.reason, [], payload.primary_agency or "", processing)


def escalation_reason(escalated: CaseEscalatedV2) -> str:
    """The case's reason as collaboration shows it: v2's label and text; a v1 event's text unchanged."""
    if escalated.reason_code == "unclassified":
        return escalated.reason_text
    return f"【{ESCALATION_REASONS[escalated.reason_code]}】{escalated.reason_text}"
