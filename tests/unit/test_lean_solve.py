"""FastAPI's `solve_dependencies` without reading what no dependant needs (shared/web/solving.py `lean_solve`, issue 19):
the same answers as FastAPI's own (values, 422 errors and their order, sub-dependencies, generators, overrides, the
cache, Response, BackgroundTasks, SecurityScopes) on routes of every kind of parameter; the request's query string,
headers and cookies read only for a dependant that declares one of them; FastAPI's own kept on any other FastAPI."""

from __future__ import annotations

import importlib
from collections.abc import Iterator
from typing import Annotated, Any

import pytest
from fastapi import BackgroundTasks, Body, Cookie, Depends, FastAPI, Header, Query, Response, Security
from fastapi import routing as fastapi_routing
from fastapi.dependencies import utils
from fastapi.security import SecurityScopes
from fastapi.testclient import TestClient
from pydantic import BaseModel
from starlette.requests import Request

from shared.web import solving


class Filters(BaseModel):
    kind: str = "all"
    size: int = 10


class Note(BaseModel):
    content: str
    count: int = 1


def tenant(x_tenant: Annotated[str | None, Header()] = None) -> str | None:
    return x_tenant


def app_of_every_kind() -> FastAPI:
    def paging(limit: int = Query(10, le=100), cursor: str | None = None) -> dict[str, Any]:
        return {"limit": limit, "cursor": cursor}

    def who(request: Request, session: Annotated[str | None, Cookie()] = None,
            t: str | None = Depends(tenant)) -> dict[str, Any]:
        return {"path": request.url.path, "session": session, "tenant": t}

    def opened() -> Iterator[str]:
        yield "opened"

    async def counted(request: Request) -> int:
        request.state.n = getattr(request.state, "n", 0) + 1
        return int(request.state.n)

    def scoped(scopes: SecurityScopes) -> list[str]:
        return scopes.scopes

    api = FastAPI(dependencies=[Depends(counted)])

    @api.get("/things/{thing_id}")
    def thing(thing_id: int, page: dict[str, Any] = Depends(paging), me: dict[str, Any] = Depends(who),
              tags: Annotated[list[str], Query()] = [],  # noqa: B006 - FastAPI's own default
              again: int = Depends(counted), fresh: int = Depends(counted, use_cache=False)) -> dict[str, Any]:
        return {"thing_id": thing_id, "page": page, "me": me, "tags": tags, "again": again, "fresh": fresh}

    @api.get("/filtered")
    def filtered(filters: Annotated[Filters, Query()], x_trace: Annotated[list[str], Header()] = [],  # noqa: B006
                 per_page: Annotated[int | None, Query(alias="per-page")] = None) -> Any:
        return {"filters": filters.model_dump(), "x_trace": x_trace, "per_page": per_page}

    @api.post("/notes/{case}", status_code=201)
    async def note(case: str, note: Note, response: Response, tasks: BackgroundTasks, gen: str = Depends(opened),
                   urgent: bool = Body(False), s: list[str] = Security(scoped, scopes=["notes:write"])) -> Any:
        response.headers["x-made"] = "yes"
        tasks.add_task(lambda: None)
        return {"case": case, "note": note.model_dump(), "gen": gen, "urgent": urgent, "scopes": s}

    @api.get("/plain")
    def plain() -> dict[str, str]:
        return {"ok": "yes"}

    return api


REQUESTS: list[tuple[str, str, dict[str, Any]]] = [
    ("GET", "/things/7", {}),
    ("GET", "/things/7?limit=5&cursor=c&tags=a&tags=b", {"headers": {"x-tenant": "chofu"}, "cookies": {"session": "s"}}),
    ("GET", "/things/x?limit=500", {}),  # two errors: the sub-dependency's (query), then the path's
    ("GET", "/things/7?limit=nope", {"headers": {"x-tenant": "t"}}),
    ("GET", "/filtered?kind=open&size=3", {"headers": [("x-trace", "1"), ("x-trace", "2")]}),
    ("GET", "/filtered?size=big&per-page=x", {}),
    ("GET", "/filtered?per-page=3&per_page=4", {}),
    ("POST", "/notes/c1", {"json": {"note": {"content": "x"}, "urgent": True}}),
    ("POST", "/notes/c1", {"json": {"note": {"count": "many"}}}),
    ("POST", "/notes/c1", {"content": b"{not json", "headers": {"content-type": "application/json"}}),
    ("GET", "/plain", {}),
]


def answers(api: FastAPI, solve: Any, monkeypatch: pytest.MonkeyPatch) -> list[tuple[int, Any, str | None]]:
    monkeypatch.setattr(fastapi_routing, "solve_dependencies", solve)
    client = TestClient(api)
    found = []
    for method, url, kwargs in REQUESTS:
        cookies = kwargs.pop("cookies", None)
        client.cookies.clear()
        if cookies:
            client.cookies.update(cookies)
        r = client.request(method, url, **kwargs)
        if cookies is not None:
            kwargs["cookies"] = cookies
        found.append((r.status_code, r.json(), r.headers.get("x-made")))
    return found


def test_lean_solve_answers_as_fastapis_own_on_every_kind_of_parameter(monkeypatch: pytest.MonkeyPatch) -> None:
    api = app_of_every_kind()
    own = answers(api, solving.FASTAPI_SOLVE, monkeypatch)
    lean = answers(api, solving.lean_solve, monkeypatch)
    assert lean == own
    assert [status for status, _, _ in own] == [200, 200, 422, 422, 200, 422, 200, 201, 422, 422, 200]
    assert [e["loc"] for e in own[2][1]["detail"]] == [["query", "limit"], ["path", "thing_id"]]  # sub-dependency first


def test_lean_solve_answers_as_fastapis_own_with_dependency_overrides(monkeypatch: pytest.MonkeyPatch) -> None:
    api = app_of_every_kind()

    def no_tenant(x_other: Annotated[str | None, Header()] = None) -> str:
        return f"overridden {x_other}"

    api.dependency_overrides[tenant] = no_tenant
    own = answers(api, solving.FASTAPI_SOLVE, monkeypatch)
    lean = answers(api, solving.lean_solve, monkeypatch)
    assert lean == own
    assert own[0][1]["me"]["tenant"] == "overridden None"


def test_a_dependant_without_cookies_or_query_parameters_does_not_read_them(monkeypatch: pytest.MonkeyPatch) -> None:
    """The point of it: FastAPI's own parses the request's cookies and query string for every dependant."""
    api = app_of_every_kind()
    reads: list[str] = []
    for name in ("cookies", "query_params"):
        real = getattr(Request, name)

        def counting(self: Request, real: Any = real, name: str = name) -> Any:
            reads.append(name)
            return real.fget(self)

        monkeypatch.setattr(Request, name, property(counting))
    monkeypatch.setattr(fastapi_routing, "solve_dependencies", solving.lean_solve)
    client = TestClient(api)
    assert client.get("/plain", headers={"cookie": "a=b"}).status_code == 200
    assert reads == []
    monkeypatch.setattr(fastapi_routing, "solve_dependencies", solving.FASTAPI_SOLVE)
    assert client.get("/plain", headers={"cookie": "a=b"}).status_code == 200
    assert "cookies" in reads and "query_params" in reads


def test_a_parameters_facts_are_worked_out_once(monkeypatch: pytest.MonkeyPatch) -> None:
    """FastAPI's own works out per request whether a parameter is a model, its aliases, whether it is a sequence."""
    api = app_of_every_kind()
    asked: list[str] = []
    real = utils._get_param_model

    def counted(field: Any) -> Any:
        asked.append(field.name)
        return real(field)

    monkeypatch.setattr(utils, "_get_param_model", counted)
    monkeypatch.setattr(fastapi_routing, "solve_dependencies", solving.lean_solve)
    client = TestClient(api)
    assert client.get("/things/1?limit=2").status_code == 200
    first = len(asked)
    assert first > 0
    for _ in range(3):
        assert client.get("/things/2?limit=3").status_code == 200
    assert len(asked) == first


def test_the_services_solve_with_lean_solve_only_on_the_fastapi_it_copies() -> None:
    importlib.import_module("services.collaboration.main")
    assert solving.solve_source_digest() == solving.SOLVE_SOURCE, (
        "FastAPI's solve_dependencies changed: compare it with shared/web/solving.py lean_solve, copy what changed, "
        "and set SOLVE_SOURCE to the new digest")
    assert fastapi_routing.solve_dependencies is solving.lean_solve


def test_on_another_fastapi_its_own_solve_stays(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(fastapi_routing, "solve_dependencies", solving.FASTAPI_SOLVE)
    monkeypatch.setattr(solving, "SOLVE_SOURCE", {**solving.SOLVE_SOURCE, "_get_multidict_value": "another FastAPI's"})
    solving.install()
    assert fastapi_routing.solve_dependencies is solving.FASTAPI_SOLVE


def test_the_sub_response_is_fastapis_without_the_header_made_and_deleted() -> None:
    """`sub_response()` is the object FastAPI's `solve_dependencies` makes (`Response()`, `content-length` deleted,
    status None), attribute for attribute, and behaves the same when a dependency sets a header, a cookie, a status."""
    own = Response()
    del own.headers["content-length"]
    own.status_code = None  # type: ignore[assignment]
    lean = solving.sub_response()
    assert type(lean) is type(own)
    assert {k: v for k, v in vars(lean).items() if k != "_headers"} == {k: v for k, v in vars(own).items()
                                                                         if k != "_headers"}
    for response in (own, lean):
        response.headers["x-made"] = "1"
        response.set_cookie("a", "b")
        response.status_code = 201
    assert own.raw_headers == lean.raw_headers and own.status_code == lean.status_code == 201
    assert dict(own.headers) == dict(lean.headers)


def test_a_dependencys_facts_are_asked_once_per_request_not_three_times(monkeypatch: pytest.MonkeyPatch) -> None:
    """Whether a dependency is a generator, an async generator, a coroutine function: one lookup of the three (FastAPI's
    own asks three functions, each a lookup of its own)."""
    api = app_of_every_kind()
    monkeypatch.setattr(fastapi_routing, "solve_dependencies", solving.lean_solve)
    for name, replacement in solving.PATCHED.items():  # as `install()` leaves them
        monkeypatch.setattr(utils, name, replacement)
    client = TestClient(api)
    assert client.get("/things/1?limit=2").status_code == 200
    looked: list[Any] = []
    real = solving._facts

    def counted(call: Any) -> Any:
        looked.append(call)
        return real(call)

    monkeypatch.setattr(solving, "_facts", counted)
    assert client.get("/things/2?limit=3").status_code == 200
    route = next(r for r in api.routes if getattr(r, "path", "") == "/things/{thing_id}")

    def subs(dependant: Any) -> int:
        return sum(1 + subs(sub) for sub in dependant.dependencies)

    assert len(looked) == subs(route.dependant) == 6  # each sub-dependency solved: one lookup (was two or three)
