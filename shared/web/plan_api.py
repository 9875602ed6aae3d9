"""Plan use cases and routes shared by the programs that write plans (D4, D6, D7)."""

from __future__ import annotations

from typing import Annotated, Any, cast
from uuid import UUID

from eventsourcing.application import ProcessingEvent
from fastapi import APIRouter, Depends, Request
from pydantic import BaseModel, Field

from shared.contract.events import (
    Envelope,
    MeetingDecidedV1,
    PlanClosedV1,
    PlanContinuedV1,
    PlanSuspendedV1,
)
from shared.domain.plan import Plan
from shared.domain.reference import unknown_agencies
from shared.kernel.app import ServiceApplication, handles
from shared.kernel.journey import Invalid, NotFound, acting
from shared.web.http import call, runtime_of, staff
from shared.web.limits import MAX_ITEMS, LongText, Name, Text
from shared.web.policy import requires


def _app(request: Request) -> PlanOwner:
    """This service's application, typed (the runtime holds it as the base class)."""
    return cast(PlanOwner, runtime_of(request).app)


MEETING_OUTCOMES = ("MeetingDecided", "PlanClosed", "PlanSuspended", "PlanContinued")


def require_known_agencies(roles: list[dict[str, Any]]) -> None:
    """D4: every role names an agency the city knows (shared/domain/reference.py)."""
    unknown = unknown_agencies([str(r.get("agency", "")).strip() for r in roles if r.get("agency")])
    if unknown:
        raise Invalid(
            f"登録されていない機関です: {', '.join(unknown)}。機関一覧 (GET /reference/agencies) から選んでください / "
            "unknown agency: choose one from GET /reference/agencies"
        )


class PlanOwner(ServiceApplication):
    """A program that writes plans and takes them to the meeting."""

    program: str

    def require_case(self, case_id: UUID) -> None:
        """Raise NotFound unless this program holds the case."""
        raise NotImplementedError

    def case_of_plan(self, plan_id: UUID) -> UUID | None:
        """The case a plan is for (its division scope is its case's); None when there is no such plan."""
        try:
            plan: Plan = self.load(plan_id, Plan, "プラン")
        except NotFound:
            return None
        return UUID(str(plan.case_id))

    def draft_plan(self, actor: dict[str, str], case_id: UUID, direction: str, goals: list[str], roles: list[dict[str, Any]]) -> UUID:
        """D4: draft a plan for a case this program holds."""
        self.require_case(case_id)
        require_known_agencies(roles)
        with acting(actor):
            plan = Plan.draft(case_id, self.program, direction, goals, roles)
        self.save(plan)
        return plan.id

    def revise_plan(self, actor: dict[str, str], plan_id: UUID, direction: str, goals: list[str], roles: list[dict[str, Any]]) -> None:
        plan: Plan = self.load(plan_id, Plan, "プラン")
        require_known_agencies(roles)
        with acting(actor):
            plan.revise(direction, goals, roles)
        self.save(plan)

    def propose_plan(self, actor: dict[str, str], plan_id: UUID) -> int:
        """D4 D6: propose the plan to the meeting (PlanProposed)."""
        plan: Plan = self.load(plan_id, Plan, "プラン")
        with acting(actor):
            plan.propose()
        self.save(plan)
        return plan.revision

    def request_plan_closure(self, actor: dict[str, str], plan_id: UUID, progress: str) -> None:
        """D7: ask the meeting to evaluate and end the plan (PlanClosureRequested)."""
        plan: Plan = self.load(plan_id, Plan, "プラン")
        with acting(actor):
            plan.request_closure(progress)
        self.save(plan)

    def plan_view(self, plan_id: UUID) -> dict[str, Any]:
        plan: Plan = self.load(plan_id, Plan, "プラン")
        return plan.view()

    @handles(MeetingDecidedV1, PlanClosedV1, PlanSuspendedV1, PlanContinuedV1)
    def react_to_meeting(self, envelope: Envelope, payload: Any, processing: ProcessingEvent[UUID]) -> None:
        """The owner's plan follows the meeting's decision and evaluation."""
        plan_id = payload.plan_id
        if getattr(payload, "program", None) not in (None, self.program):
            return
        try:
            plan: Plan = self.load(plan_id, Plan, "プラン")
        except NotFound:  # another program's plan: nothing to follow
            return
        if isinstance(payload, MeetingDecidedV1):
            plan.record_decision(payload.meeting_id, payload.meeting_type, payload.decision, payload.reasons, payload.revision or plan.revision)
        elif isinstance(payload, PlanClosedV1):
            plan.record_evaluation("closed", payload.meeting_id, payload.evaluation.model_dump(), None)
        elif isinstance(payload, PlanSuspendedV1):
            plan.record_evaluation("suspended", payload.meeting_id, payload.evaluation.model_dump(), None)
        elif isinstance(payload, PlanContinuedV1):
            plan.record_evaluation("continued", payload.meeting_id, payload.evaluation.model_dump(), payload.next_review_on)
        processing.collect_events(plan)


class RoleIn(BaseModel):
    agency: Name = Field(min_length=1, max_length=200, description="機関 agency")
    responsibility: Text = Field(min_length=1, max_length=2000, description="役割 responsibility")
    contact: Name | None = Field(default=None, max_length=200, description="担当者 contact person")


class PlanIn(BaseModel):
    support_direction: Text = Field(min_length=1, max_length=4000, description="支援の方向性")
    goals: list[LongText] = Field(min_length=1, max_length=MAX_ITEMS, description="目標")
    roles: list[RoleIn] = Field(max_length=MAX_ITEMS, description="役割分担 (D4: at least one)")


class ClosureIn(BaseModel):
    progress: Text = Field(min_length=1, max_length=4000, description="経過 progress so far")


Staff = Annotated[dict[str, str], Depends(staff)]


def plan_router(service: str) -> APIRouter:
    """The plan routes of a program that writes plans (D4, D6): writing needs `<service>.plan.write`."""
    router = APIRouter(tags=["plans"])

    @router.post("/cases/{case_id}/plans", status_code=201, dependencies=[requires(f"{service}.plan.write")])
    async def draft(case_id: UUID, body: PlanIn, request: Request, actor: Staff) -> dict[str, Any]:
        """プラン作成: draft a plan for a case (D4)."""
        app = _app(request)
        plan_id = await call(app.draft_plan, actor, case_id, body.support_direction, body.goals, [r.model_dump() for r in body.roles])
        return {"plan_id": str(plan_id)}

    @router.get("/plans/{plan_id}", dependencies=[requires("plan.read")])
    async def get_plan(plan_id: UUID, request: Request) -> dict[str, Any]:
        return await call(_app(request).plan_view, plan_id)

    @router.put("/plans/{plan_id}", dependencies=[requires(f"{service}.plan.write")])
    async def revise(plan_id: UUID, body: PlanIn, request: Request, actor: Staff) -> dict[str, Any]:
        """プラン修正: rewrite a draft, or after the meeting asked for a revision."""
        app = _app(request)
        await call(app.revise_plan, actor, plan_id, body.support_direction, body.goals, [r.model_dump() for r in body.roles])
        return await call(app.plan_view, plan_id)

    @router.post("/plans/{plan_id}/propose", dependencies=[requires(f"{service}.plan.write")])
    async def propose(plan_id: UUID, request: Request, actor: Staff) -> dict[str, Any]:
        """会議へ提出: propose the plan to the meeting (PlanProposed)."""
        revision = await call(_app(request).propose_plan, actor, plan_id)
        return {"plan_id": str(plan_id), "revision": revision}

    @router.post("/plans/{plan_id}/closure-request", dependencies=[requires(f"{service}.plan.write")])
    async def closure(plan_id: UUID, body: ClosureIn, request: Request, actor: Staff) -> dict[str, Any]:
        """終結の依頼: ask the meeting to evaluate and end the plan (D7)."""
        await call(_app(request).request_plan_closure, actor, plan_id, body.progress)
        return {"plan_id": str(plan_id), "status": "closure_requested"}

    return router


