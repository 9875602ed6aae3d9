"""Community's pages (地域づくり事業, D8): regional issues (地域の課題) with their origin (a gap the
meeting found, or a shortage participation reported), initiatives that take them up, their resolution,
and the local resources registered for participation's catalogue."""

from __future__ import annotations

from datetime import date, timedelta, timezone
from pathlib import Path
from typing import Any
from uuid import UUID

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, Response

from services.community.api import (
    App,
    GroupIn,
    InitiativeIn,
    PlaceChoice,
    PlaceClosureIn,
    PlaceIn,
    ResolutionIn,
    ResourceIn,
    SessionIn,
    readable_issue,
)
from services.community.application import (
    FIGURES,
    CommunityApplication,
    community_programs,
    fiscal_year_of,
)
from shared.domain.wareki import day_ja, local_time, today_in_japan
from shared.kernel.journey import DomainError, NotFound, actor_label
from shared.organisation.reference import (
    DIVISION_TITLES,
    RESOURCE_KINDS,
    areas,
    council_name,
    forum_name,
    forums,
    lead_division,
    partner_entries,
)
from shared.web.casework_api import casework_pages
from shared.web.deps import call, principal
from shared.web.limits import form_model, form_text
from shared.web.policy import requires
from shared.web.staff_roster import StaffNotListed, place_in_charge, roster
from shared.web.ui import UI, actor_of, csv_response, filters_of, paged, redirect, staff_from_cookie

ui = UI("community", DIVISION_TITLES["community"], Path(__file__).parent / "templates")
#: 地区 the forms offer (issue 18): the municipality file's areas valid today (a tenant's own file: read on use)
ui.templates.env.globals["areas_today"] = lambda: list(areas().values())
#: 運営主体 the resource form suggests (issue 18): the partners valid today; one picked gives the event its provider_code
ui.templates.env.globals["partners_today"] = lambda: [p.ja for p in partner_entries().values()]
#: 協議の場 the initiative form suggests (issue 18): the file's forums valid today; one picked gives the event its forum_code
ui.templates.env.globals["forums_today"] = lambda: [f.ja for f in forums().values()]
#: the 推進会議 as the municipality file in force names it (its forum marked `council = true`)
ui.templates.env.globals["council_name"] = council_name
router = APIRouter(include_in_schema=False)
JST = timezone(timedelta(hours=9))
def kind_ja() -> dict[str, str]:
    """Resource kind code → its name in the municipality file in force (a tenant's own: read on use, issue 18)."""
    return {k.code: k.ja for k in RESOURCE_KINDS.values()}
STATUS_JA = {"open": "未着手", "taken_up": "取り組み中", "resolved": "解決済み"}
ORIGIN_JA = {"meeting": "会議で把握した資源の不足", "participation": "参加支援からの不足報告"}
ORIGIN_SHORT = {"meeting": "会議（資源の不足）", "participation": "参加支援（不足報告）"}
FULL_WIDTH_DIGITS = str.maketrans("０１２３４５６７８９", "0123456789")


def _forum_now(initiative: dict[str, Any]) -> str:
    """The forum's name today when the file has renamed it since the initiative was recorded (else empty)."""
    now = forum_name(initiative.get("forum_code"))
    return now if now and now != initiative["forum"] and ":" not in now else ""


def _issue(record: dict[str, Any]) -> dict[str, Any]:
    """A regional issue's record (application.issue_record) in the page's words and times; an initiative in a forum
    renamed since keeps the name it was recorded with, today's beside it (`forum_now`)."""
    initiatives = [{**i, "forum_now": _forum_now(i)} for i in record["initiatives"]]
    initiatives = [{**i, "at": local_time(i["at"]), "who": actor_label(i["actor"])} if "at" in i else i for i in initiatives]
    return {**record, "initiatives": initiatives, "opened_at": local_time(record["opened_at"]),
            "resolved_at": local_time(record["resolved_at"]),
            "origin_ja": ORIGIN_JA.get(record["reported_by"], record["reported_by"]),
            "origin_short": ORIGIN_SHORT.get(record["reported_by"], record["reported_by"])}


def _resources(app: CommunityApplication) -> list[dict[str, Any]]:
    return [{**r, "at": local_time(r["at"]), "who": actor_label(r["actor"]),
             "registered_by": (r["actor"] or {}).get("staff_id", "")} for r in app.resource_records()]


def _filtered_resources(request: Request, app: CommunityApplication) -> tuple[list[dict[str, Any]], Any]:
    """One page of the resources the filter bar keeps: 種類 (`status`), 担当者 (who registered it), 登録日."""
    return paged(request, filters_of(request).apply(_resources(app), status="kind", assignee="registered_by", day="at"))


def _issues(app: CommunityApplication, reader: Any, in_charge: str = "") -> list[dict[str, Any]]:
    """The regional issues `reader` may see (division scope of their cases, as `GET /issues`), open first, each with
    the 担当者 and 副担当 of its case (`in_charge`); only those where the staff member `in_charge` is one of them when
    asked (issue 15)."""
    assigned = app.assignments()
    rows = [{**_issue(record), "in_charge": assigned.get(str(record["case_id"]), (None, None))}
            for record in app.scoped(app.issue_records(), reader)]
    if in_charge:
        rows = [r for r in rows if in_charge in r["in_charge"]]
    rows.sort(key=lambda r: r["opened_at"], reverse=True)
    order = list(STATUS_JA)
    return sorted(rows, key=lambda r: order.index(r["status"]) if r["status"] in order else 0)


def _listed(request: Request, app: CommunityApplication, in_charge: str) -> dict[str, Any]:
    """One page of the issues the filter bar keeps (状態, the day it was found), with its pager."""
    filters = filters_of(request)
    issues, paging = paged(request, filters.apply(_issues(app, principal(request), in_charge), day="opened_at"))
    return {"issues": issues, "paging": paging, "filters": filters, "status_ja": STATUS_JA, "kind_ja": kind_ja()}


@router.get("/ui/", response_class=HTMLResponse, dependencies=[requires("issue.read")])
def home(request: Request, app: App, in_charge: str = "") -> Response:
    if staff_from_cookie(request) is None:
        return redirect("/ui/login?next=/ui/")
    year = fiscal_year_of(today_in_japan())
    return ui.render(request, "community_home.html", "地域の課題 / regional issues", fiscal_year=year,
                     year_total=app.figures(year)["total"], in_charge=in_charge.strip(),
                     **_listed(request, app, in_charge.strip()))


@router.get("/ui/issues-table", response_class=HTMLResponse, dependencies=[requires("issue.read")])
def issues_table(request: Request, app: App, in_charge: str = "") -> Response:
    """The live part of the list: reloaded whenever the store changes (the same page, the same filters)."""
    return ui.render(request, "community_issues_table.html", "", **_listed(request, app, in_charge.strip()))


@router.get("/ui/issues.csv", dependencies=[requires("issue.read")])
def issues_csv(request: Request, app: App) -> Response:
    rows = _issues(app, principal(request))
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
        issue = _issue(readable_issue(app, principal(request), app.issue_record(issue_id)))
        casework = app.case_file(UUID(str(issue["case_id"])))
    except NotFound as missing:
        return ui.render(request, "missing.html", "見つかりません / not found", status_code=404,
                         message=str(missing))
    return ui.render(request, "community_issue.html", "地域の課題 / regional issue", status_code=status_code, i=issue,
                     status_ja=STATUS_JA, kind_ja=kind_ja(), casework=casework,
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
    resources, paging = _filtered_resources(request, app)
    all_issues = app.issues()
    issues = {i["issue_id"]: i for i in all_issues}
    open_issues = [i for i in all_issues if i["status"] != "resolved"]
    form = extra.pop("form", None) or {"issue_id": request.query_params.get("issue_id", "")}
    return ui.render(request, "community_resources.html", "地域の社会資源 / local resources", status_code=status_code,
                     resources=resources, issues=issues, open_issues=open_issues, kinds=list(RESOURCE_KINDS.values()),
                     kind_ja=kind_ja(), form=form, paging=paging, filters=filters_of(request),
                     registrants=sorted({r["registered_by"] for r in _resources(app) if r["registered_by"]}),
                     **{"error": None, **extra})


@router.get("/ui/resources", response_class=HTMLResponse, dependencies=[requires("resource.read")])
def resources_page(request: Request, app: App) -> Response:
    if staff_from_cookie(request) is None:
        return redirect("/ui/login?next=/ui/resources")
    return _resources_page(request, app)


@router.get("/ui/resources-table", response_class=HTMLResponse, dependencies=[requires("resource.read")])
def resources_table(request: Request, app: App) -> Response:
    issues = {i["issue_id"]: i for i in app.issues()}
    resources, paging = _filtered_resources(request, app)
    return ui.render(request, "community_resources_table.html", "", resources=resources, issues=issues,
                     kind_ja=kind_ja(), paging=paging)


@router.get("/ui/resources.csv", dependencies=[requires("resource.read")])
def resources_csv(app: App) -> Response:
    issues = {i["issue_id"]: i for i in app.issues()}
    return csv_response("地域の社会資源.csv", ["資源番号", "種類", "名称", "運営主体", "地域", "定員", "応える地域の課題", "登録日"],
                        [[r["resource_id"], kind_ja().get(r["kind"], r["kind"]), r["name"], r["provider"], r["area"],
                          r["capacity"] or "", issues[r["issue_id"]]["need"] if r["issue_id"] in issues else "",
                          r["at"][:10]] for r in _resources(app)])


def _today() -> str:
    """Today as the date fields offer it, as staff type dates (「令和8年12月8日」; the fields read 和暦 or Western)."""
    return day_ja(today_in_japan()).split("（")[0]


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
                   resource.capacity, resource.issue_id, resource.area_code)
    except DomainError as refused:
        return await call(_resources_page, request, app, refused.status, form=text, error=str(refused))
    return redirect("/ui/resources", ok=f"社会資源「{resource.name}」を登録しました。参加支援の資源一覧に加わります / resource registered")


# -- 地域づくり as places and activities (D21, issue 16): 拠点・居場所, 開催, 自主グループ化, the year's figures -------

def program_ja() -> dict[str, str]:
    """Every community program the organisation has known, code → Japanese name (read when used: D19)."""
    return {p.code: p.ja for p in community_programs()}


FIGURE_JA = {"sessions": "開催回数", "participants": "参加者数（延べ）", "new_participants": "新規参加者",
             "volunteers": "ボランティア（延べ）", "organisations": "参加団体", "new_groups": "自主グループ化",
             "places": "拠点数", "ibasho": "うち居場所", "new_places": "新規開設の拠点"}


def _programs_for(staff: dict[str, Any] | None) -> dict[str, str]:
    """The programs a member of staff may record (D21): those their division runs; every one for the lead division
    (the municipality file's `lead_division`)."""
    division = (staff or {}).get("division", "")
    return {p.code: p.ja for p in community_programs() if division in (p.division, lead_division())}


def _fiscal_year(request: Request) -> int:
    """The fiscal year asked for (`fy`, 2000–2100), else this one."""
    text = request.query_params.get("fy", "")
    # four ASCII digits first: int() of 5000 digits (past Python's 4300) or of 「²」 raises
    return int(text) if len(text) == 4 and text.isascii() and text.isdecimal() and 2000 <= int(text) <= 2100 \
        else fiscal_year_of(today_in_japan())


def _by_program_and_assignee(request: Request, rows: list[dict[str, Any]], day: str) -> list[dict[str, Any]]:
    """The filter bar's choices: 事業 (`program`), 担当者 (the place's, `assignee`) and the days (from/to)."""
    program = request.query_params.get("program", "")
    rows = [r for r in rows if r["program"] == program] if program in program_ja() else rows
    return filters_of(request).apply(rows, assignee="in_charge", day=day)


def _activities(request: Request, app: CommunityApplication, **extra: Any) -> dict[str, Any]:
    """What the activities page shows (blocking: reads the application)."""
    fiscal_year = _fiscal_year(request)
    places = app.places()
    all_sessions = [{**s, "at": local_time(s["at"]), "who": actor_label(s["actor"])} for s in app.sessions()]
    sessions, paging = paged(request, _by_program_and_assignee(request, all_sessions, "held_on"))
    this_year = fiscal_year_of(today_in_japan())
    return {"figures": app.figures(fiscal_year), "fiscal_year": fiscal_year,
            "years": list(range(this_year, this_year - 6, -1)), "figure_ja": FIGURE_JA, "figure_keys": FIGURES,
            "sessions": sessions, "paging": paging, "filters": filters_of(request),
            "program": request.query_params.get("program", ""), "program_ja": program_ja(),
            "assignees": sorted({p["in_charge"] for p in places if p["in_charge"]}),
            "open_places": [p for p in places if not p["closed_on"]], "places_by_id": {p["place_id"]: p for p in places},
            "groups": app.groups(), "my_programs": _programs_for(staff_from_cookie(request)),
            "today": _today(), "form": {}, "form_at": "", "error": None, **extra}


@router.get("/ui/activities", response_class=HTMLResponse, dependencies=[requires("resource.read")])
def activities_page(request: Request, app: App) -> Response:
    """地域づくりの活動: the year's figures per program, the sessions held and the groups formed."""
    if staff_from_cookie(request) is None:
        return redirect("/ui/login?next=/ui/activities")
    return ui.render(request, "community_activities.html", "地域づくりの活動と実績 / activities and figures",
                     **_activities(request, app))


@router.get("/ui/sessions-table", response_class=HTMLResponse, dependencies=[requires("resource.read")])
def sessions_table(request: Request, app: App) -> Response:
    """The live part of the sessions' list (the same page, the same filters)."""
    return ui.render(request, "community_sessions_table.html", "", **_activities(request, app))


@router.get("/ui/sessions.csv", dependencies=[requires("resource.read")])
def sessions_csv(app: App) -> Response:
    names = program_ja()
    return csv_response("地域づくりの開催記録.csv",
                        ["開催日", "年度", "事業", "拠点", "地域", "参加者数", "新規参加者数", "ボランティア数", "参加団体", "内容",
                         "開催番号"],
                        [[s["held_on"], fiscal_year_of(date.fromisoformat(s["held_on"])),
                          names.get(s["program"], s["program"]), s["place_name"], s["area"], s["participants"],
                          s["new_participants"], s["volunteers"], "・".join(s["organisations"]), s["summary"],
                          s["session_id"]] for s in app.sessions()])


def _lines(text: Any) -> list[str]:
    """A textarea of names, one per line (or separated by 、 or ,), as the list the command takes."""
    if isinstance(text, list):
        text = "\n".join(str(t) for t in text)
    return [n.strip() for n in str(text or "").replace("、", "\n").replace(",", "\n").splitlines() if n.strip()]


@router.post("/ui/sessions", response_class=HTMLResponse, dependencies=[requires("resource.write")])
async def record_session(request: Request, app: App) -> Response:
    """D21: a session held at a place (counts, never names)."""
    staff = staff_from_cookie(request)
    if staff is None:
        return redirect("/ui/login?next=/ui/activities")
    text = await form_text(request)
    try:
        held = form_model(SessionIn, {**text, **{k: _number(text.get(k)) for k in ("participants", "new_participants",
                                                                                 "volunteers")},
                                      "organisations": _lines(text.get("organisations"))})
        await call(app.record_session, actor_of(staff), held.place_id, date.fromisoformat(held.held_on),
                   held.participants, held.new_participants, held.volunteers, held.organisations, held.summary,
                   held.program)
    except DomainError as refused:
        context = await call(_activities, request, app, form=text, form_at="session", error=str(refused))
        return ui.render(request, "community_activities.html", "地域づくりの活動と実績 / activities and figures",
                         status_code=refused.status, **context)
    return redirect("/ui/activities", ok=f"開催を記録しました（{day_ja(date.fromisoformat(held.held_on))}・{held.participants}人）/ session recorded")


@router.post("/ui/groups", response_class=HTMLResponse, dependencies=[requires("resource.write")])
async def form_group(request: Request, app: App) -> Response:
    """D21: a self-help group formed (自主グループ化)."""
    staff = staff_from_cookie(request)
    if staff is None:
        return redirect("/ui/login?next=/ui/activities")
    text = await form_text(request)
    try:
        group = form_model(GroupIn, {**text, "members": _number(text.get("members"))})
        await call(app.form_group, actor_of(staff), group.name, group.program, group.area,
                   date.fromisoformat(group.formed_on), group.place_id, group.members)
    except DomainError as refused:
        context = await call(_activities, request, app, form=text, form_at="group", error=str(refused))
        return ui.render(request, "community_activities.html", "地域づくりの活動と実績 / activities and figures",
                         status_code=refused.status, **context)
    return redirect("/ui/activities", ok=f"自主グループ「{group.name}」を記録しました / group recorded")


def _places(request: Request, app: CommunityApplication, **extra: Any) -> dict[str, Any]:
    """What the places' page shows (blocking)."""
    all_places = [{**p, "at": local_time(p["at"]), "who": actor_label(p["actor"])} for p in app.places()]
    places, paging = paged(request, _by_program_and_assignee(request, all_places, "opened_on"))
    return {"places": places, "paging": paging, "filters": filters_of(request), "program_ja": program_ja(),
            "program": request.query_params.get("program", ""),
            "assignees": sorted({p["in_charge"] for p in all_places if p["in_charge"]}),
            "my_programs": _programs_for(staff_from_cookie(request)),
            "open_places": [p for p in all_places if not p["closed_on"]], "today": _today(),
            "form": {}, "form_at": "", "error": None, "unlisted_offered": False,
            # the staff who may be named 担当職員, offered as the id is typed (none without a roster: the city's IdP)
            "place_staff": [r.staff_id for r in roster(principal(request), "community", (), "resource.write") or []],
            **extra}


@router.get("/ui/places", response_class=HTMLResponse, dependencies=[requires("resource.read")])
def places_page(request: Request, app: App) -> Response:
    """拠点・居場所: each program's places, filtered by 事業, 担当者 and the day each opened."""
    if staff_from_cookie(request) is None:
        return redirect("/ui/login?next=/ui/places")
    return ui.render(request, "community_places.html", "拠点・居場所 / places", **_places(request, app))


@router.post("/ui/places", response_class=HTMLResponse, dependencies=[requires("resource.write")])
async def register_place(request: Request, app: App) -> Response:
    """D21: a program's place; a 居場所 joins participation's catalogue (ResourceDeveloped)."""
    staff = staff_from_cookie(request)
    if staff is None:
        return redirect("/ui/login?next=/ui/places")
    text = await form_text(request)
    try:
        place = form_model(PlaceIn, {**text, "capacity": _number(text.get("capacity")),
                                     "ibasho": bool(text.get("ibasho"))})
        in_charge = await call(place_in_charge, request.state.principal, "community", place.in_charge, place.unlisted)
        await call(app.register_place, actor_of(staff), place.program, place.name, place.area, place.ibasho,
                   place.capacity, place.provider, date.fromisoformat(place.opened_on), in_charge, place.area_code)
    except DomainError as refused:
        context = await call(_places, request, app, form=text, form_at="place", error=str(refused),
                             unlisted_offered=isinstance(refused, StaffNotListed) and refused.offers_unlisted)
        return ui.render(request, "community_places.html", "拠点・居場所 / places", status_code=refused.status, **context)
    offered = "。居場所として参加支援の資源一覧に加わります" if place.ibasho else ""
    return redirect("/ui/places", ok=f"拠点「{place.name}」を登録しました{offered} / place registered")


@router.post("/ui/places/closure", response_class=HTMLResponse, dependencies=[requires("resource.write")])
async def close_place(request: Request, app: App) -> Response:
    """D21: a place closes on a day (閉所); its sessions until then stay counted."""
    staff = staff_from_cookie(request)
    if staff is None:
        return redirect("/ui/login?next=/ui/places")
    text = await form_text(request)
    try:
        closure = form_model(PlaceClosureIn, text)
        place_id = form_model(PlaceChoice, text).place_id
        await call(app.close_place, actor_of(staff), place_id, date.fromisoformat(closure.closed_on))
    except DomainError as refused:
        context = await call(_places, request, app, form=text, form_at="closure", error=str(refused))
        return ui.render(request, "community_places.html", "拠点・居場所 / places", status_code=refused.status, **context)
    return redirect("/ui/places", ok=f"閉所を記録しました（{day_ja(date.fromisoformat(closure.closed_on))}）/ place closed")


router.include_router(casework_pages(ui, lambda case_id: "/ui/", "issue.read"))
