"""The meeting secretariat's pages (重層的支援会議・支援会議): the agenda by status, meetings by type,
convening, deciding a plan by consensus with every attendee's position, closure evaluation goal by
goal, resource gaps, and the minutes (D5, D7, D8, D9, D10)."""

from __future__ import annotations

import hashlib
from datetime import date, datetime, timedelta, timezone
from pathlib import Path
from typing import Any, cast
from uuid import UUID

import anyio
from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, Response

from services.meeting.api import DecisionIn, EvaluationIn, GapIn, MeetingIn
from services.meeting.application import MeetingApplication
from services.meeting.domain import MEETING_TYPES, ConfidentialMeeting, Meeting
from shared.domain.reference import (
    COUNTERS,
    DIVISIONS,
    PARTNERS,
    PROGRAMS,
    RESOURCE_KINDS,
    agencies,
)
from shared.kernel.journey import DomainError, NotFound
from shared.web.http import DIVISION_TITLES, runtime_of
from shared.web.limits import check_form
from shared.web.policy import requires
from shared.web.ui import (
    PROGRAM_LABELS,
    UI,
    actor_of,
    csv_response,
    redirect,
    staff_from_cookie,
)


def _app(request: Request) -> MeetingApplication:
    """This service's application, typed (the runtime holds it as the base class)."""
    return cast(MeetingApplication, runtime_of(request).app)


ui = UI("meeting", DIVISION_TITLES["meeting"], Path(__file__).parent / "templates")
router = APIRouter(include_in_schema=False)
JST = timezone(timedelta(hours=9))

AGENDA_STATUS_JA = {"proposed": "決定待ち / awaiting decision", "closure_requested": "終結評価待ち / awaiting closure evaluation"}
DECISIONS = {"approved": "承認 / approve", "revision_requested": "修正依頼 / ask for a revision",
             "returned_to_intake": "相談窓口へ戻す / return to intake"}
DECISION_JA = {"approved": "承認", "revision_requested": "修正依頼", "returned_to_intake": "相談窓口へ戻す"}
CONNECT_TO = {"outreach": "アウトリーチ等を通じた継続的支援事業", "participation": "参加支援事業"}
OUTCOMES = {"closed": "終結 / close", "suspended": "中断 / suspend", "continued": "継続 / continue"}
OUTCOME_JA = {"closed": "終結", "suspended": "中断", "continued": "継続"}
RESULTS = {"achieved": "達成", "partly_achieved": "一部達成", "not_achieved": "未達成"}
POSITION_JA = {"agree": "賛成", "object": "異議"}
LABELS: dict[str, Any] = {"meeting_types": MEETING_TYPES, "agenda_status_ja": AGENDA_STATUS_JA, "decisions": DECISIONS,
          "decision_ja": DECISION_JA, "connect_to_ja": CONNECT_TO, "outcomes": OUTCOMES, "outcome_ja": OUTCOME_JA,
          "results": RESULTS, "position_ja": POSITION_JA, "program_labels": PROGRAM_LABELS}


def _local(moment: datetime) -> str:
    return moment.astimezone(JST).isoformat(timespec="minutes")


def _who(event: Any) -> str:
    actor = (getattr(event, "meta", None) or {}).get("actor") or {}
    return actor.get("staff_id") or (f"自動（{actor['service']}）" if actor.get("service") else "")


def agency_groups() -> list[tuple[str, list[str]]]:
    """The agencies a meeting may seat (shared.domain.reference.agencies()), grouped as staff think of them."""
    known = agencies()
    divisions = [d.ja for d in DIVISIONS.values()]
    counters = [c.ja for c in COUNTERS.values()]
    programs = [p.ja for p in PROGRAMS.values() if p.kind != "related" and p.ja not in counters and p.ja in known]
    partners = list(PARTNERS)
    rest = sorted(known - set(divisions) - set(counters) - set(programs) - set(partners))
    groups = [("市の課 / divisions", divisions), ("相談窓口 / counters", counters), ("関係機関 / partners", partners),
              ("事業 / programs", programs)]
    if rest:
        groups.append(("その他 / others", rest))
    return [(name, [a for a in names if a in known]) for name, names in groups]


def _agenda(app: MeetingApplication) -> list[dict[str, Any]]:
    """The agenda with each case's consent as the meeting last heard it (D9)."""
    return [{**item, "consent": app.consent_view(UUID(item["case_id"]))} for item in app.agenda()]


def _meetings(app: MeetingApplication) -> list[dict[str, Any]]:
    """Every sitting, newest date first; what anyone may know of it (type, date, size), not its minutes."""
    rows: list[dict[str, Any]] = []
    for meeting_id in app.ids_of(Meeting):
        meeting: Meeting = app.load(meeting_id, Meeting, "会議")
        rows.append({"meeting_id": str(meeting_id), "meeting_type": meeting.meeting_type,
                     "held_on": meeting.held_on.isoformat(), "attendees": list(meeting.attendees),
                     "decisions": sum(1 for m in meeting.minutes if m["kind"] == "decision"),
                     "evaluations": sum(1 for m in meeting.minutes if m["kind"] == "evaluation")})
    rows.sort(key=lambda r: r["held_on"], reverse=True)
    return rows


def _minutes(app: MeetingApplication, meeting_id: UUID) -> list[dict[str, Any]]:
    """The minutes read from the meeting's own events: when, who recorded, what was decided and why."""
    rows: list[dict[str, Any]] = []
    for event in app.events_of(meeting_id):
        row: dict[str, Any] = {"at": _local(event.timestamp), "who": _who(event)}
        if isinstance(event, Meeting.Decided):
            row.update(kind="decision", case_id=str(event.case_id), plan_id=str(event.plan_id), program=event.program,
                       revision=event.revision, decision=event.decision, reasons=event.reasons,
                       positions=event.positions, connect_to=event.connect_to)
        elif isinstance(event, Meeting.ReturnedToIntake):
            row.update(kind="returned_to_intake", case_id=str(event.case_id), primary_agency=event.primary_agency)
        elif isinstance(event, Meeting.Evaluated):
            row.update(kind="evaluation", case_id=str(event.case_id), plan_id=str(event.plan_id), program=event.program,
                       outcome=event.outcome, evaluation=event.evaluation, reason=event.reason,
                       next_review_on=event.next_review_on.isoformat() if event.next_review_on else None)
        elif isinstance(event, Meeting.GapIdentified):
            row.update(kind="resource_gap", case_id=str(event.case_id), need=event.need, area=event.area,
                       description=event.description)
        else:
            continue
        rows.append(row)
    return rows


def _signature(agenda: list[dict[str, Any]]) -> str:
    """A short fingerprint of the agenda, so that an open meeting page can say when it changed."""
    text = "|".join(sorted(f"{i['plan_id']}:{i['revision']}:{i['status']}" for i in agenda))
    return hashlib.sha256(text.encode()).hexdigest()[:12]


def _missing(request: Request, message: str) -> Response:
    return ui.render(request, "meeting_message.html", "見つかりません / not found", status_code=404,
                     heading="見つかりません / not found", message=message)


# -- the agenda and the meetings -----------------------------------------------------------------


def _home(request: Request, agenda: list[dict[str, Any]], meetings: list[dict[str, Any]], status_code: int = 200,
          form: dict[str, Any] | None = None, error: str | None = None) -> Response:
    today = datetime.now(JST).date().isoformat()
    return ui.render(request, "meeting_home.html", "会議の議題 / agenda", status_code=status_code, agenda=agenda,
                     meetings=meetings, groups=agency_groups(), today=today,
                     form=form or {"meeting_type": "jusou_shien_kaigi", "held_on": today, "attendees": []},
                     error=error, **LABELS)


async def _read(request: Request, fn: Any, *args: Any) -> Any:
    return await anyio.to_thread.run_sync(fn, _app(request), *args)


async def _scoped(request: Request, fn: Any) -> Any:
    """A list's rows the signed-in reader's division may see (shared/web/policy.py visible)."""
    app, who = _app(request), getattr(request.state, "principal", None)
    return await anyio.to_thread.run_sync(lambda: app.scoped(fn(app), who))


@router.get("/ui/", response_class=HTMLResponse, dependencies=[requires("meeting.agenda.read")])
async def home(request: Request, type: str = "jusou_shien_kaigi") -> Response:
    if staff_from_cookie(request) is None:
        return redirect("/ui/login?next=/ui/")
    today = datetime.now(JST).date().isoformat()
    form = {"meeting_type": type if type in MEETING_TYPES else "jusou_shien_kaigi", "held_on": today, "attendees": []}
    return _home(request, await _scoped(request, _agenda), await _read(request, _meetings), form=form)


@router.get("/ui/agenda-table", response_class=HTMLResponse, dependencies=[requires("meeting.agenda.read")])
async def agenda_table(request: Request) -> Response:
    """The live part of the home page: the agenda, by status."""
    return ui.render(request, "meeting_agenda_table.html", "", agenda=await _scoped(request, _agenda), **LABELS)


@router.get("/ui/meetings-table", response_class=HTMLResponse, dependencies=[requires("meeting.read")])
async def meetings_table(request: Request) -> Response:
    return ui.render(request, "meeting_meetings_table.html", "", meetings=await _read(request, _meetings), **LABELS)


@router.get("/ui/agenda.csv", dependencies=[requires("meeting.agenda.read")])
async def agenda_csv(request: Request) -> Response:
    rows = await _scoped(request, _agenda)
    return csv_response("会議の議題.csv",
                        ["状態", "ケース番号", "プラン番号", "事業", "版", "支援の方向性", "目標", "役割分担", "本人同意", "経過"],
                        [[AGENDA_STATUS_JA[r["status"]].split(" / ")[0], r["case_id"], r["plan_id"],
                          PROGRAM_LABELS.get(r["program"], r["program"]), r["revision"], r.get("support_direction", ""),
                          " / ".join(r.get("goals", [])),
                          " / ".join(f"{x['agency']}: {x['responsibility']}" for x in r.get("roles", [])),
                          "あり" if r["consent"]["granted"] else "なし", r["progress"]] for r in rows])


@router.get("/ui/meetings.csv", dependencies=[requires("meeting.read")])
async def meetings_csv(request: Request) -> Response:
    rows = await _read(request, _meetings)
    return csv_response("会議一覧.csv", ["会議番号", "種類", "開催日", "出席機関", "決定", "終結評価"],
                        [[r["meeting_id"], MEETING_TYPES[r["meeting_type"]], r["held_on"], "・".join(r["attendees"]),
                          r["decisions"], r["evaluations"]] for r in rows])


@router.post("/ui/meetings", response_class=HTMLResponse, dependencies=[requires("meeting.convene")])
async def convene(request: Request) -> Response:
    """D5 D10: convene a sitting of the 重層的支援会議 or the 支援会議 with its attendees."""
    staff = staff_from_cookie(request)
    if staff is None:
        return redirect("/ui/login?next=/ui/")
    raw = await request.form()
    attendees = [str(a).strip() for a in raw.getlist("attendees") if str(a).strip()]
    form: dict[str, Any] = {"meeting_type": str(raw.get("meeting_type") or ""), "held_on": str(raw.get("held_on") or ""),
            "attendees": attendees}
    app: MeetingApplication = _app(request)

    async def refuse(message: str, status: int) -> Response:
        return _home(request, await _scoped(request, _agenda), await _read(request, _meetings), status, form, message)

    if form["meeting_type"] not in MEETING_TYPES:
        return await refuse("会議の種類を選んでください / choose the meeting type", 422)
    try:
        held_on = date.fromisoformat(form["held_on"])
    except ValueError:
        return await refuse("開催日を YYYY-MM-DD で入力してください / enter the date of the meeting", 422)
    if not attendees:
        return await refuse("出席機関を1つ以上選んでください / choose the attending agencies (D5)", 422)
    try:
        check_form(MeetingIn, {"held_on": held_on, "attendees": attendees})
        meeting_id = await anyio.to_thread.run_sync(
            lambda: app.convene(actor_of(staff), form["meeting_type"], held_on, attendees))
    except DomainError as refused:
        return await refuse(str(refused), refused.status)
    return redirect(f"/ui/meetings/{meeting_id}", ok=f"{MEETING_TYPES[form['meeting_type']]}を開催しました / convened")


# -- one meeting: decide, evaluate, record gaps, minutes ------------------------------------------


async def _meeting_or_refusal(request: Request, meeting_id: UUID) -> dict[str, Any] | Response:
    """The meeting as this staff member may see it; a 支援会議 only for its members (D10)."""
    staff = staff_from_cookie(request)
    if staff is None:
        return redirect(f"/ui/login?next=/ui/meetings/{meeting_id}")
    app: MeetingApplication = _app(request)
    try:
        meeting: dict[str, Any] = await anyio.to_thread.run_sync(app.meeting_view, actor_of(staff), meeting_id)
    except ConfidentialMeeting as refused:
        return ui.render(request, "meeting_message.html", "閲覧できません / members only", status_code=403,
                         heading="支援会議の記録は構成員のみ / members only (D10)", message=str(refused),
                         hint=f"あなたの所属（{staff['division_ja']}）はこの支援会議の出席機関ではありません。"
                              "構成員の課の職員としてログインするか、事務局にお尋ねください。")
    except NotFound as missing:
        return _missing(request, str(missing))
    return meeting


async def _posted(request: Request, meeting_id: UUID) -> tuple[dict[str, Any], dict[str, Any], Any] | Response:
    """A form posted on a meeting's page: (the meeting as the staff member may see it, who, the form), or
    the page that refuses it (a 支援会議 only for its members, D10)."""
    meeting = await _meeting_or_refusal(request, meeting_id)
    if isinstance(meeting, Response):
        return meeting
    staff = staff_from_cookie(request)
    assert staff is not None
    return meeting, staff, await request.form()


async def _meeting_page(request: Request, meeting_id: UUID, status_code: int = 200,
                        forms: dict[str, dict[str, Any]] | None = None, errors: dict[str, str] | None = None) -> Response:
    meeting = await _meeting_or_refusal(request, meeting_id)
    if isinstance(meeting, Response):
        return meeting
    agenda = await _scoped(request, _agenda)
    minutes = await _read(request, _minutes, meeting_id)
    # D8: a gap is recorded against a case before this meeting: on its agenda or in its minutes.
    cases = list(dict.fromkeys([i["case_id"] for i in agenda] + [m["case_id"] for m in minutes if m.get("case_id")]))
    return ui.render(request, "meeting_meeting.html", f"{MEETING_TYPES[meeting['meeting_type']]} / meeting",
                     status_code=status_code, meeting=meeting, agenda=agenda, minutes=minutes, cases=cases,
                     signature=_signature(agenda), forms=forms or {}, errors=errors or {}, agencies=sorted(agencies()),
                     resource_kinds=list(RESOURCE_KINDS.values()), **LABELS)


@router.get("/ui/meetings/{meeting_id}", response_class=HTMLResponse, dependencies=[requires("meeting.read")])
async def meeting_page(request: Request, meeting_id: UUID) -> Response:
    return await _meeting_page(request, meeting_id)


@router.get("/ui/meetings/{meeting_id}/minutes", response_class=HTMLResponse, dependencies=[requires("meeting.read")])
async def minutes_part(request: Request, meeting_id: UUID) -> Response:
    """The live part of the meeting page: its minutes."""
    meeting = await _meeting_or_refusal(request, meeting_id)
    if isinstance(meeting, Response):
        return meeting
    return ui.render(request, "meeting_minutes.html", "", meeting=meeting,
                     minutes=await _read(request, _minutes, meeting_id), **LABELS)


@router.get("/ui/meetings/{meeting_id}/agenda-note", response_class=HTMLResponse,
            dependencies=[requires("meeting.read")])
async def agenda_note(request: Request, meeting_id: UUID, known: str = "") -> Response:
    """Live: tells an open meeting page that the agenda changed (a plan proposed or re-proposed)."""
    agenda = await _scoped(request, _agenda)
    return ui.render(request, "meeting_agenda_note.html", "", meeting_id=str(meeting_id), changed=_signature(agenda) != known,
                     count=len(agenda))


@router.get("/ui/meetings/{meeting_id}/print", response_class=HTMLResponse, dependencies=[requires("meeting.read")])
async def print_minutes(request: Request, meeting_id: UUID) -> Response:
    """会議録: the minutes as a paper document."""
    meeting = await _meeting_or_refusal(request, meeting_id)
    if isinstance(meeting, Response):
        return meeting
    return ui.render(request, "meeting_print.html", "会議録（印刷）/ minutes", meeting=meeting,
                     minutes=await _read(request, _minutes, meeting_id), today=datetime.now(JST).date().isoformat(),
                     **LABELS)


def _positions(form: Any, attendees: list[str]) -> tuple[list[dict[str, str]], dict[str, dict[str, str]]]:
    """One row per attendee: agree, or object with a reason; the rows as typed, to show them again."""
    positions, typed = [], {}
    for index, agency in enumerate(attendees):
        position = str(form.get(f"position-{index}") or "")
        reason = str(form.get(f"reason-{index}") or "").strip()
        typed[str(index)] = {"position": position, "reason": reason}
        if position in POSITION_JA:
            positions.append({"agency": agency, "position": position, "reason": reason})
    return positions, typed


@router.post("/ui/meetings/{meeting_id}/decisions", response_class=HTMLResponse,
             dependencies=[requires("meeting.decide")])
async def decide(request: Request, meeting_id: UUID) -> Response:
    """D5: a consensus decision on a plan, every attendee's position recorded; D9: consent."""
    posted = await _posted(request, meeting_id)
    if isinstance(posted, Response):
        return posted
    meeting, staff, raw = posted
    plan_id = str(raw.get("plan_id") or "")
    positions, typed = _positions(raw, meeting["attendees"])
    form: dict[str, Any] = {"decision": str(raw.get("decision") or ""), "reasons": str(raw.get("reasons") or "").strip(),
            "primary_agency": str(raw.get("primary_agency") or "").strip(),
            "connect_to": [str(c) for c in raw.getlist("connect_to") if str(c) in CONNECT_TO], "positions": typed}

    async def refuse(message: str, status: int) -> Response:
        return await _meeting_page(request, meeting_id, status, {plan_id: form}, {plan_id: message})

    if form["decision"] not in DECISIONS:
        return await refuse("決定を選んでください / choose the decision", 422)
    if not form["reasons"]:
        return await refuse("決定の理由を入力してください / give the reasons for the decision", 422)
    app: MeetingApplication = _app(request)
    try:
        check_form(DecisionIn, {"reasons": form["reasons"], "positions": positions,
                                "primary_agency": form["primary_agency"]})
        await anyio.to_thread.run_sync(lambda: app.decide(
            actor_of(staff), meeting_id, UUID(plan_id), form["decision"], form["reasons"], positions,
            form["connect_to"], form["primary_agency"] or None))
    except ValueError:
        return await refuse("議題のプランが指定されていません / no plan given", 422)
    except DomainError as refused:
        return await refuse(str(refused), refused.status)
    return redirect(f"/ui/meetings/{meeting_id}", ok=f"決定を記録しました: {DECISION_JA[form['decision']]} / decision recorded")


@router.post("/ui/meetings/{meeting_id}/evaluations", response_class=HTMLResponse,
             dependencies=[requires("meeting.evaluate")])
async def evaluate(request: Request, meeting_id: UUID) -> Response:
    """D7: the closure evaluation, goal by goal; closed, suspended (with a reason) or continued (next review)."""
    posted = await _posted(request, meeting_id)
    if isinstance(posted, Response):
        return posted
    _meeting, staff, raw = posted
    plan_id = str(raw.get("plan_id") or "")
    goals = [str(g) for g in raw.getlist("goal")]
    goal_rows = {str(i): {"result": str(raw.get(f"result-{i}") or ""), "note": str(raw.get(f"note-{i}") or "").strip()}
                 for i in range(len(goals))}
    form: dict[str, Any] = {k: str(raw.get(k) or "").strip() for k in ("outcome", "course", "result", "reason", "next_review_on")}
    form["goals"] = goal_rows

    async def refuse(message: str, status: int) -> Response:
        return await _meeting_page(request, meeting_id, status, {plan_id: form}, {plan_id: message})

    unrated = [g for i, g in enumerate(goals) if goal_rows[str(i)]["result"] not in RESULTS]
    if unrated:
        return await refuse("目標ごとに達成度を選んでください: " + " / ".join(unrated) + " / rate every goal (D7)", 422)
    if form["outcome"] not in OUTCOMES:
        return await refuse("評価の結果（終結・中断・継続）を選んでください / choose the outcome", 422)
    if not form["course"] or not form["result"]:
        return await refuse("支援の経過と成果を入力してください / describe the course and the outcome of support", 422)
    next_review_on: date | None = None
    if form["next_review_on"]:
        try:
            next_review_on = date.fromisoformat(form["next_review_on"])
        except ValueError:
            return await refuse("次回の見直し日を YYYY-MM-DD で入力してください / enter the next review date", 422)
    goal_results = [{"goal": g, "result": goal_rows[str(i)]["result"], "note": goal_rows[str(i)]["note"]}
                    for i, g in enumerate(goals)]
    app: MeetingApplication = _app(request)
    try:
        check_form(EvaluationIn, {**{k: form[k] for k in ("course", "result", "reason")},
                                  "next_review_on": next_review_on, "goal_results": goal_results})
        await anyio.to_thread.run_sync(lambda: app.evaluate(
            actor_of(staff), meeting_id, UUID(plan_id), form["outcome"], form["course"], form["result"], form["reason"],
            next_review_on, goal_results))
    except ValueError:
        return await refuse("議題のプランが指定されていません / no plan given", 422)
    except DomainError as refused:
        return await refuse(str(refused), refused.status)
    return redirect(f"/ui/meetings/{meeting_id}", ok=f"終結評価を記録しました: {OUTCOME_JA[form['outcome']]} / evaluation recorded")


@router.post("/ui/meetings/{meeting_id}/cases", response_class=HTMLResponse, dependencies=[requires("meeting.convene")])
async def take_up(request: Request, meeting_id: UUID) -> Response:
    """D10: the sitting takes up a case (its members may then read the person on the 支援会議 basis)."""
    posted = await _posted(request, meeting_id)
    if isinstance(posted, Response):
        return posted
    _meeting, staff, raw = posted
    form = {"case_id": str(raw.get("case_id") or "").strip()}
    try:
        case_id = UUID(form["case_id"])
    except ValueError:
        return await _meeting_page(request, meeting_id, 422, {"take_up": form},
                                   {"take_up": "ケース番号（36文字のID）を入力してください / give the case id (a UUID)"})
    app: MeetingApplication = _app(request)
    try:
        await anyio.to_thread.run_sync(lambda: app.take_up(actor_of(staff), meeting_id, case_id))
    except DomainError as refused:
        return await _meeting_page(request, meeting_id, refused.status, {"take_up": form}, {"take_up": str(refused)})
    return redirect(f"/ui/meetings/{meeting_id}", ok="ケースを議題にしました / case taken up")


@router.post("/ui/meetings/{meeting_id}/resource-gaps", response_class=HTMLResponse,
             dependencies=[requires("meeting.gap")])
async def record_gap(request: Request, meeting_id: UUID) -> Response:
    """D8: a need with no local resource, recorded as a regional issue for 地域づくり."""
    posted = await _posted(request, meeting_id)
    if isinstance(posted, Response):
        return posted
    _meeting, staff, raw = posted
    form = {k: str(raw.get(k) or "").strip() for k in ("case_id", "need", "area", "description")}

    async def refuse(message: str, status: int) -> Response:
        return await _meeting_page(request, meeting_id, status, {"gap": form}, {"gap": message})

    if not all(form.values()):
        return await refuse("ケース・不足している資源・地域・内容をすべて入力してください / fill in every field", 422)
    app: MeetingApplication = _app(request)
    try:
        check_form(GapIn, {k: form[k] for k in ("need", "area", "description")})
        await anyio.to_thread.run_sync(lambda: app.identify_gap(
            actor_of(staff), meeting_id, UUID(form["case_id"]), form["need"], form["area"], form["description"]))
    except ValueError:
        return await refuse("ケースを選んでください / choose the case", 422)
    except DomainError as refused:
        return await refuse(str(refused), refused.status)
    return redirect(f"/ui/meetings/{meeting_id}", ok="地域の課題として記録しました（地域づくり事業へ）/ resource gap recorded")
