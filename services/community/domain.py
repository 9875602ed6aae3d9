"""地域づくり事業: regional issues (地域の課題) taken up from resource gaps, and the local resources grown (D8)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, ClassVar
from uuid import UUID, uuid4, uuid5

from eventsourcing.domain import event

from shared.kernel.journey import DomainError, Invalid, JourneyAggregate

#: The envelope needs a case: a resource answering no issue gets one derived from its own id.
RESOURCE_CASE_NAMESPACE = UUID("46c6218e-d5d3-4f1e-88bc-6d3213a9a397")


class IssueResolved(DomainError):
    """D8: a resolved regional issue takes no new initiative and cannot be resolved again."""


def resource_case_id(resource_id: UUID) -> UUID:
    """The `case_id` on the bus of a resource that answers no regional issue (uuid5 of its id)."""
    return uuid5(RESOURCE_CASE_NAMESPACE, str(resource_id))


def _required(value: str, what: str) -> str:
    if not value.strip():
        raise Invalid(f"{what}を入力してください / {what} is required")
    return value.strip()


class RegionalIssue(JourneyAggregate):
    """地域の課題: a need with no local resource, as reported by the meeting or participation."""

    if TYPE_CHECKING:  # the event classes @event generates (fields: the method's parameters)
        Opened: ClassVar[type[Any]]
        InitiativeStarted: ClassVar[type[Any]]
        Resolved: ClassVar[type[Any]]

    @event("Opened")
    def __init__(self, case_id: UUID, need: str, area: str, description: str, origin_event_id: UUID, reported_by: str) -> None:
        self.case_id, self.need, self.area, self.description = case_id, need, area, description
        self.origin_event_id, self.reported_by = origin_event_id, reported_by
        self.status = "open"
        self.initiatives: list[dict[str, str]] = []
        self.resolution = ""

    def take_up(self, forum: str, summary: str) -> None:
        """D8: the issue is taken up in a forum of its own (資源開発の協議の場), apart from the meeting."""
        if self.status == "resolved":
            raise IssueResolved("この地域の課題は解決済みです / this regional issue is already resolved")
        self._initiative_started(forum=_required(forum, "協議の場 (forum)"), summary=_required(summary, "取り組みの概要 (summary)"))

    @event("InitiativeStarted")
    def _initiative_started(self, forum: str, summary: str) -> None:
        self.initiatives.append({"forum": forum, "summary": summary})
        self.status = "taken_up"

    def resolve(self, note: str) -> None:
        """D8: the need is met (a resource now answers it, or another way was found)."""
        if self.status == "resolved":
            raise IssueResolved("この地域の課題は解決済みです / this regional issue is already resolved")
        self._resolved(note=_required(note, "解決の内容 (note)"))

    @event("Resolved")
    def _resolved(self, note: str) -> None:
        self.status, self.resolution = "resolved", note

    def view(self) -> dict[str, Any]:
        return {"issue_id": str(self.id), "case_id": str(self.case_id), "need": self.need, "area": self.area,
                "description": self.description, "reported_by": self.reported_by, "status": self.status,
                "initiatives": self.initiatives, "resolution": self.resolution}


class LocalResource(JourneyAggregate):
    """地域の社会資源: a local resource community developed or found, for participation to match (D8 D13)."""

    if TYPE_CHECKING:  # the event classes @event generates (fields: the method's parameters)
        Developed: ClassVar[type[Any]]

    @event("Developed")
    def __init__(self, resource_id: UUID, case_id: UUID, kind: str, name: str, provider: str, area: str,
                 capacity: int | None, issue_id: UUID | None) -> None:
        self.case_id, self.kind, self.name, self.provider, self.area = case_id, kind, name, provider, area
        self.capacity, self.issue_id = capacity, issue_id

    @staticmethod
    def create_id(resource_id: UUID, **_: Any) -> UUID:
        return resource_id

    @classmethod
    def develop(cls, kind: str, name: str, provider: str, area: str, capacity: int | None,
                answers: RegionalIssue | None) -> LocalResource:
        """D8: register a new local resource; it joins the journey of the issue it answers, if any."""
        if capacity is not None and capacity < 1:
            raise Invalid("定員は1以上で入力してください / capacity must be at least 1")
        resource_id = uuid4()
        return cls(
            resource_id=resource_id, case_id=answers.case_id if answers else resource_case_id(resource_id),
            kind=kind, name=_required(name, "資源の名称 (name)"), provider=_required(provider, "運営主体 (provider)"),
            area=_required(area, "地域 (area)"), capacity=capacity, issue_id=answers.id if answers else None,
        )

    def view(self) -> dict[str, Any]:
        return {"resource_id": str(self.id), "kind": self.kind, "name": self.name, "provider": self.provider,
                "area": self.area, "capacity": self.capacity, "issue_id": str(self.issue_id) if self.issue_id else None}
