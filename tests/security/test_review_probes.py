"""What the review from outside (issue: review) found at the API's edges, each probe as the reviewer sent it.

- D11: a case escalated (intake) or handed over to 多機関協働 (outreach) with a 主担当機関 the municipality file does not
  know was recorded: the case was then held by no division, and the plan's first role refused (D4);
- D2: a person received under a name of invisible characters only (zero-width, combining marks) listed with an
  empty-looking name;
- a counselor at another division's counter: the 403 said neither `policy` nor `scope` (README: every refusal does).

Each refusal is a 4xx with a Japanese message a person can act on, and declared in the service's OpenAPI.
Runs on the shared suite; each test makes its own records.
"""

from __future__ import annotations

from typing import Any
from uuid import uuid4

import httpx
import pytest
from support.auth import reader, staff_headers
from support.municipality import DISABILITY, ELDERLY, LEAD, concern

from jusou.runner import Suite

COUNSELOR = staff_headers("kouki-012", ELDERLY.division, "counselor")
OUTREACH = staff_headers("outreach-007", LEAD, "outreach_worker")
NOWHERE = "架空センター"  # an agency no municipality file knows


def declared(client: httpx.Client, base: str, method: str, path: str, status: int) -> bool:
    """Whether the service's OpenAPI declares `status` for the operation."""
    operation = client.get(f"{base}/openapi.json").json()["paths"][path][method]
    return str(status) in operation["responses"]


def japanese(detail: Any) -> bool:
    return any("\u3040" <= ch <= "\u9fff" for ch in str(detail))


def receive(client: httpx.Client, intake: str, name: str) -> str:
    response = client.post(f"{intake}/consultations", headers=COUNSELOR, json={
        "counter": ELDERLY.code, "channel": "窓口", "concerns": [concern("elderly-care"), concern("hikikomori")],
        "person": {"name": name}, "confirm_new_person": True})
    assert response.status_code == 201, response.text
    case_id: str = response.json()["case_id"]
    return case_id


@pytest.fixture(scope="module")
def http(shared_suite: Suite) -> Any:
    with httpx.Client(timeout=30, trust_env=False) as client:
        yield client


def test_d11_an_escalation_naming_an_agency_the_city_does_not_know_is_refused(shared_suite: Suite, http: httpx.Client) -> None:
    intake = shared_suite.url("intake")
    case_id = receive(http, intake, f"審査 主担当{uuid4().hex[:6]}")

    refused = http.post(f"{intake}/cases/{case_id}/escalate", headers=COUNSELOR,
                        json={"reason": "8050世帯で複合課題", "primary_agency": NOWHERE})

    assert refused.status_code == 422, refused.text
    assert refused.json()["code"] == "unknown_primary_agency"
    assert NOWHERE in refused.json()["detail"] and "一覧から選んでください" in refused.json()["detail"]
    assert declared(http, intake, "post", "/cases/{case_id}/escalate", 422)
    assert http.get(f"{intake}/cases/{case_id}", headers=reader()).json()["status"] == "open"  # nothing recorded
    escalated = http.post(f"{intake}/cases/{case_id}/escalate", headers=COUNSELOR,
                          json={"reason": "8050世帯で複合課題", "primary_agency": ELDERLY.ja})
    assert escalated.status_code == 200, escalated.text


def test_d11_outreach_hands_over_to_collaboration_only_with_an_agency_the_city_knows(shared_suite: Suite,
                                                                                    http: httpx.Client) -> None:
    outreach = shared_suite.url("outreach")
    started = http.post(f"{outreach}/engagements", headers=OUTREACH, json={"referred_by": "家族", "reason": "長期のひきこもり"})
    assert started.status_code == 201, started.text
    case_id = started.json()["case_id"]

    refused = http.post(f"{outreach}/engagements/{case_id}/hand-over", headers=OUTREACH,
                        json={"to_program": "collaboration", "reason": "複合課題", "primary_agency": NOWHERE})

    assert refused.status_code == 422, refused.text
    assert refused.json()["code"] == "unknown_primary_agency" and japanese(refused.json()["detail"])
    assert declared(http, outreach, "post", "/engagements/{case_id}/hand-over", 422)
    handed = http.post(f"{outreach}/engagements/{case_id}/hand-over", headers=OUTREACH,
                       json={"to_program": "collaboration", "reason": "複合課題", "primary_agency": ELDERLY.ja})
    assert handed.status_code == 200, handed.text


@pytest.mark.parametrize("name", ["\u200b\u200b", "\u0301\u0301", " \u3000 \u200d"])
def test_d2_a_person_is_not_received_under_a_name_of_invisible_characters(shared_suite: Suite, http: httpx.Client,
                                                                           name: str) -> None:
    intake = shared_suite.url("intake")
    refused = http.post(f"{intake}/consultations", headers=COUNSELOR, json={
        "counter": ELDERLY.code, "channel": "窓口", "concerns": [concern("elderly-care")], "person": {"name": name},
        "confirm_new_person": True})

    assert refused.status_code == 422, refused.text
    assert "見える文字がありません" in str(refused.json()["detail"]), refused.text
    assert declared(http, intake, "post", "/consultations", 422)


def test_a_counselor_at_another_divisions_counter_is_refused_as_the_scopes(shared_suite: Suite, http: httpx.Client) -> None:
    intake = shared_suite.url("intake")
    refused = http.post(f"{intake}/consultations", headers=COUNSELOR, json={
        "counter": DISABILITY.code, "channel": "窓口", "concerns": [concern("disability")],
        "person": {"name": f"審査 窓口{uuid4().hex[:6]}"}, "confirm_new_person": True})

    assert refused.status_code == 403, refused.text
    assert refused.headers.get("x-jusou-refused-by") == "scope"
    assert refused.json()["code"] == "counter_of_another_division" and japanese(refused.json()["detail"])
    assert declared(http, intake, "post", "/consultations", 403)
