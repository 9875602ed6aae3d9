"""Community's HTTP door."""

from __future__ import annotations

from datetime import date, timedelta
from typing import Annotated, Any
from uuid import UUID

from fastapi import APIRouter, Depends, Query, Request, Response
from pydantic import AfterValidator, BaseModel, Field

from services.community.application import CommunityApplication, community_programs, fiscal_year_of
from services.community.domain import ActivitySession, LocalResource, Place, RegionalIssue, SelfHelpGroup
from shared.domain.areas import AREA_CODE_PATTERN
from shared.domain.wareki import NotADate, parse_date, today_in_japan
from shared.organisation.reference import RESOURCE_KINDS
from shared.web.casework_api import casework_router
from shared.web.deps import Staff, Who, application
from shared.web.limits import MAX_CAPACITY, Capacity, Name, Text
from shared.web.paging import PAGING_HEADERS, Cursor, Limit, catalogue_order, page
from shared.web.policy import require_scope, requires
from shared.web.staff_roster import place_in_charge

App = Annotated[CommunityApplication, Depends(application(CommunityApplication))]
router = APIRouter(tags=["community"])


# -- commands (the JSON body and the division UI's form alike) -------------------------------------


#: 地域 and 地区 in a command (issue 18): the area written and the 地区 chosen (ResourceDeveloped's area_code)
AREA_TEXT = "地域（自由記述: 〇〇町など）; 空なら地区の名前。地区も地域もないときは 422"
AREA_CODE_TEXT = ("地区のコード（自治体ファイルの [[areas]]）: ResourceDeveloped の area_code。省略時は地域の名前がファイルの地区なら"
                  "そのコード")


#: 協議の場 in a command (issue 18): a forum of the municipality file (InitiativeStarted's forum_code) or one written freely
FORUM_TEXT = ("協議の場: 自治体ファイルの [[forums]] の名前（以前の名前も可）またはコード（forum:<code>）なら InitiativeStarted に "
              "forum_code が付き、コードで送ったときは名前で記録されます。ファイルにない協議の場は書いたとおり（コードなし）。"
              "ファイルにない forum:<code> は 422")


class InitiativeIn(BaseModel):
    forum: Name = Field(min_length=1, max_length=200, title="協議の場", description=FORUM_TEXT)
    summary: Text = Field(min_length=1, max_length=4000, title="取り組みの概要", description="取り組みの概要")


class ResolutionIn(BaseModel):
    note: Text = Field(min_length=1, max_length=4000, title="解決の内容", description="解決の内容")


class ResourceIn(BaseModel):
    kind: Name = Field(min_length=1, max_length=50, title="資源の種類", description="資源の種類 (code or 日本語): " + ", ".join(
        f"{k.code}={k.ja}" for k in RESOURCE_KINDS.values()))
    name: Name = Field(min_length=1, max_length=200, title="名称", description="名称")
    provider: Name = Field(min_length=1, max_length=200, title="運営主体",
                           description="運営主体 (the name of an agency of the municipality file gives the event its provider_code)")
    area: Name = Field(default="", max_length=200, title="地域", description=AREA_TEXT)
    capacity: Capacity | None = Field(default=None, title="定員", description="定員 (1–100000, a JSON integer)")
    issue_id: UUID | None = Field(default=None, title="応える地域の課題", description="この資源が応える地域の課題 (D8)")
    area_code: str | None = Field(default=None, pattern=AREA_CODE_PATTERN, title="地区", description=AREA_CODE_TEXT)


# -- answers --------------------------------------------------------------------------------------


class InitiativeOut(BaseModel):
    forum: str = Field(description="協議の場")
    summary: str = Field(description="取り組みの概要")


class CouncilDecisionOut(BaseModel):
    """D8: a decision of the 推進会議 on the gap the issue keeps (from collaboration's PromotionCouncilDecided)."""

    sitting_id: UUID = Field(description="推進会議の開催 (collaboration's sitting_id)")
    decision: str = Field(description="initiative=取り組みを始める, request=担当課に依頼, deferred=継続審議")
    division: str = Field(description="依頼先の課 (code; empty unless a request)")
    summary: str = Field(description="決定の内容")


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
    council: list[CouncilDecisionOut] = Field(
        default_factory=list, description="推進会議の決定 (oldest first); an initiative it decided is among `initiatives`")


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


# -- 地域づくり as places and activities (D21, issue 16) --------------------------------------------------

PROGRAM_CHOICES = ", ".join(f"{p.code}={p.ja}" for p in community_programs())
_HOW = "和暦（令和8年12月5日, R8.12.5）または西暦（2026-12-05, 2026/12/5）"
#: how far back an activity may be recorded (a past fiscal year entered late); never in the future
ACTIVITY_YEARS_BACK = 5


def _past_day(what: str, years_back: int) -> Any:
    def check(text: str) -> str:
        now = today_in_japan()
        try:
            return parse_date(text, earliest=now - timedelta(days=366 * years_back), latest=now, what=what).isoformat()
        except NotADate as refused:
            raise ValueError(str(refused)) from None
    return AfterValidator(check)


HeldOn = Annotated[str, Field(max_length=40, description="開催日: " + _HOW + "; 5年前から今日まで"), _past_day("開催日", 5)]
FormedOn = Annotated[str, Field(max_length=40, description="結成日: " + _HOW + "; 5年前から今日まで"), _past_day("結成日", 5)]
OpenedOn = Annotated[str, Field(max_length=40, description="開設日: " + _HOW + "; 50年前から今日まで"), _past_day("開設日", 50)]
ClosedOn = Annotated[str, Field(max_length=40, description="閉所日: " + _HOW + "; 5年前から今日まで"), _past_day("閉所日", 5)]
HeadCount = Annotated[int, Field(strict=True, ge=0, le=MAX_CAPACITY)]


class PlaceIn(BaseModel):
    program: Name = Field(min_length=1, max_length=100, title="事業", description="事業 (code or 日本語): " + PROGRAM_CHOICES)
    name: Name = Field(min_length=1, max_length=200, title="拠点の名称", description="拠点・居場所の名称")
    area: Name = Field(default="", max_length=200, title="地域", description=AREA_TEXT)
    area_code: str | None = Field(default=None, pattern=AREA_CODE_PATTERN, title="地区", description=AREA_CODE_TEXT)
    ibasho: bool = Field(default=False, title="居場所",
                         description="居場所として参加支援に提供する (ResourceDeveloped, kind ibasho)")
    capacity: Capacity | None = Field(default=None, title="定員", description="定員 (1–100000, a JSON integer)")
    provider: Name = Field(default="", max_length=200, title="運営主体", description="運営主体 (空なら事業名)")
    opened_on: OpenedOn = Field(title="開設日")
    in_charge: Name = Field(default="", max_length=100, title="担当職員",
                            description="担当職員の職員番号 (空なら登録した職員). Where Jusou keeps the staff's accounts "
                                        "(the development issuer), an id that is not one of the staff who may write "
                                        "places here is refused: 422 `staff_not_listed`, naming those who may")
    unlisted: bool = Field(default=False, title="名簿にない番号のまま記録する",
                           description="true: record `in_charge` even though it is not on the roster of staff who may "
                                       "write places (a colleague without an account yet); a staff member whose account may not write "
                                       "places is refused all the same")


class PlaceChoice(BaseModel):
    """The place a page's form names (its closure form sends the place in the body)."""

    place_id: UUID = Field(title="拠点")


class PlaceClosureIn(BaseModel):
    closed_on: ClosedOn = Field(title="閉所日")


class SessionIn(BaseModel):
    place_id: UUID = Field(title="拠点", description="開催した拠点の place_id")
    held_on: HeldOn = Field(title="開催日")
    participants: HeadCount = Field(title="参加者数", description="参加者数（人数。氏名は記録しません）")
    new_participants: HeadCount = Field(default=0, title="新規参加者数", description="うち初めて参加した人数")
    volunteers: HeadCount = Field(default=0, title="ボランティア数", description="協力したボランティアの人数")
    organisations: list[Annotated[Name, Field(min_length=1, max_length=200)]] = Field(
        default_factory=list, max_length=30, title="参加団体", description="参加・協力した団体の名称（30まで）")
    summary: Text = Field(default="", max_length=2000, title="内容", description="開催の内容（個人を特定する記載はしない）")
    program: Name = Field(default="", max_length=100, title="事業", description="事業 (空なら拠点の事業): " + PROGRAM_CHOICES)


class GroupIn(BaseModel):
    name: Name = Field(min_length=1, max_length=200, title="グループの名称", description="自主グループの名称")
    program: Name = Field(default="", max_length=100, title="事業",
                          description="事業 (空なら拠点の事業): " + PROGRAM_CHOICES)
    area: Name = Field(default="", max_length=200, title="地域", description="地域 (空なら拠点の地域)")
    formed_on: FormedOn = Field(title="結成日")
    place_id: UUID | None = Field(default=None, title="拠点", description="活動する拠点 (任意)")
    members: Capacity | None = Field(default=None, title="メンバー数", description="メンバー数 (任意)")


class PlaceOut(BaseModel):
    """拠点・居場所 (D21)."""

    place_id: UUID
    program: str = Field(description="事業 (code)")
    name: str
    area: str
    ibasho: bool = Field(description="居場所として参加支援に提供している")
    capacity: int | None
    provider: str
    opened_on: date
    closed_on: date | None
    in_charge: str = Field(description="担当職員の職員番号")
    sessions: int = Field(description="これまでの開催回数")


class SessionOut(BaseModel):
    """開催の記録 (D21): counts only, never names."""

    session_id: UUID
    held_on: date
    program: str
    place_id: UUID
    place_name: str
    area: str
    participants: int
    new_participants: int
    volunteers: int
    organisations: list[str]
    summary: str


class GroupOut(BaseModel):
    """自主グループ (D21)."""

    group_id: UUID
    name: str
    program: str
    area: str
    formed_on: date
    place_id: UUID | None
    members: int | None


class FigureCounts(BaseModel):
    sessions: int = Field(description="開催回数")
    participants: int = Field(description="参加者数（延べ）")
    new_participants: int = Field(description="新規参加者数")
    volunteers: int = Field(description="ボランティア数（延べ）")
    organisations: int = Field(description="参加団体数（重複なし）")
    new_groups: int = Field(description="自主グループ化の数")
    places: int = Field(description="期間中に開いていた拠点数")
    ibasho: int = Field(description="うち居場所")
    new_places: int = Field(description="期間中に開設した拠点数")


class QuarterFigures(FigureCounts):
    quarter: int = Field(description="四半期 (1=4〜6月 … 4=1〜3月)")
    starts_on: date
    ends_on: date


class PeriodFigures(FigureCounts):
    quarters: list[QuarterFigures]


class ProgramFigures(PeriodFigures):
    program: str = Field(description="事業 (code)")
    program_ja: str
    division: str = Field(description="事業を運営する課 (code)")


class CommunityFiguresOut(BaseModel):
    """地域づくり事業の年度の実績 (D21): per program and quarter, computed from the stored events."""

    fiscal_year: int = Field(description="年度 (4月〜翌3月)")
    starts_on: date
    ends_on: date
    programs: list[ProgramFigures]
    total: PeriodFigures


#: A refusal the shared document (shared/web/errors.py `refusals_of`) cannot infer from the path: the place named
#: in the body is not found (404), declared with the shared `Refusal` body.
PLACE_NOT_FOUND: dict[int | str, dict[str, Any]] = {404: {
    "description": "拠点が見つかりません。place_id を確かめてください / no such place: check place_id",
    "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Refusal"}}}}}


# -- routes ---------------------------------------------------------------------------------------

#: a paged list's 200 answer (shared/web/paging.py)
PAGED: dict[int | str, dict[str, Any]] = {200: {"headers": PAGING_HEADERS}}


def readable_issue(app: CommunityApplication, reader: Any, issue: dict[str, Any]) -> dict[str, Any]:
    """A regional issue (it names the case it came from) for a reader whose division the case's record here names,
    or that runs the program (division scope, as `/cases/{case_id}/…`); else OutOfScope (403). The review from
    outside: a 地域づくり担当 of a division that runs no community program read every issue, its case and its text."""
    require_scope(reader, app.case_divisions(UUID(str(issue["case_id"]))), "この地域の課題のケース")
    return issue


@router.get("/issues", response_model=list[IssueOut], dependencies=[requires("issue.read")], responses=PAGED)
def issues(app: App, who: Who, request: Request, response: Response, limit: Limit = None,
           cursor: Cursor = None) -> list[dict[str, Any]]:
    """地域の課題一覧 (D8) the caller's division may see (division scope: the divisions that run the program and those
    the case's record here names), oldest first; paged by `limit` and `cursor`."""
    return page(app.scoped(app.issues(), who), limit, cursor, request, response,
                catalogue_order(lambda: app.ids_of(RegionalIssue), "issue_id"))


@router.get("/issues/{issue_id}", response_model=IssueOut, dependencies=[requires("issue.read")])
def issue(issue_id: UUID, app: App, who: Who) -> dict[str, Any]:
    """地域の課題 (D8): its initiatives and the resources that answer it (division scope of its case)."""
    return readable_issue(app, who, app.issue_view(issue_id))


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


@router.get("/resources", response_model=list[ResourceOut], dependencies=[requires("resource.read")],
            responses=PAGED)
def resources(app: App, request: Request, response: Response, limit: Limit = None,
              cursor: Cursor = None) -> list[dict[str, Any]]:
    """地域の社会資源一覧 (D8), oldest first; paged by `limit` and `cursor`."""
    return page(app.resources(), limit, cursor, request, response,
                catalogue_order(lambda: app.ids_of(LocalResource), "resource_id"))


@router.post("/resources", status_code=201, dependencies=[requires("resource.write")])
def develop(body: ResourceIn, app: App, actor: Staff) -> DevelopedOut:
    """社会資源の登録: a new local resource for participation's catalogue (D8 D13, ResourceDeveloped)."""
    resource_id = app.develop_resource(
        actor, body.kind, body.name, body.provider, body.area, body.capacity, body.issue_id, body.area_code)
    return DevelopedOut(resource_id=resource_id)


ProgramQuery = Annotated[str, Query(max_length=100, description="事業 (code) で絞り込む; 空ならすべて")]
YearQuery = Annotated[int | None, Query(ge=2000, le=2100, description="年度で絞り込む (2026 = 2026-04-01〜2027-03-31)")]


def _of(rows: list[dict[str, Any]], program: str, fy: int | None = None, day: str = "") -> list[dict[str, Any]]:
    """The rows of one program (when named) and of one fiscal year by their day (when asked)."""
    return [r for r in rows if (not program or r["program"] == program)
            and (fy is None or fiscal_year_of(date.fromisoformat(r[day])) == fy)]


@router.get("/places", response_model=list[PlaceOut], dependencies=[requires("resource.read")], responses=PAGED)
def places(app: App, request: Request, response: Response, program: ProgramQuery = "", limit: Limit = None,
           cursor: Cursor = None) -> list[dict[str, Any]]:
    """拠点・居場所の一覧 (D21), oldest first; paged by `limit` and `cursor`."""
    return page(_of(app.places(), program), limit, cursor, request, response,
                catalogue_order(lambda: app.ids_of(Place), "place_id"))


@router.post("/places", status_code=201, response_model=PlaceOut, dependencies=[requires("resource.write")])
def register_place(body: PlaceIn, app: App, actor: Staff, who: Who) -> dict[str, Any]:
    """拠点の登録 (D21): a program's place; a 居場所 joins participation's catalogue (ResourceDeveloped, kind ibasho).

    担当職員 (`in_charge`) の確認 / checked: with the development issuer (`jusou staff add`: Jusou keeps the accounts),
    an id that is not one of the staff who may write places here is refused, 422 `staff_not_listed`, naming those who
    may; `unlisted: true` records it all the same, unless it is a staff member who may not write places (still 422);
    an id that only looks like a staff member's (full width, capitals, ー) is theirs; the caller's own id is accepted.
    Under the city's IdP (`JUSOU_OIDC_ISSUER`) Jusou keeps no list of staff: any id is recorded."""
    in_charge = place_in_charge(who, "community", body.in_charge, body.unlisted)
    place_id = app.register_place(actor, body.program, body.name, body.area, body.ibasho, body.capacity, body.provider,
                                  date.fromisoformat(body.opened_on), in_charge, body.area_code)
    return _place(app, place_id)


@router.post("/places/{place_id}/closure", response_model=PlaceOut, dependencies=[requires("resource.write")])
def close_place(place_id: UUID, body: PlaceClosureIn, app: App, actor: Staff) -> dict[str, Any]:
    """拠点の閉所 (D21): no session after that day."""
    app.close_place(actor, place_id, date.fromisoformat(body.closed_on))
    return _place(app, place_id)


@router.get("/sessions", response_model=list[SessionOut], dependencies=[requires("resource.read")], responses=PAGED)
def sessions(app: App, request: Request, response: Response, program: ProgramQuery = "", fy: YearQuery = None,
             limit: Limit = None, cursor: Cursor = None) -> list[dict[str, Any]]:
    """開催の記録 (D21), newest first; of one program, of one fiscal year (by the day held) when asked. Paged by
    `limit` and `cursor` (a keyset: a session recorded since the first page shifts nothing)."""
    return page(_of(app.sessions(), program, fy, "held_on"), limit, cursor, request, response,
                catalogue_order(lambda: app.ids_of(ActivitySession), "session_id", newest_first_by="held_on"))


@router.post("/sessions", status_code=201, response_model=SessionOut, dependencies=[requires("resource.write")],
             responses=PLACE_NOT_FOUND)
def record_session(body: SessionIn, app: App, actor: Staff) -> dict[str, Any]:
    """開催の記録 (D21): the day, the place, how many took part (counts only), volunteers and organisations."""
    session_id = app.record_session(actor, body.place_id, date.fromisoformat(body.held_on), body.participants,
                                    body.new_participants, body.volunteers, body.organisations, body.summary,
                                    body.program)
    return next(s for s in app.sessions() if s["session_id"] == str(session_id))


@router.get("/groups", response_model=list[GroupOut], dependencies=[requires("resource.read")], responses=PAGED)
def groups(app: App, request: Request, response: Response, program: ProgramQuery = "", fy: YearQuery = None,
           limit: Limit = None, cursor: Cursor = None) -> list[dict[str, Any]]:
    """自主グループの一覧 (D21), newest first; of one program, of one fiscal year (by the day formed) when asked.
    Paged by `limit` and `cursor` (a keyset, as `/sessions`)."""
    return page(_of(app.groups(), program, fy, "formed_on"), limit, cursor, request, response,
                catalogue_order(lambda: app.ids_of(SelfHelpGroup), "group_id", newest_first_by="formed_on"))


@router.post("/groups", status_code=201, response_model=GroupOut, dependencies=[requires("resource.write")],
             responses=PLACE_NOT_FOUND)
def form_group(body: GroupIn, app: App, actor: Staff) -> dict[str, Any]:
    """自主グループ化 (D21): a group the residents now run themselves."""
    group_id = app.form_group(actor, body.name, body.program, body.area, date.fromisoformat(body.formed_on),
                              body.place_id, body.members)
    return next(g for g in app.groups() if g["group_id"] == str(group_id))


@router.get("/figures/community", response_model=CommunityFiguresOut, dependencies=[requires("resource.read")])
def figures(app: App, fy: Annotated[int | None, Query(ge=2000, le=2100, description=(
        "年度 (2026 = 2026-04-01〜2027-03-31); 省略すると今年度"))] = None) -> dict[str, Any]:
    """地域づくり事業の年度の実績 (D21): per program and quarter, from the stored events (any past year alike)."""
    return app.figures(fy or fiscal_year_of(today_in_japan()))


def _place(app: CommunityApplication, place_id: UUID) -> dict[str, Any]:
    return next(p for p in app.places() if p["place_id"] == str(place_id))


router.include_router(casework_router())
