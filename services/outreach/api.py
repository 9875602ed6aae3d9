"""Outreach's HTTP door."""

from __future__ import annotations

from typing import Annotated, Any, Literal, cast
from uuid import UUID

from fastapi import APIRouter, Depends, Request
from pydantic import BaseModel, Field

from services.outreach.application import OutreachApplication
from services.outreach.domain import CONTACT_METHODS, STAGES
from shared.web.http import call, principal, runtime_of, staff
from shared.web.limits import Name, Text
from shared.web.plan_api import plan_router
from shared.web.policy import requires


def _app(request: Request) -> OutreachApplication:
    """This service's application, typed (the runtime holds it as the base class)."""
    return cast(OutreachApplication, runtime_of(request).app)


Staff = Annotated[dict[str, str], Depends(staff)]
router = APIRouter(tags=["outreach"])


class StartIn(BaseModel):
    case_id: UUID | None = Field(default=None, description="既存のケース (intake); 空なら新しいケース (D12)")
    referred_by: Name = Field(min_length=1, max_length=200, description="紹介元: 民生委員, 家族, intake…")
    reason: Text = Field(min_length=1, max_length=2000)


class ContactIn(BaseModel):
    method: Literal[CONTACT_METHODS] = Field(description="訪問, 手紙, 電話, メール, その他")  # type: ignore[valid-type]
    reached: bool
    note: Text = Field(default="", max_length=4000)
    stage: Literal[STAGES] = Field(description="関係の段階")  # type: ignore[valid-type]


class HandOverIn(BaseModel):
    to_program: Literal["intake", "collaboration", "participation"]
    reason: Text = Field(min_length=1, max_length=2000)
    primary_agency: Name | None = Field(default=None, max_length=200, description="主担当機関 (collaboration: required)")
    counter: Name | None = Field(default=None, max_length=50, description="受付窓口のコード (intake: required)")


@router.post("/engagements", status_code=201, dependencies=[requires("engagement.write")])
async def start(body: StartIn, request: Request, actor: Staff) -> dict[str, str]:
    """アウトリーチ開始 (D12)."""
    case_id = await call(_app(request).start, actor, body.case_id, body.referred_by, body.reason)
    return {"case_id": str(case_id)}


@router.get("/engagements", dependencies=[requires("engagement.read")])
async def engagements(request: Request) -> list[dict[str, Any]]:
    app, who = _app(request), principal(request)
    return await call(lambda: app.scoped(app.engagements(), who))


@router.get("/engagements/{case_id}", dependencies=[requires("engagement.read")])
async def engagement(case_id: UUID, request: Request) -> dict[str, Any]:
    return await call(_app(request).engagement_view, case_id)


@router.post("/engagements/{case_id}/contacts", status_code=201, dependencies=[requires("engagement.write")])
async def contact(case_id: UUID, body: ContactIn, request: Request, actor: Staff) -> dict[str, str]:
    await call(_app(request).record_contact, actor, case_id, body.method, body.reached, body.note, body.stage)
    return {"status": "recorded"}


@router.post("/engagements/{case_id}/hand-over", dependencies=[requires("engagement.write")])
async def hand_over(case_id: UUID, body: HandOverIn, request: Request, actor: Staff) -> dict[str, str]:
    await call(_app(request).hand_over, actor, case_id, body.to_program, body.reason, body.primary_agency,
               body.counter)
    return {"status": "handed over"}


router.include_router(plan_router("outreach"))
