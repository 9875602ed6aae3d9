"""`GET /asyncapi.json` declares what it answers: an AsyncAPI document as `application/json` (the review from outside
as an integrator, session 21). Its 200 declared no content at all, so a client generated from the OpenAPI document
took the answer for an empty body; here the declared schema is checked against the service's real answer.
"""

from __future__ import annotations

import importlib

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from jsonschema import Draft202012Validator

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
