"""D17 D18: a case note's dates are held to the bounds every other date staff type is held to.

Every date a program records from staff (a plan's 開始日 and 見直し予定日, 伴走支援, 見守り, outreach's 接触日, a
placement and its review, a meeting's 開催日 and 次回の見直し日) is refused outside five years of today, naming the
field (shared/web/limits.py `NearDate`, `check_near_date`). The 支援経過記録 took any date (review HC, session 19):
a contact dated 0001-01-01 was recorded and shown raw on the 経過記録 page ("0001-01-01 00:00:00+14:00 00:00"), and a
次の対応の期日 of 9999-12-31 (a slip of the keyboard: 20266 for 2026) was recorded, so the next step never came due on
自分の担当 (D18) and nobody was told. Each refusal is a 422 in Japanese and English that names the field, declared in
the OpenAPI, and records nothing.

Runs on the shared suite; each test makes its own case.
"""

from __future__ import annotations

from typing import Any
from uuid import uuid4

import httpx
import pytest
from support.auth import staff_headers
from support.municipality import ELDERLY, concern

from jusou.runner import Suite

COUNSELOR = staff_headers("kouki-012", ELDERLY.division, "counselor")
NOTE = {"contacted_at": "2026-12-01T10:00:00+09:00", "method": "電話", "counterpart": "本人", "content": "近況を聞いた"}


@pytest.fixture(scope="module")
def http(shared_suite: Suite) -> Any:
    with httpx.Client(timeout=30, trust_env=False) as client:
        yield client


def case_at_the_counter(http: httpx.Client, intake: str) -> str:
    response = http.post(f"{intake}/consultations", headers=COUNSELOR, json={
        "counter": ELDERLY.code, "channel": "窓口", "concerns": [concern("elderly-care")],
        "person": {"name": f"審査 経過{uuid4().hex[:6]}"}, "confirm_new_person": True})
    assert response.status_code == 201, response.text
    case_id: str = response.json()["case_id"]
    return case_id


def notes_of(http: httpx.Client, intake: str, case_id: str) -> list[dict[str, Any]]:
    response = http.get(f"{intake}/cases/{case_id}/casework", headers=COUNSELOR)
    assert response.status_code == 200, response.text
    return [e for e in response.json()["entries"] if e["kind"] == "note"]


@pytest.mark.parametrize("field, value", [
    ("contacted_at", "0001-01-01T00:00:00+14:00"),
    ("contacted_at", "1000-06-01T10:00:00"),
    ("next_due", "9999-12-31"),
    ("next_due", "2266-12-01"),
])
def test_d18_a_case_note_dated_far_from_today_is_refused_naming_the_field(field: str, value: str,
                                                                          shared_suite: Suite,
                                                                          http: httpx.Client) -> None:
    intake = shared_suite.url("intake")
    case_id = case_at_the_counter(http, intake)
    note = {**NOTE, "next_step": "再度電話する", "next_due": "2026-12-20", field: value}

    refused = http.post(f"{intake}/cases/{case_id}/casework/notes", headers=COUNSELOR, json=note)

    assert refused.status_code == 422, refused.text
    body = refused.json()
    assert field in str(body["detail"]), body
    assert "年" in str(body["detail"]), body  # Japanese, saying which years
    operation = http.get(f"{intake}/openapi.json").json()["paths"]["/cases/{case_id}/casework/notes"]["post"]
    assert "422" in operation["responses"]
    assert notes_of(http, intake, case_id) == []


def test_d18_a_case_note_dated_within_five_years_is_recorded(shared_suite: Suite, http: httpx.Client) -> None:
    intake = shared_suite.url("intake")
    case_id = case_at_the_counter(http, intake)

    recorded = http.post(f"{intake}/cases/{case_id}/casework/notes", headers=COUNSELOR,
                         json={**NOTE, "next_step": "再度電話する", "next_due": "2027-01-10"})

    assert recorded.status_code == 201, recorded.text
    assert [n["next_due"] for n in notes_of(http, intake, case_id)] == ["2027-01-10"]
