"""Community's public events."""

from services.community.domain import RegionalIssue
from shared.translate import translator

translate = translator(
    "community",
    {
        RegionalIssue.Opened: lambda e: (
            "RegionalIssueOpened",
            {"issue_id": e.originator_id, "need": e.need, "area": e.area, "origin_event_id": e.origin_event_id},
        ),
    },
)
