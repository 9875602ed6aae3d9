"""Collaboration's HTTP door."""

from __future__ import annotations

from typing import Any
from uuid import UUID

from fastapi import APIRouter, Request

from shared.web.http import call, principal, runtime_of
from shared.web.plan_api import plan_router
from shared.web.policy import requires

router = APIRouter(tags=["collaboration"])


@router.get("/cases", dependencies=[requires("collaboration.case.read")])
async def cases(request: Request) -> list[dict[str, Any]]:
    """多機関協働のケース一覧."""
    app, who = runtime_of(request).app, principal(request)
    return await call(lambda: app.scoped(app.cases(), who))  # type: ignore[no-any-return]


@router.get("/cases/{case_id}", dependencies=[requires("collaboration.case.read")])
async def case(case_id: UUID, request: Request) -> dict[str, Any]:
    return await call(runtime_of(request).app.case_view, case_id)  # type: ignore[no-any-return]


router.include_router(plan_router("collaboration"))
