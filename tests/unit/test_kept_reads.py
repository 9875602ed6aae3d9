"""Issue 19: collaboration's and the meeting's reads use the kept aggregate itself (`ServiceApplication.read`, no
copy) when aggregates are kept (`JUSOU_AGGREGATE_CACHE`): what a read hands out is the caller's own (changing it
changes no later read), and a command after reads still sees every event (the kept copy is brought forward)."""

from __future__ import annotations

from datetime import date
from typing import Any
from uuid import uuid4

from support.municipality import ELDERLY

from services.collaboration.application import CollaborationApplication
from services.meeting.application import MeetingApplication
from shared.kernel.app import KeptAggregates, ServiceApplication
from unit.builders import ATTENDEES, COORDINATOR, IN_MEMORY, ROLES, SECRETARIAT, Upstream
from unit.test_meeting import Feeds, decide

KEPT = {**IN_MEMORY, "JUSOU_AGGREGATE_CACHE": "100"}


def kept(app: ServiceApplication) -> KeptAggregates:
    assert isinstance(app.repository, KeptAggregates)
    return app.repository


def scribble(view: dict[str, Any]) -> None:
    """What a careless caller might do with a view it was given: change every list in it."""
    for value in view.values():
        if isinstance(value, list):
            value.append("落書き")


def test_d4_collaborations_reads_share_the_kept_case_and_plan_without_handing_them_out() -> None:
    app = CollaborationApplication(env=dict(KEPT))
    case_id = uuid4()
    app.receive(*Upstream("intake").emit("CaseEscalated", {"reason": "複合的な課題", "concerns": ["高齢・介護"],
                                                           "primary_agency": ELDERLY.ja}, case_id))
    plan_id = app.draft_plan(COORDINATOR, case_id, "方向性", ["目標"], ROLES)
    case_before, plan_before = app.case_view(case_id), app.plan_view(plan_id)
    hits = kept(app).hits

    scribble(app.case_view(case_id))
    scribble(app.plan_view(plan_id))

    assert kept(app).hits == hits + 2  # the kept aggregates were read, not decoded again
    assert (app.case_view(case_id), app.plan_view(plan_id)) == (case_before, plan_before)
    assert app.propose_plan(COORDINATOR, plan_id) == 1  # a command after the reads: the plan and case as stored
    assert app.plan_view(plan_id)["status"] == "proposed"


def test_d5_the_meetings_reads_share_the_kept_sitting_and_plan_without_handing_them_out() -> None:
    meeting = MeetingApplication(env=dict(KEPT))
    feeds = Feeds(meeting)
    case_id = uuid4()
    feeds.consent(case_id)
    plan_id = feeds.propose(case_id)
    sitting = meeting.convene(SECRETARIAT, "jusou_shien_kaigi", date(2025, 5, 20), ATTENDEES)
    agenda_before, sitting_before = meeting.listed(plan_id).view(), meeting.meeting_view(SECRETARIAT, sitting)

    scribble(meeting.listed(plan_id).view())
    scribble(meeting.meeting_view(SECRETARIAT, sitting))

    assert meeting.listed(plan_id).view() == agenda_before
    assert meeting.meeting_view(SECRETARIAT, sitting) == sitting_before
    decide(meeting, sitting, plan_id, "approved")
    assert meeting.listed(plan_id).view()["status"] == "approved"
    assert [m["decision"] for m in meeting.meeting_view(SECRETARIAT, sitting)["minutes"]] == ["approved"]
