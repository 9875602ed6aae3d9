"""Collaboration coordinators' pages (多機関協働事業, 福祉総務課): escalated cases, the plan editor
(支援の方向性, 目標, 役割分担), proposing to the meeting, revising after a revision request, asking for
closure, each plan's status and decision history, and a printable plan (D4, D5, D7, D11)."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from itertools import zip_longest
from pathlib import Path
from typing import Any, cast
from uuid import UUID

import anyio
from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, Response

from services.collaboration.application import CollaborationApplication
from shared.domain.plan import EDITABLE, Plan
from shared.domain.reference import agencies
from shared.kernel.journey import DomainError, NotFound
from shared.web.http import DIVISION_TITLES, runtime_of
from shared.web.limits import check_form
from shared.web.plan_api import ClosureIn, PlanIn
from shared.web.policy import requires
from shared.web.ui import UI, actor_of, csv_response, redirect, staff_from_cookie


def _app(request: Request) -> CollaborationApplication:
    """This service's application, typed (the runtime holds it as the base class)."""
    return cast(CollaborationApplication, runtime_of(request).app)


ui = UI("collaboration", DIVISION_TITLES["collaboration"], Path(__file__).parent / "templates")
router = APIRouter(include_in_schema=False)
JST = timezone(timedelta(hours=9))

CASE_STATUS_JA = {"open": "対応中"}
PLAN_STATUS_JA = {
    "draft": "下書き", "proposed": "会議に提出中", "approved": "承認", "revision_requested": "修正依頼",
    "returned": "相談窓口へ戻し", "closure_requested": "終結評価待ち", "closed": "終結", "suspended": "中断",
    "continued": "継続",
}
#: How each status reads as a badge: work waiting for the coordinator is `warn`, a good end `ok`.
PLAN_STATUS_KIND = {"revision_requested": "warn", "suspended": "warn", "approved": "ok", "closed": "ok", "continued": "ok"}
DECISION_JA = {"approved": "承認", "revision_requested": "修正依頼", "returned_to_intake": "相談窓口へ戻す"}
OUTCOME_JA = {"closed": "終結", "suspended": "中断", "continued": "継続"}
RESULT_JA = {"achieved": "達成", "partly_achieved": "一部達成", "not_achieved": "未達成"}
MEETING_TYPE_JA = {"jusou_shien_kaigi": "重層的支援会議", "shien_kaigi": "支援会議"}
CLOSABLE = ("approved", "continued", "suspended")
LABELS: dict[str, Any] = {"status_ja": PLAN_STATUS_JA, "status_kind": PLAN_STATUS_KIND, "decision_ja": DECISION_JA,
          "outcome_ja": OUTCOME_JA, "result_ja": RESULT_JA, "meeting_type_ja": MEETING_TYPE_JA,
          "case_status_ja": CASE_STATUS_JA}


def _local(moment: datetime) -> str:
    """An event's moment as staff read it: Japan time, ISO text (for the `wareki` filter and hh:mm)."""
    return moment.astimezone(JST).isoformat(timespec="minutes")


def _who(event: Any) -> str:
    actor = (getattr(event, "meta", None) or {}).get("actor") or {}
    return actor.get("staff_id") or (f"自動（{actor['service']}）" if actor.get("service") else "")


def _plan_record(app: CollaborationApplication, plan_id: UUID) -> dict[str, Any]:
    """The plan with its story read from its own events: who drafted, revised, proposed; what the meeting said."""
    plan = app.plan_view(plan_id)
    story: list[dict[str, Any]] = []
    for event in app.events_of(plan_id):
        row: dict[str, Any] = {"at": _local(event.timestamp), "who": _who(event), "kind": type(event).__name__}
        if isinstance(event, Plan.Drafted):
            row.update(what="下書き作成 / drafted", detail="")
        elif isinstance(event, Plan.Revised):
            row.update(what="修正 / revised", detail="")
        elif isinstance(event, Plan.Proposed):
            row.update(what=f"会議へ提出（第{event.revision}版）/ proposed", detail="")
        elif isinstance(event, Plan.DecisionRecorded):
            row.update(what=f"{MEETING_TYPE_JA.get(event.meeting_type, event.meeting_type)}の決定: "
                            f"{DECISION_JA.get(event.decision, event.decision)}",
                       detail=event.reasons, decision=event.decision, meeting_id=str(event.meeting_id))
        elif isinstance(event, Plan.ClosureRequested):
            row.update(what="終結の依頼 / closure requested", detail=event.progress)
        elif isinstance(event, Plan.Evaluated):
            evaluation = event.evaluation or {}
            row.update(what=f"終結評価: {OUTCOME_JA.get(event.outcome, event.outcome)}", outcome=event.outcome,
                       detail="", evaluation=evaluation, meeting_id=str(event.meeting_id),
                       next_review_on=event.next_review_on.isoformat() if event.next_review_on else None)
        else:
            continue
        story.append(row)
    requests = [r for r in story if r.get("decision") == "revision_requested"]
    return {**plan, "story": story, "created_at": story[0]["at"] if story else "",
            "updated_at": story[-1]["at"] if story else "",
            "revision_request": requests[-1] if requests and plan["status"] == "revision_requested" else None}


def _all_plans(app: CollaborationApplication, case_id: UUID | None = None) -> list[dict[str, Any]]:
    plans = []
    for plan_id in app.ids_of(Plan):
        view = app.plan_view(plan_id)
        if case_id is None or view["case_id"] == str(case_id):
            plans.append(view)
    return plans


def _cases(app: CollaborationApplication) -> list[dict[str, Any]]:
    """Escalated cases, each with its plans; those whose plan waits for the coordinator first."""
    plans: dict[str, list[dict[str, Any]]] = {}
    for plan in _all_plans(app):
        plans.setdefault(plan["case_id"], []).append(plan)
    rows = [{**case, "plans": plans.get(case["case_id"], [])} for case in app.cases()]
    for row in rows:
        row["latest"] = row["plans"][-1] if row["plans"] else None
    waiting = ("revision_requested", "draft", None)
    rows.sort(key=lambda r: 0 if (r["latest"] or {}).get("status") in waiting else 1)
    return rows


async def _read(request: Request, fn: Any, *args: Any) -> Any:
    return await anyio.to_thread.run_sync(fn, _app(request), *args)


async def _scoped(request: Request, fn: Any) -> Any:
    """A list's rows the signed-in reader's division may see (shared/web/policy.py visible)."""
    app, who = _app(request), getattr(request.state, "principal", None)
    return await anyio.to_thread.run_sync(lambda: app.scoped(fn(app), who))


def _missing(request: Request, message: str) -> Response:
    return ui.render(request, "missing.html", "見つかりません / not found", status_code=404, message=message)


# -- the list of escalated cases ------------------------------------------------------------


@router.get("/ui/", response_class=HTMLResponse, dependencies=[requires("collaboration.case.read")])
async def home(request: Request) -> Response:
    if staff_from_cookie(request) is None:
        return redirect("/ui/login?next=/ui/")
    return ui.render(request, "collaboration_home.html", "多機関協働のケース / escalated cases",
                     cases=await _scoped(request, _cases), **LABELS)


@router.get("/ui/cases-table", response_class=HTMLResponse, dependencies=[requires("collaboration.case.read")])
async def cases_table(request: Request) -> Response:
    """The live part of the list: reloaded whenever the store changes (a case escalated, a decision)."""
    return ui.render(request, "collaboration_cases_table.html", "", cases=await _scoped(request, _cases), **LABELS)


@router.get("/ui/cases.csv", dependencies=[requires("collaboration.case.read")])
async def cases_csv(request: Request) -> Response:
    rows = await _scoped(request, _cases)
    return csv_response("多機関協働のケース一覧.csv",
                        ["ケース番号", "理由", "相談内容", "主担当", "状態", "プラン数", "最新プラン番号", "最新プランの状態", "最新プランの版"],
                        [[r["case_id"], r["reason"], "・".join(r["concerns"]), r["primary_agency"],
                          CASE_STATUS_JA.get(r["status"], r["status"]), len(r["plans"]),
                          r["latest"]["plan_id"] if r["latest"] else "",
                          PLAN_STATUS_JA.get(r["latest"]["status"], r["latest"]["status"]) if r["latest"] else "",
                          r["latest"]["revision"] if r["latest"] else ""] for r in rows])


# -- a case and its plans ---------------------------------------------------------------------


@router.get("/ui/cases/{case_id}", response_class=HTMLResponse, dependencies=[requires("collaboration.case.read")])
async def case_page(request: Request, case_id: UUID) -> Response:
    if staff_from_cookie(request) is None:
        return redirect(f"/ui/login?next=/ui/cases/{case_id}")
    app: CollaborationApplication = _app(request)
    try:
        case = await anyio.to_thread.run_sync(app.case_view, case_id)
    except NotFound as missing:
        return _missing(request, str(missing))
    plans = await anyio.to_thread.run_sync(_all_plans, app, case_id)
    return ui.render(request, "collaboration_case.html", "多機関協働のケース / case", case=case, plans=plans, **LABELS)


@router.get("/ui/cases/{case_id}/plans-table", response_class=HTMLResponse, dependencies=[requires("plan.read")])
async def plans_table(request: Request, case_id: UUID) -> Response:
    """The live part of the case page: its plans and their status."""
    plans = await _read(request, _all_plans, case_id)
    return ui.render(request, "collaboration_plans_table.html", "", plans=plans, **LABELS)


# -- the plan editor ----------------------------------------------------------------------------


def _plan_form(form: Any) -> dict[str, Any]:
    """The editor's fields as typed: direction, goal rows and role rows (blank rows dropped)."""
    goals = [str(g).strip() for g in form.getlist("goal")]
    roles = []
    for agency, responsibility, contact in zip_longest(form.getlist("role_agency"), form.getlist("role_responsibility"),
                                                       form.getlist("role_contact"), fillvalue=""):
        role = {"agency": str(agency).strip(), "responsibility": str(responsibility).strip(),
                "contact": str(contact).strip() or None}
        if role["agency"] or role["responsibility"] or role["contact"]:
            roles.append(role)
    return {"support_direction": str(form.get("support_direction") or "").strip(),
            "goals": [g for g in goals if g], "roles": roles, "then": str(form.get("then") or "save")}


def _check(plan: dict[str, Any]) -> str | None:
    """What the HTTP API checks before the domain does (PlanIn): a direction and at least one goal,
    each field within the API's bounds (shared/web/limits.py)."""
    if not plan["support_direction"]:
        return "支援の方向性を入力してください / enter the support direction (D4)"
    if not plan["goals"]:
        return "目標を1つ以上入力してください / enter at least one goal (D4)"
    try:
        check_form(PlanIn, {k: plan[k] for k in ("support_direction", "goals", "roles")})
    except DomainError as refused:
        return str(refused)
    return None


def _editor(request: Request, case: dict[str, Any], form: dict[str, Any], status_code: int = 200,
            error: str | None = None) -> Response:
    """The new-plan page, empty or with what was typed and why it was refused."""
    return ui.render(request, "collaboration_plan_new.html", "プランの作成 / new plan", status_code=status_code, case=case,
                     form=form, error=error, agencies=sorted(agencies()), **LABELS)


@router.get("/ui/cases/{case_id}/plans/new", response_class=HTMLResponse,
            dependencies=[requires("collaboration.plan.write")])
async def new_plan(request: Request, case_id: UUID) -> Response:
    if staff_from_cookie(request) is None:
        return redirect(f"/ui/login?next=/ui/cases/{case_id}/plans/new")
    app: CollaborationApplication = _app(request)
    try:
        case = await anyio.to_thread.run_sync(app.case_view, case_id)
    except NotFound as missing:
        return _missing(request, str(missing))
    # D11: the primary agency keeps its field; it is the natural first role.
    form = {"support_direction": "", "goals": [""],
            "roles": [{"agency": case["primary_agency"], "responsibility": "", "contact": None}]}
    return _editor(request, case, form)


@router.post("/ui/cases/{case_id}/plans", response_class=HTMLResponse,
             dependencies=[requires("collaboration.plan.write")])
async def draft(request: Request, case_id: UUID) -> Response:
    """D4: save a new plan as a draft, and take it to the meeting when asked to."""
    staff = staff_from_cookie(request)
    if staff is None:
        return redirect(f"/ui/login?next=/ui/cases/{case_id}/plans/new")
    app: CollaborationApplication = _app(request)
    try:
        case = await anyio.to_thread.run_sync(app.case_view, case_id)
    except NotFound as missing:
        return _missing(request, str(missing))
    form = _plan_form(await request.form())
    problem = _check(form)
    if problem:
        return _editor(request, case, form, 422, problem)
    try:
        plan_id = await anyio.to_thread.run_sync(lambda: app.draft_plan(
            actor_of(staff), case_id, form["support_direction"], form["goals"], form["roles"]))
    except DomainError as refused:
        return _editor(request, case, form, refused.status, str(refused))
    if form["then"] == "propose":
        return await _propose(request, app, staff, plan_id)
    return redirect(f"/ui/plans/{plan_id}", ok="プランを下書き保存しました / draft saved")


async def _propose(request: Request, app: CollaborationApplication, staff: dict[str, str], plan_id: UUID) -> Response:
    try:
        revision = await anyio.to_thread.run_sync(lambda: app.propose_plan(actor_of(staff), plan_id))
    except DomainError as refused:
        return redirect(f"/ui/plans/{plan_id}", ng=str(refused))
    return redirect(f"/ui/plans/{plan_id}", ok=f"第{revision}版を会議へ提出しました / proposed to the meeting")


async def _plan_page(request: Request, plan_id: UUID, status_code: int = 200, form: dict[str, Any] | None = None,
                     error: str | None = None, closure: dict[str, str] | None = None) -> Response:
    app: CollaborationApplication = _app(request)
    try:
        plan = await anyio.to_thread.run_sync(_plan_record, app, plan_id)
        case = await anyio.to_thread.run_sync(app.case_view, UUID(plan["case_id"]))
    except NotFound as missing:
        return _missing(request, str(missing))
    if form is None:
        form = {"support_direction": plan["support_direction"], "goals": plan["goals"] or [""], "roles": plan["roles"]}
    return ui.render(request, "collaboration_plan.html", f"プラン 第{plan['revision']}版 / plan", status_code=status_code,
                     case=case, plan=plan, form=form, error=error, closure=closure or {}, agencies=sorted(agencies()),
                     editable=EDITABLE, closable=CLOSABLE, **LABELS)


@router.get("/ui/plans/{plan_id}", response_class=HTMLResponse, dependencies=[requires("plan.read")])
async def plan_page(request: Request, plan_id: UUID) -> Response:
    if staff_from_cookie(request) is None:
        return redirect(f"/ui/login?next=/ui/plans/{plan_id}")
    return await _plan_page(request, plan_id)


@router.get("/ui/plans/{plan_id}/status", response_class=HTMLResponse, dependencies=[requires("plan.read")])
async def plan_status(request: Request, plan_id: UUID, shown: str = "") -> Response:
    """The live part of the plan page: status, the meeting's word, the history."""
    plan = await _read(request, _plan_record, plan_id)
    return ui.render(request, "collaboration_plan_status.html", "", plan=plan, shown=shown, **LABELS)


@router.post("/ui/plans/{plan_id}", response_class=HTMLResponse, dependencies=[requires("collaboration.plan.write")])
async def revise(request: Request, plan_id: UUID) -> Response:
    """Save the plan (a draft, or after a revision request), and take it to the meeting when asked to."""
    staff = staff_from_cookie(request)
    if staff is None:
        return redirect(f"/ui/login?next=/ui/plans/{plan_id}")
    app: CollaborationApplication = _app(request)
    form = _plan_form(await request.form())
    problem = _check(form)
    if problem:
        return await _plan_page(request, plan_id, 422, form, problem)
    try:
        await anyio.to_thread.run_sync(lambda: app.revise_plan(
            actor_of(staff), plan_id, form["support_direction"], form["goals"], form["roles"]))
    except DomainError as refused:
        return await _plan_page(request, plan_id, refused.status, form, str(refused))
    if form["then"] == "propose":
        return await _propose(request, app, staff, plan_id)
    return redirect(f"/ui/plans/{plan_id}", ok="プランを保存しました / plan saved")


@router.post("/ui/plans/{plan_id}/closure", response_class=HTMLResponse,
             dependencies=[requires("collaboration.plan.write")])
async def closure(request: Request, plan_id: UUID) -> Response:
    """D7: ask the meeting to evaluate the plan and end it."""
    staff = staff_from_cookie(request)
    if staff is None:
        return redirect(f"/ui/login?next=/ui/plans/{plan_id}")
    app: CollaborationApplication = _app(request)
    progress = str((await request.form()).get("progress") or "").strip()
    try:
        check_form(ClosureIn, {"progress": progress})
        await anyio.to_thread.run_sync(lambda: app.request_plan_closure(actor_of(staff), plan_id, progress))
    except DomainError as refused:
        return await _plan_page(request, plan_id, refused.status, closure={"progress": progress, "error": str(refused)})
    return redirect(f"/ui/plans/{plan_id}", ok="終結の評価を会議に依頼しました / closure requested")


@router.get("/ui/plans/{plan_id}/print", response_class=HTMLResponse, dependencies=[requires("plan.read")])
async def print_plan(request: Request, plan_id: UUID) -> Response:
    """The plan as a paper document (A4, @media print)."""
    app: CollaborationApplication = _app(request)
    try:
        plan = await anyio.to_thread.run_sync(_plan_record, app, plan_id)
        case = await anyio.to_thread.run_sync(app.case_view, UUID(plan["case_id"]))
    except NotFound as missing:
        return _missing(request, str(missing))
    today = datetime.now(JST).date().isoformat()
    return ui.render(request, "collaboration_plan_print.html", "支援プラン（印刷）/ printable plan", case=case, plan=plan,
                     today=today, **LABELS)
