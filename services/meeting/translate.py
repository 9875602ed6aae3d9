"""The meeting's public events.

D10 (CONTRACT "Confidential content never travels"): what a 支援会議 said stays here with its members.
Its events on the bus name the outcome and the kind of meeting; reasons, evaluations' text and the
reason of a suspension are sent empty.
"""

from typing import Any

from services.meeting.domain import Meeting
from shared.contract.events import codes_of
from shared.kernel.translate import translator

CONFIDENTIAL = "shien_kaigi"


def _evaluated(e: Any) -> tuple[str, dict]:  # e: a Meeting.Evaluated (its fields: the method's parameters)
    meeting_type = getattr(e, "meeting_type", None)
    evaluation = e.evaluation
    reason = e.reason
    if meeting_type == CONFIDENTIAL:
        evaluation, reason = {"course": "", "outcome": "", "goals": []}, ""
    common = {"plan_id": e.plan_id, "meeting_id": e.originator_id, "evaluation": evaluation, "program": e.program}
    if meeting_type is not None:  # events recorded before it was kept are published as they were
        common["meeting_type"] = meeting_type
    if e.outcome == "closed":
        return "PlanClosed", common
    if e.outcome == "suspended":
        return "PlanSuspended", {**common, "reason": reason}
    return "PlanContinued", {**common, "next_review_on": e.next_review_on}


def _decided(e: Any) -> tuple[str, dict]:  # e: a Meeting.Decided (its fields: the method's parameters)
    return "MeetingDecided", {
        "meeting_id": e.originator_id, "meeting_type": e.meeting_type, "plan_id": e.plan_id,
        "decision": e.decision, "attendees": e.attendees,
        "reasons": "" if e.meeting_type == CONFIDENTIAL else e.reasons,
        "connect_to": e.connect_to, "program": e.program, "revision": e.revision,
    } | codes_of(e, "attendee_codes")  # issue 18: absent from decisions recorded before


def _returned(e: Any) -> tuple[str, dict]:  # e: a Meeting.ReturnedToIntake (its fields: the method's parameters)
    # the return names no meeting type; a 支援会議's reason stays with it too
    return "CaseReturnedToIntake", {"meeting_id": e.originator_id, "primary_agency": e.primary_agency,
                                    "reason": "" if getattr(e, "meeting_type", None) == CONFIDENTIAL else e.reason
                                    } | codes_of(e, "primary_agency_code")


translate = translator(
    "meeting",
    {
        Meeting.Decided: _decided,
        Meeting.ReturnedToIntake: _returned,
        Meeting.Evaluated: _evaluated,
        Meeting.Resumed: lambda e: (
            "PlanResumed", {"plan_id": e.plan_id, "meeting_id": e.originator_id, "meeting_type": e.meeting_type,
                            "reason": e.reason, "program": e.program}
        ),
        Meeting.GapIdentified: lambda e: (
            "ResourceGapIdentified", {"need": e.need, "area": e.area, "description": e.description}
            | codes_of(e, "area_code"),  # issue 18: absent from gaps recorded before
        ),
        Meeting.CaseTakenUp: lambda e: (
            "MeetingCaseTakenUp", {"meeting_id": e.originator_id, "meeting_type": e.meeting_type,
                                   "held_on": e.held_on, "member_divisions": e.member_divisions}
        ),
    },
)
