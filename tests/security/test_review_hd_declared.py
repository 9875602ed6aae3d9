"""Every status an operation answers is in its OpenAPI document (the review from outside as an integrator, session 16).

A client generated from the document, or a reviewer's schemathesis with `status_code_conformance`, takes an answer
the document does not list for a broken contract. Sent to every operation of the six services:

- a body over 1 MiB to every operation, a GET's or a command's that takes no body (`POST /plans/{plan_id}/propose`):
  413 before any route, which the document declared only where the operation takes a body;
- a body not declared JSON to every command, also one that takes no body: 415, declared likewise only with a body;
- `/readyz` answers 503 when the store or the bus is unreachable (README: within 2 s during a database outage),
  which its document did not list (200, 400 and 431 only).

In process (the refusals come before any route reaches a store); each answer's status must be declared.
"""

from __future__ import annotations

import importlib
from functools import cache
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from support.auth import headers_for

SERVICES = ("intake", "collaboration", "meeting", "outreach", "participation", "community")
OVER_A_MEBIBYTE = b"[" + b" " * 1_100_000 + b"]"


@cache
def api_of(service: str) -> FastAPI:
    api: FastAPI = importlib.import_module(f"services.{service}.main").api
    return api


def operations(document: dict[str, Any]) -> list[tuple[str, str, dict[str, Any]]]:
    return [(method.upper(), path, operation) for path, methods in document["paths"].items()
            for method, operation in methods.items()]


def concrete(path: str) -> str:
    """The path with each parameter filled (a well-formed id: the refusals sent here come before any route)."""
    for name in ("case_id", "plan_id", "meeting_id", "issue_id", "resource_id", "person_ref", "strand_id", "gap_id",
                 "sitting_id", "place_id"):
        path = path.replace("{" + name + "}", "3f1e0c7a-5b8d-4c1e-9a2b-6d4f8e0a1b2c")
    return path.replace("{index}", "0").replace("{kind}", "divisions")


@pytest.mark.parametrize("service", SERVICES)
def test_a_body_over_the_limit_or_not_json_gets_a_status_every_operation_declares(service: str) -> None:
    api = api_of(service)
    client = TestClient(api, raise_server_exceptions=False)
    undeclared: list[str] = []
    sent = 0
    for method, path, operation in operations(api.openapi()):
        staff = headers_for(service, method, path)
        tries = [("a body over 1 MiB", {"content-type": "application/json"}, OVER_A_MEBIBYTE)]
        if method in ("POST", "PUT", "PATCH"):
            tries.append(("a body not declared JSON", {"content-type": "text/plain"}, b"{}"))
        for what, headers, body in tries:
            answer = client.request(method, concrete(path), content=body, headers={**staff, **headers})
            sent += 1
            if answer.status_code < 400:
                undeclared.append(f"{method} {path} {what}: {answer.status_code} (not refused)")
            elif str(answer.status_code) not in operation["responses"]:
                undeclared.append(f"{method} {path} {what}: {answer.status_code} {answer.text[:120]}")
    assert sent > 20
    assert not undeclared, f"{len(undeclared)} answers {service}'s OpenAPI does not declare:\n" + "\n".join(undeclared[:20])


@pytest.mark.parametrize("service", ["intake", "outreach"])
def test_readyz_declares_the_503_it_answers_when_the_store_or_bus_is_unreachable(service: str) -> None:
    responses = api_of(service).openapi()["paths"]["/readyz"]["get"]["responses"]
    assert "503" in responses, sorted(responses)
    schema = responses["503"]["content"]["application/json"]["schema"]
    assert "store unreachable" in schema["properties"]["status"]["enum"]
    assert "bus unreachable" in schema["properties"]["status"]["enum"]


@pytest.mark.parametrize(("service", "path", "methods"), [
    ("community", "/places", {"GET", "HEAD", "POST"}),
    ("community", "/resources", {"GET", "HEAD", "POST"}),
    ("outreach", "/engagements", {"GET", "HEAD", "POST"}),
    ("participation", "/plans/3f1e0c7a-5b8d-4c1e-9a2b-6d4f8e0a1b2c", {"GET", "HEAD", "PUT"}),
])
def test_a_405_allows_every_method_of_the_path_not_only_its_first_routes(service: str, path: str,
                                                                       methods: set[str]) -> None:
    """`GET /places` and `POST /places` are two routes: a 405 there named the first one's methods only (`Allow: GET,
    HEAD`), which schemathesis' `allow_header_conformance` reports against the document."""
    client = TestClient(api_of(service), raise_server_exceptions=False)
    for method in ("OPTIONS", "DELETE", "PATCH"):
        answer = client.request(method, path, headers=headers_for(service, "GET", path.split("/3f1e")[0] + (
            "/{plan_id}" if "/plans/" in path else "")))
        assert answer.status_code == 405, (method, answer.status_code, answer.text[:200])
        allow = {m.strip() for m in answer.headers["allow"].split(",")}
        assert allow == methods, (method, answer.headers["allow"])
        assert answer.json()["code"] == "method_not_allowed"
