"""Collaboration's public events."""

from services.collaboration.domain import CollaborationCase
from shared.plan import PLAN_RULES
from shared.translate import translator

translate = translator(
    "collaboration",
    {
        **PLAN_RULES,
        CollaborationCase.Opened: lambda e: (
            "CollaborationStarted", {"reason": e.reason, "primary_agency": e.primary_agency}
        ),
    },
)
