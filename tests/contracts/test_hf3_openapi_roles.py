"""Each operation of each service's OpenAPI document says which roles may call it (the review from outside as an
integrator, session 21).

The document named the action an operation needs (`x-jusou-action`, e.g. `intake.case.write`) but not who holds it:
which roles was written only in shared/web/policy.py, so an integrator reading `/docs` could not tell which token
to ask the city for. Now `x-jusou-roles` lists the role codes and the description says it in Japanese and English.

The roles are checked against the gate itself, not against the code that writes them: each operation is sent, in
process, with a token of each role (of a division that runs the service's program) and must be refused by the
policy (403, `X-Jusou-Refused-By: policy`) exactly for the roles the document leaves out. No store is opened: the
app's runtime is an empty set of municipalities (`Tenants`), so a request the gate lets through is answered at once
(401 `tenant_not_named` where the route reaches its store) instead of failing on a runtime that is not there.
"""

from __future__ import annotations

import importlib
import uuid
from functools import cache
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from support.auth import staff_headers

from shared.organisation.scope import PROGRAM_DIVISIONS
from shared.web.deps import Tenants
from shared.web.policy import ROLES

SERVICES = ("intake", "collaboration", "meeting", "outreach", "participation", "community")


@cache
def api_of(service: str) -> FastAPI:
    api: FastAPI = importlib.import_module(f"services.{service}.main").api
    return api


def operations(document: dict[str, Any]) -> list[tuple[str, str, dict[str, Any]]]:
    return [(method.upper(), path, operation) for path, methods in document["paths"].items()
            for method, operation in methods.items()]


@pytest.mark.parametrize("service", SERVICES)
def test_every_operation_names_the_roles_that_may_call_it(service: str) -> None:
    document = api_of(service).openapi()
    unsaid: list[str] = []
    for method, path, operation in operations(document):
        roles = operation.get("x-jusou-roles")
        description = operation.get("description", "")
        if not description.split("\n\n**呼べる役割")[0].split("\n\n認証不要")[0].strip():
            unsaid.append(f"{method} {path}: no description of what it does before who may call it")
        if operation.get("x-jusou-action") == "public":
            if roles != [] or "no token needed" not in description:
                unsaid.append(f"{method} {path}: public, roles {roles!r}")
            continue
        if not isinstance(roles, list) or not roles or not set(roles) <= set(ROLES):
            unsaid.append(f"{method} {path}: x-jusou-roles {roles!r}")
            continue
        for code in roles:
            if f"{ROLES[code].ja} `{code}`" not in description:
                unsaid.append(f"{method} {path}: the description does not name {ROLES[code].ja} `{code}`")
    assert len(operations(document)) > 20
    assert not unsaid, f"{len(unsaid)} operations of {service} do not say who may call them:\n" + "\n".join(unsaid[:20])


@pytest.mark.parametrize("service", SERVICES)
def test_the_roles_an_operation_names_are_those_its_gate_lets_through(service: str) -> None:
    api = api_of(service)
    had = api.state._state.get("runtime")
    api.state.runtime = Tenants.__new__(Tenants)  # none served: past the gate, a route's store is refused at once
    try:
        roles_let_through(service, api)
    finally:
        if had is None:
            del api.state.runtime
        else:
            api.state.runtime = had


def roles_let_through(service: str, api: FastAPI) -> None:
    client = TestClient(api, raise_server_exceptions=False)
    division = min(PROGRAM_DIVISIONS[service])  # a division that runs the program: a 403 is the role's
    wrong: list[str] = []
    checked = 0
    for method, path, operation in operations(api.openapi()):
        if operation.get("x-jusou-action") in (None, "public"):
            continue
        address = path
        for parameter in operation.get("parameters", []):
            if parameter["in"] == "path":
                address = address.replace("{" + parameter["name"] + "}", str(uuid.uuid4()))
        let_through = set()
        for code in ROLES:
            answer = client.request(method, address, headers=staff_headers(f"hf3-{code}", division, code),
                                    json={} if method != "GET" else None)
            if not (answer.status_code == 403 and answer.headers.get("x-jusou-refused-by") == "policy"):
                let_through.add(code)
        if let_through != set(operation.get("x-jusou-roles") or ()):
            wrong.append(f"{method} {path}: the gate lets {sorted(let_through)} through, the document names "
                         f"{operation.get('x-jusou-roles')!r}")
        checked += 1
    assert checked > 15
    assert not wrong, f"{len(wrong)} operations of {service}:\n" + "\n".join(wrong[:20])
