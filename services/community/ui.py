"""Community's pages (地域づくり事業, D8): regional issues (地域の課題) with their origin (a gap the
meeting found, or a shortage participation reported), initiatives that take them up, their resolution,
and the local resources registered for participation's catalogue."""

from __future__ import annotations

from datetime import timedelta, timezone
from pathlib import Path
from typing import Any
from uuid import UUID

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, Response

from services.community.api import App, InitiativeIn, ResolutionIn, ResourceIn
from services.community.application import CommunityApplication
from shared.domain.wareki import local_time
from shared.kernel.journey import DomainError, NotFound, actor_label
from shared.organisation.reference import DIVISION_TITLES, RESOURCE_KINDS
from shared.web.casework_api import casework_pages
from shared.web.deps import call
from shared.web.limits import form_model, form_text
from shared.web.policy import requires
from shared.web.ui import UI, actor_of, csv_response, filters_of, paged, redirect, staff_from_cookie

ui = UI("community", DIVISION_TITLES["community"], Path(__file__).parent / "templates")
router = APIRouter(include_in_schema=False)
JST = timezone(timedelta(hours=9))
KIND_JA = {k.code: k.ja for k in RESOURCE_KINDS.values()}
STATUS_JA = {"open": "未着手", "taken_up": "取り組み中", "resolved": "解決済み"}
ORIGIN_JA = {"meeting": "会議で把握した資源の不足", "participation": "参加支援からの不足報告"}
ORIGIN_SHORT = {"meeting": "会議（資源の不足）", "participation": "参加支援（不足報告）"}
FORUMS = ("生活支援体制整備事業の協議体", "相談支援包括化推進会議", "地域福祉コーディネーターの地区懇談会", "地域ケア会議",
          "地域自立支援協議会", "子ども・子育て会議")
FULL_WIDTH_DIGITS = str.maketrans("０１２３４５６７８９", "0123456789")


def _issue(record: dict[str, Any]) -> dict[str, Any]:
    """A regional issue's record (application.issue_record) in the page's words and times."""
    initiatives = [{**i, "at": local_time(i["at"]), "who": actor_label(i["actor"])} if "at" in i else i for i in record["initiatives"]]
    return {**record, "initiatives": initiatives, "opened_at": local_time(record["opened_at"]),
            "resolved_at": local_time(record["resolved_at"]),
            "origin_ja": ORIGIN_JA.get(record["reported_by"], record["reported_by"]),
            "origin_short": ORIGIN_SHORT.get(record["reported_by"], record["reported_by"])}


def _resources(app: CommunityApplication) -> list[dict[str, Any]]:
    return [{**r, "at": local_time(r["at"]), "who": actor_label(r["actor"])} for r in app.resource_records()]


def _issues(app: CommunityApplication, in_charge: str = "") -> list[dict[str, Any]]:
    """The regional issues, open first, each with the 担当者 and 副担当 of its case (`in_charge`); only those
    where the staff member `in_charge` is one of them when asked (issue 15)."""
    assigned = app.assignments()
    rows = [{**_issue(record), "in_charge": assigned.get(str(record["case_id"]), (None, None))}
            for record in app.issue_records()]
    if in_charge:
        rows = [r for r in rows if in_charge in r["in_charge"]]
    rows.sort(key=lambda r: r["opened_at"], reverse=True)
    order = list(STATUS_JA)
    return sorted(rows, key=lambda r: order.index(r["status"]) if r["status"] in order else 0)


def _listed(request: Request, app: CommunityApplication, in_charge: str) -> dict[str, Any]:
    """One page of the issues the filter bar keeps (状態, the day it was found), with its pager."""
    filters = filters_of(request)
    issues, paging = paged(request, filters.apply(_issues(app, in_charge), day="opened_at"))
    return {"issues": issues, "paging": paging, "filters": filters, "status_ja": STATUS_JA, "kind_ja": KIND_JA}


@router.get("/ui/", response_class=HTMLResponse, dependencies=[requires("issue.read")])
def home(request: Request, app: App, in_charge: str = "") -> Response:
    if staff_from_cookie(request) is None:
        return redirect("/ui/login?next=/ui/")
    return ui.render(request, "community_home.html", "地域の課題 / regional issues",
                     in_charge=in_charge.strip(), **_listed(request, app, in_charge.strip()))


@router.get("/ui/issues-table", response_class=HTMLResponse, dependencies=[requires("issue.read")])
def issues_table(request: Request, app: App, in_charge: str = "") -> Response:
    """The live part of the list: reloaded whenever the store changes (the same page, the same filters)."""
    return ui.render(request, "community_issues_table.html", "", **_listed(request, app, in_charge.strip()))


@router.get("/ui/issues.csv", dependencies=[requires("issue.read")])
def issues_csv(app: App) -> Response:
    rows = _issues(app)
    return csv_response("地域の課題.csv",
                        ["課題番号", "把握した日", "きっかけ", "不足しているもの", "地域", "内容", "状態", "取り組み", "応える資源",
                         "解決の内容", "ケース番号"],
                        [[r["issue_id"], r["opened_at"][:10], r["origin_ja"], r["need"], r["area"], r["description"],
                          STATUS_JA.get(r["status"], r["status"]),
                          "・".join(f"{i['forum']}: {i['summary']}" for i in r["initiatives"]),
                          "・".join(x["name"] for x in r["answering"]), r["resolution"], r["case_id"]] for r in rows])


def _issue_page(request: Request, app: CommunityApplication, issue_id: UUID, status_code: int = 200,
                **extra: Any) -> Response:
    """The issue's page (blocking: reads the application), or 404 in words."""
    try:
        issue = _issue(app.issue_record(issue_id))
        casework = app.case_file(UUID(str(issue["case_id"])))
    except NotFound as missing:
        return ui.render(request, "missing.html", "見つかりません / not found", status_code=404,
                         message=str(missing))
    return ui.render(request, "community_issue.html", "地域の課題 / regional issue", status_code=status_code, i=issue,
                     status_ja=STATUS_JA, kind_ja=KIND_JA, forums=FORUMS, casework=casework,
                     **{"form": {}, "error": None, "error_at": None, **extra})


@router.get("/ui/issues/{issue_id}", response_class=HTMLResponse, dependencies=[requires("issue.read")])
def issue_page(request: Request, issue_id: UUID, app: App) -> Response:
    if staff_from_cookie(request) is None:
        return redirect(f"/ui/login?next=/ui/issues/{issue_id}")
    return _issue_page(request, app, issue_id)


async def _refused(request: Request, app: CommunityApplication, issue_id: UUID, action: str, text: dict[str, Any],
                   refused: DomainError) -> Response:
    """The issue's page again, with the form as sent and why it was refused, by the form (`action`)."""
    return await call(_issue_page, request, app, issue_id, refused.status, form=text, error_at=action,
                      error=str(refused))


@router.post("/ui/issues/{issue_id}/initiatives", response_class=HTMLResponse, dependencies=[requires("issue.write")])
async def take_up(request: Request, issue_id: UUID, app: App) -> Response:
    """D8: take the issue up in a forum of its own (an initiative)."""
    staff = staff_from_cookie(request)
    if staff is None:
        return redirect(f"/ui/login?next=/ui/issues/{issue_id}")
    text = await form_text(request)
    try:
        started = form_model(InitiativeIn, text)
        await call(app.take_up, actor_of(staff), issue_id, started.forum, started.summary)
    except DomainError as refused:
        return await _refused(request, app, issue_id, "initiatives", text, refused)
    return redirect(f"/ui/issues/{issue_id}", ok="取り組みを記録しました / initiative recorded")


@router.post("/ui/issues/{issue_id}/resolution", response_class=HTMLResponse, dependencies=[requires("issue.write")])
async def resolve(request: Request, issue_id: UUID, app: App) -> Response:
    """D8: record that the issue is resolved."""
    staff = staff_from_cookie(request)
    if staff is None:
        return redirect(f"/ui/login?next=/ui/issues/{issue_id}")
    text = await form_text(request)
    try:
        resolution = form_model(ResolutionIn, text)
        await call(app.resolve, actor_of(staff), issue_id, resolution.note)
    except DomainError as refused:
        return await _refused(request, app, issue_id, "resolution", text, refused)
    return redirect(f"/ui/issues/{issue_id}", ok="解決を記録しました / resolved")


def _resources_page(request: Request, app: CommunityApplication, status_code: int = 200, **extra: Any) -> Response:
    """The resources' page with the form to register one (blocking: reads the application)."""
    resources = _resources(app)
    all_issues = app.issues()
    issues = {i["issue_id"]: i for i in all_issues}
    open_issues = [i for i in all_issues if i["status"] != "resolved"]
    form = extra.pop("form", None) or {"issue_id": request.query_params.get("issue_id", "")}
    return ui.render(request, "community_resources.html", "地域の社会資源 / local resources", status_code=status_code,
                     resources=resources, issues=issues, open_issues=open_issues, kinds=list(RESOURCE_KINDS.values()),
                     kind_ja=KIND_JA, form=form, **{"error": None, **extra})


@router.get("/ui/resources", response_class=HTMLResponse, dependencies=[requires("resource.read")])
def resources_page(request: Request, app: App) -> Response:
    if staff_from_cookie(request) is None:
        return redirect("/ui/login?next=/ui/resources")
    return _resources_page(request, app)


@router.get("/ui/resources-table", response_class=HTMLResponse, dependencies=[requires("resource.read")])
def resources_table(request: Request, app: App) -> Response:
    issues = {i["issue_id"]: i for i in app.issues()}
    return ui.render(request, "community_resources_table.html", "", resources=_resources(app), issues=issues,
                     kind_ja=KIND_JA)


@router.get("/ui/resources.csv", dependencies=[requires("resource.read")])
def resources_csv(app: App) -> Response:
    issues = {i["issue_id"]: i for i in app.issues()}
    return csv_response("地域の社会資源.csv", ["資源番号", "種類", "名称", "運営主体", "地域", "定員", "応える地域の課題", "登録日"],
                        [[r["resource_id"], KIND_JA.get(r["kind"], r["kind"]), r["name"], r["provider"], r["area"],
                          r["capacity"] or "", issues[r["issue_id"]]["need"] if r["issue_id"] in issues else "",
                          r["at"][:10]] for r in _resources(app)])


def _number(text: Any) -> Any:
    """A number typed in the form (full-width digits too) as the integer the command takes; anything
    else as typed, for the command model to refuse in words."""
    if isinstance(text, str) and text.translate(FULL_WIDTH_DIGITS).isdecimal():
        try:
            return int(text.translate(FULL_WIDTH_DIGITS))
        except ValueError:  # more digits than Python reads (4300): as typed, refused as not a number
            return text
    return text


@router.post("/ui/resources", response_class=HTMLResponse, dependencies=[requires("resource.write")])
async def register_resource(request: Request, app: App) -> Response:
    """D8 D13: register a new local resource; participation's catalogue learns of it (ResourceDeveloped)."""
    staff = staff_from_cookie(request)
    if staff is None:
        return redirect("/ui/login?next=/ui/resources")
    text = await form_text(request)
    try:
        resource = form_model(ResourceIn, {**text, "capacity": _number(text.get("capacity"))})
        await call(app.develop_resource, actor_of(staff), resource.kind, resource.name, resource.provider, resource.area,
                   resource.capacity, resource.issue_id)
    except DomainError as refused:
        return await call(_resources_page, request, app, refused.status, form=text, error=str(refused))
    return redirect("/ui/resources", ok=f"社会資源「{resource.name}」を登録しました。参加支援の資源一覧に加わります / resource registered")


router.include_router(casework_pages(ui, lambda case_id: "/ui/", "issue.read"))
