"""Paging on every JSON list (issue 17, OpenAPI): each GET whose 200 answer is a JSON array declares `limit` and
`cursor` and the next page's headers (shared/web/paging.py); and the cursors themselves, on lists in process.

The allow-list below names the lists not paged yet, each with why; it only shrinks (a list that becomes paged,
or goes, fails the test until its line is struck).
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

from shared.web.errors import code_of
from shared.web.paging import Cursor, CursorUnreadable, Limit, catalogue_order, later_first, page

SERVICES = ("intake", "collaboration", "meeting", "outreach", "participation", "community")

#: (service, path) of JSON lists without paging yet. Shrinks only.
NOT_YET_PAGED = {
    # outreach and participation: their engineers were editing those services when paging came; the next step
    ("outreach", "/engagements"),
    ("participation", "/supports"),
    ("participation", "/catalogue"),
    # shared/web/figures_api.py (another engineer's): a fixed table, one row per program of the city
    *((service, "/figures/program") for service in SERVICES),
}


@cache
def api_of(service: str) -> FastAPI:
    api: FastAPI = importlib.import_module(f"services.{service}.main").api
    return api


def json_lists(service: str) -> dict[str, dict[str, Any]]:
    """The GET operations of a service whose 200 answer is a JSON array, by path."""
    found = {}
    for path, operations in api_of(service).openapi()["paths"].items():
        operation = operations.get("get")
        content = (operation or {}).get("responses", {}).get("200", {}).get("content", {})
        if content.get("application/json", {}).get("schema", {}).get("type") == "array":
            found[path] = operation
    return found


@pytest.mark.parametrize("service", SERVICES)
def test_every_json_list_declares_limit_cursor_and_the_next_pages_headers(service: str) -> None:
    unpaged = []
    for path, operation in json_lists(service).items():
        query = {p["name"]: p["schema"] for p in operation.get("parameters", []) if p["in"] == "query"}
        headers = set(operation["responses"]["200"].get("headers", {}))
        paged = {"limit", "cursor"} <= set(query) and {"X-Next-Cursor", "Link"} <= headers
        if (service, path) in NOT_YET_PAGED:
            assert not paged, f"{service} {path} is paged now: strike it from NOT_YET_PAGED"
            continue
        if not paged:
            unpaged.append(path)
            continue
        limit = next(s for s in query["limit"]["anyOf"] if s.get("type") == "integer")
        assert (limit["minimum"], limit["maximum"]) == (1, 500), (path, limit)
    assert not unpaged, f"{service}: JSON lists without limit and cursor: {unpaged}"
    listed = {path for (s, path) in NOT_YET_PAGED if s == service}
    assert listed <= set(json_lists(service)), f"{service}: allow-listed lists that are gone: {listed}"


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
