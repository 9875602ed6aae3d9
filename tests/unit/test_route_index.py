"""Route matching by the path's first segment (shared/web/routing.py, issue 19) changes no answer: for every route of
every service's app (those of included routers too), a path made from its template, with and without a trailing
slash, with each of its methods and one it does not take, and paths no route names, reach the same route with the
same path parameters, the same 404, 405 or redirect, with the index as with FastAPI's walk of every route (a HEAD as
the walk's GET: the index answers HEAD as its GET)."""

from __future__ import annotations

import asyncio
import importlib
import re
from collections.abc import Iterator
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.routing import APIRoute, _IncludedRouter
from starlette.routing import Mount, Route

from shared.web.routing import RouteIndex, first_segment, segments_of

SERVICES = ("intake", "collaboration", "meeting", "outreach", "participation", "community")
SAMPLE = {"int": "7", "path": "a/b.css", "float": "1.5"}
SOME_ID = "3f1b1c2e-0000-4000-8000-000000000001"
ELSEWHERE = ["/", "//", "/nope", "/nope/", "/ui", "/ui/", "/ui/nope", "/cases", "/cases/", "/cases/x/y/z", "/docs",
             "/docs/", "/docs/static", "/docs/static/swagger-ui.css", "/ui/static/app.css", "/openapi.json",
             "/healthz/", "/%E3%81%82", "/plans", "/meetings/", "/metrics"]


def apis() -> dict[str, FastAPI]:
    return {service: importlib.import_module(f"services.{service}.main").api for service in SERVICES}


def templates(routes: list[Any]) -> Iterator[tuple[str, set[str]]]:
    """(path template, methods) of every route, included routers' too."""
    for route in routes:
        if isinstance(route, _IncludedRouter):
            for context in route.effective_route_contexts():
                original = context.original_route
                yield context.path_format or getattr(original, "path", ""), set(getattr(original, "methods", None) or {"GET"})
        elif isinstance(route, (APIRoute, Route)):
            yield route.path, set(route.methods or {"GET"})
        elif isinstance(route, Mount):
            yield route.path + "/x.css", {"GET"}


def sample(template: str) -> str:
    return re.sub(r"{(\w+)(?::(\w+))?}", lambda m: SAMPLE.get(m.group(2) or "", SOME_ID), template)


def requests(api: FastAPI) -> list[tuple[str, str]]:
    found: set[tuple[str, str]] = set()
    for template, methods in templates(api.router.routes):
        path = sample(template)
        for variant in {path, path.rstrip("/") or "/", path + "/"}:
            for method in methods | {"HEAD", "DELETE", "PATCH"}:
                found.add((method, variant))
    found |= {(method, path) for path in ELSEWHERE for method in ("GET", "POST")}
    return sorted(found)


@pytest.fixture
def answered(monkeypatch: pytest.MonkeyPatch) -> list[tuple[Any, ...]]:
    """Which route's `handle` each request reached, with its path parameters (no endpoint runs)."""
    seen: list[tuple[Any, ...]] = []

    def recorder(cls: type) -> Any:
        async def handle(self: Any, scope: dict[str, Any], receive: Any, send: Any) -> None:
            seen.append((cls.__name__, id(self), getattr(self, "path", None), dict(scope.get("path_params", {}))))
            await send({"type": "http.response.start", "status": 299, "headers": []})
            await send({"type": "http.response.body", "body": b""})

        return handle

    for cls in (APIRoute, Route, Mount):
        monkeypatch.setattr(cls, "handle", recorder(cls))
    return seen


async def answer(app: Any, method: str, path: str, seen: list[tuple[Any, ...]]) -> tuple[Any, ...]:
    scope = {"type": "http", "method": method, "path": path, "raw_path": path.encode(), "root_path": "",
             "query_string": b"", "headers": [], "scheme": "http", "server": ("test", 80), "client": ("test", 1),
             "http_version": "1.1", "asgi": {"version": "3.0"}}
    sent: list[dict[str, Any]] = []

    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    before = len(seen)
    await app(scope, receive, send)
    start = next(m for m in sent if m["type"] == "http.response.start")
    headers = {k.decode(): v.decode() for k, v in start.get("headers", [])}
    return (tuple(seen[before:]), start["status"], headers.get("location"))


@pytest.mark.parametrize("service", SERVICES)
def test_every_route_answers_the_same_with_the_index(service: str, answered: list[tuple[Any, ...]]) -> None:
    api = apis()[service]
    index = api.router.middleware_stack
    assert isinstance(index, RouteIndex), "create_service installs the index"
    asked = requests(api)
    assert len(asked) > 200

    async def compare() -> list[str]:
        differ = []
        reached = 0
        for method, path in asked:
            # FastAPI's walk of every route; a HEAD is answered as its GET (shared/web/routing.py `head_as_get`)
            walked = await answer(api.router.app, "GET" if method == "HEAD" else method, path, answered)
            indexed = await answer(index, method, path, answered)
            reached += bool(walked[0])
            if walked != indexed:
                differ.append(f"{method} {path}: walk {walked} ≠ index {indexed}")
        assert reached > len(asked) / 3, "most sample requests reach a route"
        return differ

    differ = asyncio.run(compare())
    assert not differ, "\n".join(differ[:20])


def test_the_index_offers_fewer_routes_and_keeps_those_a_parameter_begins() -> None:
    """The point of it: a command under /cases is not walked past the pages; a route whose first segment is a
    parameter stays for every path."""
    assert first_segment("/cases/{case_id}") == "cases" and first_segment("/") == "" and first_segment("/{x}/y") == "*"
    api = apis()["intake"]
    index = api.router.middleware_stack
    assert isinstance(index, RouteIndex)
    router = index.router_for({"type": "http", "path": f"/cases/{SOME_ID}/consent", "root_path": ""})
    assert len(router.routes) < len(api.router.routes) / 2
    assert not any("ui" in segments_of(r) and "cases" not in segments_of(r) for r in router.routes)


def test_a_route_added_after_the_first_request_is_routed() -> None:
    """Routes added once requests were served (through FastAPI, to an included router, or into the app's list of
    routes in place) are matched from the next request on: the index is built again."""
    from fastapi import APIRouter
    from fastapi.testclient import TestClient

    from shared.web.routing import install

    api = FastAPI()
    api.get("/cases/{case_id}")(lambda case_id: {"case": case_id})
    inner = APIRouter()
    inner.get("/plans/{plan_id}")(lambda plan_id: {"plan": plan_id})
    api.include_router(inner)
    assert isinstance(install(api), RouteIndex)
    client = TestClient(api)
    assert client.get("/cases/1").json() == {"case": "1"}
    assert client.get("/later").status_code == 404 and client.get("/plans/1/more").status_code == 404

    api.get("/later")(lambda: {"later": True})  # through FastAPI
    assert client.get("/later").json() == {"later": True}
    inner.get("/plans/{plan_id}/more")(lambda plan_id: {"more": plan_id})  # to a router already included
    assert client.get("/plans/1/more").json() == {"more": "1"}
    moved = APIRouter()
    moved.get("/moved")(lambda: {"moved": True})
    cases = next(i for i, r in enumerate(api.router.routes) if getattr(r, "path", "") == "/cases/{case_id}")
    api.router.routes[cases] = moved.routes[0]  # in place: the same number of routes, one replaced
    assert client.get("/moved").json() == {"moved": True} and client.get("/cases/1").status_code == 404
