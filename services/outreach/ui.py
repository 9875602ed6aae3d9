"""Outreach workers' pages (アウトリーチ等を通じた継続的支援事業, D12): their engagements with the stage and
the last contact, starting an engagement (a new person before any escalation, or an existing case),
the contact log, the relationship stage as a progression, the hand-over, and the engagement's plans
(shared/web/plan_pages.py: the editor, 会議へ提出, the meeting's word, 伴走支援, the printable plan)."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Annotated, Any
from uuid import UUID

from eventsourcing.persistence import IntegrityError
from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse, Response

from services.outreach.api import ContactIn, HandOverIn, StartIn, require_case_open_to
from services.outreach.application import EngagementRecord, OutreachApplication
from services.outreach.domain import CONTACT_METHODS, HAND_OVER_TO, STAGES
from shared.domain.wareki import today_in_japan, wareki
from shared.kernel.journey import DomainError, Invalid, NotFound
from shared.organisation.reference import (
    COUNTERS,
    DIVISION_TITLES,
    REFERRER,
    agencies,
    counters,
    divisions,
    partner_entries,
    referral_sources,
)
from shared.web.casework_api import casework_pages
from shared.web.deps import application, call
from shared.web.limits import form_model, form_text
from shared.web.plan_pages import LABELS as PLAN_LABELS
from shared.web.plan_pages import plan_pages, plans_of
from shared.web.policy import requires
from shared.web.ui import UI, actor_of, csv_response, filters_of, paged, redirect, staff_from_cookie

App = Annotated[OutreachApplication, Depends(application(OutreachApplication))]
ui = UI("outreach", DIVISION_TITLES["outreach"], Path(__file__).parent / "templates")
router = APIRouter(include_in_schema=False)
ALREADY_STARTED = "このケースのアウトリーチは既に始まっています / outreach has already started for this case"
#: 紹介元 as stored for an engagement a meeting's decision started (services/outreach/application.py), as staff say it
REFERRED_BY = {"meeting": "会議の決定から"}  # as participation says it (services/participation/ui.py referred_ja)


def referrer_choices() -> list[tuple[str, list[tuple[str, str]]]]:
    """紹介元 the start form offers (issue 18), from the municipality file in force today: its referral sources, then
    its partners, counters and divisions, each option's value its code (what the event carries beside the name). A
    name already offered is not offered again (a counter and a division of one name)."""
    seen: set[str] = set()

    def fresh(options: list[tuple[str, str]]) -> list[tuple[str, str]]:
        kept = [(code, name) for code, name in options if name not in seen]
        seen.update(name for _, name in kept)
        return kept

    groups = [
        ("紹介元 / referral sources", [(f"{REFERRER}:{r.code}", r.ja) for r in referral_sources().values()]),
        ("関係機関 / partners", [(f"partner:{p.code}", p.ja) for p in partner_entries().values()]),
        ("相談窓口 / counters", [(f"counter:{c.code}", c.ja) for c in counters().values()]),
        ("課 / divisions", [(f"division:{d.code}", d.ja) for d in divisions().values()]),
    ]
    return [(label, kept) for label, options in groups if (kept := fresh(options))]


def referrer_label(referred_by: str) -> str:
    """紹介元 on the pages and the CSV: the meeting's decision in Japanese, anything staff typed as it is."""
    return REFERRED_BY.get(referred_by, referred_by)


#: the reason outreach records for an engagement a meeting's decision started (services/outreach/application.py)
_BY_MEETING = re.compile(r"^会議の決定によるつなぎ / connected by meeting ([0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12})$")


def meeting_of(reason: str) -> str | None:
    """The meeting whose decision started the engagement, from its recorded reason; None for a reason staff wrote."""
    found = _BY_MEETING.match(reason or "")
    return found.group(1) if found else None


def reason_label(reason: str) -> str:
    """理由・状況 as staff read it (the CSV, a plan's heading): a meeting's decision by a short 会議番号, not the
    meeting's whole id; anything staff typed as it is. The page adds a link to the meeting (its template)."""
    meeting = meeting_of(reason)
    return f"会議の決定によるつなぎ（会議番号 {meeting[:8]}） / connected by the meeting's decision" if meeting else reason


ui.templates.env.filters["referrer"] = referrer_label
ui.templates.env.filters["meeting_of"] = meeting_of
ui.templates.env.filters["reason_ja"] = reason_label


def _engagements(app: OutreachApplication, request: Request, in_charge: str = "") -> list[EngagementRecord]:
    """The worker's list (division scope): those still with the worker first, latest contact first; then
    those handed over. `in_charge`: only the cases where that staff member is 担当者 or 副担当."""
    rows = [_latest_contact(r) for r in app.engagement_records(getattr(request.state, "principal", None))]
    if in_charge:
        assigned = app.assignments()
        rows = [r for r in rows if in_charge in assigned.get(r["case_id"], ())]
    rows.sort(key=lambda r: (r["last"]["on"], r["last"]["at"]) if r["last"] else (r["started_at"][:10], r["started_at"]),
              reverse=True)
    return [r for r in rows if r["handed"] is None] + [r for r in rows if r["handed"] is not None]


def _latest_contact(record: EngagementRecord) -> EngagementRecord:
    """The engagement with its latest contact by 接触日 (`on`, the day the worker met or tried; then when recorded) as
    its `last`: a visit recorded days later, or an older one entered after a newer, is not the last contact (the list
    and the CSV said the day of recording, and the last one recorded, as 最終接触日)."""
    if not record["log"]:
        return record
    return {**record, "last": max(record["log"], key=lambda c: (c["on"], c["at"]))}


def _listed(request: Request, rows: list[EngagementRecord]) -> dict[str, Any]:
    """One page of the engagements the filter bar keeps (関係の段階, the day each started), with its pager."""
    filters = filters_of(request)
    shown, paging = paged(request, filters.apply(rows, status="stage", day="started_at"))
    return {"engagements": shown, "paging": paging, "filters": filters, "stage_choices": {s: s for s in STAGES}}


def _home(request: Request, rows: list[EngagementRecord], assigned: dict[str, tuple[str | None, str | None]],
          status_code: int = 200, **extra: Any) -> Response:
    return ui.render(request, "outreach_home.html", "アウトリーチの関わり / engagements", status_code=status_code,
                     stages=STAGES, hand_over_to=HAND_OVER_TO, referrers=referrer_choices(), assigned=assigned,
                     **{"form": {}, "error": None, "existing": None, "in_charge": "", **_listed(request, rows), **extra})


@router.get("/ui/", response_class=HTMLResponse, dependencies=[requires("engagement.read")])
def home(request: Request, app: App, in_charge: str = "") -> Response:
    """The list, filtered by 担当者 (`in_charge`, a staff id) when asked."""
    if staff_from_cookie(request) is None:
        return redirect("/ui/login?next=/ui/")
    return _home(request, _engagements(app, request, in_charge.strip()), app.assignments(), in_charge=in_charge.strip())


@router.get("/ui/engagements-table", response_class=HTMLResponse, dependencies=[requires("engagement.read")])
def engagements_table(request: Request, app: App, in_charge: str = "") -> Response:
    """The live part of the list: reloaded whenever the store changes."""
    return ui.render(request, "outreach_engagements_table.html", "", stages=STAGES, hand_over_to=HAND_OVER_TO,
                     assigned=app.assignments(), **_listed(request, _engagements(app, request, in_charge.strip())))


@router.get("/ui/engagements.csv", dependencies=[requires("engagement.read")])
def engagements_csv(request: Request, app: App) -> Response:
    rows = _engagements(app, request)
    return csv_response("アウトリーチ一覧.csv",
                        ["ケース番号", "紹介元", "理由", "住所・所在地域", "関係の段階", "接触の記録", "最終接触日", "最終接触の方法", "会えたか",
                         "引き継ぎ先", "開始日", "開始した職員"],
                        [[r["case_id"], referrer_label(r["referred_by"]), reason_label(r["reason"]), r["address"] or "", r["stage"], len(r["log"]),
                          r["last"]["on"] if r["last"] else "", r["last"]["method"] if r["last"] else "",
                          ("会えた" if r["last"]["reached"] else "会えず") if r["last"] else "",
                          HAND_OVER_TO.get(r["handed"]["to_program"], "") if r["handed"] else "", r["started_at"][:10],
                          r["started_by"]] for r in rows])


@router.post("/ui/engagements", response_class=HTMLResponse, dependencies=[requires("engagement.write")])
async def start(request: Request, app: App) -> Response:
    """D12: begin outreach: a new person (a new case) or a case already known by its number."""
    staff = staff_from_cookie(request)
    if staff is None:
        return redirect("/ui/login?next=/ui/")
    text = await form_text(request)
    existing = text.get("whom") == "existing"  # the radio picks the shape: a known case, or a new one
    try:
        if existing and not text.get("case_id"):
            raise Invalid("ケース番号を入力してください（ケースの画面からコピーできます）/ enter the case number")
        command = form_model(StartIn, text if existing else {k: v for k, v in text.items() if k != "case_id"})
        if command.case_id is not None and await call(app.has_engagement, command.case_id):
            return await _refused_start(request, app, text, ALREADY_STARTED, 409, command.case_id)
        if command.case_id is not None:
            await require_case_open_to(request, command.case_id)  # D9: a case another division holds (403)
        started = await call(app.start, actor_of(staff), command.case_id, command.referred_by, command.reason,
                             command.address)
    except DomainError as refused:
        return await _refused_start(request, app, text, str(refused), refused.status)
    except IntegrityError:  # started at the same moment from another page
        return await _refused_start(request, app, text, ALREADY_STARTED, 409)
    return redirect(f"/ui/engagements/{started}", ok="アウトリーチを始めました / engagement started")


async def _refused_start(request: Request, app: OutreachApplication, text: dict[str, Any], message: str, status: int,
                         existing: UUID | None = None) -> Response:
    """The list again with the start form as typed, why it was refused, and the engagement it clashed with."""
    rows = await call(_engagements, app, request)
    return _home(request, rows, await call(app.assignments), status_code=status, form=text, error=message,
                 existing=str(existing) if existing else None)


def _page(request: Request, app: OutreachApplication, case_id: UUID, status_code: int = 200, **extra: Any) -> Response:
    """The engagement page (blocking: run it in the thread pool), with a refused form as typed."""
    try:
        record = app.engagement_record(case_id)
        casework = app.case_file(case_id)
    except NotFound as missing:
        return ui.render(request, "missing.html", "見つかりません / not found", status_code=404,
                         message=str(missing))
    return ui.render(request, "outreach_engagement.html", "アウトリーチ / engagement", status_code=status_code,
                     e=record, stages=STAGES, methods=CONTACT_METHODS, counters=list(COUNTERS.values()),
                     hand_over_to=HAND_OVER_TO, agencies=sorted(agencies()), casework=casework,
                     today=wareki(today_in_japan(), with_gregorian=False),
                     plans=plans_of(app, case_id), case_id=str(case_id), plan_write="outreach.plan.write",
                     plan_status_ja=PLAN_LABELS["status_ja"], plan_status_kind=PLAN_LABELS["status_kind"],
                     **{"form": {}, "error": None, "error_at": None, **extra})


@router.get("/ui/engagements/{case_id}", response_class=HTMLResponse, dependencies=[requires("engagement.read")])
def engagement_page(request: Request, case_id: UUID, app: App) -> Response:
    if staff_from_cookie(request) is None:
        return redirect(f"/ui/login?next=/ui/engagements/{case_id}")
    return _page(request, app, case_id)


@router.get("/ui/engagements/{case_id}/log", response_class=HTMLResponse, dependencies=[requires("engagement.read")])
def engagement_log(request: Request, case_id: UUID, app: App) -> Response:
    """The live part of the engagement page: stage and contact log."""
    return ui.render(request, "outreach_log.html", "", e=app.engagement_record(case_id), stages=STAGES)


@router.post("/ui/engagements/{case_id}/contacts", response_class=HTMLResponse,
             dependencies=[requires("engagement.write")])
async def record_contact(request: Request, case_id: UUID, app: App) -> Response:
    staff = staff_from_cookie(request)
    if staff is None:
        return redirect(f"/ui/login?next=/ui/engagements/{case_id}")
    text = await form_text(request)
    try:
        seen = text.get(STAGE_SEEN)
        if isinstance(seen, str) and seen:
            now = (await call(app.engagement_view, case_id))["stage"]
            if now != seen:  # the page showed another stage: its select would put the relationship back
                if text.get("stage") == seen:  # left as the page offered it: offer the stage now
                    text = {**text, "stage": now}
                raise StageChangedMeanwhile(seen, now)
        command = form_model(ContactIn, text)
        await call(app.record_contact, actor_of(staff), case_id, command.method, command.reached, command.note,
                   command.stage, command.on)
    except DomainError as refused:
        return await call(_page, request, app, case_id, refused.status, form=text, error_at="contact",
                          error=str(refused))
    return redirect(f"/ui/engagements/{case_id}", ok="接触を記録しました / contact recorded")


#: the contact form's hidden field: the relationship stage the page showed when it was opened
STAGE_SEEN = "stage_seen"


class StageChangedMeanwhile(DomainError):
    """A contact sent from a page that showed another relationship stage than the engagement has now (a tab left open
    while a colleague recorded a contact): its 関係の段階（記録後）, offered as the page showed it, would silently put the
    relationship back (HD's review, session 24). Sent again from the page as it is now, it is recorded."""

    status = 409

    def __init__(self, seen: str, now: str) -> None:
        super().__init__(
            f"この画面を開いた後に、関係の段階が別のタブまたは別の職員の記録で「{now}」に替わっています（この画面を開いた"
            f"ときは「{seen}」）。接触は記録していません。入力した内容は残してあります。関係の段階（記録後）を確かめて、"
            f"もう一度「接触を記録」を押してください / not recorded: the relationship stage changed from {seen} to {now} "
            "after this page was opened (another tab, or another member of staff). What you typed is kept: check the "
            "stage after this contact, then record again")


@router.post("/ui/engagements/{case_id}/hand-over", response_class=HTMLResponse,
             dependencies=[requires("engagement.write")])
async def hand_over(request: Request, case_id: UUID, app: App) -> Response:
    """D12: hand the person on to intake (a counter), collaboration (a primary agency) or participation."""
    staff = staff_from_cookie(request)
    if staff is None:
        return redirect(f"/ui/login?next=/ui/engagements/{case_id}")
    text = await form_text(request)
    try:
        command = form_model(HandOverIn, text)
        await call(app.hand_over, actor_of(staff), case_id, command.to_program, command.reason,
                   command.primary_agency, command.counter)
    except DomainError as refused:
        return await call(_page, request, app, case_id, refused.status, form=text, error_at="hand_over",
                          error=str(refused))
    return redirect(f"/ui/engagements/{case_id}", ok=f"{HAND_OVER_TO[command.to_program]}へ引き継ぎました / handed over")


def _plan_facts(app: OutreachApplication, case_id: UUID) -> list[tuple[str, str]]:
    """What heads an outreach plan: who referred the person, why, and the relationship stage (blocking)."""
    e = app.engagement_view(case_id)
    return [("紹介元", referrer_label(e["referred_by"])), ("理由・状況", reason_label(e["reason"])), ("住所・所在地域", e["address"] or "—"),
            ("関係の段階", e["stage"])]


router.include_router(casework_pages(ui, lambda case_id: f"/ui/engagements/{case_id}", "engagement.read"))
router.include_router(plan_pages(ui, "outreach", lambda case_id: f"/ui/engagements/{case_id}", "engagement.read",
                                 _plan_facts))
