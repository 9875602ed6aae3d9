"""Collaboration's public events."""

from services.collaboration.domain import CollaborationCase
from shared.domain.plan import PLAN_RULES
from shared.kernel.translate import translator

translate = translator(
    "collaboration",
    {
        **PLAN_RULES,
        CollaborationCase.Opened: lambda e: (
            "CollaborationStarted", {"reason": e.reason, "primary_agency": e.primary_agency}
        ),
    },
)
