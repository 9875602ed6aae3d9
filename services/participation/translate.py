"""Participation's public events."""

from services.participation.domain import Support
from shared.contract.events import codes_of
from shared.domain.plan import PLAN_RULES
from shared.kernel.translate import translator

translate = translator(
    "participation",
    {
        **PLAN_RULES,
        Support.Started: lambda e: (
            "ParticipationStarted", {"referred_by": e.referred_by, "needs": e.needs} | codes_of(e, "referred_by_code")
        ),
        Support.ResourceMatched: lambda e: (
            "ResourceMatched",
            # Matches recorded before the catalogue existed carry no provider.
            {"resource_kind": e.resource_kind, "resource_id": e.resource_id, "provider": getattr(e, "provider", None)}
            | codes_of(e, "provider_code"),  # issue 18
        ),
        Support.ShortageReported: lambda e: (
            "ResourceShortageReported", {"need": e.need, "area": e.area, "description": e.description}
            | codes_of(e, "area_code"),  # issue 18
        ),
        Support.PlacementStarted: lambda e: (
            "PlacementStarted", {"resource_id": e.resource_id, "started_on": e.started_on}
        ),
        Support.PlacementReviewed: lambda e: (
            "PlacementReviewed", {"resource_id": e.resource_id, "outcome": e.outcome, "note": e.note}
        ),
    },
)
