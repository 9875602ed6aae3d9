"""Participation's HTTP door."""

from __future__ import annotations

from datetime import date
from typing import Annotated, Any
from uuid import UUID

from fastapi import APIRouter, Depends, Path, Request, Response
from pydantic import BaseModel, Field

from services.participation.application import ParticipationApplication
from services.participation.domain import CatalogueEntry, Support
from shared.domain.areas import AREA_CODE_PATTERN
from shared.kernel.journey import NotFound
from shared.organisation.reference import RESOURCE_KINDS
from shared.web.casework_api import casework_router
from shared.web.deps import Staff, Who, application
from shared.web.if_match import etag_header, etag_of, held_to, if_match_header, precondition_failed
from shared.web.limits import MAX_ITEMS, Name, Need, Text
from shared.web.paging import PAGING_HEADERS, Cursor, Limit, catalogue_order, catalogue_page, page
from shared.web.plan_api import PlanDate, plan_router
from shared.web.policy import requires

#: the codes are the contract's; their names are each municipality file's (GET /reference/resource-kinds)
KINDS = ", ".join(k.code for k in RESOURCE_KINDS.values())

App = Annotated[ParticipationApplication, Depends(application(ParticipationApplication))]
Reader = Who  # the signed-in staff member (shared/web/deps.py: no thread hop)
PlacementIndex = Annotated[int, Path(ge=0, le=10_000, description="参加の番号 (index of GET /supports/{case_id} placements)")]
router = APIRouter(tags=["participation"])


# -- commands (the JSON body and the division UI's form alike) -------------------------------------


class NeedsIn(BaseModel):
    needs: list[Need] = Field(min_length=1, max_length=MAX_ITEMS, title="ニーズ")


class MatchIn(BaseModel):
    resource_id: Name = Field(min_length=1, max_length=200, title="資源",
                              description="資源一覧 (GET /catalogue) の resource_id")
    resource_kind: Name | None = Field(default=None, max_length=50, title="資源の種類",
                                       description=f"確認用の種類 (optional check): {KINDS}")


class PlacementIn(BaseModel):
    resource_id: Name = Field(min_length=1, max_length=200, title="参加する資源",
                              description="マッチングした資源 (a matched resource)")
    started_on: PlanDate = Field(title="参加開始日", description="参加開始日: 和暦（令和8年4月1日, R8.4.1）または西暦"
                                 "（2026-04-01）; 今日の前後5年以内")


class PlacementReviewIn(BaseModel):
    outcome: Name = Field(min_length=1, max_length=50, title="参加の状況",
                          description="参加の状況: settled=定着, ongoing=継続中, interrupted=中断, ended=終了")
    note: Text = Field(default="", max_length=4000, title="所見", description="所見")
    next_review_on: PlanDate | None = Field(default=None, title="次回の見直し予定日",
                                            description="次回の見直し予定日: 和暦または西暦; 省略時は評価の90日後")


class CatalogueDetailsIn(BaseModel):
    """資源の案内情報 (issue 15): what staff tell the person about a resource; blank or null clears a field."""

    schedule: Name | None = Field(default=None, max_length=200, title="開催日時・曜日",
                                  description="開催日時・曜日（例: 毎週火・木 10:00〜15:00）")
    contact: Name | None = Field(default=None, max_length=200, title="連絡先",
                                 description="運営主体の連絡先（電話・窓口）。個人の私的な連絡先は書かない")
    fee: Name | None = Field(default=None, max_length=200, title="利用料", description="利用料（例: 無料、1回300円）")


class ShortageIn(BaseModel):
    """社会資源の不足 (D8 D13): what is missing, where, and the 地区 (issue 18) when staff chose one."""

    need: Name = Field(min_length=1, max_length=200, title="不足しているもの", description="不足しているもの（自由記述）")
    area: Name = Field(default="", max_length=200, title="地域",
                       description="地域（自由記述: 〇〇町など）; 空なら地区の名前。地区も地域もないときは 422")
    description: Text = Field(min_length=1, max_length=4000, title="内容")
    area_code: str | None = Field(default=None, pattern=AREA_CODE_PATTERN, title="地区",
                                  description="地区のコード（自治体ファイルの [[areas]]）: ResourceShortageReported の area_code。"
                                  "省略時は地域の名前がファイルの地区ならそのコード")


# -- answers --------------------------------------------------------------------------------------


class MatchOut(BaseModel):
    resource_kind: str = Field(description="資源の種類 (code)")
    resource_id: str = Field(description="資源一覧の resource_id")
    provider: str | None = Field(description="運営主体 (null on matches recorded before it was kept)")


class ShortageOut(BaseModel):
    need: str
    area: str
    description: str


class ReviewOut(BaseModel):
    outcome: str = Field(description="settled=定着, ongoing=継続中, interrupted=中断, ended=終了")
    note: str = Field(description="所見")
    next_review_on: date | None = Field(default=None, description="次回の見直し予定日")


class PlacementOut(BaseModel):
    resource_id: str
    started_on: date = Field(description="参加開始日")
    status: str = Field(description="started=参加中, or the last review's outcome")
    reviews: list[ReviewOut]
    index: int = Field(description="参加の番号 (for .../placements/{index}/review)")


class SupportOut(BaseModel):
    """参加支援 (D13): the person's needs, matched resources, placements and shortage reports."""

    case_id: UUID
    referred_by: str = Field(description="紹介元: outreach, or meeting:<meeting_id>")
    needs: list[str]
    matches: list[MatchOut]
    shortages: list[ShortageOut]
    placements: list[PlacementOut]


class CatalogueEntryOut(BaseModel):
    """参加支援の資源一覧: a local resource community registered (D8 D13)."""

    resource_id: UUID
    kind: str = Field(description="資源の種類 (code)")
    name: str
    provider: str
    area: str
    capacity: int | None
    issue_id: UUID | None = Field(description="この資源が応える地域の課題")
    schedule: str | None = Field(default=None, description="開催日時・曜日 (null: not recorded yet)")
    contact: str | None = Field(default=None, description="運営主体の連絡先 (null: not recorded yet)")
    fee: str | None = Field(default=None, description="利用料 (null: not recorded yet)")


class StatusOut(BaseModel):
    status: str


class PlacementStartedOut(BaseModel):
    index: int = Field(description="参加の番号")
    status: str


# -- routes ---------------------------------------------------------------------------------------


#: a paged list's 200 answer (shared/web/paging.py)
PAGED: dict[int | str, dict[str, Any]] = {200: {"headers": PAGING_HEADERS}}


@router.get("/supports", response_model=list[SupportOut], dependencies=[requires("support.read")], responses=PAGED)
def supports(app: App, reader: Reader, request: Request, response: Response, limit: Limit = None,
             cursor: Cursor = None) -> list[dict[str, Any]]:
    """参加支援一覧: the supports of the cases the reader's division may see, oldest first; paged by `limit` and
    `cursor` (a keyset: a support that leaves or joins the reader's scope between two pages shifts nothing)."""
    if limit is None and not cursor:
        return app.visible_supports(reader)
    return catalogue_page(app.ids_of(Support), limit, cursor, request, response,  # a page reads its own supports
                          lambda support_id: next(iter(app.scoped([app.support_view(support_id)], reader)), None),
                          "case_id")


@router.get("/supports/{case_id}", response_model=SupportOut, dependencies=[requires("support.read")],
            responses=etag_header("PUT /supports/{case_id}/needs"))
def support(case_id: UUID, app: App, response: Response) -> dict[str, Any]:
    """参加支援; its `ETag` is the support's version."""
    found: Support = app._support(case_id)  # once: the tag and the body of the same version (two reads before)
    response.headers["ETag"] = etag_of(found.version)
    return found.view()


@router.put("/supports/{case_id}/needs", dependencies=[requires("support.write")], responses=precondition_failed())
def needs(case_id: UUID, body: NeedsIn, app: App, actor: Staff,
          if_match: Annotated[str | None, if_match_header("GET /supports/{case_id}")] = None) -> StatusOut:
    """本人のニーズ: the whole list replaced; with `If-Match` (the ETag of GET /supports/{case_id}), only if the
    support is still the version read (412 otherwise, nothing recorded); without it, as before."""
    with held_to(if_match, lambda: app.read(case_id, Support, "参加支援"), "参加支援の記録", "support",
                 f"/supports/{case_id}"):
        app.record_needs(actor, case_id, body.needs)
    return StatusOut(status="recorded")


@router.get("/catalogue", response_model=list[CatalogueEntryOut], dependencies=[requires("catalogue.read")],
            responses=PAGED)
def catalogue(app: App, request: Request, response: Response, limit: Limit = None,
              cursor: Cursor = None) -> list[dict[str, Any]]:
    """参加支援の資源一覧: resources community registered (D8 D13), oldest first; paged by `limit` and `cursor`
    (a keyset, as every list of the store's aggregates)."""
    return page(app.catalogue(), limit, cursor, request, response,
                catalogue_order(lambda: app.ids_of(CatalogueEntry), "resource_id"))


ResourceId = Annotated[str, Path(max_length=200, description="資源一覧の resource_id")]


@router.get("/catalogue/{resource_id}", response_model=CatalogueEntryOut, dependencies=[requires("catalogue.read")],
            responses=etag_header("PUT /catalogue/{resource_id}/details"))
def catalogue_entry(resource_id: ResourceId, app: App, response: Response) -> dict[str, Any]:
    """資源一覧の1件: a resource of the catalogue; its `ETag` is the entry's version (for PUT …/details)."""
    try:
        found: CatalogueEntry = app.read(UUID(resource_id), CatalogueEntry, "資源")
    except ValueError:
        raise NotFound(f"資源が見つかりません (GET /catalogue) / resource not found: {resource_id}") from None
    response.headers["ETag"] = etag_of(found.version)
    return dict(found.view())


@router.put("/catalogue/{resource_id}/details", response_model=CatalogueEntryOut,
            dependencies=[requires("support.write")], responses=precondition_failed())
def catalogue_details(resource_id: ResourceId, body: CatalogueDetailsIn, app: App, actor: Staff,
                      if_match: Annotated[str | None, if_match_header("GET /catalogue/{resource_id}")] = None
                      ) -> dict[str, Any]:
    """資源の案内情報: 開催日時・曜日, 連絡先 and 利用料 of a catalogue entry (issue 15). With `If-Match` (the ETag of
    GET /catalogue/{resource_id}), only if the entry is still the version read (412 otherwise, nothing recorded);
    without it, as before: the details replace whatever was recorded since."""
    with held_to(if_match, lambda: app.catalogue_entry(resource_id), "資源の案内情報", "resource's details",
                 f"/catalogue/{resource_id}"):
        return app.record_catalogue_details(actor, resource_id, body.schedule, body.contact, body.fee)


@router.post("/supports/{case_id}/matches", status_code=201, dependencies=[requires("support.write")])
def match(case_id: UUID, body: MatchIn, app: App, actor: Staff) -> StatusOut:
    """マッチング: a resource of the catalogue matched to the person (D13)."""
    app.match(actor, case_id, body.resource_id, body.resource_kind)
    return StatusOut(status="matched")


@router.post("/supports/{case_id}/placements", status_code=201, dependencies=[requires("support.write")])
def place(case_id: UUID, body: PlacementIn, app: App, actor: Staff) -> PlacementStartedOut:
    """参加の開始: the person starts at a matched resource (D13)."""
    index = app.start_placement(actor, case_id, body.resource_id, body.started_on)
    return PlacementStartedOut(index=index, status="started")


@router.post("/supports/{case_id}/placements/{index}/review", response_model=SupportOut,
             dependencies=[requires("support.write")])
def review(case_id: UUID, index: PlacementIndex, body: PlacementReviewIn, app: App, actor: Staff) -> dict[str, Any]:
    """参加の評価: how the placement went (D13)."""
    app.review_placement(actor, case_id, index, body.outcome, body.note, body.next_review_on)
    return app.support_view(case_id)


@router.post("/supports/{case_id}/shortages", status_code=201, dependencies=[requires("support.write")])
def shortage(case_id: UUID, body: ShortageIn, app: App, actor: Staff) -> StatusOut:
    """社会資源の不足 (D8)."""
    app.report_shortage(actor, case_id, body.need, body.area, body.description, body.area_code)
    return StatusOut(status="reported")


router.include_router(plan_router("participation"))
router.include_router(casework_router())
