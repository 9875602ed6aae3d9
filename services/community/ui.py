"""Community's pages (地域づくり事業, D8): regional issues (地域の課題) with their origin (a gap the
meeting found, or a shortage participation reported), initiatives that take them up, their resolution,
and the local resources registered for participation's catalogue."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any, cast
from uuid import UUID

import anyio
from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, Response

from services.community.api import InitiativeIn, ResolutionIn, ResourceIn
from services.community.application import CommunityApplication
from services.community.domain import LocalResource, RegionalIssue
from shared.domain.reference import RESOURCE_KINDS
from shared.kernel.journey import DomainError, NotFound
from shared.web.http import DIVISION_TITLES, runtime_of
from shared.web.limits import check_form
from shared.web.policy import requires
from shared.web.ui import UI, actor_of, csv_response, redirect, staff_from_cookie


def _app(request: Request) -> CommunityApplication:
    """This service's application, typed (the runtime holds it as the base class)."""
    return cast(CommunityApplication, runtime_of(request).app)


ui = UI("community", DIVISION_TITLES["community"], Path(__file__).parent / "templates")
router = APIRouter(include_in_schema=False)
JST = timezone(timedelta(hours=9))
KIND_JA = {k.code: k.ja for k in RESOURCE_KINDS.values()}
STATUS_JA = {"open": "未着手", "taken_up": "取り組み中", "resolved": "解決済み"}
ORIGIN_JA = {"meeting": "会議で把握した資源の不足", "participation": "参加支援からの不足報告"}
ORIGIN_SHORT = {"meeting": "会議（資源の不足）", "participation": "参加支援（不足報告）"}
FORUMS = ("生活支援体制整備事業の協議体", "相談支援包括化推進会議", "地域福祉コーディネーターの地区懇談会", "地域ケア会議",
          "地域自立支援協議会", "子ども・子育て会議")


def _local(moment: datetime) -> str:
    return moment.astimezone(JST).isoformat(timespec="minutes")


def _who(event: Any) -> str:
    actor = (getattr(event, "meta", None) or {}).get("actor") or {}
    return str(actor.get("staff_id") or (f"自動（{actor['service']}）" if actor.get("service") else ""))


def _issue(app: CommunityApplication, view: dict[str, Any], resources: list[dict[str, Any]]) -> dict[str, Any]:
    """A regional issue with when it opened, who started each initiative, and the resources answering it."""
    opened_at, resolved_at, dated = "", "", []
    for event in app.events_of(UUID(view["issue_id"])):
        if isinstance(event, RegionalIssue.Opened):
            opened_at = _local(event.timestamp)
        elif isinstance(event, RegionalIssue.InitiativeStarted):
            dated.append({"at": _local(event.timestamp), "who": _who(event)})
        elif isinstance(event, RegionalIssue.Resolved):
            resolved_at = _local(event.timestamp)
    initiatives = [{**i, **(dated[n] if n < len(dated) else {})} for n, i in enumerate(view["initiatives"])]
    return {**view, "initiatives": initiatives, "opened_at": opened_at, "resolved_at": resolved_at,
            "origin_ja": ORIGIN_JA.get(view["reported_by"], view["reported_by"]),
            "origin_short": ORIGIN_SHORT.get(view["reported_by"], view["reported_by"]),
            "answering": [r for r in resources if r["issue_id"] == view["issue_id"]]}


def _resources(app: CommunityApplication) -> list[dict[str, Any]]:
    rows = []
    for view in app.resources():
        events = app.events_of(UUID(view["resource_id"]))
        first = next(iter(events), None)
        developed = first if isinstance(first, LocalResource.Developed) else None
        rows.append({**view, "at": _local(developed.timestamp) if developed else "", "who": _who(developed) if developed else ""})
    return rows


async def _issues(request: Request) -> list[dict[str, Any]]:
    app: CommunityApplication = _app(request)

    def read() -> list[dict[str, Any]]:
        resources = _resources(app)
        return [_issue(app, i, resources) for i in app.issues()]

    rows = await anyio.to_thread.run_sync(read)
    rows.sort(key=lambda r: r["opened_at"], reverse=True)
    order = list(STATUS_JA)
    return sorted(rows, key=lambda r: order.index(r["status"]) if r["status"] in order else 0)


@router.get("/ui/", response_class=HTMLResponse, dependencies=[requires("issue.read")])
async def home(request: Request) -> Response:
    if staff_from_cookie(request) is None:
        return redirect("/ui/login?next=/ui/")
    return ui.render(request, "community_home.html", "地域の課題 / regional issues", issues=await _issues(request),
                     status_ja=STATUS_JA, kind_ja=KIND_JA)


@router.get("/ui/issues-table", response_class=HTMLResponse, dependencies=[requires("issue.read")])
async def issues_table(request: Request) -> Response:
    """The live part of the list: reloaded whenever the store changes."""
    return ui.render(request, "community_issues_table.html", "", issues=await _issues(request), status_ja=STATUS_JA,
                     kind_ja=KIND_JA)


@router.get("/ui/issues.csv", dependencies=[requires("issue.read")])
async def issues_csv(request: Request) -> Response:
    rows = await _issues(request)
    return csv_response("地域の課題.csv",
                        ["課題番号", "把握した日", "きっかけ", "不足しているもの", "地域", "内容", "状態", "取り組み", "応える資源",
                         "解決の内容", "ケース番号"],
                        [[r["issue_id"], r["opened_at"][:10], r["origin_ja"], r["need"], r["area"], r["description"],
                          STATUS_JA.get(r["status"], r["status"]),
                          "・".join(f"{i['forum']}: {i['summary']}" for i in r["initiatives"]),
                          "・".join(x["name"] for x in r["answering"]), r["resolution"], r["case_id"]] for r in rows])


async def _issue_page(request: Request, issue_id: UUID, status_code: int = 200, **extra: Any) -> Response:
    app: CommunityApplication = _app(request)
    try:
        issue = await anyio.to_thread.run_sync(lambda: _issue(app, app.issue_view(issue_id), _resources(app)))
    except NotFound as missing:
        return ui.render(request, "missing.html", "見つかりません / not found", status_code=404,
                         message=str(missing))
    return ui.render(request, "community_issue.html", "地域の課題 / regional issue", status_code=status_code, i=issue,
                     status_ja=STATUS_JA, kind_ja=KIND_JA, forums=FORUMS,
                     **{"form": {}, "error": None, "error_at": None, **extra})


@router.get("/ui/issues/{issue_id}", response_class=HTMLResponse, dependencies=[requires("issue.read")])
async def issue_page(request: Request, issue_id: UUID) -> Response:
    if staff_from_cookie(request) is None:
        return redirect(f"/ui/login?next=/ui/issues/{issue_id}")
    return await _issue_page(request, issue_id)


@router.post("/ui/issues/{issue_id}/{action}", response_class=HTMLResponse, dependencies=[requires("issue.write")])
async def issue_action(request: Request, issue_id: UUID, action: str) -> Response:
    """D8: take the issue up in a forum (an initiative), or record that it is resolved."""
    staff = staff_from_cookie(request)
    if staff is None:
        return redirect(f"/ui/login?next=/ui/issues/{issue_id}")
    form = await request.form()
    text = {k: str(form.get(k) or "").strip() for k in ("forum", "summary", "note")}
    app: CommunityApplication = _app(request)
    if action == "initiatives":
        call, done = (lambda: app.take_up(actor_of(staff), issue_id, text["forum"], text["summary"])), \
            "取り組みを記録しました / initiative recorded"
    elif action == "resolution":
        call, done = (lambda: app.resolve(actor_of(staff), issue_id, text["note"])), "解決を記録しました / resolved"
    else:
        return redirect(f"/ui/issues/{issue_id}", ng=f"不明な操作です: {action}")
    try:
        check_form(InitiativeIn if action == "initiatives" else ResolutionIn, text)
        await anyio.to_thread.run_sync(call)
    except DomainError as refused:
        return await _issue_page(request, issue_id, refused.status, form=text, error_at=action, error=str(refused))
    return redirect(f"/ui/issues/{issue_id}", ok=done)


async def _open_issues(app: CommunityApplication) -> list[dict[str, Any]]:
    return [i for i in await anyio.to_thread.run_sync(app.issues) if i["status"] != "resolved"]


async def _resources_page(request: Request, status_code: int = 200, **extra: Any) -> Response:
    app: CommunityApplication = _app(request)
    resources = await anyio.to_thread.run_sync(_resources, app)
    issues = {i["issue_id"]: i for i in await anyio.to_thread.run_sync(app.issues)}
    form = extra.pop("form", None) or {"issue_id": request.query_params.get("issue_id", "")}
    return ui.render(request, "community_resources.html", "地域の社会資源 / local resources", status_code=status_code,
                     resources=resources, issues=issues, open_issues=await _open_issues(app), kinds=list(RESOURCE_KINDS.values()),
                     kind_ja=KIND_JA, form=form, **{"error": None, **extra})


@router.get("/ui/resources", response_class=HTMLResponse, dependencies=[requires("resource.read")])
async def resources_page(request: Request) -> Response:
    if staff_from_cookie(request) is None:
        return redirect("/ui/login?next=/ui/resources")
    return await _resources_page(request)


@router.get("/ui/resources-table", response_class=HTMLResponse, dependencies=[requires("resource.read")])
async def resources_table(request: Request) -> Response:
    app: CommunityApplication = _app(request)
    resources = await anyio.to_thread.run_sync(_resources, app)
    issues = {i["issue_id"]: i for i in await anyio.to_thread.run_sync(app.issues)}
    return ui.render(request, "community_resources_table.html", "", resources=resources, issues=issues, kind_ja=KIND_JA)


@router.get("/ui/resources.csv", dependencies=[requires("resource.read")])
async def resources_csv(request: Request) -> Response:
    app: CommunityApplication = _app(request)
    resources = await anyio.to_thread.run_sync(_resources, app)
    issues = {i["issue_id"]: i for i in await anyio.to_thread.run_sync(app.issues)}
    return csv_response("地域の社会資源.csv", ["資源番号", "種類", "名称", "運営主体", "地域", "定員", "応える地域の課題", "登録日"],
                        [[r["resource_id"], KIND_JA.get(r["kind"], r["kind"]), r["name"], r["provider"], r["area"],
                          r["capacity"] or "", issues[r["issue_id"]]["need"] if r["issue_id"] in issues else "",
                          r["at"][:10]] for r in resources])


@router.post("/ui/resources", response_class=HTMLResponse, dependencies=[requires("resource.write")])
async def register_resource(request: Request) -> Response:
    """D8 D13: register a new local resource; participation's catalogue learns of it (ResourceDeveloped)."""
    staff = staff_from_cookie(request)
    if staff is None:
        return redirect("/ui/login?next=/ui/resources")
    form = await request.form()
    text = {k: str(form.get(k) or "").strip() for k in ("kind", "name", "provider", "area", "capacity", "issue_id")}

    async def refuse(message: str, status: int) -> Response:
        return await _resources_page(request, status, form=text, error=message)

    capacity: int | None = None
    if text["capacity"]:
        try:
            capacity = int(text["capacity"].translate(str.maketrans("０１２３４５６７８９", "0123456789")))
        except ValueError:
            return await refuse("定員は数字で入力してください / capacity must be a number", 422)
    issue_id: UUID | None = None
    if text["issue_id"]:
        try:
            issue_id = UUID(text["issue_id"])
        except ValueError:
            return await refuse("応える地域の課題を一覧から選んでください / choose the issue from the list", 422)
    app: CommunityApplication = _app(request)
    try:
        check_form(ResourceIn, {**{k: text[k] for k in ("kind", "name", "provider", "area")}, "capacity": capacity})
        await anyio.to_thread.run_sync(lambda: app.develop_resource(
            actor_of(staff), text["kind"], text["name"], text["provider"], text["area"], capacity, issue_id))
    except DomainError as refused:
        return await refuse(str(refused), refused.status)
    return redirect("/ui/resources", ok=f"社会資源「{text['name']}」を登録しました。参加支援の資源一覧に加わります / resource registered")
