"""Participation staff's pages (参加支援事業, D13): the supports, a support's needs, the resource
catalogue (filtered by kind, provider and area), matching, placements and their reviews, and the
report of a missing resource (D8), and the support's plans (shared/web/plan_pages.py: the editor, 会議へ提出,
the meeting's word, 伴走支援 with its check-ins, the printable plan)."""

from __future__ import annotations

import hashlib
import json
from datetime import timedelta, timezone
from pathlib import Path
from typing import Any
from uuid import UUID

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, Response

from services.participation.api import (
    App,
    CatalogueDetailsIn,
    MatchIn,
    NeedsIn,
    PlacementIn,
    PlacementIndex,
    PlacementReviewIn,
    ShortageIn,
)
from services.participation.application import ParticipationApplication
from services.participation.domain import PLACEMENT_OUTCOMES
from shared.domain.wareki import local_time, today_in_japan, wareki
from shared.kernel.journey import DomainError, NotFound, actor_label
from shared.organisation.reference import DIVISION_TITLES, RESOURCE_KINDS, areas
from shared.web.casework_api import casework_pages
from shared.web.deps import call
from shared.web.if_match import ChangedMeanwhile, etag_of, held_to
from shared.web.limits import form_model, form_text
from shared.web.plan_pages import LABELS as PLAN_LABELS
from shared.web.plan_pages import plan_pages, plans_of
from shared.web.policy import requires
from shared.web.ui import SEEN_FIELD, UI, actor_of, csv_response, filters_of, paged, redirect, staff_from_cookie

ui = UI("participation", DIVISION_TITLES["participation"], Path(__file__).parent / "templates")
#: 地区 the forms offer (issue 18): the municipality file's areas valid today (a tenant's own file: read on use)
ui.templates.env.globals["areas_today"] = lambda: list(areas().values())
router = APIRouter(include_in_schema=False)
JST = timezone(timedelta(hours=9))
def kind_ja() -> dict[str, str]:
    """Resource kind code → its name in the municipality file in force (a tenant's own: read on use, issue 18)."""
    return {k.code: k.ja for k in RESOURCE_KINDS.values()}
STATUS_JA = {"started": "参加中", **PLACEMENT_OUTCOMES}


def referred_ja(referred_by: str) -> str:
    """Where the support came from, as staff say it."""
    if referred_by == "outreach":
        return "アウトリーチから"
    if referred_by.startswith("meeting:"):
        return f"会議の決定から（{referred_by[8:16]}）"
    return referred_by


def _support(record: dict[str, Any]) -> dict[str, Any]:
    """A support's record (application.support_record) in the page's words and times."""
    placements = [{
        **p, "started_by": actor_label(p["started_by"]),
        "reviews": [{**r, "at": local_time(r["at"]), "who": actor_label(r["actor"])} if "at" in r else r for r in p["reviews"]],
    } for p in record["placements"]]
    return {**record, "placements": placements, "started_at": local_time(record["started_at"]),
            "referred_ja": referred_ja(record["referred_by"]),
            "open_placements": [p for p in placements if p["status"] != "ended"]}


def _supports(request: Request, app: ParticipationApplication) -> list[dict[str, Any]]:
    """The supports the reader may see (division scope), each with its 担当者 and 副担当 (`in_charge`); only
    those where the staff member `?in_charge=` is one of them when asked (issue 15)."""
    reader = getattr(request.state, "principal", None)
    assigned = app.assignments()
    rows = [{**_support(record), "in_charge": assigned.get(record["case_id"], (None, None))}
            for record in app.support_records(reader)]
    wanted = request.query_params.get("in_charge", "").strip()
    if wanted:
        rows = [r for r in rows if wanted in r["in_charge"]]
    rows.sort(key=lambda r: r["started_at"], reverse=True)
    return rows


def _listed(request: Request, app: ParticipationApplication) -> dict[str, Any]:
    """One page of the supports the filter bar keeps (the day each started), with its pager."""
    filters = filters_of(request)
    supports, paging = paged(request, filters.apply(_supports(request, app), day="started_at"))
    return {"supports": supports, "paging": paging, "filters": filters, "kind_ja": kind_ja(), "status_ja": STATUS_JA}


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
            "kind_ja": kind_ja(), "all_count": len(catalogue),
            "providers": sorted({r["provider"] for r in catalogue}), "areas": sorted({r["area"] for r in catalogue})}


def _back(path: str, anchor: str, ok: str) -> Response:
    """Back to the part of the page where the work was done, with the message (PRG)."""
    response = redirect(path, ok=ok)
    response.headers["location"] += f"#{anchor}"
    return response


@router.get("/ui/", response_class=HTMLResponse, dependencies=[requires("support.read")])
def home(request: Request, app: App) -> Response:
    if staff_from_cookie(request) is None:
        return redirect("/ui/login?next=/ui/")
    return ui.render(request, "participation_home.html", "参加支援 / supports", **_listed(request, app),
                     in_charge=request.query_params.get("in_charge", "").strip())


@router.get("/ui/supports-table", response_class=HTMLResponse, dependencies=[requires("support.read")])
def supports_table(request: Request, app: App) -> Response:
    """The live part of the list: reloaded whenever the store changes."""
    return ui.render(request, "participation_supports_table.html", "", **_listed(request, app))


@router.get("/ui/supports.csv", dependencies=[requires("support.read")])
def supports_csv(request: Request, app: App) -> Response:
    rows = _supports(request, app)

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
def catalogue_page(request: Request, app: App) -> Response:
    """参加支援の資源一覧: what community registered (D8 D13), filtered by kind, provider, area."""
    if staff_from_cookie(request) is None:
        return redirect("/ui/login?next=/ui/catalogue")
    return _catalogue_page(request, app)


def _catalogue_page(request: Request, app: ParticipationApplication, status_code: int = 200, **extra: Any) -> Response:
    """The catalogue page (blocking), with a refused 案内情報 form as typed."""
    return ui.render(request, "participation_catalogue.html", "資源一覧 / resource catalogue", status_code=status_code,
                     case_id=None, matched=set(), **_catalogue_context(app.catalogue(), _filters(request)),
                     **{"form": {}, "error": None, **extra})


@router.post("/ui/catalogue/{resource_id}/details", response_class=HTMLResponse, dependencies=[requires("support.write")])
async def catalogue_details(request: Request, resource_id: UUID, app: App) -> Response:
    """資源の案内情報 (issue 15): 開催日時・曜日, the provider's 連絡先 and 利用料 of a catalogue entry."""
    staff = staff_from_cookie(request)
    if staff is None:
        return redirect("/ui/login?next=/ui/catalogue")
    text = await form_text(request)
    seen = text.get(SEEN_FIELD)
    shown = int(seen) if isinstance(seen, str) and seen.isdigit() and len(seen) < 10 else None

    def record(details: CatalogueDetailsIn) -> None:
        """The details only if the entry still holds those the page showed, held to its version as the command saves
        (as the JSON PUT with If-Match): a tab left open would otherwise undo another's details without a word."""
        entry = app.catalogue_entry(str(resource_id))
        if shown is not None and shown != details_version(entry.view()):
            raise DetailsChangedMeanwhile
        with held_to(etag_of(entry.version) if shown is not None else None,
                     lambda: app.catalogue_entry(str(resource_id)), "資源の案内情報", "resource's details",
                     f"/catalogue/{resource_id}"):
            app.record_catalogue_details(actor_of(staff), str(resource_id), details.schedule, details.contact,
                                         details.fee)

    try:
        await call(record, form_model(CatalogueDetailsIn, text))
    except ChangedMeanwhile:  # saved by another at the same moment: as if it had come first
        refused = DetailsChangedMeanwhile()
        return await call(_catalogue_page, request, app, refused.status,
                          form={**text, "resource_id": str(resource_id)}, error=str(refused))
    except DomainError as refused:
        return await call(_catalogue_page, request, app, refused.status,
                          form={**text, "resource_id": str(resource_id)}, error=str(refused))
    return _back("/ui/catalogue", "catalogue-table", "案内情報を保存しました / details saved")


@router.get("/ui/catalogue-table", response_class=HTMLResponse, dependencies=[requires("catalogue.read")])
def catalogue_table(request: Request, app: App, case_id: UUID | None = None) -> Response:
    """The live catalogue (with match buttons when shown on a support's page)."""
    catalogue = app.catalogue()
    matched: set[str] = set()
    if case_id is not None:
        matched = {m["resource_id"] for m in app.support_view(case_id)["matches"]}
    return ui.render(request, "participation_catalogue_table.html", "", case_id=str(case_id) if case_id else None,
                     matched=matched, form={}, error=None, **_catalogue_context(catalogue, _filters(request)))


@router.get("/ui/catalogue.csv", dependencies=[requires("catalogue.read")])
def catalogue_csv(request: Request, app: App) -> Response:
    return csv_response("資源一覧.csv", ["資源番号", "種類", "名称", "運営主体", "地域", "定員", "開催日時・曜日", "連絡先",
                                        "利用料", "応える地域の課題"],
                        [[r["resource_id"], kind_ja().get(r["kind"], r["kind"]), r["name"], r["provider"], r["area"],
                          r["capacity"] or "", r["schedule"] or "", r["contact"] or "", r["fee"] or "",
                          r["issue_id"] or ""] for r in _filtered(app.catalogue(), _filters(request))])


class NeedsChangedMeanwhile(DomainError):
    """The needs were sent from a page that showed other needs than the support holds now (another tab, another
    member of staff): saving them would silently undo that change (the review from outside, session 16)."""

    status = 409

    def __init__(self) -> None:
        super().__init__(
            "本人のニーズは、この画面を開いた後に別のタブまたは別の職員によって記録し直されたため、保存していません。"
            "入力した内容は下に残してあります。別のタブでこの画面を開き直して最新のニーズと見比べ、必要ならもう一度"
            "記録してください（そのときはこの内容で置き換わります） / not saved: the needs were recorded again after this "
            "page was opened (another tab, or another member of staff). What you typed is kept below: open the page "
            "again in another tab to compare, then save again if it is still needed (it then replaces the other)")


class DetailsChangedMeanwhile(DomainError):
    """A resource's 案内情報 sent from a page that showed other details than the entry holds now (another tab, another
    member of staff): saving them would silently undo that change (HB's review, session 17)."""

    status = 409

    def __init__(self) -> None:
        super().__init__(
            "この資源の案内情報は、この画面を開いた後に別のタブまたは別の職員によって更新されたため、保存していません。"
            "入力した内容は欄に残してあります。別のタブで資源一覧を開き直して最新の案内情報と見比べ、必要ならもう一度"
            "保存してください（そのときはこの内容で置き換わります） / not saved: the resource's details changed after this "
            "page was opened (another tab, or another member of staff). What you typed is kept: open the catalogue again "
            "in another tab to compare, then save again if it is still needed (it then replaces the other)")


def details_version(entry: dict[str, Any]) -> int:
    """Which 案内情報 (schedule, contact, fee) a catalogue row showed, as the number its form carries back."""
    shown = [entry.get("schedule") or "", entry.get("contact") or "", entry.get("fee") or ""]
    return int(hashlib.sha256(json.dumps(shown, ensure_ascii=False).encode()).hexdigest()[:7], 16)


ui.templates.env.globals["details_version"] = details_version


def needs_version(needs: list[str]) -> int:
    """Which needs a page showed, as the number its needs form carries back (`seen_version`, shared/web/ui.py)."""
    return int(hashlib.sha256(json.dumps(needs, ensure_ascii=False).encode()).hexdigest()[:7], 16)


def _page(request: Request, app: ParticipationApplication, case_id: UUID, status_code: int = 200,
          **extra: Any) -> Response:
    """The support's page (blocking: reads the application), or 404 in words."""
    catalogue = app.catalogue()
    try:
        support = _support(app.support_record(case_id, catalogue))
        casework = app.case_file(case_id)
    except NotFound as missing:
        return ui.render(request, "missing.html", "見つかりません / not found", status_code=404,
                         message=str(missing))
    return ui.render(request, "participation_support.html", "参加支援 / support", status_code=status_code,
                     s=support, case_id=support["case_id"], matched={m["resource_id"] for m in support["matches"]},
                     outcomes=PLACEMENT_OUTCOMES, status_ja=STATUS_JA, today=wareki(today_in_japan(), with_gregorian=False),
                     casework=casework, seen_version=needs_version(list(support["needs"])),
                     plans=plans_of(app, case_id), plan_write="participation.plan.write",
                     plan_status_ja=PLAN_LABELS["status_ja"], plan_status_kind=PLAN_LABELS["status_kind"],
                     **_catalogue_context(catalogue, _filters(request)),
                     **{"form": {}, "error": None, "error_at": None, **extra})


@router.get("/ui/supports/{case_id}", response_class=HTMLResponse, dependencies=[requires("support.read")])
def support_page(request: Request, case_id: UUID, app: App) -> Response:
    if staff_from_cookie(request) is None:
        return redirect(f"/ui/login?next=/ui/supports/{case_id}")
    return _page(request, app, case_id)


def _rows(value: Any) -> list[str]:
    """A field the form repeats (one input per row), as a list however many rows were sent."""
    return value if isinstance(value, list) else [] if value is None else [value]


async def _refused(request: Request, app: ParticipationApplication, case_id: UUID, action: str,
                   form: dict[str, Any], refused: DomainError) -> Response:
    """The support's page again, with the form as sent and why it was refused, by the form (`action`)."""
    return await call(_page, request, app, case_id, refused.status, form=form, error_at=action, error=str(refused))


def _sent(text: dict[str, Any]) -> dict[str, Any]:
    """The form as sent, for showing it again (the need rows always a list)."""
    return {**text, "needs": _rows(text.get("needs"))}


@router.post("/ui/supports/{case_id}/needs", response_class=HTMLResponse, dependencies=[requires("support.write")])
async def record_needs(request: Request, case_id: UUID, app: App) -> Response:
    """The person's needs, one a row (a row left blank is no need)."""
    staff = staff_from_cookie(request)
    if staff is None:
        return redirect(f"/ui/login?next=/ui/supports/{case_id}")
    text = await form_text(request)
    try:
        seen = text.get(SEEN_FIELD)
        if isinstance(seen, str) and seen.isdigit() and len(seen) < 10 \
                and int(seen) != needs_version(list((await call(app.support_view, case_id))["needs"])):
            raise NeedsChangedMeanwhile
        recorded = form_model(NeedsIn, {"needs": [n for n in _rows(text.get("needs")) if n]})
        await call(app.record_needs, actor_of(staff), case_id, recorded.needs)
    except DomainError as refused:
        return await _refused(request, app, case_id, "needs", _sent(text), refused)
    return _back(f"/ui/supports/{case_id}", "needs", "ニーズを記録しました / needs recorded")


@router.post("/ui/supports/{case_id}/matches", response_class=HTMLResponse, dependencies=[requires("support.write")])
async def match(request: Request, case_id: UUID, app: App) -> Response:
    """D13: a resource of the catalogue matched to the person."""
    staff = staff_from_cookie(request)
    if staff is None:
        return redirect(f"/ui/login?next=/ui/supports/{case_id}")
    text = await form_text(request)
    try:
        chosen = form_model(MatchIn, text)
        await call(app.match, actor_of(staff), case_id, chosen.resource_id, chosen.resource_kind)
    except DomainError as refused:
        return await _refused(request, app, case_id, "matches", _sent(text), refused)
    return _back(f"/ui/supports/{case_id}", "matches", "資源をマッチングしました / resource matched")


@router.post("/ui/supports/{case_id}/placements", response_class=HTMLResponse, dependencies=[requires("support.write")])
async def start_placement(request: Request, case_id: UUID, app: App) -> Response:
    """D13: the person starts at a matched resource."""
    staff = staff_from_cookie(request)
    if staff is None:
        return redirect(f"/ui/login?next=/ui/supports/{case_id}")
    text = await form_text(request)
    try:
        placement = form_model(PlacementIn, text)
        await call(app.start_placement, actor_of(staff), case_id, placement.resource_id, placement.started_on)
    except DomainError as refused:
        return await _refused(request, app, case_id, "placements", _sent(text), refused)
    return _back(f"/ui/supports/{case_id}", "placements", "参加を始めました / placement started")


@router.post("/ui/supports/{case_id}/shortages", response_class=HTMLResponse, dependencies=[requires("support.write")])
async def report_shortage(request: Request, case_id: UUID, app: App) -> Response:
    """D8: no local resource meets a need: community learns of it as a regional issue."""
    staff = staff_from_cookie(request)
    if staff is None:
        return redirect(f"/ui/login?next=/ui/supports/{case_id}")
    text = await form_text(request)
    try:
        shortage = form_model(ShortageIn, text)
        await call(app.report_shortage, actor_of(staff), case_id, shortage.need, shortage.area, shortage.description,
                   shortage.area_code)
    except DomainError as refused:
        return await _refused(request, app, case_id, "shortages", _sent(text), refused)
    return _back(f"/ui/supports/{case_id}", "shortages", "地域づくり事業へ不足を報告しました / shortage reported")


@router.post("/ui/supports/{case_id}/placements/{index}/review", response_class=HTMLResponse,
             dependencies=[requires("support.write")])
async def review(request: Request, case_id: UUID, index: PlacementIndex, app: App) -> Response:
    """D13: how a placement went: 定着, 継続中, 中断 or 終了, with a note."""
    staff = staff_from_cookie(request)
    if staff is None:
        return redirect(f"/ui/login?next=/ui/supports/{case_id}")
    text = await form_text(request)
    try:
        reviewed = form_model(PlacementReviewIn, text)
        await call(app.review_placement, actor_of(staff), case_id, index, reviewed.outcome, reviewed.note,
                   reviewed.next_review_on)
    except DomainError as refused:
        return await _refused(request, app, case_id, "review", {**text, "index": index}, refused)
    return _back(f"/ui/supports/{case_id}", f"placement-{index}",
                 f"参加の評価を記録しました（{PLACEMENT_OUTCOMES[reviewed.outcome]}）/ review recorded")


def _plan_facts(app: ParticipationApplication, case_id: UUID) -> list[tuple[str, str]]:
    """What heads a participation plan: where the support came from and the person's needs (blocking)."""
    s = app.support_view(case_id)
    return [("紹介元", referred_ja(s["referred_by"])), ("ニーズ", "・".join(s["needs"]) or "（未記録）")]


router.include_router(casework_pages(ui, lambda case_id: f"/ui/supports/{case_id}", "support.read"))
router.include_router(plan_pages(ui, "participation", lambda case_id: f"/ui/supports/{case_id}", "support.read",
                                 _plan_facts))
