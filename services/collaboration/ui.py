"""Collaboration coordinators' pages (多機関協働事業, 福祉総務課): escalated cases, the plan editor
(支援の方向性, 目標, 役割分担), proposing to the meeting, revising after a revision request, asking for
closure, each plan's status and decision history, and a printable plan (D4, D5, D7, D11)."""

from __future__ import annotations

from datetime import date, datetime
from itertools import zip_longest
from pathlib import Path
from typing import Annotated, Any
from uuid import UUID

from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse, Response
from pydantic import Field

from services.collaboration.api import (
    COUNCIL_DECISION_JA,
    GAP_SOURCE_JA,
    GAP_STATUS_JA,
    STRAND_STATUS_JA,
    AgendaIn,
    CouncilDecisionIn,
    GapIn,
    SittingIn,
    StrandIn,
)
from services.collaboration.application import CollaborationApplication, PlanStep
from shared.domain.plan import CLOSABLE, EDITABLE, IN_FORCE
from shared.domain.wareki import JST
from shared.kernel.journey import DomainError, NotFound
from shared.organisation.reference import CONCERN_FIELDS, DIVISION_TITLES, DIVISIONS, agencies
from shared.web.casework_api import casework_pages
from shared.web.deps import application, call
from shared.web.limits import MAX_ITEMS, form_model, form_text
from shared.web.plan_api import AccompanyIn, CheckInIn, ClosureIn, PlanIn, RoleIn
from shared.web.policy import requires
from shared.web.ui import UI, actor_of, csv_response, filters_of, paged, redirect, staff_from_cookie

App = Annotated[CollaborationApplication, Depends(application(CollaborationApplication))]
ui = UI("collaboration", DIVISION_TITLES["collaboration"], Path(__file__).parent / "templates")
router = APIRouter(include_in_schema=False)

CASE_STATUS_JA = {"open": "対応中", "returned": "窓口へ戻した"}
PLAN_STATUS_JA = {
    "draft": "下書き", "proposed": "会議に提出中", "approved": "承認", "revision_requested": "修正依頼",
    "returned": "相談窓口へ戻し", "closure_requested": "終結評価待ち", "closed": "終結", "suspended": "中断",
    "continued": "継続", "resumed": "再開（実施中）", "accompanying": "伴走支援中",
}
#: How each status reads as a badge: work waiting for the coordinator is `warn`, a good end `ok`.
PLAN_STATUS_KIND = {"revision_requested": "warn", "suspended": "warn", "approved": "ok", "closed": "ok", "continued": "ok",
                    "resumed": "ok", "accompanying": "ok"}
CHECK_IN_WAYS = ("来所", "電話", "訪問", "同行", "オンライン", "文書")
DECISION_JA = {"approved": "承認", "revision_requested": "修正依頼", "returned_to_intake": "相談窓口へ戻す"}
OUTCOME_JA = {"closed": "終結", "suspended": "中断", "continued": "継続"}
RESULT_JA = {"achieved": "達成", "partly_achieved": "一部達成", "not_achieved": "未達成"}
MEETING_TYPE_JA = {"jusou_shien_kaigi": "重層的支援会議", "shien_kaigi": "支援会議"}
#: the case list's filter on its latest plan (「プランなし」 for a case without one)
PLAN_FILTER_JA = {"none": "プランなし", **PLAN_STATUS_JA}
LABELS: dict[str, Any] = {"status_ja": PLAN_STATUS_JA, "status_kind": PLAN_STATUS_KIND, "decision_ja": DECISION_JA,
          "outcome_ja": OUTCOME_JA, "result_ja": RESULT_JA, "meeting_type_ja": MEETING_TYPE_JA,
          "case_status_ja": CASE_STATUS_JA, "strand_status_ja": STRAND_STATUS_JA,
          "council_decision_ja": COUNCIL_DECISION_JA, "gap_status_ja": GAP_STATUS_JA, "gap_source_ja": GAP_SOURCE_JA,
          "division_ja": {code: d.ja for code, d in DIVISIONS.items()}}


def _story(step: PlanStep) -> dict[str, Any]:
    """A step of the plan's story as the history table words it."""
    row: dict[str, Any] = {"at": step["at"], "who": step["who"], "kind": step["kind"]}
    kind = step["kind"]
    if kind == "Drafted":
        row.update(what="下書き作成 / drafted", detail="")
    elif kind == "Revised":
        row.update(what="修正 / revised", detail="")
    elif kind == "Proposed":
        row.update(what=f"会議へ提出（第{step['revision']}版）/ proposed", detail="")
    elif kind == "DecisionRecorded":
        meeting_type, decision = step["meeting_type"], step["decision"]
        row.update(what=f"{MEETING_TYPE_JA.get(meeting_type, meeting_type)}の決定: {DECISION_JA.get(decision, decision)}",
                   detail=step["reasons"], decision=decision, meeting_id=step["meeting_id"])
    elif kind == "ClosureRequested":
        row.update(what="終結の依頼 / closure requested", detail=step["progress"])
    elif kind == "Resumed":
        row.update(what="重層的支援会議で再開 / resumed", detail=step.get("reasons", ""))
    elif kind == "Accompanied":
        row.update(what="伴走支援へ移行 / accompanying", detail="", since=step.get("since"))
    elif kind == "CheckedIn":
        row.update(what=f"伴走支援の見守り（{step.get('how', '')}）/ check-in", detail=step.get("note", ""),
                   on=step.get("on"))
    elif kind == "Evaluated":
        outcome = step["outcome"]
        row.update(what=f"終結評価: {OUTCOME_JA.get(outcome, outcome)}", outcome=outcome, detail="",
                   evaluation=step["evaluation"], meeting_id=step["meeting_id"], next_review_on=step["next_review_on"])
    return row


def _plan_record(app: CollaborationApplication, plan_id: UUID) -> dict[str, Any]:
    """The plan with its story: who drafted, revised, proposed; what the meeting said (blocking)."""
    plan = app.plan_view(plan_id)
    story = [_story(step) for step in app.plan_steps(plan_id)]
    requests = [r for r in story if r.get("decision") == "revision_requested"]
    return {**plan, "story": story, "created_at": story[0]["at"] if story else "",
            "updated_at": story[-1]["at"] if story else "",
            "revision_request": requests[-1] if requests and plan["status"] == "revision_requested" else None}


def _plan_and_case(app: CollaborationApplication, plan_id: UUID) -> tuple[dict[str, Any], dict[str, Any]]:
    """A plan's page data and its case (blocking)."""
    plan = _plan_record(app, plan_id)
    return plan, app.case_view(UUID(plan["case_id"]))


def _cases(app: CollaborationApplication, request: Request) -> list[dict[str, Any]]:
    """Escalated cases the reader's division may see, each with its plans; those whose plan waits for the
    coordinator first (blocking). `plan_status`: the latest plan's status, 「none」 without one (the filter)."""
    rows: list[dict[str, Any]] = [{**r, "plan_status": (r["latest"] or {}).get("status") or "none"}
                                  for r in app.case_rows(getattr(request.state, "principal", None))]
    waiting = ("revision_requested", "draft", None)
    rows.sort(key=lambda r: 0 if (r["latest"] or {}).get("status") in waiting else 1)
    return rows


def _listed(app: CollaborationApplication, request: Request) -> dict[str, Any]:
    """One page of the cases the filter bar keeps (the latest plan's status, the day each was escalated here),
    with its pager (blocking)."""
    filters = filters_of(request)
    shown, paging = paged(request, filters.apply(_cases(app, request), status="plan_status", day="opened_at"))
    return {"cases": shown, "paging": paging, "filters": filters, "plan_filter": PLAN_FILTER_JA}


def _missing(request: Request, message: str) -> Response:
    return ui.render(request, "missing.html", "見つかりません / not found", status_code=404, message=message)


# -- the list of escalated cases ------------------------------------------------------------


@router.get("/ui/", response_class=HTMLResponse, dependencies=[requires("collaboration.case.read")])
def home(request: Request, app: App) -> Response:
    if staff_from_cookie(request) is None:
        return redirect("/ui/login?next=/ui/")
    return ui.render(request, "collaboration_home.html", "多機関協働のケース / escalated cases",
                     **_listed(app, request), **LABELS)


@router.get("/ui/cases-table", response_class=HTMLResponse, dependencies=[requires("collaboration.case.read")])
def cases_table(request: Request, app: App) -> Response:
    """The live part of the list: reloaded whenever the store changes (a case escalated, a decision); it keeps
    the page and the filters."""
    return ui.render(request, "collaboration_cases_table.html", "", **_listed(app, request), **LABELS)


@router.get("/ui/cases.csv", dependencies=[requires("collaboration.case.read")])
def cases_csv(request: Request, app: App) -> Response:
    rows = _cases(app, request)
    return csv_response("多機関協働のケース一覧.csv",
                        ["ケース番号", "理由", "相談内容", "主担当", "状態", "プラン数", "最新プラン番号", "最新プランの状態", "最新プランの版"],
                        [[r["case_id"], r["reason"], "・".join(r["concerns"]), r["primary_agency"],
                          CASE_STATUS_JA.get(r["status"], r["status"]), len(r["plans"]),
                          r["latest"]["plan_id"] if r["latest"] else "",
                          PLAN_STATUS_JA.get(r["latest"]["status"], r["latest"]["status"]) if r["latest"] else "",
                          r["latest"]["revision"] if r["latest"] else ""] for r in rows])


# -- a case and its plans ---------------------------------------------------------------------


@router.get("/ui/cases/{case_id}", response_class=HTMLResponse, dependencies=[requires("collaboration.case.read")])
def case_page(request: Request, case_id: UUID, app: App) -> Response:
    if staff_from_cookie(request) is None:
        return redirect(f"/ui/login?next=/ui/cases/{case_id}")
    try:
        case = app.case_view(case_id)
    except NotFound as missing:
        return _missing(request, str(missing))
    return _case_page(request, app, case)


def _case_page(request: Request, app: CollaborationApplication, case: dict[str, Any], status_code: int = 200,
               strand_form: dict[str, Any] | None = None, error: str | None = None) -> Response:
    """The case page (blocking): its facts, its strands (課題の解きほぐし) with the form to add one, 担当 and
    経過記録, its plans."""
    case_id = UUID(case["case_id"])
    return ui.render(request, "collaboration_case.html", "多機関協働のケース / case", status_code=status_code, case=case,
                     casework=app.case_file(case_id), plans=app.plans(case_id), strand_form=strand_form or {},
                     strand_error=error, concerns=[c.ja for c in CONCERN_FIELDS.values()], agencies=sorted(agencies()),
                     **LABELS)


# -- 課題の解きほぐし (D4): strands ------------------------------------------------------------------------


def _strand_fields(text: dict[str, Any]) -> dict[str, str]:
    return {k: str(text.get(k, "")) for k in ("concern", "description", "agency", "status")}


@router.post("/ui/cases/{case_id}/strands", response_class=HTMLResponse,
             dependencies=[requires("collaboration.strand.write")])
async def add_strand(request: Request, case_id: UUID, app: App) -> Response:
    """D4: record one of the household's issues as a strand of its own."""
    staff = staff_from_cookie(request)
    if staff is None:
        return redirect(f"/ui/login?next=/ui/cases/{case_id}")
    try:
        case = await call(app.case_view, case_id)
    except NotFound as missing:
        return _missing(request, str(missing))
    typed = _strand_fields(await form_text(request))
    try:
        command = form_model(StrandIn, {k: v for k, v in typed.items() if v})
        await call(app.add_strand, actor_of(staff), case_id, command.concern, command.description, command.agency,
                   command.status)
    except DomainError as refused:
        return await call(_case_page, request, app, case, refused.status, typed, str(refused))
    return redirect(f"/ui/cases/{case_id}", ok="課題を記録しました / strand recorded")


def _strand_page(request: Request, app: CollaborationApplication, case_id: UUID, strand_id: UUID,
                 status_code: int = 200, form: dict[str, Any] | None = None, error: str | None = None) -> Response:
    try:
        case, strand = app.case_view(case_id), app.strand_view(case_id, strand_id)
    except NotFound as missing:
        return _missing(request, str(missing))
    return ui.render(request, "collaboration_strand.html", "課題の編集 / strand", status_code=status_code, case=case,
                     strand=strand, form=form or strand, error=error, concerns=[c.ja for c in CONCERN_FIELDS.values()],
                     agencies=sorted(agencies()), **LABELS)


@router.get("/ui/cases/{case_id}/strands/{strand_id}", response_class=HTMLResponse,
            dependencies=[requires("collaboration.strand.write")])
def strand_page(request: Request, case_id: UUID, strand_id: UUID, app: App) -> Response:
    if staff_from_cookie(request) is None:
        return redirect(f"/ui/login?next=/ui/cases/{case_id}/strands/{strand_id}")
    return _strand_page(request, app, case_id, strand_id)


@router.post("/ui/cases/{case_id}/strands/{strand_id}", response_class=HTMLResponse,
             dependencies=[requires("collaboration.strand.write")])
async def change_strand(request: Request, case_id: UUID, strand_id: UUID, app: App) -> Response:
    """D4: name the strand's agency, move its status on, reword it."""
    staff = staff_from_cookie(request)
    if staff is None:
        return redirect(f"/ui/login?next=/ui/cases/{case_id}/strands/{strand_id}")
    typed = _strand_fields(await form_text(request))
    try:
        command = form_model(StrandIn, {k: v for k, v in typed.items() if v})
        await call(app.change_strand, actor_of(staff), case_id, strand_id, command.concern, command.description,
                   command.agency, command.status)
    except DomainError as refused:
        return await call(_strand_page, request, app, case_id, strand_id, refused.status, typed, str(refused))
    return redirect(f"/ui/cases/{case_id}", ok="課題を更新しました / strand updated")


@router.get("/ui/cases/{case_id}/plans-table", response_class=HTMLResponse, dependencies=[requires("plan.read")])
def plans_table(request: Request, case_id: UUID, app: App) -> Response:
    """The live part of the case page: its plans and their status."""
    return ui.render(request, "collaboration_plans_table.html", "", plans=app.plans(case_id), **LABELS)


# -- the plan editor ----------------------------------------------------------------------------


def _title(plan: dict[str, Any]) -> str:
    """A plan's name on its page: 下書き until it is first proposed (no 「第0版」), then its revision."""
    return f"第{plan['revision']}版" if plan["revision"] else "下書き"


class PlanForm(PlanIn):
    """The plan editor's reading of PlanIn (the same bounds): a table with no role rows is `roles: []`, as a
    JSON body may send it, so the domain says what is missing (D4, PlanWithoutRoles), not the form."""

    roles: list[RoleIn] = Field(default_factory=list, max_length=MAX_ITEMS, title="役割分担",
                                description="役割分担 (D4: at least one)")


def _plan_form(text: dict[str, Any]) -> dict[str, Any]:
    """The editor's rows in the command's shape: direction, goal rows and role rows (blank rows dropped)."""

    def rows(name: str) -> list[str]:
        sent = text.get(name, [])
        return [sent] if isinstance(sent, str) else list(sent)

    roles = []
    for agency, responsibility, contact in zip_longest(rows("role_agency"), rows("role_responsibility"),
                                                       rows("role_contact"), fillvalue=""):
        if agency or responsibility or contact:
            roles.append({"agency": agency, "responsibility": responsibility, "contact": contact or None})
    members = []
    for label, goals in zip_longest(rows("member_label"), rows("member_goals"), fillvalue=""):
        offered = label.startswith("世帯員（ケース ") and not goals.strip()  # a household line left empty (D16)
        if (label or goals) and not offered:  # one goal a line
            members.append({"label": label, "goals": [g.strip() for g in goals.splitlines() if g.strip()]})
    return {"support_direction": text.get("support_direction", ""), "goals": [g for g in rows("goal") if g],
            "roles": roles, "intention": text.get("intention", ""), "starts_on": text.get("starts_on", ""),
            "review_on": text.get("review_on", ""), "members": members}


def household_members(case: dict[str, Any]) -> list[dict[str, Any]]:
    """D16: the plan covers the household: one person line per related case (labelled by case, collaboration has
    no personal information), for each member's goals; a line left without goals is not part of the plan."""
    return [{"label": member_label(rid), "goals": []} for rid in case.get("related_case_ids") or []]


def member_label(related_case_id: str) -> str:
    return f"世帯員（ケース {related_case_id[:8]}）"


def _form_of(plan: dict[str, Any], case: dict[str, Any] | None = None) -> dict[str, Any]:
    """The editor filled in with the plan as it stands (and, D16, a line for each related case it has none for)."""
    members = plan.get("persons", [])[1:]
    written = {m["label"] for m in members}
    offered = [m for m in household_members(case or {}) if m["label"] not in written]
    return {"support_direction": plan["support_direction"], "goals": plan["goals"] or [""], "roles": plan["roles"],
            "intention": plan.get("intention", ""), "starts_on": plan.get("starts_on") or "",
            "review_on": plan.get("review_on") or "", "members": [*members, *offered]}


def _command_args(command: PlanIn) -> tuple[Any, ...]:
    """The plan form's command as the use case takes it, after the direction and 本人's goals: the roles, the
    intention, the period and the household members."""
    return ([r.model_dump() for r in command.roles], command.intention, command.starts_on, command.review_on,
            [m.model_dump() for m in command.members])


def _editor(request: Request, case: dict[str, Any], form: dict[str, Any], status_code: int = 200,
            error: str | None = None) -> Response:
    """The new-plan page, empty or with what was typed and why it was refused."""
    return ui.render(request, "collaboration_plan_new.html", "プランの作成 / new plan", status_code=status_code, case=case,
                     form={**form, "goals": form.get("goals") or [""]}, error=error, agencies=sorted(agencies()), **LABELS,
                     unassigned=[st for st in case.get("strands", []) if not st["agency"] and st["status"] != "resolved"])


@router.get("/ui/cases/{case_id}/plans/new", response_class=HTMLResponse,
            dependencies=[requires("collaboration.plan.write")])
def new_plan(request: Request, case_id: UUID, app: App) -> Response:
    if staff_from_cookie(request) is None:
        return redirect(f"/ui/login?next=/ui/cases/{case_id}/plans/new")
    try:
        case = app.case_view(case_id)
    except NotFound as missing:
        return _missing(request, str(missing))
    # D4: the roles come from the strands (one per agency working them); without any, the primary agency (D11)
    # keeps its field: the natural first role.
    roles = app.roles_from_strands(case_id) or [{"agency": case["primary_agency"], "responsibility": "", "contact": None}]
    form = {"support_direction": "", "goals": [""], "intention": "", "starts_on": "", "review_on": "",
            "members": household_members(case), "roles": roles}
    return _editor(request, case, form)


@router.post("/ui/cases/{case_id}/plans", response_class=HTMLResponse,
             dependencies=[requires("collaboration.plan.write")])
async def draft(request: Request, case_id: UUID, app: App) -> Response:
    """D4: save a new plan as a draft, and take it to the meeting when asked to."""
    staff = staff_from_cookie(request)
    if staff is None:
        return redirect(f"/ui/login?next=/ui/cases/{case_id}/plans/new")
    try:
        case = await call(app.case_view, case_id)
    except NotFound as missing:
        return _missing(request, str(missing))
    text = await form_text(request)
    form = _plan_form(text)
    try:
        command = form_model(PlanForm, form)
        plan_id = await call(app.draft_plan, actor_of(staff), case_id, command.support_direction, command.goals,
                             *_command_args(command))
    except DomainError as refused:
        return _editor(request, case, form, refused.status, str(refused))
    if text.get("then") == "propose":
        return await _propose(app, staff, plan_id)
    return redirect(f"/ui/plans/{plan_id}", ok="プランを下書き保存しました / draft saved")


async def _propose(app: CollaborationApplication, staff: dict[str, str], plan_id: UUID) -> Response:
    try:
        revision = await call(app.propose_plan, actor_of(staff), plan_id)
    except DomainError as refused:
        return redirect(f"/ui/plans/{plan_id}", ng=str(refused))
    return redirect(f"/ui/plans/{plan_id}", ok=f"第{revision}版を会議へ提出しました / proposed to the meeting")


def _plan_page(request: Request, app: CollaborationApplication, plan_id: UUID, status_code: int = 200,
               form: dict[str, Any] | None = None, error: str | None = None,
               closure: dict[str, str] | None = None, accompany: dict[str, Any] | None = None) -> Response:
    """The plan page (blocking: run it in the thread pool), with a refused form as typed."""
    try:
        plan, case = _plan_and_case(app, plan_id)
    except NotFound as missing:
        return _missing(request, str(missing))
    if form is None:
        form = _form_of(plan, case)
    goals = [g for person in plan["persons"] for g in person["goals"]]
    return ui.render(request, "collaboration_plan.html", f"プラン {_title(plan)} / plan", status_code=status_code,
                     case=case, plan=plan, form={**form, "goals": form.get("goals") or [""]}, error=error,
                     closure=closure or {}, agencies=sorted(agencies()),
                     editable=EDITABLE, closable=CLOSABLE, in_force=IN_FORCE, accompany=accompany or {},
                     all_goals=goals, check_in_ways=CHECK_IN_WAYS, plan_title=_title(plan), **LABELS)


@router.get("/ui/plans/{plan_id}", response_class=HTMLResponse, dependencies=[requires("plan.read")])
def plan_page(request: Request, plan_id: UUID, app: App) -> Response:
    if staff_from_cookie(request) is None:
        return redirect(f"/ui/login?next=/ui/plans/{plan_id}")
    return _plan_page(request, app, plan_id)


@router.get("/ui/plans/{plan_id}/status", response_class=HTMLResponse, dependencies=[requires("plan.read")])
def plan_status(request: Request, plan_id: UUID, app: App, shown: str = "") -> Response:
    """The live part of the plan page: status, the meeting's word, the history."""
    plan = _plan_record(app, plan_id)
    return ui.render(request, "collaboration_plan_status.html", "", plan=plan, shown=shown, **LABELS)


@router.post("/ui/plans/{plan_id}", response_class=HTMLResponse, dependencies=[requires("collaboration.plan.write")])
async def revise(request: Request, plan_id: UUID, app: App) -> Response:
    """Save the plan (a draft, or after a revision request), and take it to the meeting when asked to."""
    staff = staff_from_cookie(request)
    if staff is None:
        return redirect(f"/ui/login?next=/ui/plans/{plan_id}")
    text = await form_text(request)
    form = _plan_form(text)
    try:
        command = form_model(PlanForm, form)
        await call(app.revise_plan, actor_of(staff), plan_id, command.support_direction, command.goals,
                   *_command_args(command))
    except DomainError as refused:
        return await call(_plan_page, request, app, plan_id, refused.status, form, str(refused))
    if text.get("then") == "propose":
        return await _propose(app, staff, plan_id)
    return redirect(f"/ui/plans/{plan_id}", ok="プランを保存しました / plan saved")


@router.post("/ui/plans/{plan_id}/closure", response_class=HTMLResponse,
             dependencies=[requires("collaboration.plan.write")])
async def closure(request: Request, plan_id: UUID, app: App) -> Response:
    """D7: ask the meeting to evaluate the plan and end it."""
    staff = staff_from_cookie(request)
    if staff is None:
        return redirect(f"/ui/login?next=/ui/plans/{plan_id}")
    text = await form_text(request)
    try:
        command = form_model(ClosureIn, text)
        await call(app.request_plan_closure, actor_of(staff), plan_id, command.progress)
    except DomainError as refused:
        return await call(_plan_page, request, app, plan_id, refused.status,
                          closure={"progress": str(text.get("progress", "")), "error": str(refused)})
    return redirect(f"/ui/plans/{plan_id}", ok="終結の評価を会議に依頼しました / closure requested")


@router.post("/ui/plans/{plan_id}/accompaniment", response_class=HTMLResponse,
             dependencies=[requires("collaboration.plan.write")])
async def accompany(request: Request, plan_id: UUID, app: App) -> Response:
    """伴走支援へ移る: every goal of the plan met, the case stays accompanied with check-ins (not 終結)."""
    staff = staff_from_cookie(request)
    if staff is None:
        return redirect(f"/ui/login?next=/ui/plans/{plan_id}")
    text = await form_text(request)
    met = text.get("goal_met", [])
    try:
        command = form_model(AccompanyIn, {**text, "goals_met": [met] if isinstance(met, str) else met})
        await call(app.accompany, actor_of(staff), plan_id, command.since, list(command.goals_met))
    except DomainError as refused:
        return await call(_plan_page, request, app, plan_id, refused.status,
                          accompany={"since": str(text.get("since", "")), "error": str(refused), "where": "accompany"})
    return redirect(f"/ui/plans/{plan_id}", ok="伴走支援に移りました / now accompanying the person")


@router.post("/ui/plans/{plan_id}/check-ins", response_class=HTMLResponse,
             dependencies=[requires("collaboration.plan.write")])
async def check_in(request: Request, plan_id: UUID, app: App) -> Response:
    """伴走支援の見守り: one check-in with its date."""
    staff = staff_from_cookie(request)
    if staff is None:
        return redirect(f"/ui/login?next=/ui/plans/{plan_id}")
    text = await form_text(request)
    try:
        command = form_model(CheckInIn, text)
        await call(app.check_in, actor_of(staff), plan_id, command.on, command.how, command.note)
    except DomainError as refused:
        typed = {k: str(text.get(k, "")) for k in ("on", "how", "note")}
        return await call(_plan_page, request, app, plan_id, refused.status,
                          accompany={**typed, "error": str(refused), "where": "check_in"})
    return redirect(f"/ui/plans/{plan_id}", ok="見守りを記録しました / check-in recorded")


@router.get("/ui/plans/{plan_id}/print", response_class=HTMLResponse, dependencies=[requires("plan.read")])
def print_plan(request: Request, plan_id: UUID, app: App) -> Response:
    """The plan as a paper document (A4, @media print)."""
    try:
        plan, case = _plan_and_case(app, plan_id)
    except NotFound as missing:
        return _missing(request, str(missing))
    today = datetime.now(JST).date().isoformat()
    return ui.render(request, "collaboration_plan_print.html", "支援プラン（印刷）/ printable plan", case=case, plan=plan,
                     today=today, **LABELS)


# -- 相談支援包括化推進会議 (D8) --------------------------------------------------------------------------


def _council(request: Request, app: CollaborationApplication, status_code: int = 200, **extra: Any) -> Response:
    """The council's page (blocking): the gaps awaiting it, the sittings, the forms to hold one and bring a gap."""
    gaps = app.gaps()
    return ui.render(request, "collaboration_council.html", "相談支援包括化推進会議 / council", status_code=status_code,
                     awaiting=[g for g in gaps if g["status"] in ("awaiting", "on_agenda")],
                     decided=[g for g in gaps if g["status"] not in ("awaiting", "on_agenda")],
                     sittings=app.sittings(), agencies=sorted(agencies()),
                     **{"sitting_form": {}, "gap_form": {}, "sitting_error": None, "gap_error": None, **extra}, **LABELS)


@router.get("/ui/council", response_class=HTMLResponse, dependencies=[requires("council.read")])
def council(request: Request, app: App) -> Response:
    if staff_from_cookie(request) is None:
        return redirect("/ui/login?next=/ui/council")
    return _council(request, app)


@router.get("/ui/council/gaps.csv", dependencies=[requires("council.read")])
def council_gaps_csv(request: Request, app: App) -> Response:
    """推進会議の課題 for Excel: each gap with where it came from, its state and the council's latest word."""
    sittings = {s["sitting_id"]: s["held_on"] for s in app.sittings()}
    rows = []
    for g in app.gaps():
        last = g["decisions"][-1] if g["decisions"] else None
        rows.append([g["gap_id"], g["need"], g["area"], g["description"], GAP_SOURCE_JA.get(g["source"], g["source"]),
                     GAP_STATUS_JA.get(g["status"], g["status"]),
                     COUNCIL_DECISION_JA.get(last["decision"], last["decision"]) if last else "",
                     DIVISIONS[last["division"]].ja if last and last["division"] in DIVISIONS else "",
                     last["summary"] if last else "", sittings.get(last["sitting_id"], "") if last else ""])
    return csv_response("推進会議の課題.csv", ["番号", "不足している資源", "地域", "内容", "きっかけ", "状態", "決定", "依頼先",
                                          "決定の内容", "決定した開催日"], rows)


@router.post("/ui/council/sittings", response_class=HTMLResponse, dependencies=[requires("council.convene")])
async def hold_sitting(request: Request, app: App) -> Response:
    """D8: a sitting of the 推進会議: its date and the agencies attending (one a line, or chosen)."""
    staff = staff_from_cookie(request)
    if staff is None:
        return redirect("/ui/login?next=/ui/council")
    text = await form_text(request)
    chosen = text.get("attendee", [])
    attendees = [a.strip() for a in ([chosen] if isinstance(chosen, str) else chosen) if a.strip()]
    typed = {"held_on": str(text.get("held_on", "")), "attendees": attendees, "note": str(text.get("note", ""))}
    try:
        command = form_model(SittingIn, typed)
        sitting_id = await call(app.hold_sitting, actor_of(staff), date.fromisoformat(command.held_on),
                                list(command.attendees), command.note)
    except DomainError as refused:
        return await call(_council, request, app, refused.status, sitting_form=typed, sitting_error=str(refused))
    return redirect(f"/ui/council/sittings/{sitting_id}", ok="推進会議の開催を記録しました / sitting recorded")


@router.post("/ui/council/gaps", response_class=HTMLResponse, dependencies=[requires("council.gap.refer")])
async def refer_gap(request: Request, app: App) -> Response:
    """D8: a gap a 地域福祉コーディネーター found in the community, brought to the council."""
    staff = staff_from_cookie(request)
    if staff is None:
        return redirect("/ui/login?next=/ui/council")
    typed = {k: str(v) for k, v in (await form_text(request)).items() if k in ("need", "area", "description")}
    try:
        command = form_model(GapIn, {k: v for k, v in typed.items() if v})
        await call(app.refer_gap, actor_of(staff), command.need, command.area, command.description)
    except DomainError as refused:
        return await call(_council, request, app, refused.status, gap_form=typed, gap_error=str(refused))
    return redirect("/ui/council", ok="推進会議の課題に挙げました / brought to the council")


def _sitting_page(request: Request, app: CollaborationApplication, sitting_id: UUID, status_code: int = 200,
                  error: str | None = None, failed_gap: str = "", typed: dict[str, str] | None = None) -> Response:
    """A sitting (blocking): its date and attendees, its agenda with each gap's decision (or the form to decide),
    and the gaps awaiting the council it may take up."""
    try:
        sitting = app.sitting_view(sitting_id)
    except NotFound as missing:
        return _missing(request, str(missing))
    agenda = [app.gap_view(UUID(g)) for g in sitting["agenda"]]
    return ui.render(request, "collaboration_sitting.html", f"推進会議 {sitting['held_on']} / sitting",
                     status_code=status_code, sitting=sitting, agenda=agenda, awaiting=app.gaps("awaiting"),
                     error=error, failed_gap=failed_gap, typed=typed or {}, divisions=DIVISIONS, **LABELS)


@router.get("/ui/council/sittings/{sitting_id}", response_class=HTMLResponse, dependencies=[requires("council.read")])
def sitting_page(request: Request, sitting_id: UUID, app: App) -> Response:
    if staff_from_cookie(request) is None:
        return redirect(f"/ui/login?next=/ui/council/sittings/{sitting_id}")
    return _sitting_page(request, app, sitting_id)


@router.post("/ui/council/sittings/{sitting_id}/agenda", response_class=HTMLResponse,
             dependencies=[requires("council.convene")])
async def take_up_gap(request: Request, sitting_id: UUID, app: App) -> Response:
    """D8: put a gap awaiting the council on this sitting's agenda."""
    staff = staff_from_cookie(request)
    if staff is None:
        return redirect(f"/ui/login?next=/ui/council/sittings/{sitting_id}")
    text = await form_text(request)
    try:
        command = form_model(AgendaIn, text)
        await call(app.take_up_gap, actor_of(staff), sitting_id, command.gap_id)
    except DomainError as refused:
        return await call(_sitting_page, request, app, sitting_id, refused.status, str(refused))
    return redirect(f"/ui/council/sittings/{sitting_id}", ok="議題にしました / taken up")


@router.post("/ui/council/sittings/{sitting_id}/gaps/{gap_id}/decision", response_class=HTMLResponse,
             dependencies=[requires("council.convene")])
async def decide_gap(request: Request, sitting_id: UUID, gap_id: UUID, app: App) -> Response:
    """D8: the council's decision on a gap on the agenda: 取組の開始, 課への依頼 (依頼先 + 内容) or 継続審議."""
    staff = staff_from_cookie(request)
    if staff is None:
        return redirect(f"/ui/login?next=/ui/council/sittings/{sitting_id}")
    typed = {k: str(v) for k, v in (await form_text(request)).items() if k in ("decision", "division", "summary")}
    try:
        command = form_model(CouncilDecisionIn, {k: v for k, v in typed.items() if v})
        await call(app.decide_gap, actor_of(staff), sitting_id, gap_id, command.decision, command.division,
                   command.summary)
    except DomainError as refused:
        return await call(_sitting_page, request, app, sitting_id, refused.status, str(refused), str(gap_id), typed)
    return redirect(f"/ui/council/sittings/{sitting_id}", ok="推進会議の決定を記録しました / decision recorded")


router.include_router(casework_pages(ui, lambda case_id: f"/ui/cases/{case_id}", "collaboration.case.read"))
