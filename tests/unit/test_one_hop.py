"""A blocking (`def`) route hops to a worker thread once per request, not twice (shared/web/hops.py, issue 19): FastAPI
checked a `def` route's answer against its response model in a second hop. The route still runs on a worker thread,
with the request's context variables (the log ids, the Idempotency-Key mark), and answers as before: its model
checked (a wrong answer is still a 500), its parameters and OpenAPI document the same."""

from __future__ import annotations

import contextvars
import importlib
import inspect
import threading
from typing import Any

import pytest
from fastapi import APIRouter, FastAPI
from fastapi.routing import _IncludedRouter
from fastapi.testclient import TestClient
from pydantic import BaseModel

from shared.web import hops as hopping
from shared.web.hops import HOPS, one_hop

SERVICES = ("intake", "collaboration", "meeting", "outreach", "participation", "community")
MARK: contextvars.ContextVar[str] = contextvars.ContextVar("mark", default="")


class Answer(BaseModel):
    thread: str
    mark: str
    n: int


def app_with_a_blocking_route() -> FastAPI:
    router = APIRouter()

    @router.post("/things/{n}", response_model=Answer)
    def blocking(n: int, note: str = "") -> dict[str, Any]:
        """A use case that works on the store."""
        return {"thread": threading.current_thread().name, "mark": MARK.get(), "n": n}

    @router.get("/wrong")
    def wrong() -> Answer:
        return {"thread": "x"}  # type: ignore[return-value]  # not an Answer: the check must still refuse it

    api = FastAPI()

    @api.middleware("http")
    async def marked(request: Any, call_next: Any) -> Any:  # as the edge marks a command
        MARK.set("this request")
        return await call_next(request)

    api.include_router(router, prefix="/v1")
    return api


@pytest.fixture
def hops(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    seen: list[str] = []
    real = hopping.run_sync

    async def counted(fn: Any, *args: Any) -> Any:
        seen.append(getattr(getattr(fn, "func", fn), "__name__", repr(fn)))
        return await real(fn, *args)

    monkeypatch.setattr(hopping, "run_sync", counted)  # the hop (shared/kernel/threads.py), as the endpoint calls it
    return seen


def test_a_blocking_route_hops_once_to_a_worker_thread_with_the_requests_context(hops: list[str]) -> None:
    before = app_with_a_blocking_route().openapi()
    api = app_with_a_blocking_route()
    assert one_hop(api) == 2

    answer = TestClient(api).post("/v1/things/7", params={"note": "x"})

    assert answer.status_code == 200, answer.text
    body = answer.json()
    assert body["n"] == 7 and body["mark"] == "this request"
    assert body["thread"] != threading.main_thread().name and "jusou worker" in body["thread"]
    assert hops == ["blocking"]  # not a second hop for the answer's check
    assert api.openapi() == before  # the same parameters, answers, names and descriptions


def test_an_answer_the_model_refuses_is_still_refused() -> None:
    api = app_with_a_blocking_route()
    one_hop(api)
    assert TestClient(api, raise_server_exceptions=False).get("/v1/wrong").status_code == 500


@pytest.mark.parametrize("service", SERVICES)
def test_every_blocking_route_of_a_service_hops_once(service: str) -> None:
    """Every route of a service's routers is async to FastAPI: declared so, or a `def` run in one hop."""
    api: FastAPI = importlib.import_module(f"services.{service}.main").api
    hopping = 0
    for route in api.router.routes:
        if isinstance(route, _IncludedRouter):
            for context in route.effective_route_contexts():
                call = context.dependant.call if context.dependant else None
                if call is None:
                    continue
                assert inspect.iscoroutinefunction(call), f"{context.path_format} blocks: its answer is checked in a " \
                                                          "second hop"
                hopping += getattr(call, HOPS, None) is not None
    assert hopping > 20
