"""The API's edge as an attacker and an integrator probe it (outside review): a request the HTTP parser cannot read
(a Content-Length that is no number, sent twice, or beside Transfer-Encoding: request smuggling) was answered with
uvicorn's plain English `Invalid HTTP request received.`; now a 400 refusal as every other, JSON in Japanese and
English with `code` `bad_request` (shared/web/serve.py). The other probes held already and are kept here as guards:
odd methods (405 naming what the path takes; no CORS preflight), a body of another content type (415), huge
numbers (422 naming the field), another division's token (403, on HEAD too), a cross-site form post (403).

Runs on the shared suite (started by `python -m services.<name>`, shared/web/serve.py's protocol).
"""

from __future__ import annotations

import json
import re
import socket
from typing import Any
from urllib.parse import urlsplit
from uuid import uuid4

import httpx
import pytest
from support.auth import reader, staff_headers, token
from support.municipality import DISABILITY, ELDERLY, concern

from jusou.runner import Suite

COUNSELOR = staff_headers("kouki-012", ELDERLY.division, "counselor")
OTHER_DIVISION = staff_headers("shogai-004", DISABILITY.division, "counselor")


def japanese_and_english(text: str) -> bool:
    return bool(re.search(r"[\u3040-\u30ff\u4e00-\u9fff]", text)) and bool(re.search(r"[a-z]{3} [a-z]{3}", text))


def raw(url: str, request: bytes) -> tuple[int, dict[str, str], bytes]:
    where = urlsplit(url)
    with socket.create_connection((where.hostname, where.port), timeout=10) as sock:
        sock.sendall(request)
        answer = b""
        while chunk := sock.recv(65536):
            answer += chunk
    head, _, body = answer.partition(b"\r\n\r\n")
    status_line, *lines = head.decode("latin-1").split("\r\n")
    headers = {name.lower(): value.strip() for name, _, value in (line.partition(":") for line in lines)}
    return int(status_line.split()[1]), headers, body


@pytest.fixture(scope="module")
def http(shared_suite: Suite) -> Any:
    with httpx.Client(timeout=30, trust_env=False) as client:
        yield client


@pytest.mark.parametrize("lengths", [[b"99999999999999999999"], [b"-1"], [b"1e3"], [b"2", b"3"]],
                         ids=["huge", "negative", "exponent", "twice"])
def test_a_request_the_parser_cannot_read_is_a_400_refusal_in_japanese_and_english(lengths: list[bytes],
                                                                                  shared_suite: Suite) -> None:
    request = (b"POST /consultations HTTP/1.1\r\nHost: jusou\r\nContent-Type: application/json\r\n"
               + b"".join(b"Content-Length: " + length + b"\r\n" for length in lengths) + b"\r\n{}")

    status, headers, body = raw(shared_suite.url("intake"), request)

    assert status == 400 and headers["content-type"] == "application/json"
    refusal = json.loads(body)
    assert refusal["code"] == "bad_request" and japanese_and_english(refusal["detail"]), refusal
    assert int(headers["content-length"]) == len(body)


def test_a_smuggled_request_behind_transfer_encoding_and_content_length_is_refused(shared_suite: Suite) -> None:
    request = (b"POST /consultations HTTP/1.1\r\nHost: jusou\r\nContent-Length: 4\r\nTransfer-Encoding: chunked\r\n\r\n"
               b"0\r\n\r\nGET /healthz HTTP/1.1\r\nHost: jusou\r\n\r\n")

    status, _, body = raw(shared_suite.url("intake"), request)

    assert status == 400 and json.loads(body)["code"] == "bad_request"
    assert b"HTTP/1.1 200" not in body  # the smuggled GET was not answered


@pytest.mark.parametrize("method", ["OPTIONS", "TRACE", "PROPFIND", "PUT", "DELETE"])
def test_an_odd_method_is_a_405_naming_what_the_path_takes(method: str, shared_suite: Suite,
                                                           http: httpx.Client) -> None:
    answered = http.request(method, f"{shared_suite.url('intake')}/cases", headers={
        **reader(), "Origin": "https://elsewhere.example", "Access-Control-Request-Method": "GET"})

    assert answered.status_code == 405 and answered.headers["allow"] == "GET, HEAD"
    assert answered.json()["code"] == "method_not_allowed"
    assert "access-control-allow-origin" not in answered.headers  # no CORS (docs/integrating.md)


def test_a_body_of_another_content_type_or_a_huge_number_is_refused_naming_what_to_send(shared_suite: Suite,
                                                                                        http: httpx.Client) -> None:
    intake = shared_suite.url("intake")
    form = http.post(f"{intake}/consultations", headers=COUNSELOR, data={"counter": ELDERLY.code})
    assert form.status_code == 415 and form.json()["code"] == "unsupported_media_type"
    huge = http.get(f"{intake}/cases?limit={'9' * 40}", headers=reader())
    assert huge.status_code == 422 and huge.json()["detail"][0]["loc"] == ["query", "limit"]
    digits = http.post(f"{intake}/consultations", headers={**COUNSELOR, "content-type": "application/json"},
                       content=b'{"n":' + b"9" * 5000 + b"}")
    assert digits.status_code == 400 and japanese_and_english(digits.json()["detail"])


def test_d9_another_divisions_token_reads_nothing_by_get_or_head_and_a_cross_site_form_post_is_refused(
        shared_suite: Suite, http: httpx.Client) -> None:
    intake = shared_suite.url("intake")
    received = http.post(f"{intake}/consultations", headers=COUNSELOR, json={
        "counter": ELDERLY.code, "channel": "窓口", "concerns": [concern("elderly-care")],
        "person": {"name": f"審査 探査{uuid4().hex[:6]}"}, "confirm_new_person": True})
    case_id = received.json()["case_id"]
    for path in (f"/cases/{case_id}", f"/cases/{case_id}/history", f"/cases/{case_id}/person?basis=own_counter"):
        assert http.get(intake + path, headers=OTHER_DIVISION).status_code == 403, path
        assert http.head(intake + path, headers=OTHER_DIVISION).status_code == 403, path
    session = {"jusou_session": token("kouki-012", ELDERLY.division, "counselor")}
    for where in ({}, {"Origin": "https://elsewhere.example"}, {"Origin": "null"}, {"Sec-Fetch-Site": "cross-site"},
                  {"Sec-Fetch-Site": "same-site"}):
        posted = http.post(f"{intake}/ui/cases/{case_id}/consent", cookies=session, headers=where,
                           data={"scope": "重層的支援会議での情報共有", "granted": "true", "method": "書面"},
                           follow_redirects=False)
        assert posted.status_code == 403 and posted.headers["content-type"].startswith("text/html"), where
    assert http.get(f"{intake}/cases/{case_id}", headers=COUNSELOR).json()["status"] == "open"


def test_a_missing_style_sheet_is_a_json_refusal_with_its_code(shared_suite: Suite, http: httpx.Client) -> None:
    """/ui/static/ answers files, and JSON refusals (not pages), which the edge leaves without `code` under /ui/."""
    missing = http.get(f"{shared_suite.url('meeting')}/ui/static/nope.css")

    assert missing.status_code == 404 and missing.json()["code"] == "not_found"
    assert japanese_and_english(missing.json()["detail"])
    assert int(missing.headers["content-length"]) == len(missing.content)
