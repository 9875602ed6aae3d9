"""地域づくり事業: regional issues (地域の課題) taken up from resource gaps (D8)."""

from __future__ import annotations

from typing import Any
from uuid import UUID

from eventsourcing.domain import event

from shared.journey import JourneyAggregate


class RegionalIssue(JourneyAggregate):
    """地域の課題: a need with no local resource, as reported by the meeting or participation."""

    @event("Opened")
    def __init__(self, case_id: UUID, need: str, area: str, description: str, origin_event_id: UUID, reported_by: str) -> None:
        self.case_id, self.need, self.area, self.description = case_id, need, area, description
        self.origin_event_id, self.reported_by = origin_event_id, reported_by
        self.status = "open"

    def view(self) -> dict[str, Any]:
        return {"issue_id": str(self.id), "case_id": str(self.case_id), "need": self.need, "area": self.area,
                "description": self.description, "reported_by": self.reported_by, "status": self.status}
