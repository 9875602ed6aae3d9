"""Paging on every JSON list (issue 17, OpenAPI): each GET whose 200 answer is a JSON array declares `limit` and
`cursor` and the next page's headers (shared/web/paging.py); and the cursors themselves, on lists in process.

There is no allow-list: a JSON array not paged fails, unless it is a document (`is_document`), an array whose
length the schema fixes (minItems = maxItems), so that it cannot grow with the data: `/figures/program` is one
entry per indicator of the program as the plan defines them, read whole by `/figures`; paging it would only cut a
fixed document in pieces. An array of a fixed length is checked at the answer (the response model) too.
"""

from __future__ import annotations

import importlib
from functools import cache
from typing import Any

import httpx
import pytest
from fastapi import FastAPI, Request, Response
from fastapi.responses import JSONResponse
from fastapi.testclient import TestClient

from shared.domain.figures import INDICATORS
from shared.web.errors import code_of
from shared.web.paging import Cursor, CursorUnreadable, Limit, catalogue_order, later_first, page

SERVICES = ("intake", "collaboration", "meeting", "outreach", "participation", "community")


@cache
def api_of(service: str) -> FastAPI:
    api: FastAPI = importlib.import_module(f"services.{service}.main").api
    return api


def is_document(schema: dict[str, Any]) -> bool:
    """An array whose length is fixed by its schema (one entry per thing the program defines), not by the data."""
    return schema.get("minItems") is not None and schema.get("minItems") == schema.get("maxItems")


def json_lists(service: str) -> dict[str, dict[str, Any]]:
    """The GET operations of a service whose 200 answer is a JSON array, by path."""
    found = {}
    for path, operations in api_of(service).openapi()["paths"].items():
        operation = operations.get("get")
        content = (operation or {}).get("responses", {}).get("200", {}).get("content", {})
        schema = content.get("application/json", {}).get("schema", {})
        if schema.get("type") == "array" and not is_document(schema):
            found[path] = operation
    return found


@pytest.mark.parametrize("service", SERVICES)
def test_every_json_list_declares_limit_cursor_and_the_next_pages_headers(service: str) -> None:
    unpaged = []
    for path, operation in json_lists(service).items():
        query = {p["name"]: p["schema"] for p in operation.get("parameters", []) if p["in"] == "query"}
        headers = set(operation["responses"]["200"].get("headers", {}))
        paged = {"limit", "cursor"} <= set(query) and {"X-Next-Cursor", "Link"} <= headers
        if not paged:
            unpaged.append(path)
            continue
        limit = next(s for s in query["limit"]["anyOf"] if s.get("type") == "integer")
        assert (limit["minimum"], limit["maximum"]) == (1, 500), (path, limit)
    assert not unpaged, f"{service}: JSON lists without limit and cursor: {unpaged}"
    assert json_lists(service), f"{service}: no JSON list found (the test would check nothing)"


@pytest.mark.parametrize("service", SERVICES)
def test_the_programs_figures_are_a_document_of_one_entry_per_indicator_not_a_list(service: str) -> None:
    operation = api_of(service).openapi()["paths"]["/figures/program"]["get"]
    schema = operation["responses"]["200"]["content"]["application/json"]["schema"]
    assert is_document(schema) and "/figures/program" not in json_lists(service), schema
    assert schema["maxItems"] == len([i for i in INDICATORS if i.service == service])
    assert not {p["name"] for p in operation.get("parameters", [])} & {"limit", "cursor"}


ROWS = [{"id": f"r{n}", "day": f"2026-12-{n:02d}"} for n in range(1, 8)]


def _lists(rows: list[dict[str, Any]]) -> TestClient:
    """A tiny app with one list paged by position, one oldest first (keyset), one newest first (keyset)."""
    api = FastAPI()

    @api.exception_handler(CursorUnreadable)
    def refused(_: Request, exc: CursorUnreadable) -> JSONResponse:  # as shared/web/http.py answers a DomainError
        return JSONResponse({"detail": str(exc), "code": code_of(exc)}, status_code=exc.status)

    def ids() -> list[str]:
        return [r["id"] for r in ROWS]

    @api.get("/by-position")
    def by_position(request: Request, response: Response, limit: Limit = None, cursor: Cursor = None) -> Any:
        return page(rows, limit, cursor, request, response)

    @api.get("/oldest-first")
    def oldest_first(request: Request, response: Response, limit: Limit = None, cursor: Cursor = None) -> Any:
        return page(rows, limit, cursor, request, response, catalogue_order(ids, "id"))

    @api.get("/newest-first")
    def newest_first(request: Request, response: Response, limit: Limit = None, cursor: Cursor = None) -> Any:
        ordered = sorted(rows, key=lambda r: r["day"], reverse=True)
        return page(ordered, limit, cursor, request, response, catalogue_order(ids, "id", newest_first_by="day"))

    return TestClient(api)


def _walk(client: TestClient, path: str, limit: int, between: Any = None) -> list[str]:
    seen, cursor = [], ""
    while True:
        answer = client.get(path, params={"limit": limit, **({"cursor": cursor} if cursor else {})})
        assert answer.status_code == 200, answer.text
        seen += [r["id"] for r in answer.json()]
        cursor = answer.headers.get("X-Next-Cursor", "")
        if not cursor:
            assert "Link" not in answer.headers
            return seen
        link = httpx.URL(answer.headers["Link"].removeprefix("<").removesuffix('>; rel="next"'))
        assert (link.path, dict(link.params)) == (path, {"limit": str(limit), "cursor": cursor}), answer.headers
        if between:
            between()
            between = None


def test_a_keyset_cursor_neither_skips_nor_repeats_when_rows_go_or_come_at_the_top() -> None:
    rows = list(ROWS)
    client = _lists(rows)
    assert client.get("/oldest-first").json() == client.get("/by-position").json() == rows  # unpaged: as before
    assert _walk(client, "/oldest-first", 3) == _walk(client, "/by-position", 3) == [r["id"] for r in ROWS]
    assert _walk(client, "/newest-first", 2) == [f"r{n}" for n in range(7, 0, -1)]

    # a row of the first page leaves (decided, filtered out): the keyset goes on at r4, a position would skip it
    assert _walk(client, "/oldest-first", 3, lambda: rows.remove(ROWS[0])) == ["r1", "r2", "r3", "r4", "r5", "r6", "r7"]
    rows.insert(0, ROWS[0])
    assert _walk(client, "/by-position", 3, lambda: rows.remove(ROWS[0])) == ["r1", "r2", "r3", "r5", "r6", "r7"]
    rows.insert(0, ROWS[0])

    # a newer row comes at the top of a newest-first list: the rest of the walk is unchanged
    newer = {"id": "r8", "day": "2026-12-31"}
    ROWS.append(newer)
    try:
        assert _walk(client, "/newest-first", 2, lambda: rows.append(newer)) == [f"r{n}" for n in range(7, 0, -1)]
        assert _walk(client, "/newest-first", 10)[0] == "r8"
    finally:
        ROWS.remove(newer)


def test_a_cursor_that_cannot_be_read_is_refused_with_what_to_do() -> None:
    client = _lists(list(ROWS))
    for path, cursor in (("/by-position", "Wzld"), ("/oldest-first", "12"), ("/oldest-first", "bm90LWpzb24"),
                         ("/newest-first", "WyJ4Il0")):  # not digits; digits; not JSON; a key of another shape
        answer = client.get(path, params={"limit": 2, "cursor": cursor})
        assert answer.status_code == 422, (path, cursor, answer.text)
        assert "最初のページから" in answer.json()["detail"] and answer.json()["code"] == "cursor_unreadable", answer.text
    assert client.get("/oldest-first", params={"cursor": "a/b"}).status_code == 422  # not base64url: the pattern
    assert client.get("/oldest-first", params={"limit": 501}).status_code == 422


def test_later_first_orders_days_and_moments_newest_first() -> None:
    assert later_first("2026-12-05") < later_first("2026-12-04")
    assert later_first("2026-12-05T10:00:00+09:00") < later_first("2026-12-05T09:59:59+09:00")
