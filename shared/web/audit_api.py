"""The audit door of every service (D15): the journey across programs, state as of a moment, disclosures.

- `GET /cases/{id}/state?as_of=T`: this program's view of the case as it stood at T;
- `GET /audit/cases/{id}?as_of=T&format=json|csv|text`: every program's events as a causation tree,
  and every program's state as of T (gathered from the six services; any service answers); `missing` names the
  programs that did not answer, `withheld` apart those whose records the caller's division may not read (403);
- `GET /audit/people/{person_ref}/disclosures?format=json|csv|text`: who was shown the person's
  information, when, on what basis (intake keeps personal information; others answer with none);
- `/ui/audit/cases/{id}` and `/ui/audit/people/{person_ref}`: the same for auditors in the browser.
"""

from __future__ import annotations

import asyncio
import json
import re
from dataclasses import dataclass
from datetime import datetime
from typing import Annotated, Any, Literal
from uuid import UUID

import httpx
from fastapi import APIRouter, Depends, FastAPI, Query, Request, Response
from fastapi.encoders import jsonable_encoder
from fastapi.responses import HTMLResponse, JSONResponse, PlainTextResponse
from pydantic import BaseModel, BeforeValidator, ConfigDict, Field

from shared.domain.audit import (
    as_of,
    causation_tree,
    disclosure_rows,
    render_csv,
    render_disclosures_csv,
    render_disclosures_text,
    render_states,
    render_text,
)
from shared.domain.wareki import JST
from shared.kernel.app import ServiceApplication
from shared.kernel.journey import Invalid
from shared.web.deps import application
from shared.web.limits import check_moment
from shared.web.paging import PAGING_HEADERS, Cursor, Limit
from shared.web.paging import page as one_page
from shared.web.policy import requires
from shared.web.ui import PROGRAM_LABELS, UI, internal_url

_A_NUMBER = re.compile(r"\s*[+-]?(\d+(\.\d*)?|\.\d+)([eE][+-]?\d+)?\s*")


def written_as_a_time(value: Any) -> Any:
    """`as_of` as the document says, an RFC 3339 time: pydantic reads a number (`as_of=0.5`) as seconds since 1970
    and the audit answered the record as of 1970-01-01T00:00:00.5Z (the review from outside: schemathesis
    `negative_data_rejection`)."""
    if isinstance(value, str) and _A_NUMBER.fullmatch(value):
        raise ValueError("日時を 2026-11-29T12:00:00+09:00 の形で入力してください（数は受け付けません） / give an RFC 3339 "
                         "time such as 2026-11-29T12:00:00+09:00, not a number")
    return value


#: RFC 3339 with a zone; a bare number is refused (`written_as_a_time`)
AsOf = Annotated[datetime | None, BeforeValidator(written_as_a_time), Query(
    description="RFC 3339 time with a zone, e.g. 2026-11-29T12:00:00+09:00 (default: now)")]
FORMAT = Query("json", pattern="^(json|csv|text)$", description="json, csv (UTF-8 with BOM) or text")



App = Annotated[ServiceApplication, Depends(application(ServiceApplication))]


class AggregateStateOut(BaseModel):
    """One aggregate of this program's record of the case, rebuilt to its version at `as_of` (D15)."""

    model_config = ConfigDict(extra="allow")

    service: str
    aggregate_id: str
    kind: str = Field(description="the aggregate's class, e.g. Plan")
    version: int
    recorded_at: str = Field(description="when its last event up to `as_of` was recorded (ISO 8601)")
    state: dict[str, Any] = Field(description="its view as of then (a person's record is never part of it)")


class AuditEventOut(BaseModel):
    """One event of the case's journey, at its depth in the causation tree."""

    model_config = ConfigDict(extra="allow")

    depth: int = Field(description="0 for an event no other event caused; +1 per cause")
    service: str
    position: int
    occurred_at: str
    event: str
    case_id: str | None
    aggregate_id: str
    event_id: str
    actor: dict[str, Any] | None
    caused_by: str | None = Field(description="the event_id of the integration event that caused it")
    fields: dict[str, Any]


class AuditDocumentOut(BaseModel):
    """D15: the case across every program (format=json; csv and text are the same as text)."""

    model_config = ConfigDict(extra="allow")

    case_id: UUID
    as_of: str | None
    missing: list[str] = Field(description="応答のない事業: the programs that did not answer (unreachable, a failure): "
                               "their events are not in this document; ask again later")
    withheld: list[str] = Field(default_factory=list, description="所属課の範囲外の事業: the programs that answered "
                                "but may not be read by the caller's division (401, 403), no outage")
    events: list[AuditEventOut]
    states: list[AggregateStateOut]


class DisclosureOut(BaseModel):
    """One showing (or the erasure) of a person's information (個人情報の開示の記録)."""

    model_config = ConfigDict(extra="allow")

    occurred_at: str
    case_id: str
    staff_id: str
    division: str
    basis: str
    basis_ja: str
    meeting_id: str
    event_id: str
    action: Literal["shown", "erased"]
    recent_basis: bool = Field(description="an own-counter basis its reader created shortly before (issue 13)")


def _json_csv_or_text(model: Any, what: str, headers: dict[str, Any] | None = None) -> dict[int | str, dict[str, Any]]:
    """The OpenAPI of an answer that is `model` as JSON, or CSV or text by `format` (with `headers`: a paged list's)."""
    return {200: {"model": model, "description": f"{what}: JSON, or CSV / text by `format`",
                  "content": {"text/csv": {}, "text/plain": {}}, **({"headers": headers} if headers else {})}}


def moment_of(value: datetime | None) -> datetime | None:
    if value is not None and value.tzinfo is None:
        raise Invalid("as_of にはタイムゾーンが必要です（例: 2026-11-29T12:00:00+09:00）/ "
                      "as_of needs a time zone, e.g. 2026-11-29T12:00:00+09:00")
    if value is not None:
        try:
            check_moment(value)
        except ValueError as exc:
            raise Invalid(f"as_of: {exc}") from None
    return value


@dataclass(frozen=True)
class Gathered:
    """What every service answered to one GET: its rows; the programs that did not answer (unreachable, a failure:
    an outage, `missing`); apart, those that answered but may not be read by the caller (401, 403: the division
    scope, no outage, `withheld`); and those that have no such record (404, `absent`)."""

    rows: list[Any]
    missing: list[str]
    withheld: list[str]
    absent: list[str]


async def gather_apart(path: str, urls: dict[str, str], token: str) -> Gathered:
    """GET `path` from every service with the caller's token, a refusal told apart from an outage (`Gathered`), as a
    case's 経過 does (shared/web/http.py `gather_history`)."""
    found = Gathered([], [], [], [])
    async with httpx.AsyncClient(timeout=10, headers={"Authorization": f"Bearer {token}"}) as client:
        responses = await asyncio.gather(*(client.get(f"{url}{path}") for url in urls.values()),
                                         return_exceptions=True)
    for name, response in zip(urls, responses, strict=True):
        status = response.status_code if isinstance(response, httpx.Response) else None
        if status == 200 and isinstance(response, httpx.Response):
            found.rows.extend(response.json())
        elif status in (401, 403):
            found.withheld.append(name)
        elif status == 404:
            found.absent.append(name)
        else:
            found.missing.append(name)
    return found


async def gather(path: str, urls: dict[str, str], token: str) -> tuple[list[Any], list[str]]:
    """GET `path` from every service with the caller's token; (all rows, the services whose rows are not known: that did
    not answer, refused the caller or had none). 保存年限 judges a person only on every program's records."""
    found = await gather_apart(path, urls, token)
    unknown = {*found.missing, *found.withheld, *found.absent}
    return found.rows, [name for name in urls if name in unknown]


async def journey_document(case_id: UUID, moment: datetime | None, urls: dict[str, str], token: str) -> dict[str, Any]:
    """The audit of one case: events as a causation tree, each program's state as of `moment`."""
    query = f"?as_of={moment.isoformat().replace('+', '%2B')}" if moment else ""
    history, (states, _) = await asyncio.gather(
        gather_apart(f"/cases/{case_id}/history", urls, token), gather(f"/cases/{case_id}/state{query}", urls, token))
    rows = as_of(sorted(history.rows, key=lambda r: (r["occurred_at"], r["service"], r["position"])), moment)
    return {
        "case_id": str(case_id),
        "as_of": moment.isoformat() if moment else None,
        "missing": history.missing,
        "withheld": history.withheld,
        "events": [{"depth": depth, **row} for depth, row in causation_tree(rows)],
        "states": states,
    }


def mount_audit(api: FastAPI, page: UI) -> None:
    """The audit routes of a service: the JSON (CSV, text) API and the auditors' pages."""
    router = APIRouter(tags=["audit"])
    _mount_api(router)
    _mount_pages(router, page)
    api.include_router(router)


def _disclosures(app: ServiceApplication, person_ref: UUID, format: str, paging: tuple[Any, ...] | None = None) -> Any:
    """A person's disclosures as JSON rows (one page of them with `paging`: limit, cursor, request, response), or
    as a CSV or text answer (all of them)."""
    found = disclosure_rows(app.person_rows(person_ref))
    if format == "csv":
        return Response(render_disclosures_csv(found), media_type="text/csv; charset=utf-8", headers={
            "Content-Disposition": f'attachment; filename="disclosures-{person_ref}.csv"'})
    if format == "text":
        return PlainTextResponse(render_disclosures_text(str(person_ref), found) + "\n")
    return one_page(found, *paging) if paging else found


async def _audit_case(case_id: UUID, request: Request, as_of: datetime | None, format: str) -> Any:
    """The case's audit document as JSON, or as a CSV or text answer."""
    document = await journey_document(case_id, moment_of(as_of), _urls(request), _token(request))
    rows = [{k: v for k, v in e.items() if k != "depth"} for e in document["events"]]
    if format == "csv":
        return Response(render_csv(rows), media_type="text/csv; charset=utf-8", headers={
            "Content-Disposition": f'attachment; filename="audit-{case_id}.csv"'})
    if format == "text":
        moment = moment_of(as_of)
        return PlainTextResponse(render_text(rows) + "\n\n" + render_states(document["states"], moment) + "\n")
    return document


def _mount_api(router: APIRouter) -> None:
    @router.get("/cases/{case_id}/state", dependencies=[requires("case.history")],
                responses={200: {"headers": PAGING_HEADERS}})
    def state(case_id: UUID, request: Request, response: Response, app: App, as_of: AsOf = None,
              limit: Limit = None, cursor: Cursor = None) -> list[AggregateStateOut]:
        """This program's view of the case as it stood at `as_of` (each aggregate rebuilt to its version then), in
        the order the aggregates first recorded for the case; paged by `limit` and `cursor`."""
        division = getattr(getattr(request.state, "principal", None), "division", None)
        states = app.state_as_of(case_id, moment_of(as_of), division)
        return [AggregateStateOut.model_validate(s) for s in one_page(states, limit, cursor, request, response)]

    @router.get("/audit/cases/{case_id}", response_model=None, dependencies=[requires("audit.read")],
                responses=_json_csv_or_text(AuditDocumentOut, "the case's audit"))
    async def audit_case(case_id: UUID, request: Request, as_of: AsOf = None, format: str = FORMAT) -> Any:
        """D15: the case's whole history across every program as a causation tree, and each program's state
        (it asks every service over HTTP, so it stays `async`)."""
        return await _audit_case(case_id, request, as_of, format)

    @router.get("/audit/people/{person_ref}/disclosures", response_model=None,
                dependencies=[requires("audit.disclosures")],
                responses=_json_csv_or_text(list[DisclosureOut], "the person's disclosures", PAGING_HEADERS))
    def disclosures(person_ref: UUID, request: Request, response: Response, app: App, format: str = FORMAT,
                    limit: Limit = None, cursor: Cursor = None) -> Any:
        """Who was shown this person's information, when, on what legal basis (intake records every showing), in
        the order recorded; the JSON form paged by `limit` and `cursor` (CSV and text: all of them)."""
        return _disclosures(app, person_ref, format, (limit, cursor, request, response))


def _mount_pages(router: APIRouter, page: UI) -> None:
    @router.get("/ui/audit/cases/{case_id}", response_class=HTMLResponse, include_in_schema=False,
                dependencies=[requires("audit.read")])
    async def audit_page(case_id: UUID, request: Request, as_of: str = "", format: str = "") -> Response:
        """監査: the causation tree and each program's view of the case as of a moment (`format`: its
        CSV / JSON download for the signed-in browser, whose cookie the JSON API does not take)."""
        if format in ("json", "csv", "text"):
            return _answer(await _audit_case(case_id, request, _moment(as_of), format))
        moment, error = _page_moment(as_of)
        document = await journey_document(case_id, moment, _urls(request), _token(request))
        for state in document["states"]:  # lists and records as readable JSON, Japanese kept as it is
            state["state"] = {k: v if isinstance(v, str) else json.dumps(v, ensure_ascii=False)
                              for k, v in state["state"].items()}
        return page.render(request, "audit_case.html", "監査 / audit", document=document, as_of=as_of,
                           error=error, PROGRAM_LABELS=PROGRAM_LABELS)

    @router.get("/ui/audit/people/{person_ref}", response_class=HTMLResponse, include_in_schema=False,
                dependencies=[requires("audit.disclosures")])
    def disclosures_page(person_ref: UUID, request: Request, app: App, format: str = "") -> Response:
        """個人情報の開示記録: every showing of a person's information (`format`: CSV / JSON, as the API)."""
        if format in ("json", "csv", "text"):
            return _answer(_disclosures(app, person_ref, format))
        found = disclosure_rows(app.person_rows(person_ref))
        return page.render(request, "audit_person.html", "開示記録 / disclosures", person_ref=str(person_ref),
                           rows=found)


def _page_moment(as_of: str) -> tuple[datetime | None, str | None]:
    """The page form's moment (its datetime-local is Japan time) and, when it is not one, why."""
    if not as_of:
        return None, None
    try:
        moment = datetime.fromisoformat(as_of)
        if moment.tzinfo is None:
            moment = moment.replace(tzinfo=JST)  # the form's datetime-local is Japan time
        check_moment(moment)
    except ValueError as exc:
        return None, str(exc) if "/" in str(exc) else f"日時の形式が正しくありません / not a time: {as_of[:40]}"
    return moment, None


def _answer(answer: Any) -> Response:
    return answer if isinstance(answer, Response) else JSONResponse(jsonable_encoder(answer))


def _moment(as_of: str) -> datetime | None:
    try:
        return moment_of(datetime.fromisoformat(as_of)) if as_of else None
    except ValueError:
        return None


def _urls(request: Request) -> dict[str, str]:
    return {name: internal_url(name) for name in PROGRAM_LABELS}


def _token(request: Request) -> str:
    """The caller's token, forwarded to the other services (shared/web/policy.py let the caller in)."""
    return str(request.state.principal.token)
