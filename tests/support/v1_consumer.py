"""A consumer written when CaseEscalated had only v1: it knows v1's fields and nothing newer.

It reads raw message bodies (no project code), takes what it understands (CaseEscalated v1) and
passes over any version it does not know, as a tolerant reader does. The schema-evolution tests
prove it keeps working while v2 exists beside v1.
"""

from __future__ import annotations

import json
from collections.abc import Iterable


def escalation_reasons(bodies: Iterable[bytes]) -> dict[str, str]:
    """case_id → the reason of its CaseEscalated v1 (the latest one per case)."""
    reasons: dict[str, str] = {}
    for body in bodies:
        event = json.loads(body)
        if event["event_type"] == "CaseEscalated" and event["schema_version"] == 1:
            reasons[event["case_id"]] = event["payload"]["reason"]
    return reasons
