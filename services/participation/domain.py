"""参加支援事業: the person's needs matched with local resources, and how each placement went (D13)."""

from __future__ import annotations

from datetime import date
from typing import TYPE_CHECKING, Any, ClassVar
from uuid import UUID

from eventsourcing.domain import event

from shared.kernel.journey import DomainError, Invalid, JourneyAggregate, NotFound

PLACEMENT_OUTCOMES = {"settled": "定着", "ongoing": "継続中", "interrupted": "中断", "ended": "終了"}


class PlacementOpen(DomainError):
    """D13: one placement at a time per resource; the last must have ended (終了) first."""


class PlacementEnded(DomainError):
    """D13: an ended placement (終了) takes no further review."""


class CatalogueEntry(JourneyAggregate):
    """参加支援の資源一覧: a local resource as participation learnt of it from community (D8 D13)."""

    if TYPE_CHECKING:  # the event classes @event generates (fields: the method's parameters)
        Learnt: ClassVar[type[Any]]
        DetailsRecorded: ClassVar[type[Any]]

    @event("Learnt")
    def __init__(self, resource_id: UUID, kind: str, name: str, provider: str, area: str,
                 capacity: int | None, issue_id: UUID | None, provider_code: str | None = None,
                 area_code: str | None = None) -> None:
        """`provider_code`, `area_code`: the municipality file's codes as community's event carried them (issue 18;
        none on entries learnt before, or for a provider or area the file does not know)."""
        self.kind, self.name, self.provider, self.area = kind, name, provider, area
        self.capacity, self.issue_id = capacity, issue_id
        self.provider_code, self.area_code = provider_code, area_code
        self.schedule: str | None = None
        self.contact: str | None = None
        self.fee: str | None = None

    @staticmethod
    def create_id(resource_id: UUID, **_: Any) -> UUID:
        return resource_id

    @event("DetailsRecorded")
    def record_details(self, schedule: str | None, contact: str | None, fee: str | None) -> None:
        """What participation staff tell the person (issue 15): 開催日時・曜日, the provider's 連絡先 and 利用料
        (the provider's, not a person's; kept in participation's store, not on the bus). None clears a field."""
        self.schedule, self.contact, self.fee = schedule, contact, fee

    def view(self) -> dict[str, Any]:
        return {"resource_id": str(self.id), "kind": self.kind, "name": self.name, "provider": self.provider,
                "area": self.area, "capacity": self.capacity, "issue_id": str(self.issue_id) if self.issue_id else None,
                "schedule": getattr(self, "schedule", None), "contact": getattr(self, "contact", None),
                "fee": getattr(self, "fee", None)}


class Support(JourneyAggregate):
    """参加支援: needs, matched resources and how each placement went."""

    if TYPE_CHECKING:  # the event classes @event generates (fields: the method's parameters)
        Started: ClassVar[type[Any]]
        NeedsRecorded: ClassVar[type[Any]]
        ResourceMatched: ClassVar[type[Any]]
        ShortageReported: ClassVar[type[Any]]
        PlacementStarted: ClassVar[type[Any]]
        PlacementReviewed: ClassVar[type[Any]]

    @event("Started")
    def __init__(self, case_id: UUID, referred_by: str, needs: list[str], referred_by_code: str | None = None) -> None:
        """`referred_by`: `outreach` or `meeting:<meeting_id>`; `referred_by_code` (issue 18; none on supports started
        before): `program:outreach` or `meeting_kind:<meeting_type>`."""
        self.case_id, self.referred_by, self.needs = case_id, referred_by, needs
        self.referred_by_code = referred_by_code
        self.matches: list[dict[str, Any]] = []
        self.shortages: list[dict[str, str]] = []
        self.placements: list[dict[str, Any]] = []

    @staticmethod
    def create_id(case_id: UUID, **_: Any) -> UUID:
        return case_id

    @event("NeedsRecorded")
    def record_needs(self, needs: list[str]) -> None:
        self.needs = needs

    def match(self, entry: CatalogueEntry, provider_code: str | None = None) -> None:
        """D13: match a resource of the catalogue to the person; matching it again changes nothing.
        `provider_code`: the provider's agency code in the municipality file (issue 18)."""
        if not any(m["resource_id"] == str(entry.id) for m in self.matches):
            self._resource_matched(resource_kind=entry.kind, resource_id=str(entry.id), provider=entry.provider,
                                   provider_code=provider_code)

    @event("ResourceMatched")
    def _resource_matched(self, resource_kind: str, resource_id: str, provider: str | None = None,
                          provider_code: str | None = None) -> None:
        self.matches.append({"resource_kind": resource_kind, "resource_id": resource_id, "provider": provider})

    @event("ShortageReported")
    def report_shortage(self, need: str, area: str, description: str, area_code: str | None = None) -> None:
        """D8 D13: no local resource meets this need. `area_code`: the 地区 of the municipality file (issue 18; none on
        reports made before, or for an area the file does not know)."""
        self.shortages.append({"need": need, "area": area, "description": description})

    def start_placement(self, resource_id: str, started_on: date) -> int:
        """D13: the person starts at a matched resource; returns the placement's index."""
        if not any(m["resource_id"] == resource_id for m in self.matches):
            raise Invalid(f"マッチングしていない資源には参加を始められません / match resource {resource_id} first")
        if any(p["resource_id"] == resource_id and p["status"] != "ended" for p in self.placements):
            raise PlacementOpen(
                "この資源への参加は続いています。終了の評価をしてから始めてください / "
                "a placement at this resource is still open: review it as ended first"
            )
        self._placement_started(resource_id=resource_id, started_on=started_on)
        return len(self.placements) - 1

    @event("PlacementStarted")
    def _placement_started(self, resource_id: str, started_on: date) -> None:
        self.placements.append({"resource_id": resource_id, "started_on": started_on, "status": "started", "reviews": []})

    def review_placement(self, index: int, outcome: str, note: str, next_review_on: date | None = None) -> None:
        """D13: how the placement went: settled, ongoing, interrupted or ended; when to look at it again
        (次回の見直し予定日, `next_review_on`: none for an ended placement)."""
        if not 0 <= index < len(self.placements):
            raise NotFound(f"参加 {index} はありません / no placement {index}")
        if outcome not in PLACEMENT_OUTCOMES:
            raise Invalid(
                f"参加の状況 {outcome!r} はありません。次のいずれかです / unknown outcome; one of: "
                + ", ".join(f"{code}={ja}" for code, ja in PLACEMENT_OUTCOMES.items())
            )
        if self.placements[index]["status"] == "ended":
            raise PlacementEnded(f"参加 {index} は終了しています / placement {index} has ended")
        if next_review_on is not None and outcome == "ended":
            raise Invalid("終了した参加には次回の見直し予定日を入れません / an ended placement has no next review")
        self._placement_reviewed(index=index, resource_id=self.placements[index]["resource_id"], outcome=outcome, note=note,
                                 next_review_on=next_review_on)

    @event("PlacementReviewed")
    def _placement_reviewed(self, index: int, resource_id: str, outcome: str, note: str,
                            next_review_on: date | None = None) -> None:
        placement = self.placements[index]
        placement["status"] = outcome
        placement["reviews"].append({"outcome": outcome, "note": note,
                                     "next_review_on": next_review_on.isoformat() if next_review_on else None})

    def view(self) -> dict[str, Any]:
        placements = [{**p, "started_on": p["started_on"].isoformat(), "index": i} for i, p in enumerate(self.placements)]
        return {"case_id": str(self.case_id), "referred_by": self.referred_by, "needs": self.needs,
                "matches": self.matches, "shortages": self.shortages, "placements": placements}
