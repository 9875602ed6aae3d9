"""The city's figures (事業目標・評価指標, issue 16) on every service.

- `GET /figures/program?fy=2026`: this program's indicators for the fiscal year, counted from its own
  store's events (so any past year is counted again from the record); small cells as 「3未満」;
- `GET /figures?fy=2026&format=json|csv|xlsx`: the city's figures, gathered from the six services with
  the caller's token (any service answers, as the audit door), with the year's targets beside them
  (`JUSOU_TARGETS_FILE`, TOML; deploy/targets.example.toml);
- `/ui/figures?fy=2026&q=0..4`: the same as a page with per-indicator tables and bars (server-side
  SVG), links to the CSV and xlsx, printable.

The counting is `shared.domain.figures` (pure); here the store's events become `Fact`s: the public
event a stored event is published as (the relay's translate), and for a few private events
(`PRIVATE_FIELDS`) their codes. Texts and persons never leave the store.
"""

from __future__ import annotations

import io
import threading
import weakref
from datetime import date, datetime
from pathlib import Path
from typing import Annotated, Any
from uuid import UUID

from fastapi import APIRouter, FastAPI, Query, Request, Response
from fastapi.encoders import jsonable_encoder
from fastapi.responses import HTMLResponse, JSONResponse
from pydantic import BaseModel, ConfigDict, Field

from shared.domain.figures import (
    FIELDS_USED,
    INDICATORS,
    NOTE,
    PRIVATE_FIELDS,
    QUARTER_LABELS,
    SECTIONS,
    Fact,
    fiscal_year_label,
    fiscal_year_of,
    merge,
    program_figures,
    read_targets,
    render_csv,
    table_rows,
)
from shared.domain.wareki import today_in_japan
from shared.kernel.app import ServiceApplication
from shared.kernel.idempotency import IdempotentRequest
from shared.settings import current
from shared.web.audit_api import gather
from shared.web.deps import principal, runtime_of
from shared.web.policy import requires
from shared.web.ui import PROGRAM_LABELS, UI, internal_url

READ = requires("figures.read")
FY = Query(None, ge=2000, le=2100, description="fiscal year (年度): 2026 is 2026-04-01 .. 2027-03-31 (default: this one)")
FORMAT = Query("json", pattern="^(json|csv|xlsx)$", description="json, csv (UTF-8 with BOM, for Excel) or xlsx")
XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


class FigureRowOut(BaseModel):
    """One row of an indicator: a counter, program, meeting type… or the total (key "")."""

    model_config = ConfigDict(extra="allow")

    key: str = Field(description="the code the row counts (a counter, a program, a meeting type); '' for 合計")
    key_label: str
    quarters: list[int | None] = Field(description="Q1..Q4 (4–6, 7–9, 10–12, 1–3月); null is a hidden cell")
    year: int | None = Field(description="the fiscal year; null is a hidden cell")
    quarters_shown: list[str] = Field(description="the same as shown: 「3未満」 for 1 or 2, 「秘匿」 for a cell "
                                      "that would give a small one away by subtraction")
    year_shown: str
    target: int | None = Field(None, description="the city's target for the year (city-wide door only)")


class IndicatorOut(BaseModel):
    """One indicator (評価指標) of one program."""

    model_config = ConfigDict(extra="allow")

    code: str
    label: str
    section: str = Field(description="the 事業 it belongs to")
    service: str
    unit: str
    rows: list[FigureRowOut]


class CityFiguresOut(BaseModel):
    """The city's figures for one fiscal year, every program's indicators with the year's targets."""

    model_config = ConfigDict(extra="allow")

    fy: int
    label: str = Field(description="e.g. 令和8年度（2026年度）")
    quarters: list[str]
    missing: list[str] = Field(description="services that did not answer (their figures are not in this document)")
    small: str = Field(description="how a count of 1 or 2 is shown")
    targets_error: str | None = Field(None, description="why the targets file could not be read, if it could not")
    indicators: list[IndicatorOut]


# -- the store's events as facts ------------------------------------------------------------------------

#: per open store: the position read up to and the facts so far (weak: a closed application is forgotten)
_FACTS: weakref.WeakKeyDictionary[ServiceApplication, tuple[int, list[Fact]]] = weakref.WeakKeyDictionary()
_LOCK = threading.Lock()


def _plain(value: Any) -> Any:
    if isinstance(value, UUID):
        return str(value)
    if isinstance(value, date | datetime):
        return value.isoformat()
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    return value


def facts_of(app: ServiceApplication, translate: Any, service: str) -> list[Fact]:
    """Every stored event of the service that the figures may count, as `Fact`s; read once, then only
    what was recorded since (the store only grows)."""
    with _LOCK:
        position, known = _FACTS.get(app, (0, []))
        facts = list(known)
        for notification in app.notifications(start=position + 1):
            position = notification.id
            if notification.topic.startswith(IdempotentRequest.__module__ + ":"):
                continue
            event: Any = app.domain_event(notification)
            name = notification.topic.split(":")[-1]
            envelope = translate(event, notification.id)
            private = PRIVATE_FIELDS.get(name, ())
            if envelope is None and not private:
                continue
            meta = getattr(event, "meta", {}) or {}
            fields = {k: v for k, v in envelope.payload.items() if k in FIELDS_USED} if envelope is not None else {}
            fields.update({k: _plain(getattr(event, k, None)) for k in private})
            case_id = meta.get("case_id")
            facts.append(Fact(service=service, name=name, recorded_at=event.timestamp,
                              public=envelope.event_type if envelope is not None else None,
                              case_id=str(case_id) if case_id else None, aggregate_id=str(event.originator_id),
                              fields=fields))
        _FACTS[app] = (position, facts)
        return facts


def program_answer(request: Request, service: str, fy: int) -> list[dict[str, Any]]:
    """This service's indicators for the year (blocking: reads the store)."""
    runtime = runtime_of(request)
    return program_figures(facts_of(runtime.app, runtime.relay.translate, service), fy, service)


# -- the city-wide document -----------------------------------------------------------------------------


def targets_for(fy: int) -> tuple[dict[str, dict[str, int]], str | None]:
    """The year's targets from the targets file (none when unset), and why it could not be read, if so."""
    path = current().targets_file
    if not path:
        return {}, None
    try:
        text = Path(path).read_text(encoding="utf-8")
        return read_targets(text).get(fy, {}), None
    except (OSError, ValueError) as exc:
        return {}, f"目標ファイル {path} を読めません / cannot read the targets file: {exc}"


async def city_document(fy: int, token: str) -> dict[str, Any]:
    """Every service's indicators for the year, merged, with the targets beside them."""
    urls = {name: internal_url(name) for name in PROGRAM_LABELS}
    answers, missing = await gather(f"/figures/program?fy={fy}", urls, token)
    targets, error = targets_for(fy)
    document = merge(fy, answers, targets, missing)
    document["targets_error"] = error
    return document


def render_xlsx(document: dict[str, Any]) -> bytes:
    """The figures as an Excel workbook (openpyxl): one sheet, a title row, the header, the rows."""
    from openpyxl import Workbook  # type: ignore[import-untyped]  # only the xlsx answer needs it
    from openpyxl.styles import Font  # type: ignore[import-untyped]

    book = Workbook()
    sheet = book.active
    sheet.title = f"{document['fy']}年度"
    sheet.append([f"{document['label']} 重層的支援体制整備事業 実績（{document['from']}〜{document['to']}）"])
    sheet["A1"].font = Font(bold=True)
    rows = table_rows(document)
    sheet.append(rows[0])
    for cell in sheet[2]:
        cell.font = Font(bold=True)
    for row in rows[1:]:  # counts and targets as numbers, the 達成率 as a number; 「3未満」「秘匿」 as text
        sheet.append([int(v) if v.isdigit() and i >= 4 else float(v) if i == 10 and v else v
                      for i, v in enumerate(row)])
    sheet.append([NOTE])
    for column, width in zip("ABCDEFGHIJK", (22, 30, 24, 6, 12, 12, 12, 12, 10, 8, 10), strict=True):
        sheet.column_dimensions[column].width = width
    sheet.freeze_panes = "A3"
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()


def _answer(document: dict[str, Any], format: str) -> Response:
    """The document as JSON, CSV or xlsx; `X-Jusou-Missing` names the services that did not answer."""
    name = f"figures-{document['fy']}"
    missing = {"X-Jusou-Missing": ",".join(document["missing"])} if document["missing"] else {}
    if format == "csv":
        return Response(render_csv(document), media_type="text/csv; charset=utf-8",
                        headers={"Content-Disposition": f'attachment; filename="{name}.csv"', **missing})
    if format == "xlsx":
        return Response(render_xlsx(document), media_type=XLSX,
                        headers={"Content-Disposition": f'attachment; filename="{name}.xlsx"', **missing})
    return JSONResponse(jsonable_encoder(document), headers=missing)


# -- routes ----------------------------------------------------------------------------------------------


def mount_figures(api: FastAPI, page: UI) -> None:
    """The figures routes of a service: its own program's counts, the city's door and its page."""
    router = APIRouter(tags=["figures"])

    # A document, not a list: one entry per indicator of this program as the plan defines them (INDICATORS), so
    # its length is fixed by the program and never by the data, and `/figures` reads it whole from every service.
    # Not paged (paging could only cut a fixed document in pieces); the schema says so by minItems = maxItems,
    # which is how tests/contracts/test_paging.py tells a document from a list, and the answer is checked by it.
    indicators = sum(1 for indicator in INDICATORS if indicator.service == page.service)
    document = Annotated[list[IndicatorOut], Field(min_length=indicators, max_length=indicators)]

    @router.get("/figures/program", dependencies=[READ], response_model=document)
    def program(request: Request, fy: int | None = FY) -> list[IndicatorOut]:
        """This program's indicators for the fiscal year, per quarter and key, counted from its own store's
        events; a count of 1 or 2 is null (shown 「3未満」). A document of a fixed length (one entry per
        indicator of the program), not a list: not paged."""
        year = fy or fiscal_year_of(today_in_japan())
        return [IndicatorOut.model_validate(i) for i in program_answer(request, page.service, year)]

    @router.get("/figures", response_model=None, dependencies=[READ],
                responses={200: {"model": CityFiguresOut, "description": "the city's figures: JSON, or CSV / xlsx "
                                 "by `format`", "content": {"text/csv": {}, XLSX: {}}}})
    async def city(request: Request, fy: int | None = FY, format: str = FORMAT) -> Response:
        """事業目標・評価指標: every program's figures for the fiscal year (it asks the six services over HTTP
        with the caller's token), the year's targets beside them; CSV for Excel (UTF-8 with BOM) or xlsx."""
        year = fy or fiscal_year_of(today_in_japan())
        return _answer(await city_document(year, principal(request).token), format)

    @router.get("/ui/figures", response_class=HTMLResponse, include_in_schema=False, dependencies=[READ])
    async def figures_page(request: Request, fy: str = "", q: str = "0", format: str = "") -> Response:
        """実績（事業目標・評価指標）: the year's figures per quarter, per counter and program, with bars and
        the targets; `format` csv / xlsx / json downloads the same for the signed-in browser."""
        this_year = fiscal_year_of(today_in_japan())
        # ASCII digits only, and four: `isdigit()` is also true of ² and of 5000 digits, which int() refuses (a 500)
        year = int(fy) if fy.isascii() and fy.isdigit() and len(fy) == 4 and 2000 <= int(fy) <= 2100 else this_year
        quarter = int(q) if q in ("0", "1", "2", "3", "4") else 0
        document = await city_document(year, principal(request).token)
        if format in ("csv", "xlsx", "json"):
            return _answer(document, format)
        sections: dict[str, list[dict[str, Any]]] = {name: [] for name in SECTIONS}
        for indicator in document["indicators"]:
            indicator["chart"] = chart(indicator, quarter)
            sections.setdefault(indicator["section"], []).append(indicator)
        return page.render(request, "figures.html", "実績 / the city's figures", document=document,
                           sections={name: found for name, found in sections.items() if found}, fy=year, quarter=quarter, quarter_labels=QUARTER_LABELS,
                           years=list(range(this_year, this_year - 6, -1)), fy_label=fiscal_year_label,
                           PROGRAM_LABELS=PROGRAM_LABELS)

    api.include_router(router)


def chart(indicator: dict[str, Any], quarter: int) -> dict[str, Any]:
    """Bars for the page (drawn server-side as SVG: no script, no inline style): one per row but the total
    when there are several, else the total; a small cell draws no bar and says 「3未満」."""
    rows = [r for r in indicator["rows"] if r["key"]] or indicator["rows"]
    values = [(r["key_label"], r["quarters"][quarter - 1] if quarter else r["year"],
               r["quarters_shown"][quarter - 1] if quarter else r["year_shown"], None if quarter else r.get("target"))
              for r in rows]
    top = max([v or 0 for _, v, _, _ in values] + [t or 0 for *_, t in values] + [1])
    width = 300
    bars = [{"label": label, "shown": text, "y": i * 24, "width": round((value or 0) * width / top),
             "target": None if target is None else round(target * width / top), "target_value": target}
            for i, (label, value, text, target) in enumerate(values)]
    shown_any = any(text != "0" for _, _, text, _ in values)
    return {"bars": bars, "height": len(bars) * 24, "width": width, "any": shown_any}
