"""Participation's HTTP door."""

from __future__ import annotations

from typing import Annotated, Any
from uuid import UUID

from fastapi import APIRouter, Depends, Request
from pydantic import BaseModel, Field

from shared.http import call, runtime_of, staff
from shared.plan_api import plan_router

Staff = Annotated[dict[str, str], Depends(staff)]
router = APIRouter(tags=["participation"])


class NeedsIn(BaseModel):
    needs: list[Annotated[str, Field(min_length=1, max_length=500)]] = Field(min_length=1)


class MatchIn(BaseModel):
    resource_kind: str = Field(min_length=1, max_length=50, description="居場所, 就労支援, 住居支援…")
    resource_id: str = Field(min_length=1, max_length=200)


class ShortageIn(BaseModel):
    need: str = Field(min_length=1, max_length=200)
    area: str = Field(min_length=1, max_length=200)
    description: str = Field(min_length=1, max_length=4000)


@router.get("/supports")
async def supports(request: Request) -> list[dict[str, Any]]:
    return await call(runtime_of(request).app.supports)  # type: ignore[no-any-return]


@router.get("/supports/{case_id}")
async def support(case_id: UUID, request: Request) -> dict[str, Any]:
    return await call(runtime_of(request).app.support_view, case_id)  # type: ignore[no-any-return]


@router.put("/supports/{case_id}/needs")
async def needs(case_id: UUID, body: NeedsIn, request: Request, actor: Staff) -> dict[str, str]:
    await call(runtime_of(request).app.record_needs, actor, case_id, body.needs)
    return {"status": "recorded"}


@router.post("/supports/{case_id}/matches", status_code=201)
async def match(case_id: UUID, body: MatchIn, request: Request, actor: Staff) -> dict[str, str]:
    await call(runtime_of(request).app.match, actor, case_id, body.resource_kind, body.resource_id)
    return {"status": "matched"}


@router.post("/supports/{case_id}/shortages", status_code=201)
async def shortage(case_id: UUID, body: ShortageIn, request: Request, actor: Staff) -> dict[str, str]:
    """社会資源の不足 (D8)."""
    await call(runtime_of(request).app.report_shortage, actor, case_id, body.need, body.area, body.description)
    return {"status": "reported"}


router.include_router(plan_router())
