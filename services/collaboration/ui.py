"""Collaboration coordinators' pages (多機関協働事業, 福祉総務課): escalated cases, 課題の解きほぐし (strands),
the council (推進会議, D8), and the plan pages (shared/web/plan_pages.py: the editor, 会議へ提出, revising after a
revision request, closure, 伴走支援, each plan's status and decision history, the printable plan; D4, D5, D7, D11),
the roles proposed from the strands and a line for each of the household's related cases (D16)."""

from __future__ import annotations

from datetime import date
from pathlib import Path
from typing import Annotated, Any
from uuid import UUID

from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse, Response

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
from services.collaboration.application import CollaborationApplication
from services.collaboration.domain import CollaborationCase
from shared.kernel.journey import DomainError, NotFound
from shared.organisation.reference import CONCERN_FIELDS, DIVISION_TITLES, DIVISIONS, agencies, areas, council_name
from shared.web.casework_api import casework_pages
from shared.web.deps import application, call
from shared.web.if_match import ChangedMeanwhile, etag_of, held_to
from shared.web.limits import form_model, form_text
from shared.web.plan_pages import LABELS as PLAN_LABELS
from shared.web.plan_pages import PLAN_STATUS_JA, PlanExtras, plan_pages
from shared.web.policy import requires
from shared.web.ui import SEEN_FIELD, UI, actor_of, csv_response, filters_of, paged, redirect, staff_from_cookie

App = Annotated[CollaborationApplication, Depends(application(CollaborationApplication))]
ui = UI("collaboration", DIVISION_TITLES["collaboration"], Path(__file__).parent / "templates")
#: 地区 the council's gap form offers (issue 18): the municipality file's areas valid today (a tenant's own file: read on use)
ui.templates.env.globals["areas_today"] = lambda: list(areas().values())
#: the 推進会議 as the municipality file in force names it (its forum marked `council = true`)
ui.templates.env.globals["council_name"] = council_name
router = APIRouter(include_in_schema=False)

CASE_STATUS_JA = {"open": "対応中", "returned": "窓口へ戻した"}
#: the case list's filter on its latest plan (「プランなし」 for a case without one)
PLAN_FILTER_JA = {"none": "プランなし", **PLAN_STATUS_JA}
LABELS: dict[str, Any] = {**PLAN_LABELS, "case_status_ja": CASE_STATUS_JA, "strand_status_ja": STRAND_STATUS_JA,
                          "council_decision_ja": COUNCIL_DECISION_JA, "gap_status_ja": GAP_STATUS_JA,
                          "gap_source_ja": GAP_SOURCE_JA, "division_ja": {code: d.ja for code, d in DIVISIONS.items()}}


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
                     agencies=sorted(agencies()), seen_version=_case_version(app, case_id), **LABELS)


def _case_version(app: CollaborationApplication, case_id: UUID) -> int:
    """The version of the case (its strands with it) a strand's page showed: its form carries it back (`seen_version`)."""
    version: int = app.read(case_id, CollaborationCase, "多機関協働のケース").version
    return version


#: a strand's change sent from a page opened before the case's record changed (another tab, another member of staff)
STALE_STRAND = ("このケースの課題は、この画面を開いた後に別のタブまたは別の職員によって更新されたため、保存していません。入力した"
                "内容は下の欄に残してあります。別のタブでケースを開き直して最新の内容と見比べ、必要ならこの画面からもう一度"
                "保存してください（そのときはこの内容で上書きされます） / not saved: the case's strands changed after this page "
                "was opened (another tab, or another member of staff). What you typed is kept below: open the case again "
                "in another tab to compare, then save again here if it is still needed")


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
    text = await form_text(request)
    typed = _strand_fields(text)
    seen = text.get(SEEN_FIELD)
    held = etag_of(int(seen)) if isinstance(seen, str) and seen.isdigit() and len(seen) < 10 else None

    def change(command: StrandIn) -> None:
        """The change only if the case is still as the page showed it, held to that version as the command saves (as
        the JSON PUT with If-Match, shared/web/if_match.py): a tab left open would otherwise undo another's change."""
        with held_to(held, lambda: app.read(case_id, CollaborationCase, "多機関協働のケース"), "ケース（課題）",
                     "case and its strands", f"/cases/{case_id}"):
            app.change_strand(actor_of(staff), case_id, strand_id, command.concern, command.description,
                              command.agency, command.status)

    try:
        await call(change, form_model(StrandIn, {k: v for k, v in typed.items() if v}))
    except ChangedMeanwhile:
        return await call(_strand_page, request, app, case_id, strand_id, 409, typed, STALE_STRAND)
    except DomainError as refused:
        return await call(_strand_page, request, app, case_id, strand_id, refused.status, typed, str(refused))
    return redirect(f"/ui/cases/{case_id}", ok="課題を更新しました / strand updated")


@router.get("/ui/cases/{case_id}/plans-table", response_class=HTMLResponse, dependencies=[requires("plan.read")])
def plans_table(request: Request, case_id: UUID, app: App) -> Response:
    """The live part of the case page: its plans and their status."""
    return ui.render(request, "collaboration_plans_table.html", "", plans=app.plans(case_id), **LABELS)


# -- the plan pages (shared/web/plan_pages.py) with collaboration's strands and household ----------------------


def _plan_facts(app: CollaborationApplication, case_id: UUID) -> list[tuple[str, str]]:
    """What heads a collaboration plan: why the case was escalated, its concerns and the primary agency (blocking)."""
    case = app.case_view(case_id)
    return [("理由", case["reason"]), ("相談内容", "、".join(case["concerns"])), ("主担当", case["primary_agency"])]


def _plan_roles(app: CollaborationApplication, case: dict[str, Any]) -> list[dict[str, Any]]:
    """D4: a new plan's roles come from the strands (one per agency working them); without any, the primary
    agency (D11) keeps its field: the natural first role."""
    return app.roles_from_strands(UUID(case["case_id"])) or [
        {"agency": case["primary_agency"], "responsibility": "", "contact": None}]


def household_members(case: dict[str, Any]) -> list[dict[str, Any]]:
    """D16: the plan covers the household: one person line per related case (labelled by case, collaboration has
    no personal information), for each member's goals; a line left without goals is not part of the plan."""
    return [{"label": f"世帯員（ケース {rid[:8]}）", "goals": []} for rid in case.get("related_case_ids") or []]


PLAN_EXTRAS = PlanExtras(case=lambda app, case_id: app.case_view(case_id), roles=_plan_roles, members=household_members,
                         template="collaboration_plan_part.html", context={"strand_status_ja": STRAND_STATUS_JA})


# -- 推進会議 (D8) ----------------------------------------------------------------------------------------


def _council(request: Request, app: CollaborationApplication, status_code: int = 200, **extra: Any) -> Response:
    """The council's page (blocking): the gaps awaiting it, the sittings, the forms to hold one and bring a gap."""
    gaps = app.gaps()
    return ui.render(request, "collaboration_council.html", f"{council_name()} / council", status_code=status_code,
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
    typed = {k: str(v) for k, v in (await form_text(request)).items() if k in ("need", "area", "description", "area_code")}
    try:
        command = form_model(GapIn, {k: v for k, v in typed.items() if v})
        await call(app.refer_gap, actor_of(staff), command.need, command.area, command.description, command.area_code)
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
    return ui.render(request, "collaboration_sitting.html", f"{council_name()} {sitting['held_on']} / sitting",
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
router.include_router(plan_pages(ui, "collaboration", lambda case_id: f"/ui/cases/{case_id}", "collaboration.case.read",
                                 _plan_facts, PLAN_EXTRAS))
