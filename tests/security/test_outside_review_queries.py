"""What the review from outside found in the query strings of the JSON API (the bodies: test_outside_review.py).

- a person search by a phone of 51 digits, or a name or kana of 201 characters, was refused "50 件以内 / at most 50
  items": the bound on `Name | None` counted the text's characters but said items. It counts characters and says so;
- the figures page's year `?fy=` of 5000 digits, or `²` (str.isdigit() is true of both; int() takes neither), was a
  500 page in every service, as was a list page's `?page=²`.

Runs on the shared suite.
"""

from __future__ import annotations

import json
from typing import Any

import httpx
import pytest
from support.auth import staff_headers, token
from support.municipality import ELDERLY, LEAD

from jusou.runner import Suite
from shared.web.auth import COOKIE

COUNSELOR = staff_headers("kouki-012", ELDERLY.division, "counselor")


@pytest.fixture(scope="module")
def http(shared_suite: Suite) -> Any:
    with httpx.Client(timeout=30, trust_env=False) as client:
        yield client


@pytest.mark.parametrize(("route", "query", "bound"), [
    ("/persons/find", "phone", 50), ("/persons/find", "name", 200), ("/persons/find", "kana", 200),
    ("/persons/search", "phone", 50), ("/persons/search", "name", 200), ("/persons/search", "kana", 200)])
def test_a_search_text_over_its_bound_is_refused_counting_characters(route: str, query: str, bound: int,
                                                                    shared_suite: Suite, http: httpx.Client) -> None:
    intake = shared_suite.url("intake")

    refused = http.get(f"{intake}{route}", params={query: "0" * (bound + 1)}, headers=COUNSELOR)

    assert refused.status_code == 422, refused.text
    [error] = refused.json()["detail"]
    assert error["loc"] == ["query", query] and f"{bound} 文字以内" in error["msg"] and "characters" in error["msg"], error
    within = http.get(f"{intake}{route}", params={query: "0" * bound}, headers=COUNSELOR)
    # within the bound the field is taken (the search then wants its pair: name and birth date, or kana and phone)
    assert within.status_code == 200 or isinstance(within.json()["detail"], str), within.text
    parameter = next(p for p in http.get(f"{intake}/openapi.json").json()["paths"][route]["get"]["parameters"]
                     if p["name"] == query)
    assert f'"maxLength": {bound}' in json.dumps(parameter), parameter  # the document says the bound too


@pytest.mark.parametrize("year", ["9" * 5000, "\u00b2", "\u0662\u0660\u0662\u0666", "-1", "1e400"],
                         ids=["5000 digits", "superscript two", "arabic-indic 2026", "-1", "1e400"])
def test_the_figures_page_takes_any_year_for_this_year(year: str, shared_suite: Suite) -> None:
    supervisor = {COOKIE: token("kanri-001", LEAD, "supervisor")}
    for service in ("intake", "community"):
        with httpx.Client(timeout=60, trust_env=False, cookies=supervisor) as browser:
            shown = browser.get(shared_suite.url(service) + "/ui/figures", params={"fy": year})
            assert shown.status_code == 200 and "text/html" in shown.headers["content-type"], (service, shown.status_code)
            assert browser.get(shared_suite.url(service) + "/healthz").status_code == 200  # the same connection


@pytest.mark.parametrize("number", ["\u00b2", "\u2460"], ids=["superscript two", "circled one"])
def test_a_list_pages_page_number_of_any_digits_is_a_page(number: str, shared_suite: Suite) -> None:
    supervisor = {COOKIE: token("kanri-001", LEAD, "supervisor")}
    with httpx.Client(timeout=60, trust_env=False, cookies=supervisor) as browser:
        for query in ("page", "per_page"):
            shown = browser.get(shared_suite.url("collaboration") + "/ui/", params={query: number})
            assert shown.status_code < 500 and "text/html" in shown.headers["content-type"], (query, shown.status_code)


@pytest.mark.parametrize("path", ["/ui/activities", "/ui/sessions-table"])
def test_communitys_activities_take_any_year_for_this_year(path: str, shared_suite: Suite) -> None:
    worker_ = {COOKIE: token("chiiki-001", LEAD, "community_worker")}
    with httpx.Client(timeout=60, trust_env=False, cookies=worker_) as browser:
        shown = browser.get(shared_suite.url("community") + path, params={"fy": "9" * 5000})
        assert shown.status_code == 200 and "text/html" in shown.headers["content-type"], shown.status_code
