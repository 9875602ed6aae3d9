"""schemathesis against every service's OpenAPI: no 5xx on any endpoint; every 4xx says why (issue 6); every status
answered is one the operation's OpenAPI `responses` declare (a generated client knows it).

Each operation is called with schema-valid input (path parameters naming a real case, plan,
meeting… recorded by `seed`, so requests reach the aggregates) and, where it takes a body or a
query, with schema-invalid input (negative mode), as a staff member whose role may call it (a bearer
token; shared/web/policy.py). The routes every service
gets from one handler in `create_service` that answer the same whichever service is asked
(`/healthz`, `/readyz`, `/asyncapi.json`, `/reference/{kind}`, `/audit/cases/{case_id}`, which
gathers from all six) are fuzzed once, on intake. Hypothesis is derandomized,
so CI runs the same examples each time; `JUSOU_FUZZ_EXAMPLES` raises the count locally.

Schemathesis' negative data stays within what JSON Schema can say is wrong; the values at JSON's and Unicode's
edges are sent besides, one field (or query parameter) at a time in an otherwise valid request (the review from
outside: `1e400` or `NaN` in any field of any command was a 500 that dropped the connection).
"""

from __future__ import annotations

import json
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


def undeclared(operation: Any, status: int) -> str | None:
    """None if the operation's OpenAPI `responses` declare this status (as itself, as `4XX`, or a `default`): a client
    generated from the document knows every answer it can get (the review from outside, session 21)."""
    declared = {str(code).upper() for code in (operation.definition.raw.get("responses") or {})}
    if str(status) in declared or f"{str(status)[0]}XX" in declared or "DEFAULT" in declared:
        return None
    return f"status {status} not declared in the OpenAPI responses ({', '.join(sorted(declared)) or 'none'})"


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
        why = why_refusal_fails(response.status_code, content_type, body) or undeclared(operation, response.status_code)
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


# -- every field of every command with the values at JSON's and Unicode's edges (the review from outside) --------------

#: JSON text put in place of one field's value: numbers JSON writes but no field holds (`1e400` is read as infinity,
#: and Python's reader takes `NaN`), integers past 64 bits, a digit string past Python's 4300-digit conversion, nesting,
#: NUL, a lone surrogate, the bidirectional marks, 100,000 characters, a long list, dates at the calendar's ends
EDGE_VALUES = {
    "1e400": "1e400", "NaN": "NaN", "-Infinity": "-Infinity", "2**64+1": "18446744073709551617", "-1": "-1",
    "nested 300 deep": "[" * 300 + "]" * 300, "object": "{}", "null": "null", "true": "true", "empty": '""',
    "NUL": '"a\\u0000b"', "lone surrogate": '"\\ud800"', "RLO and ALM": '"\\u202e\\u061cabc"',
    "100000 characters": '"' + "長" * 100_000 + '"', "1000 items": json.dumps(["x"] * 1000),
    "5000 digits": '"' + "9" * 5000 + '"', "9999-12-31": '"9999-12-31"', "0001-01-01": '"0001-01-01"',
}
#: the same for a query parameter, as sent in the address
EDGE_QUERIES = {"1e400": "1e400", "NaN": "NaN", "-1": "-1", "0": "0", "10**20": "1" + "0" * 20, "NUL": "%00",
                "lone surrogate": "%ED%A0%80", "RLO": "%E2%80%AE", "5000 digits": "9" * 5000}


def one_valid_request(operation: Any, path_parameters: dict[str, Any] | None) -> Any:
    """One schema-valid request of the operation (its body, path and query), drawn as the fuzzer draws them."""
    drawn: list[Any] = []

    @settings(max_examples=1, deadline=None, database=None, derandomize=True,
              phases=[Phase.explicit, Phase.generate], suppress_health_check=list(HealthCheck))
    @given(case=operation.as_strategy(generation_mode=GenerationMode.POSITIVE, path_parameters=path_parameters))
    def draw(case: Any) -> None:
        drawn.append(case)

    draw()
    return drawn[0]


@pytest.mark.parametrize("service", SERVICES)
def test_every_field_of_every_operation_takes_values_at_the_edges_without_a_5xx(service: str, own_suite: Suite,
                                                                                seeded: dict[str, Any]) -> None:
    """Each field of each command's body, and each query parameter of each read, in turn holds each edge value, the
    rest of the request valid: never a 5xx, and every refusal says why with its `code`."""
    base = own_suite.url(service)
    schema = schemathesis.openapi.from_url(base + "/openapi.json")
    problems: list[str] = []
    calls = 0
    with requests.Session() as session:
        session.trust_env = False
        for result in schema.get_all_operations():
            operation = result.ok()
            method = operation.method.upper()
            if service != "intake" and operation.path in SAME_IN_EVERY_SERVICE:
                continue
            body_taken = method in ("POST", "PUT") and bool(list(operation.body))
            queries = [p.name for p in operation.query]
            if not body_taken and not queries:
                continue
            names = [p.name for p in operation.path_parameters]
            case = one_valid_request(operation, {n: seeded[n] for n in names if n in seeded} or None)
            staff = headers_for(service, method, operation.path)
            path = case.formatted_path
            sent: list[tuple[str, str, bytes | None, dict[str, str]]] = []
            if body_taken:
                fields = dict(case.body) if isinstance(case.body, dict) else {}
                for field in list(fields) or ["unknown"]:
                    for name, raw in EDGE_VALUES.items():
                        text = json.dumps({**fields, field: "@edge@"}, ensure_ascii=False).replace('"@edge@"', raw)
                        sent.append((f"{field}={name}", path, text.encode(), {"content-type": "application/json"}))
            for query in queries:
                for name, raw in EDGE_QUERIES.items():
                    sent.append((f"?{query}={name}", f"{path}?{query}={raw}", None, {}))
            for what, address, body, headers in sent:
                calls += 1
                try:
                    response = session.request(method, base + address, data=body, headers={**staff, **headers},
                                               timeout=30)
                except requests.RequestException as exc:  # a reset connection: the server broke
                    problems.append(f"{method} {operation.path} {what}: {exc!r}")
                    continue
                try:
                    answer = response.json()
                except ValueError:
                    answer = None
                why = why_refusal_fails(response.status_code, response.headers.get("content-type", ""), answer)
                if why is None and response.status_code >= 400 and not (isinstance(answer, dict) and answer.get("code")):
                    why = "a refusal without its code"
                why = why or undeclared(operation, response.status_code)
                if why:
                    problems.append(f"{method} {operation.path} {what}: {why}: {response.status_code} {response.text[:200]}")

    assert calls > 0
    assert not problems, f"{len(problems)} of {calls} requests to {service} were answered badly:\n" + "\n".join(problems[:20])
