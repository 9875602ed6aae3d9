"""What the review from outside (as an integrator and as an attacker, through the README, the OpenAPI documents and
the event contract) found at the edges, each probe as it was sent to a running suite.

- a number JSON can write but no field can hold (`1e400`, `-1e400`; `NaN` and `Infinity`, which Python's JSON reader
  takes) in a command's body: the 422 that echoes the input could not be written as JSON, so the command answered
  500 and the connection was dropped;
- a name holding U+061C ARABIC LETTER MARK (one of Unicode's bidirectional controls, beside U+200E/F and U+202A–E,
  which were refused) or a line break of Unicode's own (U+2028, U+2029) in a one-line field was recorded;
- a body of valid JSON nested 1000 deep, or holding a number of 5000 digits, was refused "not JSON (UTF-8)": true
  to Python's reader, not to the person who sent it. It says what is wrong.

Each refusal is a 4xx whose `detail` a person can act on, with its `code`, declared in the service's OpenAPI.
Runs on the shared suite; each test makes its own records.
"""

from __future__ import annotations

import json
from typing import Any
from uuid import uuid4

import httpx
import pytest
from support.auth import staff_headers, worker
from support.municipality import ELDERLY, concern

from jusou.runner import Suite

COUNSELOR = staff_headers("kouki-012", ELDERLY.division, "counselor")
JSON = {"content-type": "application/json"}


@pytest.fixture(scope="module")
def http(shared_suite: Suite) -> Any:
    with httpx.Client(timeout=30, trust_env=False) as client:
        yield client


def declared(client: httpx.Client, base: str, method: str, path: str, status: int) -> bool:
    """Whether the service's OpenAPI declares `status` for the operation."""
    operation = client.get(f"{base}/openapi.json").json()["paths"][path][method]
    return str(status) in operation["responses"]


@pytest.mark.parametrize("number", ["1e400", "-1e400", "NaN", "Infinity", "-Infinity"])
def test_a_number_no_field_can_hold_is_refused_with_422_naming_the_field(number: str, shared_suite: Suite,
                                                                       http: httpx.Client) -> None:
    intake, community = shared_suite.url("intake"), shared_suite.url("community")
    name = f"審査 数値{uuid4().hex[:6]}"
    consultation = json.dumps({"counter": ELDERLY.code, "channel": "窓口", "concerns": [concern("elderly-care")],
                               "person": {"name": name}, "confirm_new_person": "NUMBER"}, ensure_ascii=False)
    resource = json.dumps({"kind": "ibasho", "name": "審査の居場所", "provider": "社協", "area": "深大寺",
                           "capacity": "NUMBER"}, ensure_ascii=False)

    for base, path, body, headers, field in (
            (intake, "/consultations", consultation, COUNSELOR, "confirm_new_person"),
            (community, "/resources", resource, worker("community"), "capacity")):
        with httpx.Client(timeout=30, trust_env=False) as own:  # one connection: a 500 used to drop it
            refused = own.post(base + path, content=body.replace('"NUMBER"', number).encode(), headers={**headers, **JSON})
            assert refused.status_code == 422, f"{path}: {refused.status_code} {refused.text[:300]}"
            assert refused.json()["code"] == "invalid"
            errors = refused.json()["detail"]
            assert [e["loc"][-1] for e in errors] == [field], errors
            assert all(e["msg"] and any("\u3040" <= ch <= "\u9fff" for ch in e["msg"]) for e in errors), errors
            assert own.get(base + "/healthz").status_code == 200  # the same connection still answers
        assert declared(http, base, "post", path, 422)


@pytest.mark.parametrize(("char", "said"), [("\u061c", "文字の向きを変える制御文字（U+061C）"),
                                            ("\u2028", "改行またはタブ（U+2028）"), ("\u2029", "改行またはタブ（U+2029）")])
def test_a_name_with_a_bidirectional_mark_or_a_unicode_line_break_is_refused_naming_it(char: str, said: str,
                                                                                      shared_suite: Suite,
                                                                                      http: httpx.Client) -> None:
    intake = shared_suite.url("intake")
    name = f"審査{char}太郎{uuid4().hex[:6]}"

    refused = http.post(f"{intake}/consultations", headers=COUNSELOR, json={
        "counter": ELDERLY.code, "channel": "窓口", "concerns": [concern("elderly-care")], "person": {"name": name},
        "confirm_new_person": True})

    assert refused.status_code == 422, refused.text
    errors = refused.json()["detail"]
    assert [e["loc"] for e in errors] == [["body", "person", "name"]] and said in errors[0]["msg"], errors
    assert declared(http, intake, "post", "/consultations", 422)
    # the OpenAPI says so too: the field's pattern leaves the character out
    pattern = http.get(f"{intake}/openapi.json").json()["components"]["schemas"]["PersonIn"]["properties"]["name"]
    assert f"\\u{ord(char):04x}" in str(pattern), pattern


def test_an_idempotency_key_refused_with_400_has_the_code_the_openapi_names_for_400(shared_suite: Suite,
                                                                                   http: httpx.Client) -> None:
    """docs/integrating.md §6: branch on `code`. The OpenAPI's 400 must name every code a 400 can carry."""
    intake = shared_suite.url("intake")
    refused = http.post(f"{intake}/consultations", headers={**COUNSELOR, "Idempotency-Key": "k" * 256}, json={
        "counter": ELDERLY.code, "channel": "窓口", "concerns": [concern("elderly-care")],
        "person": {"name": f"審査 鍵{uuid4().hex[:6]}"}, "confirm_new_person": True})

    assert refused.status_code == 400 and refused.json()["code"] == "bad_key", refused.text
    operation = http.get(f"{intake}/openapi.json").json()["paths"]["/consultations"]["post"]
    assert "Idempotency-Key" in [p["name"] for p in operation["parameters"]]
    assert "`bad_key`" in operation["responses"]["400"]["description"], operation["responses"]["400"]


@pytest.mark.parametrize(("body", "said"), [
    ('{"counter": "houkatsu", "note": ' + "[" * 1000 + "]" * 1000 + "}", "入れ子"),
    ('{"counter": "houkatsu", "note": ' + "7" * 5000 + "}", "4300 桁")], ids=["nested 1000 deep", "5000 digits"])
def test_json_that_python_will_not_read_is_refused_with_400_saying_what_is_wrong(body: str, said: str,
                                                                                shared_suite: Suite,
                                                                                http: httpx.Client) -> None:
    intake = shared_suite.url("intake")

    refused = http.post(f"{intake}/consultations", content=body.encode(), headers={**COUNSELOR, **JSON})

    assert refused.status_code == 400, refused.text
    assert refused.json()["code"] == "bad_request" and said in refused.json()["detail"], refused.text
    assert declared(http, intake, "post", "/consultations", 400)
