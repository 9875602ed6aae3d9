"""The meeting's HTTP door."""

from __future__ import annotations

from typing import Annotated, Any, Literal, cast
from uuid import UUID

from fastapi import APIRouter, Depends, Request
from pydantic import BaseModel, Field

from services.meeting.application import MeetingApplication
from shared.web.http import call, principal, runtime_of, staff
from shared.web.limits import MAX_ITEMS, Name, NearDate, ShortName, Text
from shared.web.policy import requires


def _app(request: Request) -> MeetingApplication:
    """This service's application, typed (the runtime holds it as the base class)."""
    return cast(MeetingApplication, runtime_of(request).app)


Staff = Annotated[dict[str, str], Depends(staff)]
router = APIRouter(tags=["meeting"])


class MeetingIn(BaseModel):
    meeting_type: Literal["jusou_shien_kaigi", "shien_kaigi"] = Field(description="重層的支援会議 / 支援会議")
    held_on: NearDate = Field(description="開催日 (within 5 years of today)")
    attendees: list[ShortName] = Field(min_length=1, max_length=MAX_ITEMS, description="出席機関")


class PositionIn(BaseModel):
    agency: Name = Field(min_length=1, max_length=200)
    position: Literal["agree", "object"]
    reason: Text = Field(default="", max_length=2000)


class DecisionIn(BaseModel):
    plan_id: UUID
    decision: Literal["approved", "revision_requested", "returned_to_intake"]
    reasons: Text = Field(min_length=1, max_length=4000, description="理由")
    positions: list[PositionIn] = Field(max_length=MAX_ITEMS,
                                        description="各出席機関の意見 (D5): every attendee, agree or object with a reason")
    connect_to: list[Literal["outreach", "participation"]] = Field(default_factory=list, max_length=2)
    primary_agency: Name | None = Field(default=None, max_length=200, description="returned_to_intake: 主担当")


class GoalResultIn(BaseModel):
    goal: Text = Field(min_length=1, max_length=2000, description="プランの目標")
    result: Literal["achieved", "partly_achieved", "not_achieved"] = Field(description="達成 / 一部達成 / 未達成")
    note: Text = Field(default="", max_length=4000, description="経過")


class EvaluationIn(BaseModel):
    plan_id: UUID
    outcome: Literal["closed", "suspended", "continued"] = Field(description="終結 / 中断 / 継続")
    course: Text = Field(min_length=1, max_length=4000, description="支援の経過")
    result: Text = Field(min_length=1, max_length=4000, description="支援の成果")
    reason: Text = Field(default="", max_length=2000)
    next_review_on: NearDate | None = Field(default=None, description="次回の見直し日 (within 5 years of today)")
    goal_results: list[GoalResultIn] = Field(max_length=MAX_ITEMS, description="目標ごとの評価 (D7): one per goal of the plan")


class GapIn(BaseModel):
    case_id: UUID
    need: Name = Field(min_length=1, max_length=200)
    area: Name = Field(min_length=1, max_length=200)
    description: Text = Field(min_length=1, max_length=4000)


@router.get("/agenda", dependencies=[requires("meeting.agenda.read")])
async def agenda(request: Request) -> list[dict[str, Any]]:
    """議題: plans awaiting a decision or a closure evaluation."""
    app, who = _app(request), principal(request)
    return await call(lambda: app.scoped(app.agenda(), who))


@router.get("/agenda/{plan_id}", dependencies=[requires("meeting.agenda.read")])
async def agenda_item(plan_id: UUID, request: Request) -> dict[str, Any]:
    review = await call(_app(request).review, plan_id)
    return review.view()


@router.get("/consents/{case_id}", dependencies=[requires("meeting.consents.read")])
async def consent(case_id: UUID, request: Request) -> dict[str, Any]:
    """本人同意の有無 (D9): whether the 重層的支援会議 may discuss the case."""
    return await call(_app(request).consent_view, case_id)


@router.post("/meetings", status_code=201, dependencies=[requires("meeting.convene")])
async def convene(body: MeetingIn, request: Request, actor: Staff) -> dict[str, str]:
    meeting_id = await call(_app(request).convene, actor, body.meeting_type, body.held_on, body.attendees)
    return {"meeting_id": str(meeting_id)}


class TakeUpIn(BaseModel):
    case_id: UUID = Field(description="議題にするケース (the case's id, the same in every program)")


@router.post("/meetings/{meeting_id}/cases", status_code=201, dependencies=[requires("meeting.convene")])
async def take_up(meeting_id: UUID, body: TakeUpIn, request: Request, actor: Staff) -> dict[str, Any]:
    """議題にする (D10): the sitting takes up a case, with or without a plan. At a 支援会議 this lets the
    member divisions read the person's information at intake (basis `shien_kaigi` with this meeting_id);
    deciding or evaluating a plan at a sitting takes its case up too. Published as MeetingCaseTakenUp
    (the member divisions' codes, never the minutes)."""
    return await call(_app(request).take_up, actor, meeting_id, body.case_id)


@router.get("/meetings/{meeting_id}", dependencies=[requires("meeting.read")])
async def meeting(meeting_id: UUID, request: Request, actor: Staff) -> dict[str, Any]:
    """会議録 (minutes); a 支援会議's only for its members (D10)."""
    return await call(_app(request).meeting_view, actor, meeting_id)


@router.post("/meetings/{meeting_id}/decisions", status_code=201, dependencies=[requires("meeting.decide")])
async def decide(meeting_id: UUID, body: DecisionIn, request: Request, actor: Staff) -> dict[str, str]:
    """合議による決定 (D5, D9)."""
    await call(
        _app(request).decide, actor, meeting_id, body.plan_id, body.decision, body.reasons,
        [p.model_dump() for p in body.positions], list(body.connect_to), body.primary_agency,
    )
    return {"plan_id": str(body.plan_id), "decision": body.decision}


@router.post("/meetings/{meeting_id}/evaluations", status_code=201, dependencies=[requires("meeting.evaluate")])
async def evaluate(meeting_id: UUID, body: EvaluationIn, request: Request, actor: Staff) -> dict[str, str]:
    """終結評価 (D7)."""
    await call(
        _app(request).evaluate, actor, meeting_id, body.plan_id, body.outcome, body.course,
        body.result, body.reason, body.next_review_on, [g.model_dump() for g in body.goal_results],
    )
    return {"plan_id": str(body.plan_id), "outcome": body.outcome}


@router.post("/meetings/{meeting_id}/resource-gaps", status_code=201, dependencies=[requires("meeting.gap")])
async def gap(meeting_id: UUID, body: GapIn, request: Request, actor: Staff) -> dict[str, str]:
    """地域の課題 (D8)."""
    await call(_app(request).identify_gap, actor, meeting_id, body.case_id, body.need, body.area, body.description)
    return {"status": "recorded"}
