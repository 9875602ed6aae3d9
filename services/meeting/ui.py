"""The meeting secretariat's pages (重層的支援会議・支援会議): the agenda by status, meetings by type,
convening, deciding a plan by consensus with every attendee's position, closure evaluation goal by
goal, resource gaps, and the minutes (D5, D7, D8, D9, D10)."""

from __future__ import annotations

import hashlib
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Annotated, Any
from uuid import UUID

from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse, Response

from services.meeting.api import (
    LEARNING_WORDS_MAX,
    AgendaIn,
    DecisionIn,
    EvaluationIn,
    GapIn,
    LearningIn,
    MeetingIn,
    ResumeIn,
    SittingIn,
    TakeUpIn,
)
from services.meeting.application import MeetingApplication
from services.meeting.domain import MEETING_TYPES, POSITIONS, ConfidentialMeeting, Meeting
from shared.kernel.journey import DomainError, NotFound
from shared.organisation.reference import (
    CONCERN_FIELDS,
    DIVISION_TITLES,
    RESOURCE_KINDS,
    agencies,
    areas,
    concern_fields,
)
from shared.organisation.reference import counters as today_counters
from shared.organisation.reference import divisions as today_divisions
from shared.organisation.reference import partners as today_partners
from shared.organisation.reference import programs as today_programs
from shared.web.dates import typed_dates
from shared.web.deps import application, call
from shared.web.if_match import ChangedMeanwhile, etag_of, held_to
from shared.web.limits import form_model, form_text
from shared.web.policy import requires
from shared.web.ui import (
    PROGRAM_LABELS,
    SEEN_FIELD,
    UI,
    actor_of,
    csv_response,
    filters_of,
    paged,
    redirect,
    staff_from_cookie,
)

App = Annotated[MeetingApplication, Depends(application(MeetingApplication))]
ui = UI("meeting", DIVISION_TITLES["meeting"], Path(__file__).parent / "templates")
#: 地区 the gap form offers (issue 18): the municipality file's areas valid today (a tenant's own file: read on use)
ui.templates.env.globals["areas_today"] = lambda: list(areas().values())
router = APIRouter(include_in_schema=False)
#: the 事例集's other bounds, as the JSON API's (services/meeting/api.py GET /learnings `concern`, takeaways' `agency`)
LEARNING_CONCERN_MAX, LEARNING_AGENCY_MAX = 100, 200
JST = timezone(timedelta(hours=9))

AGENDA_STATUS_JA = {"proposed": "決定待ち / awaiting decision", "closure_requested": "終結評価待ち / awaiting closure evaluation"}
DECISIONS = {"approved": "承認 / approve", "revision_requested": "修正依頼 / ask for a revision",
             "returned_to_intake": "相談窓口へ戻す / return to intake"}
DECISION_JA = {"approved": "承認", "revision_requested": "修正依頼", "returned_to_intake": "相談窓口へ戻す"}
CONNECT_TO = {"outreach": "アウトリーチ等を通じた継続的支援事業", "participation": "参加支援事業"}
OUTCOMES = {"closed": "終結 / close", "suspended": "中断 / suspend", "continued": "継続 / continue"}
OUTCOME_JA = {"closed": "終結", "suspended": "中断", "continued": "継続", "resumed": "再開"}
RESULTS = {"achieved": "達成", "partly_achieved": "一部達成", "not_achieved": "未達成"}
POSITION_JA = dict(POSITIONS)
#: the people-present rows the sitting form offers (an empty row is not a person)
PRESENT_ROWS = 8
LABELS: dict[str, Any] = {"meeting_types": MEETING_TYPES, "agenda_status_ja": AGENDA_STATUS_JA, "decisions": DECISIONS,
          "decision_ja": DECISION_JA, "connect_to_ja": CONNECT_TO, "outcomes": OUTCOMES, "outcome_ja": OUTCOME_JA,
          "results": RESULTS, "position_ja": POSITION_JA, "program_labels": PROGRAM_LABELS}


def _concern_choices() -> dict[str, str]:
    """The concern fields a form offers: those that exist today (a record's older ones are still named)."""
    return {c.code: c.ja for c in concern_fields().values()}


def _concern_names() -> dict[str, str]:
    """Every concern field's name, ended ones too (a learning recorded under one still reads)."""
    return {c.code: c.ja for c in CONCERN_FIELDS.values()}


def _local(moment: datetime) -> str:
    return moment.astimezone(JST).isoformat(timespec="minutes")


def _listed(value: Any) -> list[str]:
    """A form field sent once, many times or not at all (checkboxes), as a list."""
    if value is None or value == "":
        return []
    return [str(v) for v in value] if isinstance(value, list) else [str(value)]


def agency_groups() -> list[tuple[str, list[str]]]:
    """The agencies a meeting may seat (shared.organisation.reference.agencies()), grouped as staff think of them."""
    known = agencies()
    divisions = [d.ja for d in today_divisions().values()]  # what exists today (ended codes stay readable)
    counters = [c.ja for c in today_counters().values()]
    programs = [p.ja for p in today_programs().values() if p.kind != "related" and p.ja not in counters and p.ja in known]
    partners = list(today_partners())
    rest = sorted(known - set(divisions) - set(counters) - set(programs) - set(partners))
    groups = [("市の課 / divisions", divisions), ("相談窓口 / counters", counters), ("関係機関 / partners", partners),
              ("事業 / programs", programs)]
    if rest:
        groups.append(("その他 / others", rest))
    return [(name, [a for a in names if a in known]) for name, names in groups]


def _agenda(request: Request, app: MeetingApplication) -> list[dict[str, Any]]:
    """The agenda with each case's consent (D9), the rows the signed-in reader's division may see
    (shared/web/policy.py visible)."""
    return app.scoped(app.agenda_with_consent(), getattr(request.state, "principal", None))


def _agenda_listed(request: Request, app: MeetingApplication) -> dict[str, Any]:
    """One page of the agenda the filter bar keeps (決定待ち・終結評価待ち; 事業 by `program`), with its pager
    (blocking)."""
    filters = filters_of(request, "program")
    every = _agenda(request, app)  # the agenda has no date of its own: the filter bar shows no date range
    shown, paging = paged(request, filters.apply(every, day=None))
    return {"agenda": shown, "paging": paging, "filters": filters,
            "agenda_programs": {p: PROGRAM_LABELS.get(p, p) for p in sorted({r["program"] for r in every})}}


#: the latest sittings the home page shows; the rest are on 会議一覧 (/ui/meetings, paged and filtered)
RECENT_MEETINGS = 10


def _meetings_listed(request: Request, app: MeetingApplication) -> dict[str, Any]:
    """One page of the sittings the filter bar keeps (種類 by `type`, 開催日 from–to), with its pager (blocking)."""
    filters = filters_of(request, "type")
    shown, paging = paged(request, filters.apply(app.meetings(), day="held_on", chosen={"type": "meeting_type"}))
    return {"meetings": shown, "paging": paging, "filters": filters}


def _minutes(app: MeetingApplication, meeting_id: UUID) -> list[dict[str, Any]]:
    """The minutes with their times as the city reads them; one 相談窓口へ戻す decision is one entry (D11: the meeting
    records the plan's decision and the case's return, two events; staff read one decision, its 主担当 with it)."""
    rows: list[dict[str, Any]] = []
    for entry in app.minutes(meeting_id):
        decided = rows[-1] if rows else None
        if (entry["kind"] == "returned_to_intake" and decided is not None and decided["kind"] == "decision"
                and decided["decision"] == "returned_to_intake" and decided["case_id"] == entry["case_id"]
                and "primary_agency" not in decided):
            decided["primary_agency"] = entry.get("primary_agency")
            continue
        rows.append({**entry, "at": _local(entry["at"])})
    return rows


def _signature(agenda: list[dict[str, Any]]) -> str:
    """A short fingerprint of the agenda, so that an open meeting page can say when it changed."""
    text = "|".join(sorted(f"{i['plan_id']}:{i['revision']}:{i['status']}" for i in agenda))
    return hashlib.sha256(text.encode()).hexdigest()[:12]


def _missing(request: Request, message: str) -> Response:
    return ui.render(request, "meeting_message.html", "見つかりません / not found", status_code=404,
                     heading="見つかりません / not found", message=message)


# -- the agenda and the meetings -----------------------------------------------------------------


def _home(request: Request, app: MeetingApplication, status_code: int = 200, form: dict[str, Any] | None = None,
          error: str | None = None) -> Response:
    """The home page: the agenda, the meetings, the convene form (blocking: run it in the thread pool)."""
    today = datetime.now(JST).date().isoformat()
    return ui.render(request, "meeting_home.html", "会議の議題 / agenda", status_code=status_code,
                     **_agenda_listed(request, app), **_recent(app), groups=agency_groups(), today=today,
                     form=form or {"meeting_type": "jusou_shien_kaigi", "held_on": today, "attendees": []},
                     error=error, **LABELS)


def _recent(app: MeetingApplication) -> dict[str, Any]:
    """The home page's latest sittings and how many there are in all (blocking)."""
    meetings = app.meetings()
    return {"meetings": meetings[:RECENT_MEETINGS], "meetings_total": len(meetings)}


@router.get("/ui/", response_class=HTMLResponse, dependencies=[requires("meeting.agenda.read")])
def home(request: Request, app: App, type: str = "jusou_shien_kaigi") -> Response:
    if staff_from_cookie(request) is None:
        return redirect("/ui/login?next=/ui/")
    today = datetime.now(JST).date().isoformat()
    form = {"meeting_type": type if type in MEETING_TYPES else "jusou_shien_kaigi", "held_on": today, "attendees": []}
    return _home(request, app, form=form)


@router.get("/ui/agenda-table", response_class=HTMLResponse, dependencies=[requires("meeting.agenda.read")])
def agenda_table(request: Request, app: App) -> Response:
    """The live part of the home page: the agenda, by status."""
    return ui.render(request, "meeting_agenda_table.html", "", **_agenda_listed(request, app), **LABELS)


@router.get("/ui/meetings-table", response_class=HTMLResponse, dependencies=[requires("meeting.read")])
def meetings_table(request: Request, app: App) -> Response:
    """The live part of the home page's latest sittings."""
    return ui.render(request, "meeting_meetings_table.html", "", **_recent(app), **LABELS)


@router.get("/ui/meetings", response_class=HTMLResponse, dependencies=[requires("meeting.read")])
def meetings_page(request: Request, app: App) -> Response:
    """会議一覧: every sitting, by type and 開催日 (from–to), a page at a time."""
    if staff_from_cookie(request) is None:
        return redirect("/ui/login?next=/ui/meetings")
    return ui.render(request, "meeting_meetings.html", "会議一覧 / meetings", **_meetings_listed(request, app),
                     **LABELS)


@router.get("/ui/meetings-list", response_class=HTMLResponse, dependencies=[requires("meeting.read")])
def meetings_list(request: Request, app: App) -> Response:
    """The live part of 会議一覧: reloaded whenever the store changes; it keeps the page and the filters."""
    return ui.render(request, "meeting_meetings_list.html", "", **_meetings_listed(request, app), **LABELS)


@router.get("/ui/agenda.csv", dependencies=[requires("meeting.agenda.read")])
def agenda_csv(request: Request, app: App) -> Response:
    rows = _agenda(request, app)
    return csv_response("会議の議題.csv",
                        ["状態", "ケース番号", "プラン番号", "事業", "版", "支援の方向性", "目標", "役割分担", "本人同意", "経過"],
                        [[AGENDA_STATUS_JA[r["status"]].split(" / ")[0], r["case_id"], r["plan_id"],
                          PROGRAM_LABELS.get(r["program"], r["program"]), r["revision"], r.get("support_direction", ""),
                          " / ".join(r.get("goals", [])),
                          " / ".join(f"{x['agency']}: {x['responsibility']}" for x in r.get("roles", [])),
                          "あり" if r["consent"]["granted"] else "なし", r["progress"]] for r in rows])


@router.get("/ui/meetings.csv", dependencies=[requires("meeting.read")])
def meetings_csv(app: App) -> Response:
    return csv_response("会議一覧.csv", ["会議番号", "種類", "開催日", "出席機関", "決定", "終結評価"],
                        [[r.meeting_id, MEETING_TYPES[r.meeting_type], r.held_on, "・".join(r.attendees),
                          r.decisions, r.evaluations] for r in app.meetings()])


@router.post("/ui/meetings", response_class=HTMLResponse, dependencies=[requires("meeting.convene")])
async def convene(request: Request, app: App) -> Response:
    """D5 D10: convene a sitting of the 重層的支援会議 or the 支援会議 with its attendees."""
    staff = staff_from_cookie(request)
    if staff is None:
        return redirect("/ui/login?next=/ui/")
    text = await form_text(request)
    form = {"meeting_type": text.get("meeting_type", ""), "held_on": text.get("held_on", ""),
            "attendees": _listed(text.get("attendees"))}
    try:
        form["held_on"] = typed_dates(MeetingIn, text).get("held_on", "")  # 和暦 typed as text read as its day
        command = form_model(MeetingIn, text)
        meeting_id = await call(app.convene, actor_of(staff), command.meeting_type, command.held_on, command.attendees)
    except DomainError as refused:
        return await call(_home, request, app, refused.status, form, str(refused))
    return redirect(f"/ui/meetings/{meeting_id}", ok=f"{MEETING_TYPES[command.meeting_type]}を開催しました / convened")


# -- one meeting: decide, evaluate, record gaps, minutes ------------------------------------------


def _meeting_or_refusal(request: Request, app: MeetingApplication, meeting_id: UUID) -> dict[str, Any] | Response:
    """The meeting as this staff member may see it; a 支援会議 only for its members (D10). Blocking."""
    staff = staff_from_cookie(request)
    if staff is None:
        return redirect(f"/ui/login?next=/ui/meetings/{meeting_id}")
    try:
        return app.meeting_view(actor_of(staff), meeting_id)
    except ConfidentialMeeting as refused:
        return ui.render(request, "meeting_message.html", "閲覧できません / members only", status_code=403,
                         heading="支援会議の記録は構成員のみ / members only", message=str(refused),
                         hint=f"あなたの所属（{staff['division_ja']}）はこの支援会議の出席機関ではありません。"
                              "構成員の課の職員としてログインするか、事務局にお尋ねください。")
    except NotFound as missing:
        return _missing(request, str(missing))


async def _posted(request: Request, app: MeetingApplication,
                  meeting_id: UUID) -> tuple[dict[str, Any], dict[str, Any], dict[str, Any]] | Response:
    """A form posted on a meeting's page: (the meeting as the staff member may see it, who, the form as
    sent), or the page that refuses it (a 支援会議 only for its members, D10)."""
    meeting = await call(_meeting_or_refusal, request, app, meeting_id)
    if isinstance(meeting, Response):
        return meeting
    staff = staff_from_cookie(request)
    assert staff is not None
    return meeting, staff, await form_text(request)


def _meeting_page(request: Request, app: MeetingApplication, meeting_id: UUID, status_code: int = 200,
                  forms: dict[str, dict[str, Any]] | None = None, errors: dict[str, str] | None = None) -> Response:
    """The meeting page, with a refused form as typed and why (blocking: run it in the thread pool)."""
    meeting = _meeting_or_refusal(request, app, meeting_id)
    if isinstance(meeting, Response):
        return meeting
    order = [item["ref"] for item in meeting.get("agenda", [])]
    # the plans on this sitting's 議事次第 first, in its order; the rest of the agenda after them
    agenda = sorted(_agenda(request, app), key=lambda i: order.index(i["plan_id"]) if i["plan_id"] in order else len(order))
    minutes = _minutes(app, meeting_id)
    # D8: a gap is recorded against a case before this meeting: on its agenda or in its minutes.
    cases = list(dict.fromkeys([i["case_id"] for i in agenda] + [m["case_id"] for m in minutes if m.get("case_id")]))
    settled = list(dict.fromkeys(m["plan_id"] for m in minutes if m["kind"] in ("decision", "evaluation")))
    suspended = app.scoped(app.suspended(), getattr(request.state, "principal", None))
    # a refusal whose form the page no longer shows (a second tab: the plan was decided or evaluated meanwhile) is
    # said at the top of the page, or the staff member would see the page come back without a word
    shown = {str(i["plan_id"]) for i in agenda} | {f"resume-{i['plan_id']}" for i in suspended} | {
        "take_up", "gap", "sitting", "agenda"} | ({"learning"} if settled else set())
    unplaced = [message for where, message in (errors or {}).items() if where not in shown]
    top = {"flash": "／".join(unplaced), "flash_kind": "ng"} if unplaced else {}
    # what was typed into such a form (a decision's reasons, an evaluation's course…), shown to copy: else lost
    unsent = [row for where in (errors or {}) if where not in shown
              for row in _typed_texts((forms or {}).get(where) or {}, list(meeting.get("attendees", [])))]
    return ui.render(request, "meeting_meeting.html", f"{MEETING_TYPES[meeting['meeting_type']]} / meeting",
                     status_code=status_code, meeting=meeting, agenda=agenda, minutes=minutes, cases=cases,
                     settled=settled, present_rows=PRESENT_ROWS, city=app.city(), concern_choices=_concern_choices(),
                     concern_fields=_concern_names(),
                     learnings=[r for r in app.learnings() if r["meeting_id"] == str(meeting_id)],
                     signature=_signature(agenda), forms=forms or {}, errors=errors or {}, agencies=sorted(agencies()),
                     suspended=suspended, resource_kinds=list(RESOURCE_KINDS.values()),
                     sitting_seen=app.read(meeting_id, Meeting, "会議").version, unsent=unsent, **top, **LABELS)


#: a decision's, an evaluation's or a resumption's fields as the page names them (the typed texts worth keeping)
_TYPED_LABELS = {"reasons": "決定の理由", "primary_agency": "主担当機関", "course": "支援の経過", "result": "支援の成果",
                 "reason": "理由", "next_review_on": "次回の見直し日"}


def _typed_texts(form: dict[str, Any], attendees: list[str]) -> list[tuple[str, str]]:
    """The texts typed into a refused form the page no longer shows, labelled as the form labels them: each
    attendee's reason or comment by its agency, each goal's note by its goal."""
    rows = [(label, str(form[key]).strip()) for key, label in _TYPED_LABELS.items() if str(form.get(key) or "").strip()]
    for index, typed in (form.get("positions") or {}).items():
        agency = attendees[int(index)] if str(index).isdigit() and int(index) < len(attendees) else f"機関{index}"
        if str(typed.get("reason") or "").strip():
            rows.append((f"{agency}の意見", str(typed["reason"]).strip()))
    for index, typed in (form.get("goals") or {}).items():
        if str(typed.get("note") or "").strip():
            rows.append((f"目標「{typed.get('goal') or int(index) + 1}」の所見", str(typed["note"]).strip()))
    return rows


@router.get("/ui/meetings/{meeting_id}", response_class=HTMLResponse, dependencies=[requires("meeting.read")])
def meeting_page(request: Request, meeting_id: UUID, app: App) -> Response:
    return _meeting_page(request, app, meeting_id)


@router.get("/ui/meetings/{meeting_id}/minutes", response_class=HTMLResponse, dependencies=[requires("meeting.read")])
def minutes_part(request: Request, meeting_id: UUID, app: App) -> Response:
    """The live part of the meeting page: its minutes."""
    meeting = _meeting_or_refusal(request, app, meeting_id)
    if isinstance(meeting, Response):
        return meeting
    return ui.render(request, "meeting_minutes.html", "", meeting=meeting, minutes=_minutes(app, meeting_id), **LABELS)


@router.get("/ui/meetings/{meeting_id}/agenda-note", response_class=HTMLResponse,
            dependencies=[requires("meeting.read")])
def agenda_note(request: Request, meeting_id: UUID, app: App, known: str = "") -> Response:
    """Live: tells an open meeting page that the agenda changed (a plan proposed or re-proposed)."""
    agenda = _agenda(request, app)
    return ui.render(request, "meeting_agenda_note.html", "", meeting_id=str(meeting_id), changed=_signature(agenda) != known,
                     count=len(agenda))


@router.get("/ui/meetings/{meeting_id}/print", response_class=HTMLResponse, dependencies=[requires("meeting.read")])
def print_minutes(request: Request, meeting_id: UUID, app: App) -> Response:
    """会議録: the minutes as a paper document."""
    meeting = _meeting_or_refusal(request, app, meeting_id)
    if isinstance(meeting, Response):
        return meeting
    return ui.render(request, "meeting_print.html", "会議録（印刷）/ minutes", meeting=meeting,
                     minutes=_minutes(app, meeting_id), today=datetime.now(JST).date().isoformat(),
                     learnings=[r for r in app.learnings() if r["meeting_id"] == str(meeting_id)],
                     concern_fields=_concern_names(), **LABELS)


async def _refused(request: Request, app: MeetingApplication, meeting_id: UUID, where: str, form: dict[str, Any],
                   refused: DomainError) -> Response:
    """The meeting page again, the form at `where` as typed and why it was refused."""
    return await call(_meeting_page, request, app, meeting_id, refused.status, {where: form}, {where: str(refused)})


def _positions(text: dict[str, Any], attendees: list[str]) -> tuple[list[dict[str, str]], dict[str, dict[str, str]]]:
    """The decision form's one row per attendee (position-N, reason-N) as DecisionIn's positions (a row left
    unchosen is not a position: the domain names the attendees missing one); the rows as typed."""
    positions, typed = [], {}
    for index, agency in enumerate(attendees):
        position, reason = str(text.get(f"position-{index}", "")), str(text.get(f"reason-{index}", ""))
        typed[str(index)] = {"position": position, "reason": reason}
        if position:
            positions.append({"agency": agency, "position": position, "reason": reason})
    return positions, typed


@router.post("/ui/meetings/{meeting_id}/decisions", response_class=HTMLResponse,
             dependencies=[requires("meeting.decide")])
async def decide(request: Request, meeting_id: UUID, app: App) -> Response:
    """D5: a consensus decision on a plan, every attendee's position recorded; D9: consent."""
    posted = await _posted(request, app, meeting_id)
    if isinstance(posted, Response):
        return posted
    meeting, staff, text = posted
    positions, typed = _positions(text, meeting["attendees"])
    all_agree = text.get("all_agree") == "true"  # the 「全員賛成で承認」 button: every attendee's 賛成 in one step
    form = {"decision": text.get("decision", ""), "reasons": text.get("reasons", ""),
            "primary_agency": text.get("primary_agency", ""), "connect_to": _listed(text.get("connect_to")),
            "positions": typed}
    try:
        if all_agree:
            text = {**text, "decision": text.get("decision") or "approved",
                    "reasons": text.get("reasons") or "全員賛成 / all agreed"}
        command = form_model(DecisionIn, {**text, "positions": [] if all_agree else positions, "all_agree": all_agree})
        await call(app.decide, actor_of(staff), meeting_id, command.plan_id, command.decision, command.reasons,
                   [p.model_dump() for p in command.positions], list(command.connect_to), command.primary_agency,
                   command.all_agree)
    except DomainError as refused:
        return await _refused(request, app, meeting_id, str(text.get("plan_id", "")), form, refused)
    return redirect(f"/ui/meetings/{meeting_id}", ok=f"決定を記録しました: {DECISION_JA[command.decision]} / decision recorded")


@router.post("/ui/meetings/{meeting_id}/evaluations", response_class=HTMLResponse,
             dependencies=[requires("meeting.evaluate")])
async def evaluate(request: Request, meeting_id: UUID, app: App) -> Response:
    """D7: the closure evaluation, goal by goal; closed, suspended (with a reason) or continued (next review)."""
    posted = await _posted(request, app, meeting_id)
    if isinstance(posted, Response):
        return posted
    _meeting, staff, text = posted
    # the form's one row per goal of the plan (goal, result-N, note-N) as EvaluationIn's goal_results
    goal_results = [{"goal": goal, "result": text.get(f"result-{i}", ""), "note": text.get(f"note-{i}", "")}
                    for i, goal in enumerate(_listed(text.get("goal")))]
    form = {**{k: text.get(k, "") for k in ("outcome", "course", "result", "reason", "next_review_on")},
            "goals": {str(i): {"result": row["result"], "note": row["note"], "goal": row["goal"]}
                      for i, row in enumerate(goal_results)}}
    try:
        form["next_review_on"] = typed_dates(EvaluationIn, text).get("next_review_on", "")  # 和暦 typed as text
        command = form_model(EvaluationIn, {**text, "goal_results": goal_results})
        await call(app.evaluate, actor_of(staff), meeting_id, command.plan_id, command.outcome, command.course,
                   command.result, command.reason, command.next_review_on, [g.model_dump() for g in command.goal_results])
    except DomainError as refused:
        return await _refused(request, app, meeting_id, str(text.get("plan_id", "")), form, refused)
    return redirect(f"/ui/meetings/{meeting_id}", ok=f"終結評価を記録しました: {OUTCOME_JA[command.outcome]} / evaluation recorded")


@router.post("/ui/meetings/{meeting_id}/resumptions", response_class=HTMLResponse,
             dependencies=[requires("meeting.decide")])
async def resume(request: Request, meeting_id: UUID, app: App) -> Response:
    """D7 D9: the 重層的支援会議 resumes a suspended plan once consent was given again (PlanResumed)."""
    posted = await _posted(request, app, meeting_id)
    if isinstance(posted, Response):
        return posted
    _meeting, staff, text = posted
    try:
        command = form_model(ResumeIn, text)
        await call(app.resume, actor_of(staff), meeting_id, command.plan_id, command.reason)
    except DomainError as refused:
        where = f"resume-{text.get('plan_id', '')}"
        return await _refused(request, app, meeting_id, where, {"reason": text.get("reason", "")}, refused)
    return redirect(f"/ui/meetings/{meeting_id}", ok="プランを再開しました / the plan resumes")


@router.post("/ui/meetings/{meeting_id}/cases", response_class=HTMLResponse, dependencies=[requires("meeting.convene")])
async def take_up(request: Request, meeting_id: UUID, app: App) -> Response:
    """D10: the sitting takes up a case (its members may then read the person on the 支援会議 basis)."""
    posted = await _posted(request, app, meeting_id)
    if isinstance(posted, Response):
        return posted
    _meeting, staff, text = posted
    try:
        command = form_model(TakeUpIn, text)
        await call(app.take_up, actor_of(staff), meeting_id, command.case_id)
    except DomainError as refused:
        return await _refused(request, app, meeting_id, "take_up", {"case_id": text.get("case_id", "")}, refused)
    return redirect(f"/ui/meetings/{meeting_id}", ok="ケースを議題にしました / case taken up")


@router.post("/ui/meetings/{meeting_id}/resource-gaps", response_class=HTMLResponse,
             dependencies=[requires("meeting.gap")])
async def record_gap(request: Request, meeting_id: UUID, app: App) -> Response:
    """D8: a need with no local resource, recorded as a regional issue for 地域づくり."""
    posted = await _posted(request, app, meeting_id)
    if isinstance(posted, Response):
        return posted
    _meeting, staff, text = posted
    try:
        command = form_model(GapIn, text)
        await call(app.identify_gap, actor_of(staff), meeting_id, command.case_id, command.need, command.area,
                   command.description, command.area_code)
    except DomainError as refused:
        form = {k: text.get(k, "") for k in ("case_id", "need", "area", "description", "area_code")}
        return await _refused(request, app, meeting_id, "gap", form, refused)
    return redirect(f"/ui/meetings/{meeting_id}", ok="地域の課題として記録しました（地域づくり事業へ）/ resource gap recorded")


# -- the sitting, its agenda, 事例の学び -------------------------------------------------------------


@router.post("/ui/meetings/{meeting_id}/sitting", response_class=HTMLResponse, dependencies=[requires("meeting.convene")])
async def record_sitting(request: Request, meeting_id: UUID, app: App) -> Response:
    """開催の記録: time, place, the people present (name and agency), chair and recorder."""
    posted = await _posted(request, app, meeting_id)
    if isinstance(posted, Response):
        return posted
    _meeting, staff, text = posted
    present = [{"name": str(text.get(f"name-{i}", "")).strip(), "agency": str(text.get(f"agency-{i}", "")).strip()}
               for i in range(PRESENT_ROWS)]
    people = [p for p in present if p["name"] or p["agency"]]
    form = {**{k: text.get(k, "") for k in ("starts_at", "ends_at", "place", "chair", "recorder")}, "present": present}
    seen = text.get(SEEN_FIELD)
    held = etag_of(int(seen)) if isinstance(seen, str) and seen.isdigit() and len(seen) < 10 else None

    def record(body: dict[str, Any]) -> None:
        """The record replaces the meeting's sitting only if the meeting is still as the page showed it: a tab left
        open while another saved would silently undo that save (held to the version as the command saves, as the
        JSON PUT with If-Match: shared/web/if_match.py)."""
        with held_to(held, lambda: app.read(meeting_id, Meeting, "会議"), "会議の記録", "meeting", f"/meetings/{meeting_id}"):
            app.record_sitting(actor_of(staff), meeting_id, body)

    try:
        command = form_model(SittingIn, {**text, "present": people})
        await call(record, command.model_dump())
    except ChangedMeanwhile:
        return await call(_meeting_page, request, app, meeting_id, 409, {"sitting": form}, {"sitting": STALE_SITTING})
    except DomainError as refused:
        return await _refused(request, app, meeting_id, "sitting", form, refused)
    return redirect(f"/ui/meetings/{meeting_id}", ok="開催の記録を保存しました / sitting recorded")


#: a sitting's record sent from a page opened before the meeting's record changed (another tab, another member of staff)
STALE_SITTING = ("この会議の記録は、この画面を開いた後に別のタブまたは別の職員によって更新されたため、開催の記録を保存していません。"
                 "入力した内容は下の欄に残してあります。別のタブでこの会議を開き直して最新の内容と見比べ、必要ならこの画面から"
                 "もう一度保存してください（そのときはこの内容で上書きされます） / not saved: the meeting's record changed after "
                 "this page was opened (another tab, or another member of staff). What you typed is kept below: open the "
                 "meeting again in another tab to compare, then save again here if it is still needed")


@router.post("/ui/meetings/{meeting_id}/agenda", response_class=HTMLResponse, dependencies=[requires("meeting.convene")])
async def put_on_agenda(request: Request, meeting_id: UUID, app: App) -> Response:
    """議事次第: a plan or a case put on the sitting's agenda, after the others."""
    posted = await _posted(request, app, meeting_id)
    if isinstance(posted, Response):
        return posted
    _meeting, staff, text = posted
    try:
        command = form_model(AgendaIn, text)
        await call(app.put_on_agenda, actor_of(staff), meeting_id, command.plan_id, command.case_id)
    except DomainError as refused:
        form = {k: text.get(k, "") for k in ("plan_id", "case_id")}
        return await _refused(request, app, meeting_id, "agenda", form, refused)
    return redirect(f"/ui/meetings/{meeting_id}", ok="議事次第に加えました / put on the agenda")


@router.post("/ui/meetings/{meeting_id}/learnings", response_class=HTMLResponse, dependencies=[requires("meeting.decide")])
async def record_learning(request: Request, meeting_id: UUID, app: App) -> Response:
    """事例の学び (ノウハウの持ち帰り): general terms, no personal information; each attending agency receives it."""
    posted = await _posted(request, app, meeting_id)
    if isinstance(posted, Response):
        return posted
    _meeting, staff, text = posted
    resources = [r.strip() for r in str(text.get("resources", "")).replace("、", ",").split(",") if r.strip()]
    form = {**{k: text.get(k, "") for k in ("plan_id", "situation", "worked", "resources")},
            "agencies": _listed(text.get("agencies")), "concerns": _listed(text.get("concerns"))}
    try:
        command = form_model(LearningIn, {**text, "resources": resources})
        await call(app.record_learning, actor_of(staff), meeting_id, command.plan_id, command.situation, command.worked,
                   list(command.agencies), list(command.resources), list(command.concerns))
    except DomainError as refused:
        return await _refused(request, app, meeting_id, "learning", form, refused)
    return redirect(f"/ui/meetings/{meeting_id}",
                    ok="事例の学びを記録しました。出席機関の「持ち帰り」に届きます / learning recorded and shared")


@router.get("/ui/learnings", response_class=HTMLResponse, dependencies=[requires("meeting.read")])
def learnings_page(request: Request, app: App, concern: str = "", q: str = "", agency: str = "") -> Response:
    """事例集: every counter's staff find what meetings learned, by concern field and words; 持ち帰り: what
    one agency received (`agency`), or every agency of the reader's division; beside it, the D14 trend of
    meetings needed per counter."""
    staff = staff_from_cookie(request)
    if staff is None:
        return redirect("/ui/login?next=/ui/learnings")
    filters = filters_of(request)  # 会議の開催日 from–to
    too_long = [(ja, en, bound, len(value)) for ja, en, bound, value in (
        ("言葉", "words", LEARNING_WORDS_MAX, q), ("相談の分野", "concern", LEARNING_CONCERN_MAX, concern),
        ("機関", "agency", LEARNING_AGENCY_MAX, agency)) if len(value) > bound]
    if too_long:  # the JSON API's bounds (HB's review: each word is looked for in every learning), not searched
        refusal = ("; ".join(f"{ja}は {bound} 文字以内にしてください（{sent} 文字でした）" for ja, _, bound, sent in too_long)
                   + "。短くしてもう一度探してください / "
                   + "; ".join(f"{en}: at most {bound} characters ({sent} sent)" for _, en, bound, sent in too_long)
                   + ": shorten and search again")
        return ui.render(request, "meeting_learnings.html", "事例集 / case learnings", status_code=422,
                         flash=refusal, flash_kind="ng", found=[], mine=[], paging=None, filters=filters,
                         concern=concern[:LEARNING_CONCERN_MAX], q=q[:LEARNING_WORDS_MAX],
                         agency=agency[:LEARNING_AGENCY_MAX], agencies=sorted(agencies()),
                         concern_choices=_concern_choices(), concern_fields=_concern_names(),
                         division_ja=staff.get("division_ja", ""), **LABELS)
    found, paging = paged(request, filters.apply(app.learnings(concern or None, q), day="held_on"))
    mine = app.takeaways(agency=agency) if agency else app.takeaways(division=staff.get("division"))
    return ui.render(request, "meeting_learnings.html", "事例集 / case learnings", found=found, mine=mine,
                     paging=paging, filters=filters,
                     concern=concern, q=q, agency=agency, agencies=sorted(agencies()), concern_choices=_concern_choices(),
                     concern_fields=_concern_names(),
                     division_ja=staff.get("division_ja", ""), **LABELS)
