"""Community's HTTP door."""

from __future__ import annotations

from typing import Annotated, Any
from uuid import UUID

from fastapi import APIRouter, Depends
from pydantic import BaseModel, Field

from services.community.application import CommunityApplication
from shared.organisation.reference import RESOURCE_KINDS
from shared.web.casework_api import casework_router
from shared.web.deps import application, staff
from shared.web.limits import Capacity, Name, Text
from shared.web.policy import requires

App = Annotated[CommunityApplication, Depends(application(CommunityApplication))]
Staff = Annotated[dict[str, str], Depends(staff)]
router = APIRouter(tags=["community"])


# -- commands (the JSON body and the division UI's form alike) -------------------------------------


class InitiativeIn(BaseModel):
    forum: Name = Field(min_length=1, max_length=200, title="協議の場",
                        description="協議の場 (e.g. 生活支援体制整備事業の協議体)")
    summary: Text = Field(min_length=1, max_length=4000, title="取り組みの概要", description="取り組みの概要")


class ResolutionIn(BaseModel):
    note: Text = Field(min_length=1, max_length=4000, title="解決の内容", description="解決の内容")


class ResourceIn(BaseModel):
    kind: Name = Field(min_length=1, max_length=50, title="資源の種類", description="資源の種類 (code or 日本語): " + ", ".join(
        f"{k.code}={k.ja}" for k in RESOURCE_KINDS.values()))
    name: Name = Field(min_length=1, max_length=200, title="名称", description="名称")
    provider: Name = Field(min_length=1, max_length=200, title="運営主体", description="運営主体")
    area: Name = Field(min_length=1, max_length=200, title="地域", description="地域")
    capacity: Capacity | None = Field(default=None, title="定員", description="定員 (1–100000, a JSON integer)")
    issue_id: UUID | None = Field(default=None, title="応える地域の課題", description="この資源が応える地域の課題 (D8)")


# -- answers --------------------------------------------------------------------------------------


class InitiativeOut(BaseModel):
    forum: str = Field(description="協議の場")
    summary: str = Field(description="取り組みの概要")


class IssueOut(BaseModel):
    """地域の課題 (D8): where it came from, its initiatives, and the resources registered as answering it."""

    issue_id: UUID
    case_id: UUID = Field(description="きっかけとなったケース")
    need: str = Field(description="不足しているもの")
    area: str = Field(description="地域")
    description: str = Field(description="内容")
    reported_by: str = Field(description="きっかけ: meeting (会議で把握した資源の不足) or participation (不足報告)")
    status: str = Field(description="open=未着手, taken_up=取り組み中, resolved=解決済み")
    initiatives: list[InitiativeOut]
    resolution: str = Field(description="解決の内容 (empty until resolved)")
    resources: list[UUID] = Field(description="この課題に応える資源の resource_id")


class ResourceOut(BaseModel):
    """地域の社会資源 (D8 D13)."""

    resource_id: UUID
    kind: str = Field(description="資源の種類 (code)")
    name: str
    provider: str
    area: str
    capacity: int | None
    issue_id: UUID | None = Field(description="この資源が応える地域の課題")


class DevelopedOut(BaseModel):
    resource_id: UUID


# -- routes ---------------------------------------------------------------------------------------


@router.get("/issues", response_model=list[IssueOut], dependencies=[requires("issue.read")])
def issues(app: App) -> list[dict[str, Any]]:
    """地域の課題一覧 (D8)."""
    return app.issues()


@router.get("/issues/{issue_id}", response_model=IssueOut, dependencies=[requires("issue.read")])
def issue(issue_id: UUID, app: App) -> dict[str, Any]:
    """地域の課題 (D8): its initiatives and the resources that answer it."""
    return app.issue_view(issue_id)


@router.post("/issues/{issue_id}/initiatives", status_code=201, response_model=IssueOut,
             dependencies=[requires("issue.write")])
def take_up(issue_id: UUID, body: InitiativeIn, app: App, actor: Staff) -> dict[str, Any]:
    """取り組みの開始: take the issue up in its own forum (D8, InitiativeStarted)."""
    app.take_up(actor, issue_id, body.forum, body.summary)
    return app.issue_view(issue_id)


@router.post("/issues/{issue_id}/resolution", response_model=IssueOut, dependencies=[requires("issue.write")])
def resolve(issue_id: UUID, body: ResolutionIn, app: App, actor: Staff) -> dict[str, Any]:
    """地域の課題の解決 (D8)."""
    app.resolve(actor, issue_id, body.note)
    return app.issue_view(issue_id)


@router.get("/resources", response_model=list[ResourceOut], dependencies=[requires("resource.read")])
def resources(app: App) -> list[dict[str, Any]]:
    """地域の社会資源一覧 (D8)."""
    return app.resources()


@router.post("/resources", status_code=201, dependencies=[requires("resource.write")])
def develop(body: ResourceIn, app: App, actor: Staff) -> DevelopedOut:
    """社会資源の登録: a new local resource for participation's catalogue (D8 D13, ResourceDeveloped)."""
    resource_id = app.develop_resource(
        actor, body.kind, body.name, body.provider, body.area, body.capacity, body.issue_id)
    return DevelopedOut(resource_id=resource_id)


router.include_router(casework_router())
