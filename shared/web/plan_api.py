"""The plan routes shared by the programs that write plans (D4, D6, D7): `plan_router(service)`.

The use cases are the application's (shared/domain/plan_owner.py `PlanOwner`, re-exported here for the
services that import it from this module); `PlanIn`, `RoleIn` and `ClosureIn` are the one model of each
command, for the JSON body and the division UI's form alike."""

from __future__ import annotations

from typing import Annotated, Any, Literal
from uuid import UUID

from fastapi import APIRouter, Depends
from pydantic import BaseModel, ConfigDict, Field

from shared.domain.plan_owner import PlanOwner, require_known_agencies
from shared.web.deps import application, staff
from shared.web.limits import MAX_ITEMS, LongText, Name, Text
from shared.web.policy import requires

__all__ = ["ClosureIn", "PlanIn", "PlanOwner", "PlanView", "RoleIn", "plan_router", "require_known_agencies"]


class RoleIn(BaseModel):
    """One role of a plan (D4): which agency does what."""

    agency: Name = Field(min_length=1, max_length=200, title="機関", description="機関 agency")
    responsibility: Text = Field(min_length=1, max_length=2000, title="役割", description="役割 responsibility")
    contact: Name | None = Field(default=None, max_length=200, title="担当者", description="担当者 contact person")


class PlanIn(BaseModel):
    """プラン作成・修正 (D4): the JSON body and the plan form alike."""

    support_direction: Text = Field(min_length=1, max_length=4000, title="支援の方向性", description="支援の方向性")
    goals: list[LongText] = Field(min_length=1, max_length=MAX_ITEMS, title="目標", description="目標")
    roles: list[RoleIn] = Field(max_length=MAX_ITEMS, title="役割分担", description="役割分担 (D4: at least one)")


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
                        "closed, suspended or continued")
    revision: int
    support_direction: str
    goals: list[str]
    roles: list[dict[str, Any]]
    history: list[dict[str, Any]] = Field(description="the meeting's decisions and evaluations, oldest first")
    revisions: list[Any] = Field(description="earlier revisions")




Staff = Annotated[dict[str, str], Depends(staff)]
App = Annotated[PlanOwner, Depends(application(PlanOwner))]


def plan_router(service: str) -> APIRouter:
    """The plan routes of a program that writes plans (D4, D6): writing needs `<service>.plan.write`."""
    router = APIRouter(tags=["plans"])
    write = requires(f"{service}.plan.write")

    @router.post("/cases/{case_id}/plans", status_code=201, dependencies=[write])
    def draft(case_id: UUID, body: PlanIn, app: App, actor: Staff) -> PlanDraftedOut:
        """プラン作成: draft a plan for a case (D4)."""
        roles = [r.model_dump() for r in body.roles]
        return PlanDraftedOut(plan_id=app.draft_plan(actor, case_id, body.support_direction, body.goals, roles))

    @router.get("/plans/{plan_id}", dependencies=[requires("plan.read")])
    def get_plan(plan_id: UUID, app: App) -> PlanView:
        """A plan, its roles and what the meeting decided."""
        return PlanView.model_validate(app.plan_view(plan_id))

    @router.put("/plans/{plan_id}", dependencies=[write])
    def revise(plan_id: UUID, body: PlanIn, app: App, actor: Staff) -> PlanView:
        """プラン修正: rewrite a draft, or after the meeting asked for a revision."""
        app.revise_plan(actor, plan_id, body.support_direction, body.goals, [r.model_dump() for r in body.roles])
        return PlanView.model_validate(app.plan_view(plan_id))

    @router.post("/plans/{plan_id}/propose", dependencies=[write])
    def propose(plan_id: UUID, app: App, actor: Staff) -> PlanProposedOut:
        """会議へ提出: propose the plan to the meeting (PlanProposed)."""
        return PlanProposedOut(plan_id=plan_id, revision=app.propose_plan(actor, plan_id))

    @router.post("/plans/{plan_id}/closure-request", dependencies=[write])
    def closure(plan_id: UUID, body: ClosureIn, app: App, actor: Staff) -> ClosureRequestedOut:
        """終結の依頼: ask the meeting to evaluate and end the plan (D7)."""
        app.request_plan_closure(actor, plan_id, body.progress)
        return ClosureRequestedOut(plan_id=plan_id, status="closure_requested")

    return router
