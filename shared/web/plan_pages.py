"""The plan pages of a program that writes plans (D4, D5, D7, D11): `plan_pages(ui, program, ...)`.

The same pages as collaboration's plan editor (services/collaboration/ui.py), for outreach and participation
(issue 15): 「プランを作成」 from the program's case page, the editor (支援の方向性, 本人の意向, the period in 和暦,
本人's goals and each household member's, the roles), 下書き保存 / 会議へ提出, the plan page with its status and
the meeting's story (a revision request shown), the closure request, 伴走支援 with its 見守り check-ins, the next
review date when the meeting continued it, and a printable plan. The commands are the JSON API's own models
(shared/web/plan_api.py), the use cases the application's (shared/domain/plan_owner.py `PlanOwner`); the
templates are shared/web/templates/plan_*.html. Collaboration's plan pages are these too, with what it adds
given as `PlanExtras` (its strands, D4, and its household's related cases, D16: services/collaboration/ui.py)."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import datetime
from itertools import zip_longest
from typing import Annotated, Any
from uuid import UUID

from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse, Response
from pydantic import Field

from shared.domain.plan import CLOSABLE, EDITABLE, IN_FORCE, STATUS_JA, Plan
from shared.domain.plan_owner import PlanOwner
from shared.domain.wareki import JST, local_time, wareki
from shared.kernel.journey import DomainError, NotFound, actor_label, recorded_by
from shared.organisation.reference import agencies
from shared.web.deps import application, call
from shared.web.limits import MAX_ITEMS, form_model, form_text
from shared.web.plan_api import AccompanyIn, CheckInIn, ClosureIn, PlanIn, RoleIn
from shared.web.policy import requires
from shared.web.ui import SEEN_FIELD, UI, actor_of, redirect, staff_from_cookie

__all__ = ["LABELS", "PLAN_STATUS_JA", "PlanExtras", "PlanForm", "plan_pages", "plans_of"]

App = Annotated[PlanOwner, Depends(application(PlanOwner))]

PLAN_STATUS_JA = STATUS_JA  # the plan's statuses as staff read them (shared/domain/plan.py: its refusals say them too)
#: How each status reads as a badge: work waiting for the plan's writer is `warn`, a good end `ok`.
PLAN_STATUS_KIND = {"revision_requested": "warn", "suspended": "warn", "approved": "ok", "closed": "ok", "continued": "ok",
                    "resumed": "ok", "accompanying": "ok"}
CHECK_IN_WAYS = ("来所", "電話", "訪問", "同行", "オンライン", "文書")
DECISION_JA = {"approved": "承認", "revision_requested": "修正依頼", "returned_to_intake": "相談窓口へ戻す"}
OUTCOME_JA = {"closed": "終結", "suspended": "中断", "continued": "継続"}
RESULT_JA = {"achieved": "達成", "partly_achieved": "一部達成", "not_achieved": "未達成"}
MEETING_TYPE_JA = {"jusou_shien_kaigi": "重層的支援会議", "shien_kaigi": "支援会議"}
LABELS: dict[str, Any] = {"status_ja": PLAN_STATUS_JA, "status_kind": PLAN_STATUS_KIND, "decision_ja": DECISION_JA,
                          "outcome_ja": OUTCOME_JA, "result_ja": RESULT_JA, "meeting_type_ja": MEETING_TYPE_JA}
#: the program's name on the printed plan
PROGRAM_JA = {"outreach": "アウトリーチ等を通じた継続的支援事業", "participation": "参加支援事業",
              "collaboration": "多機関協働事業"}


@dataclass(frozen=True)
class PlanExtras:
    """What a program adds to the shared plan pages beyond its case's facts (collaboration: its strands, D4, and the
    household's related cases, D16). The callables are blocking (the pages run them in the thread pool)."""

    #: more of the case (merged into the pages' `case`) for the program's own template part
    case: Callable[[Any, UUID], dict[str, Any]] | None = None
    #: the new plan's role rows, from (app, case); none given or none returned: one empty row
    roles: Callable[[Any, dict[str, Any]], list[dict[str, Any]]] | None = None
    #: member lines the editor offers for (case) (D16: one per related case); one left without goals is not saved
    members: Callable[[dict[str, Any]], list[dict[str, Any]]] | None = None
    #: a template of the program's own, included on the new-plan page, in the editor and on the printed plan with
    #: `where` = "new", "editor" or "print"
    template: str = ""
    #: more names for the templates (the program's own labels)
    context: dict[str, Any] = field(default_factory=dict)


class PlanForm(PlanIn):
    """The plan editor's reading of PlanIn (the same bounds): a table with no role rows is `roles: []`, as a
    JSON body may send it, so the domain says what is missing (D4, PlanWithoutRoles), not the form."""

    roles: list[RoleIn] = Field(default_factory=list, max_length=MAX_ITEMS, title="役割分担",
                                description="役割分担 (D4: at least one)")


def plans_of(app: PlanOwner, case_id: UUID | str) -> list[dict[str, Any]]:
    """The program's plans of one case, oldest first (blocking): only that case's are loaded (`ids_of_case`, the case
    index), not every plan of the program (issue 19)."""
    views = [app.plan_view(plan_id) for plan_id in app.ids_of_case(Plan, UUID(str(case_id)))]
    return [v for v in views if v["case_id"] == str(case_id)]


def _story(event: Any) -> dict[str, Any] | None:
    """A step of the plan's story from one of its events, as the history table words it (None: not shown)."""
    row: dict[str, Any] = {"at": local_time(event.timestamp), "who": actor_label(recorded_by(event)),
                           "kind": type(event).__name__, "detail": ""}
    if isinstance(event, Plan.Drafted):
        row["what"] = "下書き作成 / drafted"
    elif isinstance(event, Plan.Revised):
        row["what"] = "修正 / revised"
    elif isinstance(event, Plan.Proposed):
        row["what"] = f"会議へ提出（第{event.revision}版）/ proposed"
    elif isinstance(event, Plan.DecisionRecorded):
        meeting_type, decision = event.meeting_type, event.decision
        row.update(what=f"{MEETING_TYPE_JA.get(meeting_type, meeting_type)}の決定: {DECISION_JA.get(decision, decision)}",
                   detail=event.reasons, decision=decision, meeting_id=str(event.meeting_id))
    elif isinstance(event, Plan.ClosureRequested):
        row.update(what="終結の依頼 / closure requested", detail=event.progress)
    elif isinstance(event, Plan.Resumed):
        row.update(what="重層的支援会議で再開 / resumed", detail=event.reason, meeting_id=str(event.meeting_id))
    elif isinstance(event, Plan.Accompanied):
        row.update(what="伴走支援へ移行 / accompanying", since=event.since.isoformat())
    elif isinstance(event, Plan.CheckedIn):
        row.update(what=f"伴走支援の見守り（{event.how}）/ check-in", detail=event.note, on=event.on.isoformat())
    elif isinstance(event, Plan.Evaluated):
        outcome = event.outcome
        row.update(what=f"終結評価: {OUTCOME_JA.get(outcome, outcome)}", outcome=outcome,
                   evaluation=event.evaluation or {}, meeting_id=str(event.meeting_id),
                   next_review_on=event.next_review_on.isoformat() if event.next_review_on else None)
    else:
        return None
    return row


#: a plan saved from a page that showed an earlier version of it (another tab, another member of staff meanwhile)
STALE_PLAN = ("このプランは、この画面を開いた後に別のタブまたは別の職員によって更新されたため、保存していません。入力した"
              "内容は下の編集欄に残してあります。別のタブでこのプランを開き直して最新の内容と見比べ、必要ならこの画面から"
              "もう一度保存してください（そのときはこの内容で上書きされます） / not saved: the plan changed after this page "
              "was opened (another tab, or another member of staff). What you typed is kept below: open the plan again "
              "in another tab to compare, then save again here if it is still needed (it then replaces the other change)")


#: an editor's save refused because the plan left the editable states meanwhile (proposed from another tab, decided):
#: the page no longer has the editor, so the refusal is said at its top and what was typed shown below it to copy
PLAN_MOVED_ON = ("このプランは、この画面を開いた後に別のタブまたは別の職員によって進められ（現在: {status}）、もう編集できない"
                 "ため、保存していません。入力した内容は下に残してあります。必要ならコピーして使ってください / not saved: the "
                 "plan moved on after this page was opened (another tab, or another member of staff) and can no longer be "
                 "edited. What you typed is shown below to copy")


def plan_version(app: PlanOwner, plan_id: UUID) -> int:
    """The plan's version: how many events it has (blocking)."""
    return sum(1 for _ in app.events_of(plan_id))


def plan_record(app: PlanOwner, plan_id: UUID) -> dict[str, Any]:
    """The plan with its story: who drafted, revised, proposed; what the meeting said (blocking); `version`, the
    number of its events, which the page's forms carry back (`seen_version`)."""
    plan = app.plan_view(plan_id)
    events = list(app.events_of(plan_id))
    story = [row for row in (_story(e) for e in events) if row is not None]
    requests = [r for r in story if r.get("decision") == "revision_requested"]
    return {**plan, "version": len(events), "story": story, "created_at": story[0]["at"] if story else "",
            "updated_at": story[-1]["at"] if story else "",
            "revision_request": requests[-1] if requests and plan["status"] == "revision_requested" else None}


def _title(plan: dict[str, Any]) -> str:
    """A plan's name on its page: 下書き until it is first proposed (no 「第0版」), then its revision."""
    return f"第{plan['revision']}版" if plan["revision"] else "下書き"


def _plan_form(text: dict[str, Any], offered: Iterable[str] = ()) -> dict[str, Any]:
    """The editor's rows in the command's shape: direction, goal rows and role rows (blank rows dropped, and a
    member line the editor `offered` left without goals)."""

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
        if (label or goals) and not (label in offered and not goals.strip()):  # one goal a line
            members.append({"label": label, "goals": [g.strip() for g in goals.splitlines() if g.strip()]})
    return {"support_direction": text.get("support_direction", ""), "goals": [g for g in rows("goal") if g],
            "roles": roles, "intention": text.get("intention", ""), "starts_on": text.get("starts_on", ""),
            "review_on": text.get("review_on", ""), "members": members}


def _form_of(plan: dict[str, Any], offered: list[dict[str, Any]]) -> dict[str, Any]:
    """The editor filled in with the plan as it stands, and a line for each `offered` member it has none for."""
    members = plan.get("persons", [])[1:]
    written = {m["label"] for m in members}
    return {"support_direction": plan["support_direction"], "goals": plan["goals"] or [""], "roles": plan["roles"],
            "intention": plan.get("intention", ""),  # the period as staff type it (the field reads 和暦 or Western)
            "starts_on": wareki(plan.get("starts_on"), with_gregorian=False),
            "review_on": wareki(plan.get("review_on"), with_gregorian=False),
            "members": [*members, *(m for m in offered if m["label"] not in written)]}


def _with_rows(form: dict[str, Any]) -> dict[str, Any]:
    """The editor shows one goal row at least, even when a refused form came back with none filled in."""
    return {**form, "goals": form.get("goals") or [""]}


def _command_args(command: PlanIn) -> tuple[Any, ...]:
    """The plan form's command as the use case takes it, after the direction and 本人's goals."""
    return ([r.model_dump() for r in command.roles], command.intention, command.starts_on, command.review_on,
            [m.model_dump() for m in command.members])


def plan_pages(ui: UI, program: str, case_page: Callable[[str], str], case_action: str,
               case_facts: Callable[[Any, UUID], list[tuple[str, str]]], extras: PlanExtras | None = None) -> APIRouter:
    """The plan pages of `program` (its `ui`): `case_page(case_id)` is the program's own page of a case (where
    「プランを作成」 is, readable with `case_action`); `case_facts(app, case_id)` the rows (label, text) that head
    the editor, the plan page and the printed plan (blocking; raises NotFound for a case the program does not hold);
    `extras` what the program adds."""
    extras = extras or PlanExtras()
    router = APIRouter(include_in_schema=False)
    write_action = f"{program}.plan.write"
    write = requires(write_action)
    common = {**LABELS, **extras.context, "write_action": write_action, "case_action": case_action,
              "program_ja": PROGRAM_JA.get(program, ""), "program_part": extras.template}

    def missing(request: Request, message: str) -> Response:
        return ui.render(request, "missing.html", "見つかりません / not found", status_code=404, message=message)

    def case_of(app: PlanOwner, case_id: UUID) -> dict[str, Any]:
        more = extras.case(app, case_id) if extras.case else {}
        return {**more, "case_id": str(case_id), "facts": case_facts(app, case_id), "link": case_page(str(case_id))}

    def offered(case: dict[str, Any]) -> list[dict[str, Any]]:
        return extras.members(case) if extras.members else []

    def offered_for(app: PlanOwner, plan_id: UUID) -> list[str]:
        """The labels of the member lines the editor offered for a plan's case (blocking)."""
        if extras.members is None:
            return []
        try:
            return [m["label"] for m in offered(case_of(app, UUID(app.plan_view(plan_id)["case_id"])))]
        except NotFound:
            return []

    def editor(request: Request, case: dict[str, Any], form: dict[str, Any], status_code: int = 200,
               error: str | None = None, open_plan: str | None = None) -> Response:
        """The new plan's editor; refused for a plan of the case not ended (D4), with the way to it (`open_plan`)."""
        return ui.render(request, "plan_new.html", "プランの作成 / new plan", status_code=status_code, case=case,
                         form=_with_rows(form), error=error, agencies=sorted(agencies()), open_plan=open_plan, **common)

    def page(request: Request, app: PlanOwner, plan_id: UUID, status_code: int = 200,
             form: dict[str, Any] | None = None, error: str | None = None,
             closure: dict[str, str] | None = None, accompany: dict[str, Any] | None = None) -> Response:
        """The plan page (blocking: run it in the thread pool), with a refused form as typed."""
        try:
            plan = plan_record(app, plan_id)
            case = case_of(app, UUID(plan["case_id"]))
        except NotFound as gone:
            return missing(request, str(gone))
        goals = [g for person in plan["persons"] for g in person["goals"]]
        typed = None  # the editor's refused form, when the plan can no longer be edited (the editor is not shown)
        if error is not None and form is not None and closure is None and accompany is None \
                and plan["status"] not in EDITABLE:
            typed, error = form, PLAN_MOVED_ON.format(status=PLAN_STATUS_JA.get(plan["status"], plan["status"]))
        return ui.render(request, "plan_page.html", f"プラン {_title(plan)} / plan", status_code=status_code,
                         case=case, plan=plan, form=_with_rows(form if form is not None else _form_of(plan, offered(case))),
                         error=error, typed=typed,
                         closure=closure or {}, agencies=sorted(agencies()), editable=EDITABLE, closable=CLOSABLE,
                         in_force=IN_FORCE, accompany=accompany or {}, all_goals=goals, check_in_ways=CHECK_IN_WAYS,
                         plan_title=_title(plan), seen_version=plan["version"], **common)

    async def propose(app: PlanOwner, staff: dict[str, str], plan_id: UUID) -> Response:
        try:
            revision = await call(app.propose_plan, actor_of(staff), plan_id)
        except DomainError as refused:
            return redirect(f"/ui/plans/{plan_id}", ng=str(refused))
        return redirect(f"/ui/plans/{plan_id}", ok=f"第{revision}版を会議へ提出しました / proposed to the meeting")

    @router.get("/ui/cases/{case_id}/plans/new", response_class=HTMLResponse, dependencies=[write])
    def new_plan(request: Request, case_id: UUID, app: App) -> Response:
        """プランを作成: the editor, empty (one role row for the agency that takes the person on, or the program's
        proposed roles and member lines)."""
        if staff_from_cookie(request) is None:
            return redirect(f"/ui/login?next=/ui/cases/{case_id}/plans/new")
        try:
            case = case_of(app, case_id)
        except NotFound as gone:
            return missing(request, str(gone))
        roles = extras.roles(app, case) if extras.roles else []
        form = {"support_direction": "", "goals": [""], "intention": "", "starts_on": "", "review_on": "",
                "members": offered(case), "roles": roles or [{"agency": "", "responsibility": "", "contact": None}]}
        return editor(request, case, form)

    @router.post("/ui/cases/{case_id}/plans", response_class=HTMLResponse, dependencies=[write])
    async def draft(request: Request, case_id: UUID, app: App) -> Response:
        """D4: save a new plan as a draft, and take it to the meeting when asked to."""
        staff = staff_from_cookie(request)
        if staff is None:
            return redirect(f"/ui/login?next=/ui/cases/{case_id}/plans/new")
        try:
            case = await call(case_of, app, case_id)
        except NotFound as gone:
            return missing(request, str(gone))
        text = await form_text(request)
        form = _plan_form(text, [m["label"] for m in offered(case)])
        try:
            command = form_model(PlanForm, form)
            plan_id = await call(app.draft_plan, actor_of(staff), case_id, command.support_direction, command.goals,
                                 *_command_args(command))
        except DomainError as refused:
            return editor(request, case, form, refused.status, str(refused), getattr(refused, "plan_id", None))
        if text.get("then") == "propose":
            return await propose(app, staff, plan_id)
        return redirect(f"/ui/plans/{plan_id}", ok="プランを下書き保存しました / draft saved")

    @router.get("/ui/plans/{plan_id}", response_class=HTMLResponse, dependencies=[requires("plan.read")])
    def plan_page(request: Request, plan_id: UUID, app: App) -> Response:
        if staff_from_cookie(request) is None:
            return redirect(f"/ui/login?next=/ui/plans/{plan_id}")
        return page(request, app, plan_id)

    @router.get("/ui/plans/{plan_id}/status", response_class=HTMLResponse, dependencies=[requires("plan.read")])
    def plan_status(request: Request, plan_id: UUID, app: App, shown: str = "") -> Response:
        """The live part of the plan page: status, the meeting's word, the history."""
        try:
            plan = plan_record(app, plan_id)
        except NotFound as gone:
            return missing(request, str(gone))
        return ui.render(request, "plan_status.html", "", plan=plan, shown=shown, **common)

    @router.post("/ui/plans/{plan_id}", response_class=HTMLResponse, dependencies=[write])
    async def revise(request: Request, plan_id: UUID, app: App) -> Response:
        """Save the plan (a draft, or after a revision request), and take it to the meeting when asked to."""
        staff = staff_from_cookie(request)
        if staff is None:
            return redirect(f"/ui/login?next=/ui/plans/{plan_id}")
        text = await form_text(request)
        form = _plan_form(text, await call(offered_for, app, plan_id))
        seen = text.get(SEEN_FIELD)
        if isinstance(seen, str) and seen.isdigit() and len(seen) < 10 \
                and int(seen) != await call(plan_version, app, plan_id):
            # a tab left open while the plan changed: its save would silently undo the other change (lost update)
            return await call(page, request, app, plan_id, 409, form, STALE_PLAN)
        try:
            command = form_model(PlanForm, form)
            await call(app.revise_plan, actor_of(staff), plan_id, command.support_direction, command.goals,
                       *_command_args(command))
        except DomainError as refused:
            return await call(page, request, app, plan_id, refused.status, form, str(refused))
        if text.get("then") == "propose":
            return await propose(app, staff, plan_id)
        return redirect(f"/ui/plans/{plan_id}", ok="プランを保存しました / plan saved")

    @router.post("/ui/plans/{plan_id}/closure", response_class=HTMLResponse, dependencies=[write])
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
            return await call(page, request, app, plan_id, refused.status,
                              closure={"progress": str(text.get("progress", "")), "error": str(refused)})
        return redirect(f"/ui/plans/{plan_id}", ok="終結の評価を会議に依頼しました / closure requested")

    @router.post("/ui/plans/{plan_id}/accompaniment", response_class=HTMLResponse, dependencies=[write])
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
            return await call(page, request, app, plan_id, refused.status,
                              accompany={"since": str(text.get("since", "")), "error": str(refused), "where": "accompany",
                                         "goals_met": [met] if isinstance(met, str) else list(met)})
        return redirect(f"/ui/plans/{plan_id}", ok="伴走支援に移りました / now accompanying the person")

    @router.post("/ui/plans/{plan_id}/check-ins", response_class=HTMLResponse, dependencies=[write])
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
            return await call(page, request, app, plan_id, refused.status,
                              accompany={**typed, "error": str(refused), "where": "check_in"})
        return redirect(f"/ui/plans/{plan_id}", ok="見守りを記録しました / check-in recorded")

    @router.get("/ui/plans/{plan_id}/print", response_class=HTMLResponse, dependencies=[requires("plan.read")])
    def print_plan(request: Request, plan_id: UUID, app: App) -> Response:
        """The plan as a paper document (A4, @media print)."""
        try:
            plan = plan_record(app, plan_id)
            case = case_of(app, UUID(plan["case_id"]))
        except NotFound as gone:
            return missing(request, str(gone))
        today = datetime.now(JST).date().isoformat()
        return ui.render(request, "plan_print.html", "支援プラン（印刷）/ printable plan", case=case, plan=plan,
                         today=today, **common)

    return router
