"""Community's HTTP door."""

from __future__ import annotations

from typing import Annotated, Any, cast
from uuid import UUID

from fastapi import APIRouter, Depends, Request
from pydantic import BaseModel, Field

from services.community.application import CommunityApplication
from shared.domain.reference import RESOURCE_KINDS
from shared.web.http import call, runtime_of, staff
from shared.web.limits import Capacity, Name, Text
from shared.web.policy import requires


def _app(request: Request) -> CommunityApplication:
    """This service's application, typed (the runtime holds it as the base class)."""
    return cast(CommunityApplication, runtime_of(request).app)


Staff = Annotated[dict[str, str], Depends(staff)]
router = APIRouter(tags=["community"])


class InitiativeIn(BaseModel):
    forum: Name = Field(min_length=1, max_length=200, description="協議の場 (e.g. 生活支援体制整備事業の協議体)")
    summary: Text = Field(min_length=1, max_length=4000, description="取り組みの概要")


class ResolutionIn(BaseModel):
    note: Text = Field(min_length=1, max_length=4000, description="解決の内容")


class ResourceIn(BaseModel):
    kind: Name = Field(min_length=1, max_length=50, description="資源の種類 (code or 日本語): " + ", ".join(
        f"{k.code}={k.ja}" for k in RESOURCE_KINDS.values()))
    name: Name = Field(min_length=1, max_length=200, description="名称")
    provider: Name = Field(min_length=1, max_length=200, description="運営主体")
    area: Name = Field(min_length=1, max_length=200, description="地域")
    capacity: Capacity | None = Field(default=None, description="定員 (1–100000, a JSON integer)")
    issue_id: UUID | None = Field(default=None, description="この資源が応える地域の課題 (D8)")


@router.get("/issues", dependencies=[requires("issue.read")])
async def issues(request: Request) -> list[dict[str, Any]]:
    """地域の課題一覧 (D8)."""
    return await call(_app(request).issues)


@router.get("/issues/{issue_id}", dependencies=[requires("issue.read")])
async def issue(issue_id: UUID, request: Request) -> dict[str, Any]:
    """地域の課題 (D8): its initiatives and the resources that answer it."""
    return await call(_app(request).issue_view, issue_id)


@router.post("/issues/{issue_id}/initiatives", status_code=201, dependencies=[requires("issue.write")])
async def take_up(issue_id: UUID, body: InitiativeIn, request: Request, actor: Staff) -> dict[str, Any]:
    """取り組みの開始: take the issue up in its own forum (D8, InitiativeStarted)."""
    app = _app(request)
    await call(app.take_up, actor, issue_id, body.forum, body.summary)
    return await call(app.issue_view, issue_id)


@router.post("/issues/{issue_id}/resolution", dependencies=[requires("issue.write")])
async def resolve(issue_id: UUID, body: ResolutionIn, request: Request, actor: Staff) -> dict[str, Any]:
    """地域の課題の解決 (D8)."""
    app = _app(request)
    await call(app.resolve, actor, issue_id, body.note)
    return await call(app.issue_view, issue_id)


@router.get("/resources", dependencies=[requires("resource.read")])
async def resources(request: Request) -> list[dict[str, Any]]:
    """地域の社会資源一覧 (D8)."""
    return await call(_app(request).resources)


@router.post("/resources", status_code=201, dependencies=[requires("resource.write")])
async def develop(body: ResourceIn, request: Request, actor: Staff) -> dict[str, str]:
    """社会資源の登録: a new local resource for participation's catalogue (D8 D13, ResourceDeveloped)."""
    resource_id = await call(
        _app(request).develop_resource, actor, body.kind, body.name, body.provider, body.area,
        body.capacity, body.issue_id,
    )
    return {"resource_id": str(resource_id)}
