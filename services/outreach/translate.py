"""Outreach's public events."""

from services.outreach.domain import Engagement
from shared.contract.events import codes_of
from shared.domain.plan import PLAN_RULES
from shared.kernel.translate import translator

translate = translator(
    "outreach",
    {
        **PLAN_RULES,
        Engagement.Started: lambda e: (
            "OutreachStarted", {"referred_by": e.referred_by, "reason": e.reason} | codes_of(e, "referred_by_code")  # issue 18
        ),
        Engagement.HandedOver: lambda e: (
            "OutreachHandedOver", {"to_program": e.to_program, "reason": e.reason, "primary_agency": e.primary_agency,
                                   "counter": e.counter} | codes_of(e, "primary_agency_code")  # issue 18
        ),
    },
)
