"""A service's HTTP edge is one middleware of its own (shared/web/edge.py, issue 19) that does, in the same order, what
six did: a refused request still gets the security headers and its `code`, is counted by route template and logged
as one `http.command` line; a page's refusal is a page with the headers and no JSON `code`.

Each service's app as create_service makes it, without its lifespan: these requests are refused before any route
reaches the store.
"""

from __future__ import annotations

import importlib
import logging
from collections.abc import Iterator
from typing import Any

import pytest
import structlog
from fastapi import FastAPI
from fastapi.testclient import TestClient
from structlog.testing import capture_logs

from shared.web.edge import CODES, EVERY_STEP, HEADERS, IDEMPOTENCY, LIMITS, LOGS, METRICS, Edge
from shared.web.limits import MAX_BODY_BYTES
from shared.web.ui import SECURITY_HEADERS

SERVICES = ("intake", "collaboration", "meeting", "outreach", "participation", "community")
JSON = {"content-type": "application/json"}


def api_of(service: str) -> FastAPI:
    api: FastAPI = importlib.import_module(f"services.{service}.main").api
    return api


@pytest.fixture
def logged() -> Iterator[list[dict[str, Any]]]:
    before = structlog.get_config()
    structlog.configure(wrapper_class=structlog.make_filtering_bound_logger(logging.INFO))  # as in a service
    try:
        with capture_logs() as lines:
            yield lines
    finally:
        structlog.configure(**before)


def requests_counted(api: FastAPI, route: str, method: str, status: int) -> float:
    value = api.state.metrics.registry.get_sample_value(
        "jusou_http_requests_total", {"service": api.state.metrics.service, "route": route, "method": method,
                                      "status": str(status)})
    return value or 0.0


def assert_secured(headers: Any) -> None:
    for name, value in SECURITY_HEADERS.items():
        assert headers.get(name) == value, (name, dict(headers))


@pytest.mark.parametrize("service", SERVICES)
def test_a_service_has_one_middleware_of_its_own_with_every_step(service: str) -> None:
    """Not six: ErrorCodes, SecurityHeaders, RequestMetrics, RequestContext, BodyLimit, Idempotency (each wrapped
    `send` again, on every request)."""
    [edge] = api_of(service).user_middleware
    assert edge.cls is Edge and edge.kwargs.get("steps", EVERY_STEP) == EVERY_STEP


def test_a_body_over_the_limit_is_refused_with_the_headers_its_code_a_count_and_a_log_line(
        logged: list[dict[str, Any]]) -> None:
    api = api_of("intake")
    client = TestClient(api, raise_server_exceptions=False)
    before = requests_counted(api, "(unmatched)", "POST", 413)

    refused = client.post("/consultations", content=b"{}", headers={**JSON, "content-length": str(MAX_BODY_BYTES + 1)})

    assert refused.status_code == 413
    assert_secured(refused.headers)
    body = refused.json()
    assert body["code"] == "too_large" and "KiB" in body["detail"]
    assert int(refused.headers["content-length"]) == len(refused.content)  # the length of the coded body
    assert requests_counted(api, "(unmatched)", "POST", 413) == before + 1
    assert [(line["event"], line["status"], line["route"]) for line in logged] == [("http.command", 413, "(no route)")]


def test_a_body_growing_past_the_limit_while_read_is_refused_the_same_way() -> None:
    """Chunked (no Content-Length): refused by the edge's receive while the route reads it."""
    api = api_of("intake")
    client = TestClient(api, raise_server_exceptions=False)

    def chunks() -> Iterator[bytes]:
        yield b'{"counter": "'
        for _ in range(MAX_BODY_BYTES // 65_536 + 1):
            yield b"x" * 65_536
        yield b'"}'

    refused = client.post("/consultations", content=chunks(), headers=JSON)

    assert refused.status_code == 413, refused.text[:200]
    assert_secured(refused.headers)
    assert refused.json()["code"] == "too_large"


def test_a_command_without_a_token_is_refused_with_401_the_headers_and_its_code(logged: list[dict[str, Any]]) -> None:
    api = api_of("intake")
    client = TestClient(api, raise_server_exceptions=False)
    before = requests_counted(api, "/cases/{case_id}/escalate", "POST", 401)
    case_id = "3f1b1c2e-0000-4000-8000-000000000001"

    refused = client.post(f"/cases/{case_id}/escalate", json={"reason": "x", "primary_agency": "y"})

    assert refused.status_code == 401
    assert_secured(refused.headers)
    assert refused.json()["code"] == "unauthenticated"
    assert requests_counted(api, "/cases/{case_id}/escalate", "POST", 401) == before + 1
    [line] = [line for line in logged if line["event"] == "http.command"]
    assert (line["status"], line["route"], line["case_id"]) == (401, "/cases/{case_id}/escalate", case_id)


def test_an_api_body_not_declared_json_is_refused_with_415_and_its_code() -> None:
    refused = TestClient(api_of("intake")).post("/consultations", content=b"a=1",
                                                 headers={"content-type": "application/x-www-form-urlencoded"})
    assert refused.status_code == 415
    assert_secured(refused.headers)
    assert refused.json()["code"] == "unsupported_media_type"


def test_a_page_refused_before_any_route_is_a_page_with_the_headers_and_no_json_code() -> None:
    refused = TestClient(api_of("intake")).post("/ui/consultations", content=b"a=1", headers={
        "content-type": "application/x-www-form-urlencoded", "content-length": str(MAX_BODY_BYTES + 1)})
    assert refused.status_code == 413
    assert refused.headers["content-type"].startswith("text/html")
    assert_secured(refused.headers)
    assert "送信できませんでした" in refused.text


def test_an_answer_that_sets_a_security_header_keeps_its_own() -> None:
    api = FastAPI()
    api.add_middleware(Edge, steps=(HEADERS,))

    @api.get("/framed")
    async def framed() -> Any:
        from fastapi.responses import JSONResponse

        return JSONResponse({"ok": True}, headers={"X-Frame-Options": "SAMEORIGIN"})

    answer = TestClient(api).get("/framed")
    assert answer.headers.get_list("x-frame-options") == ["SAMEORIGIN"]
    assert answer.headers["content-security-policy"] == SECURITY_HEADERS["content-security-policy"]


def test_with_tracing_on_its_span_sits_between_the_metrics_and_the_log_line(monkeypatch: pytest.MonkeyPatch) -> None:
    """The order of effects as it was with tracing's own middleware among the six: outer edge (codes, headers,
    metrics), the command's span, inner edge (log line, body limit, idempotency)."""
    from shared.web import http

    class Traced:  # stands for shared/observe/tracing.py's TraceCommands
        def __init__(self, app: Any) -> None:
            self.app = app

    monkeypatch.setattr(http, "install_tracing", lambda api, service: api.add_middleware(Traced))
    api = FastAPI()
    http._install_middleware(api, "intake")

    assert [(m.cls, m.kwargs.get("steps")) for m in api.user_middleware] == [
        (Edge, (CODES, HEADERS, METRICS)), (Traced, None), (Edge, (LOGS, LIMITS, IDEMPOTENCY))]


@pytest.mark.parametrize("service", SERVICES)
def test_fastapis_own_telemetry_stays_off_when_a_global_provider_is_set(service: str,
                                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    """A command's span is the suite's own (shared/observe/tracing.py): FastAPI's native telemetry, which looks for
    global OpenTelemetry providers on every request, is off, also where one is configured (as `opentelemetry-instrument`
    would)."""
    from fastapi.telemetry import _asgi

    monkeypatch.setattr(_asgi, "_unconfigured", lambda provider: False)  # every global provider configured
    assert FastAPI()._native_telemetry.enabled()  # FastAPI's default would trace each request
    assert not api_of(service)._native_telemetry.enabled()
