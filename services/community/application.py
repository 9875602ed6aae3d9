"""Community's use cases: it depends on no other service, only on the stream."""

from __future__ import annotations

from typing import Any
from uuid import UUID

from eventsourcing.application import ProcessingEvent
from pydantic import BaseModel

from services.community.domain import LocalResource, RegionalIssue
from shared.contract.events import (
    Envelope,
    ResourceGapIdentifiedV1,
    ResourceShortageReportedV1,
)
from shared.domain.reference import RESOURCE_KINDS, resource_kind
from shared.kernel.app import ServiceApplication
from shared.kernel.journey import Invalid, acting


class CommunityApplication(ServiceApplication):
    """Keeps resource gaps and shortages as regional issues, takes them up and grows local resources (D8)."""

    name = "community"
    service = "community"
    subscriptions = {"meeting": ("ResourceGapIdentified",), "participation": ("ResourceShortageReported",)}

    def take_up(self, actor: dict[str, str], issue_id: UUID, forum: str, summary: str) -> None:
        """D8: record an initiative that takes the issue up in its own forum (InitiativeStarted)."""
        issue = self._issue(issue_id)
        with acting(actor):
            issue.take_up(forum, summary)
        self.save(issue)

    def resolve(self, actor: dict[str, str], issue_id: UUID, note: str) -> None:
        """D8: the regional issue is resolved."""
        issue = self._issue(issue_id)
        with acting(actor):
            issue.resolve(note)
        self.save(issue)

    def develop_resource(
        self, actor: dict[str, str], kind: str, name: str, provider: str, area: str, capacity: int | None,
        issue_id: UUID | None,
    ) -> UUID:
        """D8 D13: register a new local resource (ResourceDeveloped), for participation's catalogue."""
        known = resource_kind(kind)
        if known is None:
            raise Invalid(
                f"資源の種類 {kind!r} はありません。次のいずれかです / unknown resource kind; one of: "
                + ", ".join(f"{k.code}={k.ja}" for k in RESOURCE_KINDS.values())
            )
        answers = self._issue(issue_id) if issue_id else None
        with acting(actor):
            resource = LocalResource.develop(known.code, name, provider, area, capacity, answers)
        self.save(resource)
        return resource.id

    def issue_view(self, issue_id: UUID) -> dict[str, Any]:
        """地域の課題, with the resources registered as answering it."""
        answering = [r["resource_id"] for r in self.resources() if r["issue_id"] == str(issue_id)]
        return {**self._issue(issue_id).view(), "resources": answering}

    def issues(self) -> list[dict[str, Any]]:
        resources = self.resources()
        return [
            {**issue.view(), "resources": [r["resource_id"] for r in resources if r["issue_id"] == str(issue.id)]}
            for issue in (self._issue(i) for i in self.ids_of(RegionalIssue))
        ]

    def resources(self) -> list[dict[str, Any]]:
        """地域の社会資源一覧."""
        return [self.load(i, LocalResource, "社会資源").view() for i in self.ids_of(LocalResource)]

    def react(self, envelope: Envelope, payload: BaseModel, processing: ProcessingEvent[UUID]) -> None:
        if isinstance(payload, ResourceGapIdentifiedV1 | ResourceShortageReportedV1):
            processing.collect_events(RegionalIssue(
                case_id=envelope.case_id, need=payload.need, area=payload.area, description=payload.description,
                origin_event_id=envelope.event_id, reported_by=envelope.source,
            ))

    def _issue(self, issue_id: UUID) -> RegionalIssue:
        issue: RegionalIssue = self.load(issue_id, RegionalIssue, "地域の課題")
        return issue
