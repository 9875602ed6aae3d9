"""Community's public events."""

from services.community.domain import LocalResource, RegionalIssue
from shared.kernel.translate import translator

translate = translator(
    "community",
    {
        RegionalIssue.Opened: lambda e: (
            "RegionalIssueOpened",
            {"issue_id": e.originator_id, "need": e.need, "area": e.area, "origin_event_id": e.origin_event_id},
        ),
        RegionalIssue.InitiativeStarted: lambda e: (
            "InitiativeStarted", {"issue_id": e.originator_id, "forum": e.forum, "summary": e.summary}
        ),
        LocalResource.Developed: lambda e: (
            "ResourceDeveloped",
            {"resource_id": e.originator_id, "kind": e.kind, "resource_name": e.name, "provider": e.provider, "area": e.area,
             "capacity": e.capacity, "issue_id": e.issue_id},
        ),
    },
)
