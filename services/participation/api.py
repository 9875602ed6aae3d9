"""Participation's HTTP door."""

from __future__ import annotations

from typing import Annotated, Any, cast
from uuid import UUID

from fastapi import APIRouter, Depends, Path, Request
from pydantic import BaseModel, Field

from services.participation.application import ParticipationApplication
from shared.domain.reference import RESOURCE_KINDS
from shared.web.http import call, principal, runtime_of, staff
from shared.web.limits import MAX_ITEMS, Name, NearDate, Need, Text
from shared.web.plan_api import plan_router
from shared.web.policy import requires


def _app(request: Request) -> ParticipationApplication:
    """This service's application, typed (the runtime holds it as the base class)."""
    return cast(ParticipationApplication, runtime_of(request).app)


KINDS = ", ".join(f"{k.code}={k.ja}" for k in RESOURCE_KINDS.values())

Staff = Annotated[dict[str, str], Depends(staff)]
PlacementIndex = Annotated[int, Path(ge=0, le=10_000, description="参加の番号 (index of GET /supports/{case_id} placements)")]
router = APIRouter(tags=["participation"])


class NeedsIn(BaseModel):
    needs: list[Need] = Field(min_length=1, max_length=MAX_ITEMS)


class MatchIn(BaseModel):
    resource_id: Name = Field(min_length=1, max_length=200, description="資源一覧 (GET /catalogue) の resource_id")
    resource_kind: Name | None = Field(default=None, max_length=50, description=f"確認用の種類 (optional check): {KINDS}")


class PlacementIn(BaseModel):
    resource_id: Name = Field(min_length=1, max_length=200, description="マッチングした資源 (a matched resource)")
    started_on: NearDate = Field(description="参加開始日 (within 5 years of today)")


class PlacementReviewIn(BaseModel):
    outcome: Name = Field(min_length=1, max_length=50, description="参加の状況: settled=定着, ongoing=継続中, "
                         "interrupted=中断, ended=終了")
    note: Text = Field(default="", max_length=4000, description="所見")


class ShortageIn(BaseModel):
    need: Name = Field(min_length=1, max_length=200)
    area: Name = Field(min_length=1, max_length=200)
    description: Text = Field(min_length=1, max_length=4000)


@router.get("/supports", dependencies=[requires("support.read")])
async def supports(request: Request) -> list[dict[str, Any]]:
    app, who = _app(request), principal(request)
    return await call(lambda: app.scoped(app.supports(), who))


@router.get("/supports/{case_id}", dependencies=[requires("support.read")])
async def support(case_id: UUID, request: Request) -> dict[str, Any]:
    return await call(_app(request).support_view, case_id)


@router.put("/supports/{case_id}/needs", dependencies=[requires("support.write")])
async def needs(case_id: UUID, body: NeedsIn, request: Request, actor: Staff) -> dict[str, str]:
    await call(_app(request).record_needs, actor, case_id, body.needs)
    return {"status": "recorded"}


@router.get("/catalogue", dependencies=[requires("catalogue.read")])
async def catalogue(request: Request) -> list[dict[str, Any]]:
    """参加支援の資源一覧: resources community registered (D8 D13)."""
    return await call(_app(request).catalogue)


@router.post("/supports/{case_id}/matches", status_code=201, dependencies=[requires("support.write")])
async def match(case_id: UUID, body: MatchIn, request: Request, actor: Staff) -> dict[str, str]:
    """マッチング: a resource of the catalogue matched to the person (D13)."""
    await call(_app(request).match, actor, case_id, body.resource_id, body.resource_kind)
    return {"status": "matched"}


@router.post("/supports/{case_id}/placements", status_code=201, dependencies=[requires("support.write")])
async def place(case_id: UUID, body: PlacementIn, request: Request, actor: Staff) -> dict[str, Any]:
    """参加の開始: the person starts at a matched resource (D13)."""
    index = await call(_app(request).start_placement, actor, case_id, body.resource_id, body.started_on)
    return {"index": index, "status": "started"}


@router.post("/supports/{case_id}/placements/{index}/review", dependencies=[requires("support.write")])
async def review(case_id: UUID, index: PlacementIndex, body: PlacementReviewIn, request: Request, actor: Staff) -> dict[str, Any]:
    """参加の評価: how the placement went (D13)."""
    app = _app(request)
    await call(app.review_placement, actor, case_id, index, body.outcome, body.note)
    return await call(app.support_view, case_id)


@router.post("/supports/{case_id}/shortages", status_code=201, dependencies=[requires("support.write")])
async def shortage(case_id: UUID, body: ShortageIn, request: Request, actor: Staff) -> dict[str, str]:
    """社会資源の不足 (D8)."""
    await call(_app(request).report_shortage, actor, case_id, body.need, body.area, body.description)
    return {"status": "reported"}


router.include_router(plan_router("participation"))
