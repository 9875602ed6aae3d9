"""Collaboration's HTTP door."""

from __future__ import annotations

from typing import Annotated, Any
from uuid import UUID

from fastapi import APIRouter, Depends
from pydantic import BaseModel, Field

from services.collaboration.application import CollaborationApplication
from shared.web.auth import Principal
from shared.web.casework_api import casework_router
from shared.web.deps import application, principal
from shared.web.plan_api import plan_router
from shared.web.policy import requires

App = Annotated[CollaborationApplication, Depends(application(CollaborationApplication))]
Reader = Annotated[Principal, Depends(principal)]
router = APIRouter(tags=["collaboration"])


class CaseOut(BaseModel):
    """多機関協働のケース: why it was escalated, its concerns, its primary agency (D11)."""

    case_id: UUID
    reason: str = Field(description="理由 (【区分】本文 for an escalation)")
    concerns: list[str] = Field(description="相談内容")
    primary_agency: str = Field(description="主担当機関 (D11)")
    status: str = Field(description="open: 対応中")


@router.get("/cases", dependencies=[requires("collaboration.case.read")], response_model=list[CaseOut])
def cases(app: App, who: Reader) -> list[dict[str, Any]]:
    """多機関協働のケース一覧 (the caller's division scope)."""
    return app.scoped(app.cases(), who)


@router.get("/cases/{case_id}", dependencies=[requires("collaboration.case.read")], response_model=CaseOut)
def case(case_id: UUID, app: App) -> dict[str, Any]:
    return app.case_view(case_id)


router.include_router(plan_router("collaboration"))


router.include_router(casework_router())  # 担当者・支援経過記録・自分の担当 (shared/web/casework_api.py)
