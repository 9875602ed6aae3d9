"""参加支援事業: the person's needs matched with local resources (D13)."""

from __future__ import annotations

from typing import Any
from uuid import UUID

from eventsourcing.domain import event

from shared.journey import JourneyAggregate

RESOURCE_KINDS = {"ibasho": "居場所", "shuro": "就労支援", "jukyo": "住居支援", "other": "その他"}


class Support(JourneyAggregate):
    """参加支援: needs, matched resources and how each placement went."""

    @event("Started")
    def __init__(self, case_id: UUID, referred_by: str, needs: list[str]) -> None:
        self.case_id, self.referred_by, self.needs = case_id, referred_by, needs
        self.matches: list[dict[str, Any]] = []
        self.shortages: list[dict[str, str]] = []

    @staticmethod
    def create_id(case_id: UUID, **_: Any) -> UUID:
        return case_id

    @event("NeedsRecorded")
    def record_needs(self, needs: list[str]) -> None:
        self.needs = needs

    @event("ResourceMatched")
    def match(self, resource_kind: str, resource_id: str) -> None:
        self.matches.append({"resource_kind": resource_kind, "resource_id": resource_id})

    @event("ShortageReported")
    def report_shortage(self, need: str, area: str, description: str) -> None:
        """D8 D13: no local resource meets this need."""
        self.shortages.append({"need": need, "area": area, "description": description})

    def view(self) -> dict[str, Any]:
        return {"case_id": str(self.case_id), "referred_by": self.referred_by, "needs": self.needs,
                "matches": self.matches, "shortages": self.shortages}
