"""Collaboration's HTTP door."""

from __future__ import annotations

from datetime import date, datetime, timedelta
from typing import Annotated, Any, Literal
from uuid import UUID

from fastapi import APIRouter, Depends, Query, Request, Response
from pydantic import AfterValidator, BaseModel, Field

from services.collaboration.application import CollaborationApplication
from services.collaboration.domain import CollaborationCase, CouncilSitting, ResourceGap
from shared.domain.areas import AREA_CODE_PATTERN
from shared.domain.wareki import NotADate, parse_date, today_in_japan
from shared.organisation.reference import CONCERN_FIELDS, DIVISIONS
from shared.web.casework_api import casework_router
from shared.web.deps import Staff, Who, application
from shared.web.if_match import etag_header, etag_of, held_to, if_match_header, precondition_failed
from shared.web.limits import MAX_ITEMS, Name, Text
from shared.web.paging import PAGING_HEADERS, Cursor, Limit, catalogue_order, catalogue_page, page
from shared.web.plan_api import plan_router
from shared.web.policy import requires

App = Annotated[CollaborationApplication, Depends(application(CollaborationApplication))]
Reader = Who  # the signed-in staff member (shared/web/deps.py: no thread hop)
router = APIRouter(tags=["collaboration"])

#: 課題の状態 (D4)
STRAND_STATUS_JA = {"todo": "未着手", "working": "対応中", "resolved": "解消"}
#: 推進会議の決定 (D8)
COUNCIL_DECISION_JA = {"initiative": "取組の開始", "request": "課への依頼", "deferred": "継続審議"}
#: 推進会議の課題の状態 (D8)
GAP_STATUS_JA = {"awaiting": "推進会議待ち", "on_agenda": "議題", "initiative": "取組を開始", "request": "課へ依頼済み"}
#: where a gap came from
GAP_SOURCE_JA = {"meeting": "重層的支援会議", "participation": "参加支援", "coordinator": "地域福祉コーディネーター"}
_HOW = "和暦（令和8年12月5日, R8.12.5）または西暦（2026-12-05, 2026/12/5）"


def _sitting_day(text: str) -> str:
    now = today_in_japan()
    try:
        return parse_date(text, earliest=now - timedelta(days=366), latest=now + timedelta(days=366),
                          what="開催日").isoformat()
    except NotADate as refused:
        raise ValueError(str(refused)) from None


SittingDay = Annotated[str, Field(max_length=40, description="開催日: " + _HOW + "; 1年前から1年後まで"),
                       AfterValidator(_sitting_day)]


# -- commands (the JSON body and the division UI's form alike) -------------------------------------


class StrandIn(BaseModel):
    """課題（解きほぐした一つの課題）: its concern field, what it is, the agency working it, its status (D4)."""

    concern: Name = Field(min_length=1, max_length=50, title="分野", description="分野 (code or 日本語): " + ", ".join(
        f"{c.code}={c.ja}" for c in CONCERN_FIELDS.values()))
    description: Text = Field(default="", max_length=1000, title="課題の内容", description="課題の内容")
    agency: Name = Field(default="", max_length=200, title="担当機関",
                         description="担当機関 (空なら未定。未定の課題が残るとプランを会議へ提出できません)")
    status: Literal["todo", "working", "resolved"] = Field(default="todo", title="状態",
                                                          description="状態: todo=未着手, working=対応中, resolved=解消")


class GapIn(BaseModel):
    """地域福祉コーディネーターが地域で把握した資源の不足 (D8): brought to the 推進会議 by hand."""

    need: Name = Field(min_length=1, max_length=500, title="不足している資源", description="不足している資源（ニーズ）")
    area: Name = Field(default="", max_length=200, title="地域",
                       description="地域（自由記述: 〇〇町など）; 地区を選んだときは空でも可（地区の名前）")
    description: Text = Field(default="", max_length=2000, title="内容",
                              description="内容（個人を特定する記載はしない）")
    area_code: str | None = Field(default=None, pattern=AREA_CODE_PATTERN, title="地区",
                                  description="地区のコード（自治体ファイルの [[areas]]）: PromotionCouncilDecided の area_code。"
                                  "省略時は地域の名前がファイルの地区ならそのコード。ファイルにないコードは 422")


class SittingIn(BaseModel):
    """推進会議の開催 (D8)."""

    held_on: SittingDay = Field(title="開催日")
    attendees: list[Annotated[Name, Field(min_length=1, max_length=200)]] = Field(
        min_length=1, max_length=MAX_ITEMS, title="出席機関", description="出席した機関（一つ以上）")
    note: Text = Field(default="", max_length=2000, title="備考", description="備考（第n回など）")


class AgendaIn(BaseModel):
    gap_id: UUID = Field(title="議題にする課題", description="議題にする資源の不足の gap_id")


class CouncilDecisionIn(BaseModel):
    """推進会議の決定 (D8): an initiative (取組の内容), a request (依頼先の課 + 内容), or 継続審議."""

    decision: Literal["initiative", "request", "deferred"] = Field(
        title="決定", description="initiative=取組の開始, request=課への依頼, deferred=継続審議")
    division: str = Field(default="", max_length=50, title="依頼先",
                          description="依頼先の課 (code), request のとき: " + ", ".join(DIVISIONS))
    summary: Text = Field(default="", max_length=2000, title="内容",
                          description="取組の内容・依頼の内容・継続審議の理由")


# -- answers --------------------------------------------------------------------------------------


class StrandOut(BaseModel):
    strand_id: UUID
    concern: str = Field(description="分野")
    description: str = Field(description="課題の内容")
    agency: str = Field(description="担当機関 (空なら未定)")
    status: str = Field(description="todo=未着手, working=対応中, resolved=解消")


class RoleOut(BaseModel):
    agency: str
    responsibility: str
    contact: str | None = None


class CaseOut(BaseModel):
    """多機関協働のケース: why it was escalated, its concerns, its primary agency (D11)."""

    case_id: UUID
    reason: str = Field(description="理由 (【区分】本文 for an escalation)")
    concerns: list[str] = Field(description="相談内容")
    primary_agency: str = Field(description="主担当機関 (D11)")
    status: str = Field(description="open: 対応中")
    opened_at: datetime = Field(description="多機関協働が受けた日時")
    strands: list[StrandOut] = Field(default_factory=list, description="課題の解きほぐし (D4)")
    household_ref: UUID | None = Field(default=None, description="世帯で連携: the household's pseudonymous ref (D16, "
                                       "issue 15); absent for a case escalated alone")
    related_case_ids: list[UUID] = Field(default_factory=list, description="世帯で連携（他N件のケース）: the household's "
                                         "other intake cases this case holds, covered by its one plan (D16)")


class GapDecisionOut(BaseModel):
    sitting_id: UUID
    decision: str = Field(description="initiative=取組の開始, request=課への依頼, deferred=継続審議")
    division: str = Field(description="依頼先の課 (code; request のとき)")
    summary: str


class GapOut(BaseModel):
    """推進会議の課題: a need with no local resource (D8), where it came from and what the council decided."""

    gap_id: UUID
    case_id: UUID | None = Field(description=(
        "きっかけとなったケース（地域福祉コーディネーターが挙げたものは課題自身の番号）。読む人の課がそのケースを読めないとき"
        "は null（課題は推進会議のすべての課に示し、どのケースからかは示さない） / the case the gap came from (a coordinator's "
        "gap: the gap's own id); null where the reader's division may not read that case (division scope)"))
    need: str = Field(description="不足している資源")
    area: str
    description: str
    source: str = Field(description="meeting=重層的支援会議, participation=参加支援, coordinator=地域福祉コーディネーター")
    origin_event_id: UUID | None = Field(description="ResourceGapIdentified / ResourceShortageReported の event_id")
    status: str = Field(description="awaiting=推進会議待ち, on_agenda=議題, initiative=取組を開始, request=課へ依頼済み")
    sitting_id: UUID | None = Field(description="議題にしている開催")
    decisions: list[GapDecisionOut]


class SittingDecisionOut(BaseModel):
    decision: str
    division: str
    summary: str


class SittingOut(BaseModel):
    """推進会議の開催 (D8): its date, attendees, agenda (in order) and decisions per gap."""

    sitting_id: UUID
    held_on: date
    attendees: list[str]
    note: str
    agenda: list[UUID]
    decisions: dict[str, SittingDecisionOut] = Field(description="gap_id → 決定")


class CreatedOut(BaseModel):
    id: UUID


class RefusedOut(BaseModel):
    detail: str = Field(description="断った理由と次にすること（日本語 / English）")


def refusals(*codes: int) -> dict[int | str, dict[str, Any]]:
    """The refusals a route declares (OpenAPI): each a JSON `detail` saying what to do."""
    said = {403: "役割または課が違います / not a role or division that may", 404: "見つかりません / not found",
            409: "いまはできません（窓口へ戻したケース、決定済みの課題、議題でない課題、担当機関が未定の課題）"
                 " / not now (returned case, decided gap, not on the agenda, strand without agency)",
            422: "入力内容を確認してください / check the fields"}
    return {code: {"model": RefusedOut, "description": said[code]} for code in codes}


@router.get("/cases", dependencies=[requires("collaboration.case.read")], response_model=list[CaseOut],
            responses={200: {"headers": PAGING_HEADERS}})
def cases(app: App, who: Reader, request: Request, response: Response, limit: Limit = None,
          cursor: Cursor = None) -> list[dict[str, Any]]:
    """多機関協働のケース一覧 (the caller's division scope), oldest escalation first; paged by `limit` and `cursor` (a
    page reads only its own cases and the next one, not every case of the year)."""
    if limit is None and not cursor:
        return app.scoped(app.cases(), who)
    return catalogue_page(app.ids_of(CollaborationCase), limit, cursor, request, response,
                          lambda case_id: next(iter(app.scoped([app.case_view(case_id)], who)), None), "case_id")


def case_version(app: CollaborationApplication, case_id: UUID) -> int:
    """The case's version as the store holds it now (the kept aggregate: no copy, no events read): a strand is part
    of its case, so any change of the case (another strand too) makes an `If-Match` read before it stale."""
    found: CollaborationCase = app.read(case_id, CollaborationCase, "多機関協働のケース")
    return found.version


#: the ETag of a case's reads, for PUT /cases/{case_id}/strands/{strand_id}
CASE_ETAG = etag_header("PUT /cases/{case_id}/strands/{strand_id}")[200]["headers"]


@router.get("/cases/{case_id}", dependencies=[requires("collaboration.case.read")], response_model=CaseOut,
            responses={200: {"headers": CASE_ETAG}})
def case(case_id: UUID, app: App, response: Response) -> dict[str, Any]:
    """多機関協働のケース; its `ETag` is the case's version (its strands' too)."""
    found: CollaborationCase = app.read(case_id, CollaborationCase, "多機関協働のケース")  # once: tag and body of it
    response.headers["ETag"] = etag_of(found.version)
    return found.view()


# -- 課題の解きほぐし (D4) ---------------------------------------------------------------------------


@router.get("/cases/{case_id}/strands", dependencies=[requires("collaboration.case.read")],
            response_model=list[StrandOut],
            responses={**refusals(403, 404), 200: {"headers": {**PAGING_HEADERS, **CASE_ETAG}}})
def strands(case_id: UUID, app: App, request: Request, response: Response, limit: Limit = None,
            cursor: Cursor = None) -> list[dict[str, Any]]:
    """課題の一覧 (D4): the household's issues, each with its agency and status, in the order recorded (a strand is
    never removed: the cursor is a position). Its `ETag` is the case's version."""
    response.headers["ETag"] = etag_of(case_version(app, case_id))
    return page(list(app.case_view(case_id)["strands"]), limit, cursor, request, response)


@router.post("/cases/{case_id}/strands", status_code=201, dependencies=[requires("collaboration.strand.write")],
             response_model=StrandOut, responses=refusals(403, 404, 409, 422))
def add_strand(case_id: UUID, body: StrandIn, app: App, actor: Staff) -> dict[str, Any]:
    """課題の記録 (D4): one issue of the household as a strand of its own, before the plan."""
    return app.strand_added(actor, case_id, body.concern, body.description, body.agency, body.status)


@router.put("/cases/{case_id}/strands/{strand_id}", dependencies=[requires("collaboration.strand.write")],
            response_model=StrandOut, responses={**refusals(403, 404, 409, 422), **precondition_failed()})
def change_strand(case_id: UUID, strand_id: UUID, body: StrandIn, app: App, actor: Staff,
                  if_match: Annotated[str | None, if_match_header("GET /cases/{case_id}")] = None) -> dict[str, Any]:
    """課題の更新 (D4): name its agency, move its status on (未着手 → 対応中 → 解消). With `If-Match` (the ETag of
    GET /cases/{case_id} or of its strands), only if the case is still the version read (412 otherwise, nothing
    recorded); without it, as before: the strand is replaced whatever was recorded since."""
    with held_to(if_match, lambda: app.read(case_id, CollaborationCase, "多機関協働のケース"), "ケース（課題）",
                 "case and its strands", f"/cases/{case_id}"):
        return app.change_strand(actor, case_id, strand_id, body.concern, body.description, body.agency, body.status)


@router.get("/cases/{case_id}/roles-from-strands", dependencies=[requires("collaboration.case.read")],
            response_model=list[RoleOut], responses={**refusals(403, 404), 200: {"headers": PAGING_HEADERS}})
def roles_from_strands(case_id: UUID, app: App, request: Request, response: Response, limit: Limit = None,
                       cursor: Cursor = None) -> list[dict[str, Any]]:
    """役割分担の案 (D4): one role per agency named by the open strands (what the plan form proposes), in the
    strands' order; paged by `limit` and `cursor` like every list (a proposal: short, read whole as a rule)."""
    return page(app.roles_from_strands(case_id), limit, cursor, request, response)


# -- 推進会議 (D8) -------------------------------------------------------------------------------------


@router.get("/council/gaps", dependencies=[requires("council.read")], response_model=list[GapOut],
            responses={200: {"headers": PAGING_HEADERS}})
def gaps(app: App, who: Reader, request: Request, response: Response,
         status: Annotated[Literal["awaiting", "on_agenda", "initiative", "request"] | None,
                           Query(description="状態で絞り込む")] = None, limit: Limit = None,
         cursor: Cursor = None) -> list[dict[str, Any]]:
    """推進会議の課題 (D8): resource gaps named by the 重層的支援会議, reported by participation or brought by a
    地域福祉コーディネーター, oldest first; `status=awaiting` lists those awaiting the council. Paged by `limit` and
    `cursor` (a keyset: a gap that leaves the status asked makes no other gap skipped). Each gap's `case_id` only
    where the reader's division may read that case (`gap_as_read`)."""
    return [gap_as_read(app, who, g) for g in page(app.gaps(status), limit, cursor, request, response,
                                                    catalogue_order(lambda: app.ids_of(ResourceGap), "gap_id"))]


@router.get("/council/gaps/{gap_id}", dependencies=[requires("council.read")], response_model=GapOut,
            responses=refusals(404))
def gap(gap_id: UUID, app: App, who: Reader) -> dict[str, Any]:
    """推進会議の課題 (D8); its `case_id` only where the reader's division may read that case (`gap_as_read`)."""
    return gap_as_read(app, who, app.gap_view(gap_id))


def gap_as_read(app: CollaborationApplication, who: Any, view: dict[str, Any]) -> dict[str, Any]:
    """A gap as `who` reads it: the council's work is every division's (council.read), the case it came from is not;
    its `case_id` (a case of the meeting or participation) is null unless the reader's division may read that case
    (division scope, as the case's own routes; a 地域福祉コーディネーター's gap names no case: its own id is kept).
    Before, any division's supervisor or coordinator read which case each gap came from (HB's review)."""
    if view["source"] == "coordinator" or app.scoped([view], who):
        return view
    return {**view, "case_id": None}


@router.post("/council/gaps", status_code=201, dependencies=[requires("council.gap.refer")], response_model=GapOut,
             responses=refusals(403, 422))
def refer_gap(body: GapIn, app: App, actor: Staff) -> dict[str, Any]:
    """資源の不足を推進会議に挙げる (D8): a gap a 地域福祉コーディネーター found in the community."""
    return app.gap_referred(actor, body.need, body.area, body.description, body.area_code)


@router.get("/council/sittings", dependencies=[requires("council.read")], response_model=list[SittingOut],
            responses={200: {"headers": PAGING_HEADERS}})
def sittings(app: App, request: Request, response: Response, limit: Limit = None,
             cursor: Cursor = None) -> list[dict[str, Any]]:
    """推進会議の開催一覧 (D8), newest first; paged by `limit` and `cursor` (a keyset: a sitting recorded since
    the first page comes before it, and shifts nothing)."""
    return page(app.sittings(), limit, cursor, request, response,
                catalogue_order(lambda: app.ids_of(CouncilSitting), "sitting_id", newest_first_by="held_on"))


@router.post("/council/sittings", status_code=201, dependencies=[requires("council.convene")],
             response_model=SittingOut, responses=refusals(403, 422))
def hold_sitting(body: SittingIn, app: App, actor: Staff) -> dict[str, Any]:
    """推進会議の開催を記録する (D8): the date and the agencies attending."""
    return app.sitting_held(actor, date.fromisoformat(body.held_on), list(body.attendees), body.note)


@router.get("/council/sittings/{sitting_id}", dependencies=[requires("council.read")], response_model=SittingOut,
            responses=refusals(404))
def sitting(sitting_id: UUID, app: App) -> dict[str, Any]:
    """推進会議の開催 (D8): one sitting of the 相談支援包括化推進会議, its date, attendees, agenda and decisions per gap."""
    return app.sitting_view(sitting_id)


@router.post("/council/sittings/{sitting_id}/agenda", dependencies=[requires("council.convene")],
             response_model=SittingOut, responses=refusals(403, 404, 409, 422))
def take_up_gap(sitting_id: UUID, body: AgendaIn, app: App, actor: Staff) -> dict[str, Any]:
    """課題を議題にする (D8): a gap awaiting the council (or continued from an earlier sitting)."""
    return app.take_up_gap(actor, sitting_id, body.gap_id)


@router.post("/council/sittings/{sitting_id}/gaps/{gap_id}/decision", dependencies=[requires("council.convene")],
             response_model=GapOut, responses=refusals(403, 404, 409, 422))
def decide_gap(sitting_id: UUID, gap_id: UUID, body: CouncilDecisionIn, app: App, actor: Staff,
               who: Reader) -> dict[str, Any]:
    """推進会議の決定 (D8): 取組の開始, 課への依頼 (依頼先 + 内容) or 継続審議, for a gap on the sitting's agenda."""
    return gap_as_read(app, who, app.decide_gap(actor, sitting_id, gap_id, body.decision, body.division, body.summary))


router.include_router(plan_router("collaboration"))


router.include_router(casework_router())  # 担当者・支援経過記録・自分の担当 (shared/web/casework_api.py)
