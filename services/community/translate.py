"""Community's public events."""

from typing import Any

from services.community.domain import LocalResource, Place, RegionalIssue
from shared.contract.events import Envelope, codes_of
from shared.kernel.translate import translator

_translate = translator(
    "community",
    {
        RegionalIssue.Opened: lambda e: (
            "RegionalIssueOpened",
            {"issue_id": e.originator_id, "need": e.need, "area": e.area, "origin_event_id": e.origin_event_id}
            | codes_of(e, "area_code"),  # issue 18
        ),
        RegionalIssue.InitiativeStarted: lambda e: (
            "InitiativeStarted", {"issue_id": e.originator_id, "forum": e.forum, "summary": e.summary}
            | codes_of(e, "forum_code"),  # issue 18
        ),
        LocalResource.Developed: lambda e: (
            "ResourceDeveloped",
            {"resource_id": e.originator_id, "kind": e.kind, "resource_name": e.name, "provider": e.provider, "area": e.area,
             "capacity": e.capacity, "issue_id": e.issue_id} | codes_of(e, "provider_code", "area_code"),  # issue 18
        ),
        # D21 D13: a program's 居場所 is offered to participation as a resource, under the place's own id.
        Place.Registered: lambda e: (
            "ResourceDeveloped",
            {"resource_id": e.originator_id, "kind": "ibasho", "resource_name": e.name, "provider": e.provider,
             "area": e.area, "capacity": e.capacity, "issue_id": None} | codes_of(e, "provider_code", "area_code"),
        ),
    },
)


def translate(event: Any, position: int) -> Envelope | None:
    """The relay's translation: a place that is not a 居場所 stays private (so do sessions and groups)."""
    if isinstance(event, Place.Registered) and not event.ibasho:
        return None
    return _translate(event, position)
