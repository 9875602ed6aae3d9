"""Community's public events."""

from typing import Any

from services.community.domain import LocalResource, Place, RegionalIssue
from shared.contract.events import Envelope
from shared.kernel.translate import translator

_translate = translator(
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
        # D21 D13: a program's 居場所 is offered to participation as a resource, under the place's own id.
        Place.Registered: lambda e: (
            "ResourceDeveloped",
            {"resource_id": e.originator_id, "kind": "ibasho", "resource_name": e.name, "provider": e.provider,
             "area": e.area, "capacity": e.capacity, "issue_id": None},
        ),
    },
)


def translate(event: Any, position: int) -> Envelope | None:
    """The relay's translation: a place that is not a 居場所 stays private (so do sessions and groups)."""
    if isinstance(event, Place.Registered) and not event.ibasho:
        return None
    return _translate(event, position)
