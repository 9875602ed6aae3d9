"""The route index hands a request to the route FastAPI's walk would choose without the walk's machinery (issue 19,
shared/web/routing.py `RouteIndex.dispatch`): a route of an included router that matches fully is handled as FastAPI's
`APIRouter.app`, `_IncludedRouter.handle` and `_handle_selected` would handle it, without matching each included router
twice and setting and restoring its scope keys at every step.

What the route sees must not change: for every route of every service's app, a request made from its template with
each of its methods reaches the same route with the same scope (path parameters, endpoint, route, router, FastAPI's
included router and effective context, form limits) as through FastAPI's walk of every route; and the walk still
answers whatever is not a full match of an included router's route (a 405, a redirect, a 404: compared answer for
answer in tests/unit/test_route_index.py)."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from fastapi import APIRouter, Depends, FastAPI, Request
from fastapi.routing import APIRoute, _IncludedRouter
from fastapi.testclient import TestClient

from shared.web.routing import RouteIndex, install
from unit.test_route_index import SERVICES, apis, sample, templates

FASTAPI_KEYS = ("included_router", "effective_route_context", "form_limits")


def seen_by_route(scope: dict[str, Any]) -> tuple[Any, ...]:
    """What a route's `handle` is given, in terms that do not depend on the index's narrowed copies of the routers
    (which keep FastAPI's own include contexts and effective route contexts)."""
    fastapi_scope = scope.get("fastapi", {})
    included = fastapi_scope.get("included_router")
    return (id(scope["route"]), scope["endpoint"], dict(scope["path_params"]), scope["router"] is not None,
            (id(included.original_router), id(included.include_context)) if included is not None else None,
            id(fastapi_scope.get("effective_route_context")), fastapi_scope.get("form_limits"),
            sorted(k for k in scope if k not in ("state",)), sorted(fastapi_scope))


@pytest.fixture
def handled(monkeypatch: pytest.MonkeyPatch) -> list[tuple[Any, ...]]:
    """The scope each request's route was handed (no endpoint runs: 299)."""
    seen: list[tuple[Any, ...]] = []

    async def handle(self: Any, scope: dict[str, Any], receive: Any, send: Any) -> None:
        seen.append(seen_by_route(scope))
        await send({"type": "http.response.start", "status": 299, "headers": []})
        await send({"type": "http.response.body", "body": b""})

    monkeypatch.setattr(APIRoute, "handle", handle)
    return seen


async def ask(app: Any, method: str, path: str) -> int:
    scope = {"type": "http", "method": method, "path": path, "raw_path": path.encode(), "root_path": "",
             "query_string": b"", "headers": [], "scheme": "http", "server": ("test", 80), "client": ("test", 1),
             "http_version": "1.1", "asgi": {"version": "3.0"}}
    sent: list[dict[str, Any]] = []

    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    await app(scope, receive, send)
    return int(next(m for m in sent if m["type"] == "http.response.start")["status"])


def full_matches(api: FastAPI) -> list[tuple[str, str]]:
    """(method, path) of every route of the app's included routers, each with every method it takes."""
    found = set()
    for route in api.router.routes:
        if isinstance(route, _IncludedRouter):
            for template, methods in templates([route]):
                found |= {(method, sample(template)) for method in methods if method != "HEAD"}
    return sorted(found)


@pytest.mark.parametrize("service", SERVICES)
def test_every_route_sees_the_scope_the_walk_gives_it(service: str, handled: list[tuple[Any, ...]]) -> None:
    api = apis()[service]
    index = api.router.middleware_stack
    assert isinstance(index, RouteIndex)
    asked = full_matches(api)
    assert len(asked) > 10

    async def compare() -> list[str]:
        differ = []
        for method, path in asked:
            before = len(handled)
            walked = await ask(api.router.app, method, path)
            walked_scope = handled[before:]
            before = len(handled)
            indexed = await ask(index, method, path)
            indexed_scope = handled[before:]
            if (walked, walked_scope) != (indexed, indexed_scope):
                differ.append(f"{method} {path}: walk {walked} {walked_scope} ≠ index {indexed} {indexed_scope}")
        return differ

    differ = asyncio.run(compare())
    assert not differ, "\n".join(differ[:10])


@pytest.mark.parametrize("service", SERVICES)
def test_a_full_match_does_not_go_through_fastapis_walk(service: str, handled: list[tuple[Any, ...]],
                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    """The point of it: no included router is matched twice, no `_handle_selected`, for a route that matches fully
    (before: every such request went through both, once per included router on the way)."""
    api = apis()[service]
    index = api.router.middleware_stack
    asyncio.run(ask(index, "GET", "/healthz"))  # built
    walked: list[str] = []

    def noted(name: str) -> Any:
        real = getattr(_IncludedRouter, name)

        def through(self: Any, *args: Any) -> Any:
            walked.append(name)
            return real(self, *args)

        return through

    for name in ("_match", "_handle_selected", "matches", "handle"):
        monkeypatch.setattr(_IncludedRouter, name, noted(name))

    async def run() -> list[int]:
        return [await ask(index, method, path) for method, path in full_matches(api)]

    statuses = asyncio.run(run())
    assert statuses and all(s == 299 for s in statuses), "every one reached its route"
    assert walked == []


def nested_app(indexed: bool) -> tuple[FastAPI, dict[str, Any]]:
    """A route two routers deep with a router's dependency, the routers' form limits on the way, a route of the app's
    own; with the route index or FastAPI's walk."""
    api = FastAPI()
    seen: dict[str, Any] = {}

    def dependency(request: Request) -> None:
        seen.update(route=request.scope["route"].path, limits=request.scope["fastapi"].get("form_limits"),
                    params=dict(request.path_params))

    outer = APIRouter(dependencies=[Depends(dependency)], form_limits={"max_fields": 11})
    inner = APIRouter(form_limits={"max_part_size": 1234})
    inner.get("/plans/{plan_id}/notes")(lambda plan_id: {"notes": plan_id})
    inner.post("/plans/{plan_id}/notes")(lambda plan_id: {"posted": plan_id})
    outer.include_router(inner, form_limits={"max_files": 3})
    outer.get("/plans/{plan_id}")(lambda plan_id: {"plan": plan_id})
    api.include_router(outer, form_limits={"max_files": 7})
    api.get("/cases/{case_id}")(lambda case_id: {"case": case_id})
    if indexed:
        assert isinstance(install(api), RouteIndex)
    return api, seen


def test_what_is_not_a_full_match_is_the_walks_and_a_nested_router_with_form_limits_is_handled_as_the_walk_does(
) -> None:
    """Real endpoints (no recorder): the route two routers deep sees the walk's scope (its form limits merged the
    walk's way); a 405 with its Allow, the redirect to the path without its trailing slash, a 404, the app's own route
    and a HEAD answered as its GET are as before."""
    (indexed, seen), (walked, walked_seen) = nested_app(True), nested_app(False)
    client, plain = TestClient(indexed), TestClient(walked)
    assert client.get("/plans/1/notes").json() == plain.get("/plans/1/notes").json() == {"notes": "1"}
    assert seen == walked_seen and seen["limits"], (seen, walked_seen)
    assert client.post("/plans/2/notes").json() == {"posted": "2"}
    assert client.get("/plans/3").json() == {"plan": "3"}
    assert seen == {"route": "/plans/{plan_id}", "limits": {"max_fields": 11, "max_files": 7}, "params": {"plan_id": "3"}}
    refused = client.delete("/plans/3/notes")
    assert refused.status_code == 405 and refused.headers["allow"] == plain.delete("/plans/3/notes").headers["allow"]
    redirected = client.get("/plans/4/", follow_redirects=False)
    assert redirected.status_code == 307 and redirected.headers["location"].endswith("/plans/4")
    assert client.get("/plans/4/more/").status_code == 404
    assert client.get("/cases/5").json() == {"case": "5"}
    head = client.head("/plans/6/notes")
    assert head.status_code == 200 and head.content == b""
