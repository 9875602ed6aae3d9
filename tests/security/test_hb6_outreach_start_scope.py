"""D9 through outreach's start (HB's review from outside, session 24).

Found on a `jusou up`: an outreach worker (福祉総務課), who may not read a case 高齢者支援室's counter received (intake's
`GET /cases/{id}/history` answered them 403 scope), sent `POST /engagements {"case_id": <that case>}` (201), then
`POST /engagements/{case_id}/hand-over {"to_program": "intake", "counter": "<障害者相談支援事業>"}` (200). Intake put a
referral for the case at that counter, whose counselor received it like any referral and then read the person
(`GET /cases/{id}/person?basis=own_counter`: name and birth date, 200), the case's 主担当 now 障害者相談支援事業: a case
of another division taken over and its person shown on a number typed, with no つなぎ (D9 D11). The start's case number
is now one the worker's division may read at intake (escalated, connected to it, …) or one intake does not hold (a new
case's number chosen by the client, as before); any other is refused 403 scope, in Japanese and English, saying whom to
ask, and nothing is recorded: the same through the start form (`POST /ui/engagements`, 「既存のケース」).
"""

from __future__ import annotations

import html
import re
import uuid
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from support.auth import staff_headers, token
from support.municipality import ELDERLY, LEAD, concern

from jusou.runner import Suite
from shared.web.auth import COOKIE

WORKER = ("outreach-hb6", LEAD, "outreach_worker")
OUTREACH = staff_headers(*WORKER)
COUNSELOR = staff_headers("kouki-hb6", ELDERLY.division, "counselor")
JAPANESE = re.compile(r"[\u3040-\u30ff\u4e00-\u9fff]")


@pytest.fixture(scope="module")
def http() -> Iterator[httpx.Client]:
    with httpx.Client(timeout=30, trust_env=False) as client:
        yield client


def received(http: httpx.Client, intake: str) -> str:
    """A case at the elderly counter, which no other division reads yet."""
    answer = http.post(f"{intake}/consultations", headers=COUNSELOR, json={
        "counter": ELDERLY.code, "channel": "窓口", "concerns": [concern("elderly-care")],
        "person": {"name": f"範囲 確認{uuid.uuid4().hex[:6]}", "birth_date": "1950-01-01"}, "confirm_new_person": True})
    assert answer.status_code == 201, answer.text
    return str(answer.json()["case_id"])


def start(http: httpx.Client, outreach: str, case_id: str) -> httpx.Response:
    return http.post(f"{outreach}/engagements", headers=OUTREACH,
                     json={"case_id": case_id, "referred_by": "民生委員", "reason": "訪問しても会えない"})


def test_d9_a_start_naming_a_case_another_division_holds_is_refused_and_records_nothing(
        shared_suite: Suite, http: httpx.Client) -> None:
    intake, outreach = shared_suite.url("intake"), shared_suite.url("outreach")
    case_id = received(http, intake)
    assert http.get(f"{intake}/cases/{case_id}/history", headers=OUTREACH).status_code == 403  # not the worker's

    refused = start(http, outreach, case_id)

    assert refused.status_code == 403, refused.text
    assert refused.headers["x-jusou-refused-by"] == "scope"
    body = refused.json()
    assert body["code"] == "out_of_scope", body
    assert JAPANESE.search(body["detail"]) and "division" in body["detail"], body  # whom to ask, in both languages
    assert "つなぎ" in body["detail"], body
    assert http.get(f"{outreach}/engagements/{case_id}", headers=OUTREACH).status_code == 404  # nothing recorded
    handed = http.post(f"{outreach}/engagements/{case_id}/hand-over", headers=OUTREACH,
                       json={"to_program": "intake", "reason": "窓口へ", "counter": ELDERLY.code})
    assert handed.status_code == 404, handed.text
    operation = http.get(f"{outreach}/openapi.json").json()["paths"]["/engagements"]["post"]
    assert "403" in operation["responses"] and "503" in operation["responses"], operation["responses"]


def test_d12_a_start_naming_a_case_the_division_reads_or_a_new_number_goes_on(
        shared_suite: Suite, http: httpx.Client) -> None:
    intake, outreach = shared_suite.url("intake"), shared_suite.url("outreach")
    case_id = received(http, intake)
    for path, body in ((f"/cases/{case_id}/consent", {"scope": "重層的支援会議での情報共有", "granted": True, "method": "書面"}),
                       (f"/cases/{case_id}/escalate", {"reason": "8050世帯", "primary_agency": ELDERLY.ja})):
        assert http.post(intake + path, headers=COUNSELOR, json=body).status_code == 200, path
    # escalated: 福祉総務課 reads it at intake, so its outreach may start on it
    started = start(http, outreach, case_id)
    assert started.status_code == 201 and started.json()["case_id"] == case_id, started.text
    new_number = str(uuid.uuid4())  # a number no program holds: the client's for a new case, as before
    fresh = start(http, outreach, new_number)
    assert fresh.status_code == 201 and fresh.json()["case_id"] == new_number, fresh.text


def form_fields(page: str) -> dict[str, Any]:
    form = re.search(r'<form[^>]*action="/ui/engagements"[^>]*>.*?</form>', page, re.DOTALL)
    assert form is not None, page[:500]
    return {name: html.unescape(value) for name, value in
            re.findall(r'<input type="hidden" name="([^"]+)" value="([^"]*)"', form.group(0))}


def test_d9_the_start_form_refuses_a_case_another_division_holds_too(shared_suite: Suite, http: httpx.Client) -> None:
    intake, outreach = shared_suite.url("intake"), shared_suite.url("outreach")
    case_id = received(http, intake)
    with httpx.Client(trust_env=False, cookies={COOKIE: token(*WORKER)}, timeout=30) as browser:
        hidden = form_fields(browser.get(f"{outreach}/ui/").text)
        sent = browser.post(f"{outreach}/ui/engagements", headers={"Origin": outreach}, data={
            **hidden, "whom": "existing", "case_id": case_id, "referred_by": "民生委員", "reason": "訪問しても会えない"})

    assert sent.status_code == 403, (sent.status_code, sent.text[:300])
    assert "text/html" in sent.headers["content-type"]
    assert "つなぎ" in sent.text and case_id in sent.text  # why, and the form as typed
    assert http.get(f"{outreach}/engagements/{case_id}", headers=OUTREACH).status_code == 404
