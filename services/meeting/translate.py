"""The meeting's public events."""

from services.meeting.domain import Meeting
from shared.translate import translator


def _evaluated(e: Meeting.Evaluated) -> tuple[str, dict]:
    common = {"plan_id": e.plan_id, "meeting_id": e.originator_id, "evaluation": e.evaluation, "program": e.program}
    if e.outcome == "closed":
        return "PlanClosed", common
    if e.outcome == "suspended":
        return "PlanSuspended", {**common, "reason": e.reason}
    return "PlanContinued", {**common, "next_review_on": e.next_review_on}


def _decided(e: Meeting.Decided) -> tuple[str, dict]:
    return "MeetingDecided", {
        "meeting_id": e.originator_id, "meeting_type": e.meeting_type, "plan_id": e.plan_id,
        "decision": e.decision, "attendees": e.attendees, "reasons": e.reasons,
        "connect_to": e.connect_to, "program": e.program, "revision": e.revision,
    }


translate = translator(
    "meeting",
    {
        Meeting.Decided: _decided,
        Meeting.ReturnedToIntake: lambda e: (
            "CaseReturnedToIntake", {"meeting_id": e.originator_id, "primary_agency": e.primary_agency, "reason": e.reason}
        ),
        Meeting.Evaluated: _evaluated,
        Meeting.GapIdentified: lambda e: (
            "ResourceGapIdentified", {"need": e.need, "area": e.area, "description": e.description}
        ),
    },
)
