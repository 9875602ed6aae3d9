"""HEAD on the API's edge (outside review): integrators' probes and load balancers send HEAD, which answered 405 on every
API GET route, on /healthz and on the staff pages. A GET route answers HEAD with the GET's status and headers and no
body (RFC 9110 §9.3.2; shared/web/routing.py `head_as_get`), the same refusals as the GET (no token, another division),
the OpenAPI document unchanged; a HEAD records nothing (a read that records a showing of personal information, D9, is
refused 405), and a 405 names HEAD in `Allow` where it names GET.

Runs on the shared suite; each test makes its own records.
"""

from __future__ import annotations

import time
from typing import Any
from uuid import uuid4

import httpx
import pytest
from support.auth import ANONYMOUS, reader, staff_headers
from support.municipality import DISABILITY, ELDERLY, concern

from jusou.runner import Suite

SERVICES = ("intake", "collaboration", "meeting", "outreach", "participation", "community")
COUNSELOR = staff_headers("kouki-012", ELDERLY.division, "counselor")
OTHER_DIVISION = staff_headers("shogai-004", DISABILITY.division, "counselor")
#: what a HEAD's answer must carry as its GET's did (the date and the length of a JSON body with a `code` aside)
SAME = ("content-type", "x-content-type-options", "content-security-policy", "x-next-cursor", "link", "allow")


@pytest.fixture(scope="module")
def http(shared_suite: Suite) -> Any:
    with httpx.Client(timeout=30, trust_env=False) as client:
        yield client


def receive(client: httpx.Client, intake: str) -> tuple[str, str]:
    response = client.post(f"{intake}/consultations", headers=COUNSELOR, json={
        "counter": ELDERLY.code, "channel": "窓口", "concerns": [concern("elderly-care")],
        "person": {"name": f"審査 ヘッド{uuid4().hex[:6]}"}, "confirm_new_person": True})
    assert response.status_code == 201, response.text
    case_id: str = response.json()["case_id"]
    return case_id, client.get(f"{intake}/cases/{case_id}", headers=COUNSELOR).json()["person_ref"]


def assert_head_is_get(client: httpx.Client, url: str, headers: dict[str, str]) -> httpx.Response:
    got = client.get(url, headers=headers)
    head = client.head(url, headers=headers)
    assert head.status_code == got.status_code, (url, head.status_code, got.status_code, got.text[:200])
    assert head.content == b""
    for name in SAME:
        assert head.headers.get(name) == got.headers.get(name), (url, name)
    return head


@pytest.mark.parametrize("service", SERVICES)
def test_a_probe_by_head_on_healthz_readyz_and_a_list_answers_as_its_get(service: str, shared_suite: Suite,
                                                                        http: httpx.Client) -> None:
    base = shared_suite.url(service)
    assert assert_head_is_get(http, f"{base}/healthz", {}).status_code == 200
    assert assert_head_is_get(http, f"{base}/readyz", {}).status_code == 200
    assert assert_head_is_get(http, f"{base}/ui/", reader()).status_code == 200  # a staff page, by bearer
    assert assert_head_is_get(http, f"{base}/openapi.json", {}).status_code == 200


def test_d9_head_is_refused_as_its_get_is_without_a_token_or_from_another_division(shared_suite: Suite,
                                                                                   http: httpx.Client) -> None:
    intake = shared_suite.url("intake")
    case_id, _ = receive(http, intake)
    receive(http, intake)  # two cases at least: a page of one has a next
    assert assert_head_is_get(http, f"{intake}/cases", reader()).status_code == 200
    assert assert_head_is_get(http, f"{intake}/cases?limit=1", reader()).headers.get("x-next-cursor")
    assert assert_head_is_get(http, f"{intake}/cases/{case_id}", COUNSELOR).status_code == 200
    assert assert_head_is_get(http, f"{intake}/cases", ANONYMOUS).status_code == 401
    assert assert_head_is_get(http, f"{intake}/cases/{case_id}", OTHER_DIVISION).status_code == 403
    assert assert_head_is_get(http, f"{intake}/cases/{uuid4()}", COUNSELOR).status_code == 404
    assert assert_head_is_get(http, f"{intake}/cases?limit=abc", reader()).status_code == 422


def test_d9_a_head_records_no_showing_of_personal_information(shared_suite: Suite, http: httpx.Client) -> None:
    """GET /cases/{id}/person records a disclosure (D9): its HEAD would record a showing nobody saw. Refused 405,
    nothing recorded; the GET still answers and records one."""
    intake = shared_suite.url("intake")
    case_id, person_ref = receive(http, intake)
    disclosures = f"{intake}/audit/people/{person_ref}/disclosures"
    before = http.get(disclosures, headers=reader()).json()

    head = http.head(f"{intake}/cases/{case_id}/person?basis=own_counter", headers=COUNSELOR)

    assert head.status_code == 405 and head.headers["allow"] == "GET"
    assert http.get(disclosures, headers=reader()).json() == before
    shown = http.get(f"{intake}/cases/{case_id}/person?basis=own_counter", headers=COUNSELOR)
    assert shown.status_code == 200, shown.text
    assert len(http.get(disclosures, headers=reader()).json()) == len(before) + 1


def test_a_head_runs_no_command_and_a_405_names_head_beside_get(shared_suite: Suite, http: httpx.Client) -> None:
    intake = shared_suite.url("intake")
    before = len(http.get(f"{intake}/cases", headers=reader()).json())

    head = http.head(f"{intake}/consultations", headers=COUNSELOR)  # a command's route: HEAD is no way to send it

    assert head.status_code == 405 and head.headers["allow"] == "POST"
    assert len(http.get(f"{intake}/cases", headers=reader()).json()) == before
    posted = http.post(f"{intake}/healthz")
    assert posted.status_code == 405 and posted.headers["allow"] == "GET, HEAD"
    assert posted.json()["code"] == "method_not_allowed"


def test_the_openapi_document_names_no_head_operation(shared_suite: Suite, http: httpx.Client) -> None:
    """HEAD is answered by the GET's route: the document's operations are the routes' own."""
    for service in SERVICES:
        paths = http.get(f"{shared_suite.url(service)}/openapi.json").json()["paths"]
        assert paths and not any("head" in operations for operations in paths.values())


def test_a_head_of_a_pages_live_updates_ends_after_its_headers(shared_suite: Suite, http: httpx.Client) -> None:
    """/ui/events is a stream that stays open while a page is: its HEAD answers the headers and ends."""
    began = time.monotonic()
    head = http.head(f"{shared_suite.url('intake')}/ui/events", headers=reader(), timeout=10)
    assert head.status_code == 200 and head.headers["content-type"].startswith("text/event-stream")
    assert time.monotonic() - began < 5
