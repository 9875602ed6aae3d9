"""Participation's public events."""

from services.participation.domain import Support
from shared.plan import PLAN_RULES
from shared.translate import translator

translate = translator(
    "participation",
    {
        **PLAN_RULES,
        Support.Started: lambda e: ("ParticipationStarted", {"referred_by": e.referred_by, "needs": e.needs}),
        Support.ResourceMatched: lambda e: (
            "ResourceMatched", {"resource_kind": e.resource_kind, "resource_id": e.resource_id}
        ),
        Support.ShortageReported: lambda e: (
            "ResourceShortageReported", {"need": e.need, "area": e.area, "description": e.description}
        ),
    },
)
