"""Every refusal an endpoint gives is in its service's OpenAPI document, with a machine-readable `code`
in the JSON body beside the message, and the bearer scheme is declared (issue 17, integrators).

The refusals each operation can give are read here from the route itself (its declared action, its
path, its method, its inputs), not from shared/web/errors.py, and the document must declare each with
the `Refusal` body. Then real refusals of the six apps (in process, no store needed for these) carry
the code the document promises.
"""

from __future__ import annotations

import importlib
from functools import cache
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.dependencies.utils import get_flat_params
from fastapi.responses import JSONResponse
from fastapi.routing import APIRoute
from fastapi.testclient import TestClient
from support.auth import staff_headers
from support.municipality import LEAD

from services.meeting.domain import NotForShienKaigi
from shared.domain.access import OutOfScope
from shared.kernel.journey import DomainError, NotFound
from shared.web.auth import Unauthenticated
from shared.web.errors import ErrorCodes, code_of
from shared.web.policy import PUBLIC, declared

SERVICES = ("intake", "collaboration", "meeting", "outreach", "participation", "community")
COMMANDS = {"POST", "PUT", "PATCH", "DELETE"}
AUDITOR = staff_headers("kansa-001", LEAD, "auditor")


@cache
def api_of(service: str) -> FastAPI:
    api: FastAPI = importlib.import_module(f"services.{service}.main").api
    return api


def routes(api: FastAPI) -> list[APIRoute]:
    found: list[APIRoute] = []

    def walk(items: list[Any]) -> None:
        for route in items:
            if isinstance(route, APIRoute):
                found.append(route)
            elif hasattr(route, "original_router"):
                walk(route.original_router.routes)

    walk(api.routes)
    return [route for route in found if route.include_in_schema]


def expected_refusals(route: APIRoute, method: str) -> set[int]:
    """What this operation can refuse with, read from the route."""
    takes_input = bool(get_flat_params(route.dependant)) or route.body_field is not None
    public = declared(route) == PUBLIC
    refusals = set() if public else {401, 403, 503}  # who, the gate; and the store behind every guarded route
    if route.param_convertors:
        refusals.add(404)  # the path names a record
    if method in COMMANDS:
        refusals.add(409)  # a rule, or the record changed at the same time
    if method == "PUT":
        refusals.add(412)  # If-Match naming a version the record has left (shared/web/if_match.py)
    if takes_input:
        refusals.add(422)
    if route.body_field is not None:
        refusals |= {400, 413, 415}  # not UTF-8 JSON, over 1 MiB, not application/json (the review: undeclared)
    refusals.add(400)  # a request the HTTP parser cannot read (Content-Length no number, twice, beside chunked)
    refusals.add(431)  # headers over 64 KiB, answered before any route is chosen
    return refusals


@pytest.mark.parametrize("service", SERVICES)
def test_every_operation_declares_its_refusals_with_a_code_and_the_bearer_scheme(service: str) -> None:
    api = api_of(service)
    document = api.openapi()
    components = document["components"]
    assert components["securitySchemes"]["bearer"] == components["securitySchemes"]["bearer"] | {
        "type": "http", "scheme": "bearer"}
    refusal = components["schemas"]["Refusal"]
    assert set(refusal["required"]) == {"detail", "code"}, refusal
    missing: list[str] = []
    checked = 0
    for route in routes(api):
        for method in sorted(route.methods or ()):
            operation = document["paths"][route.path][method.lower()]
            public = declared(route) == PUBLIC
            if operation.get("security") != ([] if public else [{"bearer": []}]):
                missing.append(f"{method} {route.path}: security {operation.get('security')!r}")
            for status in sorted(expected_refusals(route, method)):
                declared_response = operation["responses"].get(str(status))
                schema = (declared_response or {}).get("content", {}).get("application/json", {}).get("schema")
                if schema != {"$ref": "#/components/schemas/Refusal"}:
                    missing.append(f"{method} {route.path}: {status} {declared_response!r}")
            checked += 1
    assert checked > 5
    assert not missing, f"{len(missing)} undeclared refusals in {service}'s OpenAPI:\n" + "\n".join(missing[:20])


@pytest.mark.parametrize("service", SERVICES)
def test_real_refusals_carry_the_code_their_document_promises(service: str) -> None:
    api = api_of(service)
    client = TestClient(api, raise_server_exceptions=False)
    guarded = next(route for route in routes(api) if route.param_convertors and declared(route) not in (PUBLIC, None)
                   and "GET" in (route.methods or ()) and "{case_id}" in route.path)
    path = guarded.path.replace("{case_id}", "not-a-uuid")
    for other in guarded.param_convertors:
        path = path.replace("{" + other + "}", "x")

    unsigned = client.get(path)
    assert (unsigned.status_code, unsigned.json()["code"]) == (401, "unauthenticated"), unsigned.text
    nobody = client.get(path, headers=staff_headers("x-001", LEAD, "operator"))
    assert (nobody.status_code, nobody.json()["code"]) == (403, "forbidden"), nobody.text
    malformed = client.get(path, headers=AUDITOR)
    assert malformed.status_code == 422 and malformed.json()["code"] == "invalid", malformed.text
    assert isinstance(malformed.json()["detail"], list)  # beside the code, the fields as before
    unknown = client.get("/no-such-address", headers=AUDITOR)
    assert (unknown.status_code, unknown.json()["code"]) == (404, "not_found"), unknown.text
    page = client.get("/ui/no-such-page", headers=AUDITOR)
    assert page.status_code == 404 and page.headers["content-type"].startswith("text/html")  # pages stay Japanese pages


def test_the_code_of_a_rule_is_its_name_and_a_plain_refusal_its_status() -> None:
    assert code_of(NotForShienKaigi("x")) == "not_for_shien_kaigi"
    assert code_of(OutOfScope("x")) == "out_of_scope"
    assert code_of(Unauthenticated("x", "y")) == "unauthenticated"
    assert code_of(NotFound("x")) == "not_found"
    assert code_of(DomainError("x")) == "conflict"


def test_a_store_refusal_and_a_conflict_get_their_codes_and_a_code_given_stays() -> None:
    app = FastAPI()
    app.add_middleware(ErrorCodes)
    answers = {
        "unavailable": JSONResponse({"detail": "記録先に接続できません / unreachable"}, status_code=503,
                                    headers={"Retry-After": "2"}),
        "conflict": JSONResponse({"detail": "同時に更新 / at the same time"}, status_code=409),
        "rule": JSONResponse({"detail": "規則 / rule", "code": "case_already_escalated"}, status_code=409),
        "status": JSONResponse({"status": "store unreachable"}, status_code=503),
    }
    for name, answer in answers.items():
        app.add_api_route(f"/{name}", lambda answer=answer: answer)
    client = TestClient(app)

    store = client.get("/unavailable")
    assert (store.status_code, store.json(), store.headers["retry-after"]) == (
        503, {"detail": "記録先に接続できません / unreachable", "code": "unavailable"}, "2")
    assert client.get("/conflict").json()["code"] == "conflict"
    assert client.get("/rule").json()["code"] == "case_already_escalated"
    assert client.get("/status").json() == {"status": "store unreachable"}  # not a refusal body: left as it is


@pytest.mark.parametrize("service", SERVICES)
def test_the_shared_list_of_a_cases_history_declares_its_paging(service: str) -> None:
    """`limit` and `cursor` on `/cases/{case_id}/history` (shared/web/paging.py), the next cursor in the headers."""
    operation = api_of(service).openapi()["paths"]["/cases/{case_id}/history"]["get"]
    query = {p["name"]: p["schema"] for p in operation["parameters"] if p["in"] == "query"}
    assert set(query) >= {"limit", "cursor"}, query
    assert {"X-Next-Cursor", "Link"} <= set(operation["responses"]["200"].get("headers", {})), operation["responses"]["200"]


@pytest.mark.parametrize("service", ["intake", "meeting"])
def test_a_body_refused_before_the_route_carries_the_code_its_document_declares(service: str) -> None:
    api = api_of(service)
    client = TestClient(api, raise_server_exceptions=False)
    command = next(route for route in routes(api) if route.body_field is not None and "POST" in (route.methods or ())
                   and not route.param_convertors and declared(route) not in (PUBLIC, None))
    document = api.openapi()["paths"][command.path]["post"]["responses"]
    json_type = {"content-type": "application/json"}
    answers = {
        400: client.post(command.path, content=b"\xff\xfe{", headers=AUDITOR | json_type),
        413: client.post(command.path, content=b"{" + b" " * (1_048_576 + 10) + b"}", headers=AUDITOR | json_type),
        415: client.post(command.path, content=b"{}", headers=AUDITOR | {"content-type": "text/plain"}),
    }
    for status, answer in answers.items():
        assert answer.status_code == status, (status, answer.status_code, answer.text[:200])
        assert answer.json()["code"] == document[str(status)]["description"].split("code `")[1].split("`")[0]
