"""Collaboration's public events."""

from services.collaboration.domain import CollaborationCase, ResourceGap
from shared.contract.events import codes_of
from shared.domain.plan import PLAN_RULES
from shared.kernel.translate import translator

translate = translator(
    "collaboration",
    {
        **PLAN_RULES,
        CollaborationCase.Opened: lambda e: (
            "CollaborationStarted",
            {"reason": e.reason, "primary_agency": e.primary_agency} | codes_of(e, "primary_agency_code"),  # issue 18
        ),
        # D8: what the 推進会議 decided on a gap (the case it came from is the envelope's case_id)
        ResourceGap.Decided: lambda e: (
            "PromotionCouncilDecided",
            {"sitting_id": e.sitting_id, "gap_id": e.originator_id, "origin_event_id": e.origin_event_id,
             "need": e.need, "area": e.area, "decision": e.decision, "division": e.division or None,
             "summary": e.summary} | codes_of(e, "area_code"),  # issue 18: absent from decisions recorded before
        ),
    },
)
