"""Community's use cases: it depends on no other service, only on the stream."""

from __future__ import annotations

from typing import Any
from uuid import UUID

from eventsourcing.application import ProcessingEvent
from pydantic import BaseModel

from services.community.domain import RegionalIssue
from shared.app import ServiceApplication
from shared.contracts import Envelope, ResourceGapIdentifiedV1, ResourceShortageReportedV1


class CommunityApplication(ServiceApplication):
    """Keeps resource gaps and shortages as regional issues (D8)."""

    name = "community"
    service = "community"
    subscriptions = {"meeting": ("ResourceGapIdentified",), "participation": ("ResourceShortageReported",)}

    def issues(self) -> list[dict[str, Any]]:
        return [self.load(i, RegionalIssue, "地域の課題").view() for i in self.ids_of(RegionalIssue)]

    def react(self, envelope: Envelope, payload: BaseModel, processing: ProcessingEvent[UUID]) -> None:
        if isinstance(payload, ResourceGapIdentifiedV1 | ResourceShortageReportedV1):
            processing.collect_events(RegionalIssue(
                case_id=envelope.case_id, need=payload.need, area=payload.area, description=payload.description,
                origin_event_id=envelope.event_id, reported_by=envelope.source,
            ))
