"""Community's use cases: it depends on no other service, only on the stream."""

from __future__ import annotations

from datetime import datetime
from typing import Any
from uuid import UUID

from eventsourcing.application import ProcessingEvent

from services.community.domain import LocalResource, RegionalIssue
from shared.contract.events import (
    Envelope,
    ResourceGapIdentifiedV1,
    ResourceShortageReportedV1,
)
from shared.domain.casework_owner import CaseworkOwner
from shared.kernel.app import handles
from shared.kernel.journey import Invalid, NotFound, acting, recorded_by
from shared.organisation.reference import RESOURCE_KINDS, resource_kind


class CommunityApplication(CaseworkOwner):
    """Keeps resource gaps and shortages as regional issues, takes them up and grows local resources (D8)."""

    name = "community"
    service = "community"

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

    # -- casework (issue 15): a community worker's 担当 and notes are kept on the case its regional issues name

    def casework_cases(self) -> list[UUID]:
        return list(dict.fromkeys(self._issue(i).case_id for i in self.ids_of(RegionalIssue)))

    def casework_require_case(self, case_id: UUID) -> None:
        if case_id not in self.casework_cases():
            raise NotFound(f"この事例の地域の課題が見つかりません / no regional issue of case {case_id}")

    # -- the pages' queries: the views with when and by whom (from the events' metadata) -------------

    def issue_record(self, issue_id: UUID) -> dict[str, Any]:
        """地域の課題 as its page shows it: when it opened and was resolved, when and by whom each
        initiative started (`at`, `actor`), and the resources answering it (`answering`)."""
        return self._with_when_and_who(self._issue(issue_id), self.resources())

    def issue_records(self) -> list[dict[str, Any]]:
        """Every regional issue as `issue_record` gives it, oldest first."""
        resources = self.resources()
        return [self._with_when_and_who(self._issue(i), resources) for i in self.ids_of(RegionalIssue)]

    def resource_records(self) -> list[dict[str, Any]]:
        """地域の社会資源一覧 with when and by whom each resource was registered (`at`, `actor`)."""
        rows = []
        for view in self.resources():
            first = next(iter(self.events_of(UUID(view["resource_id"]))), None)
            developed = first if isinstance(first, LocalResource.Developed) else None
            rows.append({**view, "at": developed.timestamp if developed else None, "actor": recorded_by(developed)})
        return rows

    def _with_when_and_who(self, issue: RegionalIssue, resources: list[dict[str, Any]]) -> dict[str, Any]:
        opened_at: datetime | None = None
        resolved_at: datetime | None = None
        started: list[dict[str, Any]] = []
        for event in self.events_of(issue.id):
            if isinstance(event, RegionalIssue.Opened):
                opened_at = event.timestamp
            elif isinstance(event, RegionalIssue.InitiativeStarted):
                started.append({"at": event.timestamp, "actor": recorded_by(event)})
            elif isinstance(event, RegionalIssue.Resolved):
                resolved_at = event.timestamp
        view = issue.view()
        answering = [r for r in resources if r["issue_id"] == view["issue_id"]]
        initiatives = [{**i, **(started[n] if n < len(started) else {})} for n, i in enumerate(view["initiatives"])]
        return {**view, "resources": [r["resource_id"] for r in answering], "initiatives": initiatives,
                "opened_at": opened_at, "resolved_at": resolved_at, "answering": answering}

    @handles(ResourceGapIdentifiedV1, ResourceShortageReportedV1)
    def _gap_reported(self, envelope: Envelope, payload: ResourceGapIdentifiedV1 | ResourceShortageReportedV1,
                      processing: ProcessingEvent[UUID]) -> None:
        """D8 D13: a gap named by a meeting or a shortage met by participation opens a regional issue."""
        processing.collect_events(RegionalIssue(
            case_id=envelope.case_id, need=payload.need, area=payload.area, description=payload.description,
            origin_event_id=envelope.event_id, reported_by=envelope.source,
        ))

    def _issue(self, issue_id: UUID) -> RegionalIssue:
        issue: RegionalIssue = self.load(issue_id, RegionalIssue, "地域の課題")
        return issue
