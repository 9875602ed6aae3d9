"""The plan routes shared by the programs that write plans (D4, D6, D7): `plan_router(service)`.

The use cases are the application's (shared/domain/plan_owner.py `PlanOwner`, re-exported here for the
services that import it from this module); `PlanIn`, `RoleIn` and `ClosureIn` are the one model of each
command, for the JSON body and the division UI's form alike."""

from __future__ import annotations

from datetime import date
from typing import Annotated, Any, Literal
from uuid import UUID

from fastapi import APIRouter, Depends, Response
from pydantic import AfterValidator, BaseModel, BeforeValidator, ConfigDict, Field, ValidationInfo

from shared.domain.plan_owner import PlanOwner, require_known_agencies
from shared.domain.wareki import parse_date
from shared.web.answers import answer
from shared.web.deps import Staff, application
from shared.web.if_match import etag_header, etag_of, held_to, if_match_header, precondition_failed
from shared.web.limits import MAX_ITEMS, LongText, Name, Text, check_near_date, written_as_a_day
from shared.web.policy import requires

__all__ = ["AccompanyIn", "CheckInIn", "ClosureIn", "MemberIn", "PlanIn", "PlanOwner", "PlanView", "RoleIn",
           "plan_router", "require_known_agencies"]


def _typed_date(value: Any, info: ValidationInfo) -> Any:
    """和暦 (令和8年4月1日, R8.4.1) or Western (2026-04-01, 2026/4/1) text as a date; a date stays one; a number is
    refused (`written_as_a_day`: pydantic read `1796256000` as seconds since 1970, 2026-12-03)."""
    if isinstance(value, bool | int | float):
        return written_as_a_day(value, info)
    if isinstance(value, str):  # the range is NearDate's (check_near_date), which says it in its own words
        return parse_date(value, earliest=date(1900, 1, 1), latest=date(2999, 12, 31))
    return value


#: a date of a plan as staff type it: 和暦 or Western, within 5 years of today
PlanDate = Annotated[date, BeforeValidator(_typed_date), AfterValidator(check_near_date),
                     Field(description="和暦（令和8年4月1日, R8.4.1）または西暦（2026-04-01）; 今日の前後5年以内")]


class RoleIn(BaseModel):
    """One role of a plan (D4): which agency does what."""

    agency: Name = Field(min_length=1, max_length=200, title="機関", description="機関 agency")
    responsibility: Text = Field(min_length=1, max_length=2000, title="役割", description="役割 responsibility")
    contact: Name | None = Field(default=None, max_length=200, title="担当者", description="担当者 contact person")


class MemberIn(BaseModel):
    """A household member the plan covers besides 本人 (D16; a label for now, households come later), with
    their own goals."""

    label: Name = Field(min_length=1, max_length=100, title="世帯員", description="世帯員（例: 母, 長男）")
    goals: list[LongText] = Field(min_length=1, max_length=MAX_ITEMS, title="世帯員の目標", description="その人の目標")


class PlanIn(BaseModel):
    """プラン作成・修正 (D4 D16): the JSON body and the plan form alike, as staff fill it in: 本人の意向, the plan
    period (開始日, 見直し予定日), 本人's goals and each household member's, the roles. The intention and the
    persons stay in the program's store; only the period travels with PlanProposed."""

    support_direction: Text = Field(min_length=1, max_length=4000, title="支援の方向性", description="支援の方向性")
    intention: Text = Field(default="", max_length=4000, title="本人の意向", description="本人の意向（本人の言葉で）")
    starts_on: PlanDate | None = Field(default=None, title="開始日")
    review_on: PlanDate | None = Field(default=None, title="見直し予定日")
    goals: list[LongText] = Field(min_length=1, max_length=MAX_ITEMS, title="本人の目標", description="本人の目標")
    members: list[MemberIn] = Field(default_factory=list, max_length=MAX_ITEMS, title="世帯員",
                                    description="本人のほかにプランの対象とする世帯員と、その目標")
    roles: list[RoleIn] = Field(max_length=MAX_ITEMS, title="役割分担", description="役割分担 (D4: at least one)")


class AccompanyIn(BaseModel):
    """伴走支援へ移る (D11): every goal of the plan met, the case stays accompanied without an active plan."""

    since: PlanDate = Field(title="伴走支援の開始日")
    goals_met: list[LongText] = Field(min_length=1, max_length=MAX_ITEMS, title="達成した目標",
                                      description="達成した目標（プランの目標すべて）")


class CheckInIn(BaseModel):
    """伴走支援の見守り: one periodic check-in with its date."""

    on: PlanDate = Field(title="見守りの日")
    how: Literal["来所", "電話", "訪問", "同行", "オンライン", "文書"] = Field(title="方法")
    note: Text = Field(default="", max_length=4000, title="様子", description="本人の様子・話したこと")


class ClosureIn(BaseModel):
    """終結の依頼 (D7): the JSON body and the closure form alike."""

    progress: Text = Field(min_length=1, max_length=4000, title="経過", description="経過 progress so far")


class PlanDraftedOut(BaseModel):
    plan_id: UUID


class PlanProposedOut(BaseModel):
    plan_id: UUID
    revision: int = Field(description="the revision proposed to the meeting")


class ClosureRequestedOut(BaseModel):
    plan_id: UUID
    status: Literal["closure_requested"]


class PlanView(BaseModel):
    """A plan as its program holds it (shared/domain/plan.py Plan.view): its roles, the meeting's
    decisions and evaluations (`history`) and its earlier revisions."""

    model_config = ConfigDict(extra="allow")

    plan_id: UUID
    case_id: UUID
    program: str
    status: str = Field(description="draft, proposed, approved, revision_requested, returned, closure_requested, "
                        "closed, suspended, continued, resumed or accompanying (伴走支援)")
    revision: int
    support_direction: str
    goals: list[str]
    roles: list[dict[str, Any]]
    history: list[dict[str, Any]] = Field(description="the meeting's decisions and evaluations, oldest first")
    revisions: list[Any] = Field(description="earlier revisions")
    intention: str = Field(default="", description="本人の意向")
    starts_on: date | None = Field(default=None, description="開始日")
    review_on: date | None = Field(default=None, description="見直し予定日")
    next_review_on: date | None = Field(default=None, description="次回の見直し日 (継続: PlanContinued)")
    persons: list[dict[str, Any]] = Field(default_factory=list,
                                          description="the persons the plan covers (本人 first), each with their goals")
    accompanying_since: date | None = Field(default=None, description="伴走支援の開始日 (status accompanying)")
    check_ins: list[dict[str, Any]] = Field(default_factory=list, description="伴走支援の見守り, by date")




App = Annotated[PlanOwner, Depends(application(PlanOwner))]


def plan_router(service: str) -> APIRouter:
    """The plan routes of a program that writes plans (D4, D6): writing needs `<service>.plan.write`."""
    router = APIRouter(tags=["plans"])
    write = requires(f"{service}.plan.write")

    @router.post("/cases/{case_id}/plans", status_code=201, dependencies=[write])
    def draft(case_id: UUID, body: PlanIn, app: App, actor: Staff) -> PlanDraftedOut:
        """プラン作成: draft a plan for a case (D4). 409 `conflict` while the case has a plan of this program not ended
        (終結, or returned to intake by the meeting; a suspended plan is not ended): its id is in the detail; revise that
        one (`PUT /plans/{plan_id}`) instead."""
        roles = [r.model_dump() for r in body.roles]
        return PlanDraftedOut(plan_id=app.draft_plan(actor, case_id, body.support_direction, body.goals, roles,
                                                     body.intention, body.starts_on, body.review_on,
                                                     [m.model_dump() for m in body.members]))

    @router.get("/plans/{plan_id}", dependencies=[requires("plan.read")], response_model=PlanView,
                responses=etag_header("PUT /plans/{plan_id}"))
    def get_plan(plan_id: UUID, app: App) -> Response:
        """A plan, its roles and what the meeting decided; its `ETag` is the plan's version."""
        plan = app.plan_read(plan_id)  # (kept: its answer made once for it, shared/web/answers.py)
        found = answer(plan, "plan", lambda: PlanView.model_validate(plan.view()))
        found.headers["ETag"] = etag_of(plan.version)
        return found

    @router.put("/plans/{plan_id}", dependencies=[write], responses=precondition_failed())
    def revise(plan_id: UUID, body: PlanIn, app: App, actor: Staff,
               if_match: Annotated[str | None, if_match_header("GET /plans/{plan_id}")] = None) -> PlanView:
        """プラン修正: rewrite a draft, or after the meeting asked for a revision. With `If-Match` (the ETag of
        GET /plans/{plan_id}), only if the plan is still the version read (412 otherwise, nothing recorded); without
        it, as before: the plan is rewritten whatever happened since it was read."""
        with held_to(if_match, lambda: app.plan_read(plan_id), "プラン", "plan", f"/plans/{plan_id}"):
            return PlanView.model_validate(app.revise_plan(
                actor, plan_id, body.support_direction, body.goals, [r.model_dump() for r in body.roles],
                body.intention, body.starts_on, body.review_on, [m.model_dump() for m in body.members]))

    @router.post("/plans/{plan_id}/propose", dependencies=[write])
    def propose(plan_id: UUID, app: App, actor: Staff) -> PlanProposedOut:
        """会議へ提出: propose the plan to the meeting (PlanProposed)."""
        return PlanProposedOut(plan_id=plan_id, revision=app.propose_plan(actor, plan_id))

    @router.post("/plans/{plan_id}/closure-request", dependencies=[write])
    def closure(plan_id: UUID, body: ClosureIn, app: App, actor: Staff) -> ClosureRequestedOut:
        """終結の依頼: ask the meeting to evaluate and end the plan (D7)."""
        app.request_plan_closure(actor, plan_id, body.progress)
        return ClosureRequestedOut(plan_id=plan_id, status="closure_requested")

    @router.post("/plans/{plan_id}/accompaniment", dependencies=[write])
    def accompany(plan_id: UUID, body: AccompanyIn, app: App, actor: Staff) -> PlanView:
        """伴走支援へ移る: every goal met, the case stays accompanied with check-ins, no active plan (not 終結)."""
        return PlanView.model_validate(app.accompany(actor, plan_id, body.since, list(body.goals_met)))

    @router.post("/plans/{plan_id}/check-ins", status_code=201, dependencies=[write])
    def check_in(plan_id: UUID, body: CheckInIn, app: App, actor: Staff) -> PlanView:
        """伴走支援の見守り: record a check-in with its date (leaving 伴走支援: a closure request or a new revision)."""
        return PlanView.model_validate(app.check_in(actor, plan_id, body.on, body.how, body.note))

    return router
