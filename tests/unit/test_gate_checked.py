"""A route's `requires` is checked by the policy's gate, then not solved again (shared/web/policy.py `gate_checked`,
issue 19): on a service's app no route whose one declared action the gate checks has FastAPI solve its `Requires` per
request; a route that declares none, or two different ones, keeps them (refused as before); an app without the gate
keeps them too, and refuses its routes."""

from __future__ import annotations

import importlib
import json
from typing import Any

import pytest
from fastapi import APIRouter, FastAPI
from fastapi.dependencies.models import Dependant
from fastapi.testclient import TestClient

from shared.domain.access import Forbidden
from shared.web import routing
from shared.web.policy import PUBLIC, Requires, actions, declared, gate_checked, public, requires

SERVICES = ("intake", "collaboration", "meeting", "outreach", "participation", "community")


def solved_requires(api: FastAPI) -> int:
    return sum(isinstance(d.call, Requires) for dependant in routing._dependants(api.router.routes)
               for d in dependant.dependencies)


@pytest.mark.parametrize("service", SERVICES)
def test_a_services_routes_do_not_solve_their_requires_after_the_gate(service: str,
                                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    api = importlib.import_module(f"services.{service}.main").api
    table = actions(api)
    api.openapi_schema = None
    schema = json.dumps(api.openapi(), sort_keys=True)
    called: list[str] = []
    real = Requires.__call__

    async def counted(self: Requires, request: Any) -> None:
        called.append(self.action)
        await real(self, request)

    monkeypatch.setattr(Requires, "__call__", counted)
    client = TestClient(api)
    assert client.get("/healthz").status_code == 200  # the index is built before the first request
    assert client.get("/cases/3f1b1c2e-0000-4000-8000-000000000001/history").status_code == 401  # the gate refuses
    assert called == []
    assert solved_requires(api) == 0
    assert actions(api) == table  # every route declares what it declared (the OpenAPI's x-jusou-action)
    api.openapi_schema = None
    assert json.dumps(api.openapi(), sort_keys=True) == schema  # the declared responses and parameters the same
    assert all(action is not None for action in table.values())


def test_an_app_without_the_gate_keeps_and_runs_requires() -> None:
    api = FastAPI()
    router = APIRouter()
    router.get("/plans", dependencies=[requires("plan.read")])(lambda: "plans")
    router.get("/open", dependencies=[public()])(lambda: "ok")
    api.include_router(router)
    routing.install(api)  # the index without `settled`
    client = TestClient(api)
    with pytest.raises(Forbidden, match="gate did not run"):  # (no handler on this bare app: the refusal itself)
        client.get("/plans")
    assert client.get("/open").json() == "ok"
    assert solved_requires(api) == 2


def dependant(call: Any) -> Dependant:
    return Dependant(call=call)


async def other() -> None:
    return None


def test_only_one_declared_action_is_left_out() -> None:
    one = [dependant(other), dependant(Requires("plan.read"))]
    assert [d.call for d in gate_checked(one)] == [other]
    same_twice = [dependant(Requires("plan.read")), dependant(other), dependant(Requires("plan.read"))]
    assert [d.call for d in gate_checked(same_twice)] == [other]
    two = [dependant(Requires("plan.read")), dependant(Requires("plan.write"))]
    assert gate_checked(two) is two  # the gate checks the last; the first still refuses
    none = [dependant(other)]
    assert gate_checked(none) is none
    assert [d.call for d in gate_checked([dependant(Requires(PUBLIC))])] == []


def test_the_gate_reads_the_action_from_the_route_not_from_what_is_solved() -> None:
    router = APIRouter()

    @router.get("/x", dependencies=[requires("plan.read")])
    async def x() -> None:
        return None

    route = router.routes[0]
    route.dependant.dependencies[:] = gate_checked(route.dependant.dependencies)
    assert declared(route) == "plan.read"
    assert not any(isinstance(d.call, Requires) for d in route.dependant.dependencies)
