"""schemathesis against every service's OpenAPI: no 5xx on any endpoint; every 4xx says why (issue 6).

Each operation is called with schema-valid input (path parameters naming a real case, plan,
meeting… recorded by `seed`, so requests reach the aggregates) and, where it takes a body or a
query, with schema-invalid input (negative mode), as a staff member whose role may call it (a bearer
token; shared/web/policy.py). The routes every service
gets from one handler in `create_service` that answer the same whichever service is asked
(`/healthz`, `/readyz`, `/asyncapi.json`, `/reference/{kind}`, `/audit/cases/{case_id}`, which
gathers from all six) are fuzzed once, on intake. Hypothesis is derandomized,
so CI runs the same examples each time; `JUSOU_FUZZ_EXAMPLES` raises the count locally.
"""

from __future__ import annotations

import os
import re
from typing import Any

import pytest
import requests
import schemathesis
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis.errors import Unsatisfiable
from schemathesis import GenerationMode
from support.auth import headers_for

from jusou.runner import Suite
from security.conftest import SERVICES

MAX_EXAMPLES = int(os.environ.get("JUSOU_FUZZ_EXAMPLES", "5"))
SAME_IN_EVERY_SERVICE = {"/healthz", "/readyz", "/asyncapi.json", "/reference/{kind}", "/audit/cases/{case_id}",
                         "/figures", "/figures/program", "/retention"}
#: operations whose every request does much more (the audit gathers each program's history and state)
FEWER_EXAMPLES = {"/audit/cases/{case_id}": 2, "/figures": 2}
JAPANESE = re.compile(r"[\u3040-\u30ff\u4e00-\u9fff]")
LATIN = re.compile(r"[A-Za-z]{2,}")


def why_refusal_fails(status: int, content_type: str, body: Any) -> str | None:
    """None if the answer is acceptable: not a 5xx, and a 4xx carries a `detail` a person can act on."""
    if status >= 500:
        return "server error"
    if status < 400:
        return None
    if not content_type.startswith("application/json") or not isinstance(body, dict):
        return "a refusal without a JSON body"
    detail = body.get("detail")
    if isinstance(detail, str):
        if not (JAPANESE.search(detail) and LATIN.search(detail)):
            return "a refusal whose detail is not in Japanese with English beside it"
        return None
    # FastAPI's validation errors: each names the field (`loc`) and what is wrong with it (`msg`)
    if isinstance(detail, list) and detail and all(isinstance(e, dict) and e.get("msg") and e.get("loc") for e in detail):
        return None
    return "a refusal without a detail"


def constrained(schema: dict[str, Any]) -> bool:
    """Can a value break this parameter schema? (Any text is a valid plain string parameter.)"""
    if "anyOf" in schema:
        return any(constrained(s) for s in schema["anyOf"] if s.get("type") != "null")
    return schema.get("type", "string") != "string" or bool(set(schema) - {"type", "title", "description", "default"})


def runs(operation: Any, ids: dict[str, Any]) -> list[tuple[GenerationMode, dict[str, Any] | None]]:
    """How to call an operation: valid input on real records, and invalid input where input can be invalid."""
    names = [p.name for p in operation.path_parameters]
    # a malformed id in the path is FastAPI's own 422 on every route: bodies and queries are where input varies
    can_be_invalid = bool(list(operation.body)) or any(constrained(p.definition.get("schema", {}))
                                                       for p in operation.query)
    plans: list[tuple[GenerationMode, dict[str, Any] | None]] = [
        (GenerationMode.POSITIVE, {n: ids[n] for n in names if n in ids} or None)
    ]
    if can_be_invalid:
        plans.append((GenerationMode.NEGATIVE, None))
    return plans


def fuzz(service: str, operation: Any, mode: GenerationMode, path_parameters: dict[str, Any] | None, session: requests.Session,
         problems: list[str]) -> int:
    """Call the operation with up to MAX_EXAMPLES generated requests; add what went wrong to `problems`."""
    calls = 0
    staff = headers_for(service, operation.method.upper(), operation.path)  # a staff member the policy lets in

    @settings(max_examples=min(MAX_EXAMPLES, FEWER_EXAMPLES.get(operation.path, MAX_EXAMPLES)), deadline=None, database=None, derandomize=True,
              phases=[Phase.explicit, Phase.generate], suppress_health_check=list(HealthCheck))
    @given(case=operation.as_strategy(generation_mode=mode, path_parameters=path_parameters))
    def call(case: Any) -> None:
        nonlocal calls
        calls += 1
        try:
            response = case.call(session=session, headers=staff, timeout=15)
        except requests.RequestException as exc:  # a reset connection: the server broke
            problems.append(f"{operation.method.upper()} {operation.path} ({mode}): {exc!r}\n  {case.as_curl_command()}")
            return
        content_type = (response.headers.get("content-type") or [""])[0]
        try:
            body = response.json()
        except ValueError:
            body = None
        why = why_refusal_fails(response.status_code, content_type, body)
        if why:
            problems.append(f"{operation.method.upper()} {operation.path} ({mode}): {why}: {response.status_code} "
                            f"{response.text[:300]}\n  {case.as_curl_command()}")

    try:
        call()
    except Unsatisfiable:
        pass  # nothing about this operation's input can be made invalid (e.g. any text is a valid path segment)
    return calls


@pytest.mark.parametrize("service", SERVICES)
def test_no_endpoint_answers_5xx_and_every_4xx_says_why(service: str, own_suite: Suite, seeded: dict[str, Any]) -> None:
    schema = schemathesis.openapi.from_url(own_suite.url(service) + "/openapi.json")
    problems: list[str] = []
    calls = 0
    with requests.Session() as session:
        session.trust_env = False  # never through an http_proxy
        for result in schema.get_all_operations():
            operation = result.ok()
            if service != "intake" and operation.path in SAME_IN_EVERY_SERVICE:
                continue
            for mode, path_parameters in runs(operation, seeded):
                calls += fuzz(service, operation, mode, path_parameters, session, problems)

    assert calls > 0, "schemathesis made no request"
    assert not problems, f"{len(problems)} of {calls} requests to {service} were answered badly:\n" + "\n".join(problems[:20])
