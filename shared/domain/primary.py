"""D11: who is a case's primary agency (主担当), read from the bus alone.

Every case has exactly one primary agency at any time, and only explicit events change it:
the consultation's counter, a connection accepted (つなぎ), an escalation naming the primary,
a return to intake, an outreach start or hand-over. Any program or audit can fold a case's
events with this to know the primary at any point, without asking the services.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from shared.organisation.reference import COUNTERS, PROGRAMS

CHANGES_PRIMARY = (
    "ConsultationReceived", "CaseConnectionAnswered", "CaseEscalated", "CaseReturnedToIntake",
    "OutreachStarted", "OutreachHandedOver",
)


def primary_after(events: Iterable[Any]) -> str | None:
    """The primary agency after these envelopes of one case, in order; None before the first."""
    primary: str | None = None
    for e in events:
        p = e.payload
        if e.event_type == "ConsultationReceived":
            primary = p.get("primary_agency") or COUNTERS[p["counter"]].ja
        elif e.event_type == "CaseConnectionAnswered" and p["accepted"]:
            primary = p["to_agency"]
        elif e.event_type in ("CaseEscalated", "CaseReturnedToIntake"):
            primary = p["primary_agency"]
        elif e.event_type == "OutreachStarted" and primary is None:
            primary = PROGRAMS["outreach"].ja
        elif e.event_type == "OutreachHandedOver" and p.get("primary_agency"):
            primary = p["primary_agency"]
    return primary
