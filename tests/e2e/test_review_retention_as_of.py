"""保存年限's 基準日 (`as_of`) read as the staff forms read a date (outside review): 和暦 (令和8年12月6日, R8.12.6) or
Western (2026-12-06, 2026/12/6) on the API and on /ui/retention; a text that is no date is a 422 naming the parameter
in Japanese (基準日) and English (as_of), on the page a message, shown as of today. Runs on the shared suite."""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

import httpx
import pytest
from support.auth import reader

from jusou.runner import Suite


@pytest.fixture(scope="module")
def http(shared_suite: Suite) -> Any:
    with httpx.Client(timeout=30, trust_env=False) as client:
        yield client


@pytest.mark.parametrize("typed", ["令和30年4月1日", "R30.4.1", "r30-4-1", "２０４８年４月１日", "2048/4/1", "令和30年4月"])
def test_retention_as_of_reads_wareki_as_the_forms_do(typed: str, shared_suite: Suite, http: httpx.Client) -> None:
    intake = shared_suite.url("intake")
    iso = http.get(f"{intake}/retention?state=all&as_of=2048-04-01", headers=reader())
    assert iso.status_code == 200, iso.text

    read = http.get(f"{intake}/retention?state=all&as_of={quote(typed)}", headers=reader())

    assert read.status_code == 200, read.text
    assert read.json() == iso.json()


@pytest.mark.parametrize("typed", ["令和8年13月1日", "平成32年1月1日", "2026-02-30", "来週", "9" * 60])
def test_retention_as_of_that_is_no_date_is_refused_naming_the_parameter(typed: str, shared_suite: Suite,
                                                                          http: httpx.Client) -> None:
    refused = http.get(f"{shared_suite.url('collaboration')}/retention?as_of={quote(typed)}", headers=reader())

    assert refused.status_code == 422, refused.text
    body = refused.json()
    assert body["code"] == "invalid"
    [error] = body["detail"]
    assert error["loc"] == ["query", "as_of"]
    message = error["msg"]
    assert "基準日" in message and "as_of:" in message and "Value error" not in message


def test_retention_as_of_blank_is_today(shared_suite: Suite, http: httpx.Client) -> None:
    assert http.get(f"{shared_suite.url('meeting')}/retention?as_of=", headers=reader()).status_code == 200


def test_retention_openapi_says_as_of_takes_wareki(shared_suite: Suite, http: httpx.Client) -> None:
    operation = http.get(f"{shared_suite.url('intake')}/openapi.json").json()["paths"]["/retention"]["get"]
    [as_of] = [p for p in operation["parameters"] if p["name"] == "as_of"]
    schema = as_of["schema"]
    assert "format" not in schema and "和暦" in schema["description"] and schema["maxLength"] == 40


def test_retention_page_reads_wareki_as_of(shared_suite: Suite, http: httpx.Client) -> None:
    page = http.get(f"{shared_suite.url('intake')}/ui/retention?as_of={quote('R30.4.1')}", headers=reader())

    assert page.status_code == 200, page.text[:500]
    assert 'value="2048-04-01"' in page.text and "retention-as-of-error" not in page.text
    refused = http.get(f"{shared_suite.url('intake')}/ui/retention?as_of={quote('令和8年13月1日')}", headers=reader())
    assert refused.status_code == 422 and "retention-as-of-error" in refused.text
    assert "R13.4.1" in refused.text  # says 和暦 is read too
