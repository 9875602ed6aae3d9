"""`GET /asyncapi.json` and `GET /metrics` declare what they answer: an AsyncAPI document as `application/json`, the
Prometheus text as `text/plain` (the review from outside as an integrator, session 21). Their 200 declared no content
at all, so a client generated from the OpenAPI document took the answer for an empty body; here the declared content
is checked against the service's real answer (in process), and /metrics's against the media type it answers with.
"""

from __future__ import annotations

import importlib

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from jsonschema import Draft202012Validator
from prometheus_client import CONTENT_TYPE_LATEST

SERVICES = ("intake", "collaboration", "meeting", "outreach", "participation", "community")


@pytest.mark.parametrize("service", SERVICES)
def test_the_asyncapi_document_is_declared_as_what_it_is(service: str) -> None:
    api: FastAPI = importlib.import_module(f"services.{service}.main").api
    declared = api.openapi()["paths"]["/asyncapi.json"]["get"]["responses"]["200"].get("content", {})
    assert set(declared) == {"application/json"}, declared
    answer = TestClient(api).get("/asyncapi.json")
    assert answer.status_code == 200 and answer.headers["content-type"].startswith("application/json")
    errors = [error.message for error in Draft202012Validator(declared["application/json"]["schema"]).iter_errors(
        answer.json())]
    assert not errors, errors
    assert answer.json()["asyncapi"].startswith("3.")


@pytest.mark.parametrize("service", SERVICES)
def test_the_metrics_are_declared_as_prometheus_text(service: str) -> None:
    """The route answers `CONTENT_TYPE_LATEST` (prometheus_client's text format); its scrape needs a running store and
    bus (tests/contracts/test_monitoring.py reads its answers)."""
    api: FastAPI = importlib.import_module(f"services.{service}.main").api
    declared = api.openapi()["paths"]["/metrics"]["get"]["responses"]["200"].get("content", {})
    assert set(declared) == {CONTENT_TYPE_LATEST.split(";")[0]} == {"text/plain"}, declared
