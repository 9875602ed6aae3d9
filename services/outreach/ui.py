"""Outreach workers' pages (アウトリーチ等を通じた継続的支援事業, D12): their engagements with the stage and
the last contact, starting an engagement (a new person before any escalation, or an existing case),
the contact log, the relationship stage as a progression, and the hand-over."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any, cast
from uuid import UUID

import anyio
from eventsourcing.persistence import IntegrityError
from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, Response

from services.outreach.api import ContactIn, HandOverIn, StartIn
from services.outreach.application import OutreachApplication
from services.outreach.domain import CONTACT_METHODS, STAGES, Engagement
from shared.domain.reference import COUNTERS, agencies
from shared.kernel.journey import DomainError, NotFound
from shared.web.http import DIVISION_TITLES, runtime_of
from shared.web.limits import check_form
from shared.web.policy import requires
from shared.web.ui import UI, actor_of, csv_response, redirect, staff_from_cookie


def _app(request: Request) -> OutreachApplication:
    """This service's application, typed (the runtime holds it as the base class)."""
    return cast(OutreachApplication, runtime_of(request).app)


ui = UI("outreach", DIVISION_TITLES["outreach"], Path(__file__).parent / "templates")
router = APIRouter(include_in_schema=False)
JST = timezone(timedelta(hours=9))
HAND_OVER_TO = {"intake": "包括的相談支援（相談窓口）", "collaboration": "多機関協働", "participation": "参加支援"}
REFERRERS = ("民生委員・児童委員", "家族", "近隣住民", "地域包括支援センター", "調布市社会福祉協議会", "学校", "医療機関", "その他")


def _local(moment: datetime) -> str:
    """An event's moment as staff read it: Japan time, ISO text (for the `wareki` filter and hh:mm)."""
    return moment.astimezone(JST).isoformat(timespec="minutes")


def _record(app: OutreachApplication, case_id: UUID) -> dict[str, Any]:
    """The engagement with its contact log and hand-over read from its own events (who, when)."""
    engagement = app.engagement_view(case_id)
    contacts: list[dict[str, Any]] = []
    started_at, started_by = "", ""
    handed: dict[str, Any] | None = None
    for event in app.events_of(case_id):
        actor = (getattr(event, "meta", None) or {}).get("actor") or {}
        who = actor.get("staff_id") or (f"自動（{actor['service']}）" if actor.get("service") else "")
        at = _local(event.timestamp)
        if isinstance(event, Engagement.Started):
            started_at, started_by = at, who
        elif isinstance(event, Engagement.ContactRecorded):
            contacts.append({"at": at, "method": event.method, "reached": event.reached, "note": event.note,
                             "stage": event.stage, "who": who})
        elif isinstance(event, Engagement.HandedOver):
            handed = {"at": at, "to_program": event.to_program, "reason": event.reason,
                      "primary_agency": event.primary_agency, "counter": event.counter, "who": who}
    return {**engagement, "log": contacts, "last": contacts[-1] if contacts else None, "started_at": started_at,
            "started_by": started_by, "handed": handed, "stage_index": STAGES.index(engagement["stage"])}


async def _engagements(request: Request) -> list[dict[str, Any]]:
    app: OutreachApplication = _app(request)

    def read() -> list[dict[str, Any]]:
        who = getattr(request.state, "principal", None)  # division scope
        return [_record(app, UUID(e["case_id"])) for e in app.scoped(app.engagements(), who)]

    rows = await anyio.to_thread.run_sync(read)
    # Those still with the worker first, latest contact first; then those handed over.
    rows.sort(key=lambda r: r["last"]["at"] if r["last"] else r["started_at"], reverse=True)
    return [r for r in rows if r["handed"] is None] + [r for r in rows if r["handed"] is not None]


def _home(request: Request, rows: list[dict[str, Any]], status_code: int = 200, **extra: Any) -> Response:
    return ui.render(request, "outreach_home.html", "アウトリーチの関わり / engagements", status_code=status_code,
                     engagements=rows, stages=STAGES, hand_over_to=HAND_OVER_TO, referrers=REFERRERS,
                     **{"form": {}, "error": None, "existing": None, **extra})


@router.get("/ui/", response_class=HTMLResponse, dependencies=[requires("engagement.read")])
async def home(request: Request) -> Response:
    if staff_from_cookie(request) is None:
        return redirect("/ui/login?next=/ui/")
    return _home(request, await _engagements(request))


@router.get("/ui/engagements-table", response_class=HTMLResponse, dependencies=[requires("engagement.read")])
async def engagements_table(request: Request) -> Response:
    """The live part of the list: reloaded whenever the store changes."""
    return ui.render(request, "outreach_engagements_table.html", "", engagements=await _engagements(request),
                     stages=STAGES, hand_over_to=HAND_OVER_TO)


@router.get("/ui/engagements.csv", dependencies=[requires("engagement.read")])
async def engagements_csv(request: Request) -> Response:
    rows = await _engagements(request)
    return csv_response("アウトリーチ一覧.csv",
                        ["ケース番号", "紹介元", "理由", "関係の段階", "接触の記録", "最終接触日", "最終接触の方法", "会えたか",
                         "引き継ぎ先", "開始日", "開始した職員"],
                        [[r["case_id"], r["referred_by"], r["reason"], r["stage"], len(r["log"]),
                          r["last"]["at"][:10] if r["last"] else "", r["last"]["method"] if r["last"] else "",
                          ("会えた" if r["last"]["reached"] else "会えず") if r["last"] else "",
                          HAND_OVER_TO.get(r["handed"]["to_program"], "") if r["handed"] else "", r["started_at"][:10],
                          r["started_by"]] for r in rows])


@router.post("/ui/engagements", response_class=HTMLResponse, dependencies=[requires("engagement.write")])
async def start(request: Request) -> Response:
    """D12: begin outreach: a new person (a new case) or a case already known by its number."""
    staff = staff_from_cookie(request)
    if staff is None:
        return redirect("/ui/login?next=/ui/")
    form = await request.form()
    text = {k: str(form.get(k) or "").strip() for k in ("case_id", "referred_by", "reason", "whom")}
    app: OutreachApplication = _app(request)

    async def refuse(message: str, status: int, existing: UUID | None = None) -> Response:
        return _home(request, await _engagements(request), status_code=status, form=text, error=message,
                     existing=str(existing) if existing else None)

    case_id: UUID | None = None
    if text["whom"] == "existing":
        try:
            case_id = UUID(text["case_id"])
        except ValueError:
            return await refuse("ケース番号は 8-4-4-4-12 桁の番号で入力してください（ケースの画面からコピーできます）/ "
                                "enter the full case number", 422)
    if not text["referred_by"] or not text["reason"]:
        return await refuse("紹介元と理由を入力してください / fill in who referred the person and why", 422)
    try:
        check_form(StartIn, {"referred_by": text["referred_by"], "reason": text["reason"]})
        if case_id is not None:
            try:
                await anyio.to_thread.run_sync(app.engagement_view, case_id)
                return await refuse("このケースのアウトリーチは既に始まっています / outreach has already started for this case", 409,
                                    existing=case_id)
            except NotFound:
                pass
        started = await anyio.to_thread.run_sync(lambda: app.start(actor_of(staff), case_id, text["referred_by"],
                                                                   text["reason"]))
    except DomainError as refused:
        return await refuse(str(refused), refused.status)
    except IntegrityError:
        return await refuse("このケースのアウトリーチは既に始まっています / outreach has already started for this case", 409)
    return redirect(f"/ui/engagements/{started}", ok="アウトリーチを始めました / engagement started")


async def _page(request: Request, case_id: UUID, status_code: int = 200, **extra: Any) -> Response:
    app: OutreachApplication = _app(request)
    try:
        record = await anyio.to_thread.run_sync(_record, app, case_id)
    except NotFound as missing:
        return ui.render(request, "missing.html", "見つかりません / not found", status_code=404,
                         message=str(missing))
    return ui.render(request, "outreach_engagement.html", "アウトリーチ / engagement", status_code=status_code,
                     e=record, stages=STAGES, methods=CONTACT_METHODS, counters=list(COUNTERS.values()),
                     hand_over_to=HAND_OVER_TO, agencies=sorted(agencies()),
                     **{"form": {}, "error": None, "error_at": None, **extra})


@router.get("/ui/engagements/{case_id}", response_class=HTMLResponse, dependencies=[requires("engagement.read")])
async def engagement_page(request: Request, case_id: UUID) -> Response:
    if staff_from_cookie(request) is None:
        return redirect(f"/ui/login?next=/ui/engagements/{case_id}")
    return await _page(request, case_id)


@router.get("/ui/engagements/{case_id}/log", response_class=HTMLResponse, dependencies=[requires("engagement.read")])
async def engagement_log(request: Request, case_id: UUID) -> Response:
    """The live part of the engagement page: stage and contact log."""
    record = await anyio.to_thread.run_sync(_record, _app(request), case_id)
    return ui.render(request, "outreach_log.html", "", e=record, stages=STAGES)


@router.post("/ui/engagements/{case_id}/contacts", response_class=HTMLResponse,
             dependencies=[requires("engagement.write")])
async def record_contact(request: Request, case_id: UUID) -> Response:
    staff = staff_from_cookie(request)
    if staff is None:
        return redirect(f"/ui/login?next=/ui/engagements/{case_id}")
    form = await request.form()
    text = {k: str(form.get(k) or "").strip() for k in ("method", "reached", "note", "stage")}
    if text["method"] not in CONTACT_METHODS or text["stage"] not in STAGES or text["reached"] not in ("1", "0"):
        return await _page(request, case_id, 422, form=text, error_at="contact",
                           error="方法・会えたか・関係の段階を選んでください / choose the method, whether you met, and the stage")
    app: OutreachApplication = _app(request)
    try:
        check_form(ContactIn, {"note": text["note"]})
        await anyio.to_thread.run_sync(lambda: app.record_contact(actor_of(staff), case_id, text["method"],
                                                                  text["reached"] == "1", text["note"], text["stage"]))
    except DomainError as refused:
        return await _page(request, case_id, refused.status, form=text, error_at="contact", error=str(refused))
    return redirect(f"/ui/engagements/{case_id}", ok="接触を記録しました / contact recorded")


@router.post("/ui/engagements/{case_id}/hand-over", response_class=HTMLResponse,
             dependencies=[requires("engagement.write")])
async def hand_over(request: Request, case_id: UUID) -> Response:
    """D12: hand the person on to intake (a counter), collaboration (a primary agency) or participation."""
    staff = staff_from_cookie(request)
    if staff is None:
        return redirect(f"/ui/login?next=/ui/engagements/{case_id}")
    form = await request.form()
    text = {k: str(form.get(k) or "").strip() for k in ("to_program", "reason", "primary_agency", "counter")}
    if text["to_program"] not in HAND_OVER_TO or not text["reason"]:
        return await _page(request, case_id, 422, form=text, error_at="hand_over",
                           error="引き継ぎ先と理由を入力してください / choose where to hand over and say why")
    app: OutreachApplication = _app(request)
    try:
        check_form(HandOverIn, {k: text[k] for k in ("reason", "primary_agency", "counter")})
        await anyio.to_thread.run_sync(lambda: app.hand_over(
            actor_of(staff), case_id, text["to_program"], text["reason"], text["primary_agency"] or None,
            text["counter"] or None))
    except DomainError as refused:
        return await _page(request, case_id, refused.status, form=text, error_at="hand_over", error=str(refused))
    return redirect(f"/ui/engagements/{case_id}",
                    ok=f"{HAND_OVER_TO[text['to_program']]}へ引き継ぎました / handed over")
