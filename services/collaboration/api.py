"""Collaboration's HTTP door."""

from __future__ import annotations

from typing import Any, cast
from uuid import UUID

from fastapi import APIRouter, Request

from services.collaboration.application import CollaborationApplication
from shared.web.http import call, principal, runtime_of
from shared.web.plan_api import plan_router
from shared.web.policy import requires


def _app(request: Request) -> CollaborationApplication:
    """This service's application, typed (the runtime holds it as the base class)."""
    return cast(CollaborationApplication, runtime_of(request).app)


router = APIRouter(tags=["collaboration"])


@router.get("/cases", dependencies=[requires("collaboration.case.read")])
async def cases(request: Request) -> list[dict[str, Any]]:
    """多機関協働のケース一覧."""
    app, who = _app(request), principal(request)
    return await call(lambda: app.scoped(app.cases(), who))


@router.get("/cases/{case_id}", dependencies=[requires("collaboration.case.read")])
async def case(case_id: UUID, request: Request) -> dict[str, Any]:
    return await call(_app(request).case_view, case_id)


router.include_router(plan_router("collaboration"))
