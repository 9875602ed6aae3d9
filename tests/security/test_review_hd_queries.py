"""`as_of` is an RFC 3339 time, as its document says, not a number (the review from outside, session 16).

schemathesis (`negative_data_rejection`) sent `as_of=0.5` to `GET /cases/{case_id}/state` and `/audit/cases/{case_id}`:
pydantic read the number as seconds since 1970, and the audit answered 200 with the record "as of"
1970-01-01T00:00:00.5Z. A number is refused with 422 naming the field; a time with a zone is taken as before.
"""

from __future__ import annotations

import uuid

import httpx
import pytest
from support.auth import staff_headers
from support.municipality import LEAD

from jusou.runner import Suite

AUDITOR = staff_headers("kansa-001", LEAD, "auditor")


@pytest.mark.parametrize("number", ["0.5", "1e9", "-3", "1796600000"])
@pytest.mark.parametrize("route", ["/cases/{case_id}/state", "/audit/cases/{case_id}"])
def test_as_of_written_as_a_number_is_refused_with_422_naming_the_field(shared_suite: Suite, route: str,
                                                                        number: str) -> None:
    path = route.format(case_id=uuid.uuid4())
    answer = httpx.get(shared_suite.url("outreach") + path, params={"as_of": number}, headers=AUDITOR, trust_env=False,
                       timeout=30)
    assert answer.status_code == 422, (answer.status_code, answer.text[:300])
    assert answer.json()["detail"][0]["loc"] == ["query", "as_of"] and "RFC 3339" in answer.json()["detail"][0]["msg"]


def test_as_of_written_as_a_time_is_taken(shared_suite: Suite) -> None:
    answer = httpx.get(f"{shared_suite.url('outreach')}/cases/{uuid.uuid4()}/state",
                       params={"as_of": "2026-11-29T12:00:00+09:00"}, headers=AUDITOR, trust_env=False, timeout=30)
    assert answer.status_code == 200, answer.text[:300]
