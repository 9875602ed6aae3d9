"""Participation staff's pages (参加支援事業, D13): the supports, a support's needs, the resource
catalogue (filtered by kind, provider and area), matching, placements and their reviews, and the
report of a missing resource (D8)."""

from __future__ import annotations

from collections.abc import Callable
from datetime import date, datetime, timedelta, timezone
from pathlib import Path
from typing import Any, cast
from uuid import UUID

import anyio
from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, Response
from pydantic import BaseModel

from services.participation.api import (
    MatchIn,
    NeedsIn,
    PlacementIn,
    PlacementIndex,
    PlacementReviewIn,
    ShortageIn,
)
from services.participation.application import ParticipationApplication
from services.participation.domain import PLACEMENT_OUTCOMES, Support
from shared.domain.reference import RESOURCE_KINDS
from shared.kernel.journey import DomainError, NotFound
from shared.web.http import DIVISION_TITLES, runtime_of
from shared.web.limits import check_form
from shared.web.policy import requires
from shared.web.ui import UI, actor_of, csv_response, redirect, staff_from_cookie


def _app(request: Request) -> ParticipationApplication:
    """This service's application, typed (the runtime holds it as the base class)."""
    return cast(ParticipationApplication, runtime_of(request).app)


ui = UI("participation", DIVISION_TITLES["participation"], Path(__file__).parent / "templates")
router = APIRouter(include_in_schema=False)
JST = timezone(timedelta(hours=9))
KIND_JA = {k.code: k.ja for k in RESOURCE_KINDS.values()}
STATUS_JA = {"started": "参加中", **PLACEMENT_OUTCOMES}


def _local(moment: datetime) -> str:
    return moment.astimezone(JST).isoformat(timespec="minutes")


def referred_ja(referred_by: str) -> str:
    """Where the support came from, as staff say it."""
    if referred_by == "outreach":
        return "アウトリーチから (D12)"
    if referred_by.startswith("meeting:"):
        return f"会議の決定から（{referred_by[8:16]}）"
    return referred_by


def _record(app: ParticipationApplication, case_id: UUID, names: dict[str, dict[str, Any]]) -> dict[str, Any]:
    """The support, with resource names from the catalogue and who did what when (from its own events)."""
    support = app.support_view(case_id)
    started_at, reviews, starts = "", [], []
    for event in app.events_of(case_id):
        actor = (getattr(event, "meta", None) or {}).get("actor") or {}
        who = actor.get("staff_id") or (f"自動（{actor['service']}）" if actor.get("service") else "")
        if isinstance(event, Support.Started):
            started_at = _local(event.timestamp)
        elif isinstance(event, Support.PlacementStarted):
            starts.append(who)
        elif isinstance(event, Support.PlacementReviewed):
            reviews.append({"index": event.index, "at": _local(event.timestamp), "who": who})
    for placement in support["placements"]:
        dated = [r for r in reviews if r["index"] == placement["index"]]
        placement["reviews"] = [{**review, **dated[i]} if i < len(dated) else review
                                for i, review in enumerate(placement["reviews"])]
        placement["resource"] = names.get(placement["resource_id"])
        placement["started_by"] = starts[placement["index"]] if placement["index"] < len(starts) else ""
    support["matches"] = [{**m, "resource": names.get(m["resource_id"])} for m in support["matches"]]
    open_placements = [p for p in support["placements"] if p["status"] != "ended"]
    return {**support, "started_at": started_at, "referred_ja": referred_ja(support["referred_by"]),
            "open_placements": open_placements}


def _catalogue_by_id(app: ParticipationApplication) -> dict[str, dict[str, Any]]:
    return {r["resource_id"]: r for r in app.catalogue()}


async def _supports(request: Request) -> list[dict[str, Any]]:
    app: ParticipationApplication = _app(request)

    def read() -> list[dict[str, Any]]:
        names = _catalogue_by_id(app)
        who = getattr(request.state, "principal", None)  # division scope
        return [_record(app, UUID(s["case_id"]), names) for s in app.scoped(app.supports(), who)]

    rows = await anyio.to_thread.run_sync(read)
    rows.sort(key=lambda r: r["started_at"], reverse=True)
    return rows


def _filters(request: Request) -> dict[str, str]:
    q = request.query_params
    kind = q.get("kind", "")
    return {"kind": kind if kind in RESOURCE_KINDS else "", "provider": q.get("provider", "").strip(),
            "area": q.get("area", "").strip()}


def _filtered(catalogue: list[dict[str, Any]], filters: dict[str, str]) -> list[dict[str, Any]]:
    def keep(r: dict[str, Any]) -> bool:
        return ((not filters["kind"] or r["kind"] == filters["kind"])
                and filters["provider"].casefold() in r["provider"].casefold()
                and filters["area"].casefold() in r["area"].casefold())

    return [r for r in catalogue if keep(r)]


def _catalogue_context(catalogue: list[dict[str, Any]], filters: dict[str, str]) -> dict[str, Any]:
    return {"resources": _filtered(catalogue, filters), "filters": filters, "kinds": list(RESOURCE_KINDS.values()),
            "kind_ja": KIND_JA, "all_count": len(catalogue),
            "providers": sorted({r["provider"] for r in catalogue}), "areas": sorted({r["area"] for r in catalogue})}


def _back(path: str, anchor: str, ok: str) -> Response:
    """Back to the part of the page where the work was done, with the message (PRG)."""
    response = redirect(path, ok=ok)
    response.headers["location"] += f"#{anchor}"
    return response


@router.get("/ui/", response_class=HTMLResponse, dependencies=[requires("support.read")])
async def home(request: Request) -> Response:
    if staff_from_cookie(request) is None:
        return redirect("/ui/login?next=/ui/")
    return ui.render(request, "participation_home.html", "参加支援 / supports", supports=await _supports(request),
                     kind_ja=KIND_JA, status_ja=STATUS_JA)


@router.get("/ui/supports-table", response_class=HTMLResponse, dependencies=[requires("support.read")])
async def supports_table(request: Request) -> Response:
    """The live part of the list: reloaded whenever the store changes."""
    return ui.render(request, "participation_supports_table.html", "", supports=await _supports(request),
                     kind_ja=KIND_JA, status_ja=STATUS_JA)


@router.get("/ui/supports.csv", dependencies=[requires("support.read")])
async def supports_csv(request: Request) -> Response:
    rows = await _supports(request)

    def name(x: dict[str, Any]) -> str:
        named: str = x["resource"]["name"] if x.get("resource") else x["resource_id"]
        return named

    return csv_response("参加支援一覧.csv",
                        ["ケース番号", "紹介元", "開始日", "ニーズ", "マッチングした資源", "参加", "不足の報告"],
                        [[r["case_id"], r["referred_ja"], r["started_at"][:10], "・".join(r["needs"]),
                          "・".join(name(m) for m in r["matches"]),
                          "・".join(f"{name(p)}（{STATUS_JA.get(p['status'], p['status'])}）" for p in r["placements"]),
                          len(r["shortages"])] for r in rows])


@router.get("/ui/catalogue", response_class=HTMLResponse, dependencies=[requires("catalogue.read")])
async def catalogue_page(request: Request) -> Response:
    """参加支援の資源一覧: what community registered (D8 D13), filtered by kind, provider, area."""
    if staff_from_cookie(request) is None:
        return redirect("/ui/login?next=/ui/catalogue")
    catalogue = await anyio.to_thread.run_sync(_app(request).catalogue)
    return ui.render(request, "participation_catalogue.html", "資源一覧 / resource catalogue",
                     case_id=None, matched=set(), **_catalogue_context(catalogue, _filters(request)))


@router.get("/ui/catalogue-table", response_class=HTMLResponse, dependencies=[requires("catalogue.read")])
async def catalogue_table(request: Request, case_id: UUID | None = None) -> Response:
    """The live catalogue (with match buttons when shown on a support's page)."""
    app: ParticipationApplication = _app(request)
    catalogue = await anyio.to_thread.run_sync(app.catalogue)
    matched: set[str] = set()
    if case_id is not None:
        matched = {m["resource_id"] for m in (await anyio.to_thread.run_sync(app.support_view, case_id))["matches"]}
    return ui.render(request, "participation_catalogue_table.html", "", case_id=str(case_id) if case_id else None,
                     matched=matched, **_catalogue_context(catalogue, _filters(request)))


@router.get("/ui/catalogue.csv", dependencies=[requires("catalogue.read")])
async def catalogue_csv(request: Request) -> Response:
    catalogue = await anyio.to_thread.run_sync(_app(request).catalogue)
    return csv_response("資源一覧.csv", ["資源番号", "種類", "名称", "運営主体", "地域", "定員", "応える地域の課題"],
                        [[r["resource_id"], KIND_JA.get(r["kind"], r["kind"]), r["name"], r["provider"], r["area"],
                          r["capacity"] or "", r["issue_id"] or ""] for r in _filtered(catalogue, _filters(request))])


async def _page(request: Request, case_id: UUID, status_code: int = 200, **extra: Any) -> Response:
    app: ParticipationApplication = _app(request)

    def read() -> tuple[dict[str, Any], list[dict[str, Any]]]:
        catalogue = app.catalogue()
        return _record(app, case_id, {r["resource_id"]: r for r in catalogue}), catalogue

    try:
        support, catalogue = await anyio.to_thread.run_sync(read)
    except NotFound as missing:
        return ui.render(request, "missing.html", "見つかりません / not found", status_code=404,
                         message=str(missing))
    return ui.render(request, "participation_support.html", "参加支援 / support", status_code=status_code,
                     s=support, case_id=support["case_id"], matched={m["resource_id"] for m in support["matches"]},
                     outcomes=PLACEMENT_OUTCOMES, status_ja=STATUS_JA, today=date.today().isoformat(),
                     **_catalogue_context(catalogue, _filters(request)),
                     **{"form": {}, "error": None, "error_at": None, **extra})


@router.get("/ui/supports/{case_id}", response_class=HTMLResponse, dependencies=[requires("support.read")])
async def support_page(request: Request, case_id: UUID) -> Response:
    if staff_from_cookie(request) is None:
        return redirect(f"/ui/login?next=/ui/supports/{case_id}")
    return await _page(request, case_id)


@router.post("/ui/supports/{case_id}/{action}", response_class=HTMLResponse, dependencies=[requires("support.write")])
async def support_action(request: Request, case_id: UUID, action: str) -> Response:
    """Needs, a match, a placement's start, or a shortage report, from the support page."""
    staff = staff_from_cookie(request)
    if staff is None:
        return redirect(f"/ui/login?next=/ui/supports/{case_id}")
    form = await request.form()
    text = {k: str(v).strip() for k, v in form.items() if k != "needs"}
    needs = [str(n).strip() for n in form.getlist("needs")]
    app: ParticipationApplication = _app(request)
    actor = actor_of(staff)

    async def refuse(message: str, status: int) -> Response:
        return await _page(request, case_id, status, form={**text, "needs": needs}, error_at=action, error=message)

    bounds: dict[str, tuple[type[BaseModel], dict[str, Any]]] = {"needs": (NeedsIn, {"needs": [n for n in needs if n]}),
              "matches": (MatchIn, {"resource_id": text.get("resource_id", "")}),
              "placements": (PlacementIn, {"resource_id": text.get("resource_id", ""),
                                           "started_on": text.get("started_on", "")}),
              "shortages": (ShortageIn, {k: text.get(k, "") for k in ("need", "area", "description")})}
    if action in bounds:
        try:
            check_form(*bounds[action])  # the API's bounds: lengths, the start date within a few years
        except DomainError as refused:
            return await refuse(str(refused), refused.status)
    call: Callable[[], object]  # the use case the action runs
    if action == "needs":
        if not [n for n in needs if n]:
            return await refuse("ニーズを1つ以上入力してください / enter at least one need", 422)
        call, done, anchor = (lambda: app.record_needs(actor, case_id, [n for n in needs if n])), "ニーズを記録しました / needs recorded", "needs"
    elif action == "matches":
        call, done, anchor = ((lambda: app.match(actor, case_id, text.get("resource_id", ""))),
                              "資源をマッチングしました / resource matched", "matches")
    elif action == "placements":
        try:
            started_on = date.fromisoformat(text.get("started_on", ""))
        except ValueError:
            return await refuse("参加開始日を 年-月-日 で入力してください / enter the start date", 422)
        if not text.get("resource_id"):
            return await refuse("参加する資源を選んでください / choose the resource", 422)
        call, done, anchor = ((lambda: app.start_placement(actor, case_id, text["resource_id"], started_on)),
                              "参加を始めました / placement started", "placements")
    elif action == "shortages":
        if not all(text.get(k) for k in ("need", "area", "description")):
            return await refuse("不足しているニーズ・地域・内容を入力してください / fill in the need, area and description", 422)
        call, done, anchor = ((lambda: app.report_shortage(actor, case_id, text["need"], text["area"], text["description"])),
                              "地域づくり事業へ不足を報告しました / shortage reported (D8)", "shortages")
    else:
        return redirect(f"/ui/supports/{case_id}", ng=f"不明な操作です: {action}")
    try:
        await anyio.to_thread.run_sync(call)
    except DomainError as refused:
        return await refuse(str(refused), refused.status)
    return _back(f"/ui/supports/{case_id}", anchor, done)


@router.post("/ui/supports/{case_id}/placements/{index}/review", response_class=HTMLResponse,
             dependencies=[requires("support.write")])
async def review(request: Request, case_id: UUID, index: PlacementIndex) -> Response:
    """D13: how a placement went: 定着, 継続中, 中断 or 終了, with a note."""
    staff = staff_from_cookie(request)
    if staff is None:
        return redirect(f"/ui/login?next=/ui/supports/{case_id}")
    form = await request.form()
    text = {k: str(form.get(k) or "").strip() for k in ("outcome", "note")}
    app: ParticipationApplication = _app(request)
    try:
        check_form(PlacementReviewIn, text)
        await anyio.to_thread.run_sync(lambda: app.review_placement(actor_of(staff), case_id, index, text["outcome"],
                                                                    text["note"]))
    except DomainError as refused:
        return await _page(request, case_id, refused.status, form={**text, "index": index}, error_at="review",
                           error=str(refused))
    return _back(f"/ui/supports/{case_id}", f"placement-{index}",
                 f"参加の評価を記録しました（{PLACEMENT_OUTCOMES[text['outcome']]}）/ review recorded")
