"""The route index (shared/web/routing.py) sees that the routes changed without walking every route of every router on
each request (issue 19): FastAPI's `_get_routes_version()` of the app's router went through all of a service's ~250
routes per request to add up the routers' own counts; the index keeps the routers it was built from and reads theirs.
What it notices stays the same (tests/unit/test_route_index.py), and a router included later into an included one is
routed too."""

from __future__ import annotations

from typing import Any

import pytest
from fastapi import APIRouter, FastAPI
from fastapi.testclient import TestClient

from shared.web.routing import RouteIndex, install


def app() -> tuple[FastAPI, APIRouter]:
    api = FastAPI()
    api.get("/cases/{case_id}")(lambda case_id: {"case": case_id})
    inner = APIRouter()
    inner.get("/plans/{plan_id}")(lambda plan_id: {"plan": plan_id})
    api.include_router(inner)
    assert isinstance(install(api), RouteIndex)
    return api, inner


def test_a_request_does_not_walk_the_apps_routes(monkeypatch: pytest.MonkeyPatch) -> None:
    api, _ = app()
    client = TestClient(api)
    assert client.get("/plans/1").json() == {"plan": "1"}  # built
    walks: list[Any] = []
    real = api.router._get_routes_version
    monkeypatch.setattr(api.router, "_get_routes_version", lambda *a: walks.append(a) or real(*a))

    for n in range(5):
        assert client.get(f"/cases/{n}").json() == {"case": str(n)}

    assert walks == []


def test_a_router_included_later_into_an_included_router_is_routed() -> None:
    api, inner = app()
    client = TestClient(api)
    assert client.get("/plans/1").json() == {"plan": "1"}
    nested = APIRouter()
    nested.get("/plans/{plan_id}/notes")(lambda plan_id: {"notes": plan_id})
    inner.include_router(nested)
    assert client.get("/plans/2/notes").json() == {"notes": "2"}
    nested.get("/plans/{plan_id}/more")(lambda plan_id: {"more": plan_id})  # into the router included last
    assert client.get("/plans/3/more").json() == {"more": "3"}


def test_an_included_router_is_matched_once_per_request_and_not_asked_for_its_candidates(
        monkeypatch: pytest.MonkeyPatch) -> None:
    """FastAPI matches an included router once to see that it matches and again to handle it, and asks it for its
    candidates (adding up the routes versions below it) each time; the index's narrowed router answers the second
    match with the first's, on the same request, and keeps the candidates it was built with."""
    from fastapi.routing import _IncludedRouter

    api, inner = app()
    nested = APIRouter()
    nested.get("/plans/{plan_id}/notes")(lambda plan_id: {"notes": plan_id})
    inner.include_router(nested)
    client = TestClient(api)
    assert client.get("/plans/1/notes").json() == {"notes": "1"}  # built
    matched: list[str] = []
    real = _IncludedRouter._match
    monkeypatch.setattr(_IncludedRouter, "_match", lambda self, scope: matched.append(scope["path"]) or real(self, scope))
    versions: list[Any] = []
    real_version = inner._get_routes_version
    monkeypatch.setattr(inner, "_get_routes_version", lambda *a: versions.append(a) or real_version(*a))

    assert client.get("/plans/7").json() == {"plan": "7"}
    assert client.get("/plans/8/notes").json() == {"notes": "8"}
    assert client.post("/plans/9").status_code == 405  # a path matched with another method: FastAPI's answer

    # a route matched fully is handled without FastAPI's walk (the index's `dispatch`, test_hb4_direct_dispatch.py);
    # the 405 is the walk's, once per router walked: `/plans/9` also goes through the nested router's own walk
    assert matched == ["/plans/9", "/plans/9"]
    assert versions == []
