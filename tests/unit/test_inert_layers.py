"""A service's ASGI stack has no FastAPI layer that does nothing for it (shared/web/http.py `without_inert_layers`,
issue 19): with FastAPI's native telemetry off and no app-wide body limit, `ExceptionTelemetryMiddleware` and
`AppBodyLimitMiddleware` only pass each request on; the stack is built without them, and an app with its telemetry or
a body limit keeps them. An unexpected failure is still answered 500 by ServerErrorMiddleware, outermost."""

from __future__ import annotations

import importlib
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from shared.web.http import NO_NATIVE_TELEMETRY, without_inert_layers

SERVICES = ("intake", "collaboration", "meeting", "outreach", "participation", "community")


def layers(api: FastAPI) -> list[str]:
    found: list[str] = []
    app: Any = api.build_middleware_stack()
    while app is not None and len(found) < 20:
        found.append(type(app).__name__)
        app = getattr(app, "app", None)
    return found


@pytest.mark.parametrize("service", SERVICES)
def test_a_services_stack_is_the_server_error_layer_then_its_edge(service: str) -> None:
    api = importlib.import_module(f"services.{service}.main").api
    found = layers(api)
    assert "ExceptionTelemetryMiddleware" not in found and "AppBodyLimitMiddleware" not in found
    assert found[:4] == ["ServerErrorMiddleware", "Edge", "ExceptionMiddleware", "AsyncExitStackMiddleware"]


@pytest.mark.parametrize("settings", [{}, {"telemetry": {"tracing": True, "metrics": False, "logs": False}},
                                      {"telemetry": NO_NATIVE_TELEMETRY, "max_body_size": 1000}])
def test_an_app_with_its_telemetry_or_a_body_limit_keeps_them(settings: dict[str, Any]) -> None:
    api = FastAPI(**settings)
    without_inert_layers(api)
    found = layers(api)
    assert found[:3] == ["ServerErrorMiddleware", "ExceptionTelemetryMiddleware", "AppBodyLimitMiddleware"]


def test_without_them_a_failure_is_still_a_500_and_an_answer_the_same() -> None:
    api = FastAPI(telemetry=NO_NATIVE_TELEMETRY)

    @api.get("/fails")
    async def fails() -> None:
        raise RuntimeError("boom")

    @api.post("/echo")
    async def echo(body: dict[str, int]) -> dict[str, int]:
        return body

    without_inert_layers(api)
    assert layers(api)[:2] == ["ServerErrorMiddleware", "ExceptionMiddleware"]
    client = TestClient(api, raise_server_exceptions=False)
    assert client.get("/fails").status_code == 500
    assert client.post("/echo", json={"a": 1}).json() == {"a": 1}
    assert client.get("/nowhere").status_code == 404
