"""The 事例集's search words are bounded (HB's review from outside, session 24).

Found on a `jusou up` with 80 事例の学び: `GET /learnings?q=` of 6,000 words of one character (「の の の …」, a 60 KB
address, any counselor's token) answered in 1.6 s of a worker thread, 1,000 words in 0.33 s: each word was looked for in
every learning, the time growing with the words and the learnings, and `q` (like `concern`, and `agency` of
`/learnings/takeaways`) had no bound, in the code or the OpenAPI document. `q` now takes at most 200 characters,
`concern` 100 and `agency` 200: beyond, 422 naming the field and the bound in Japanese and English, declared as
`maxLength` in the document; within, the search answers as before.
"""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest
from support.auth import staff_headers
from support.municipality import ELDERLY

from jusou.runner import Suite

COUNSELOR = staff_headers("kouki-hb6l", ELDERLY.division, "counselor")


@pytest.fixture(scope="module")
def http() -> Iterator[httpx.Client]:
    with httpx.Client(timeout=60, trust_env=False) as client:
        yield client


@pytest.mark.parametrize(("route", "query", "bound"), [
    ("/learnings", "q", 200), ("/learnings", "concern", 100), ("/learnings/takeaways", "agency", 200)])
def test_a_learnings_search_over_its_bound_is_refused_naming_the_field(route: str, query: str, bound: int,
                                                                      shared_suite: Suite, http: httpx.Client) -> None:
    meeting = shared_suite.url("meeting")

    refused = http.get(meeting + route, params={query: " ".join(["の"] * 6000)}, headers=COUNSELOR)

    assert refused.status_code == 422, (refused.status_code, refused.text[:300])
    [error] = refused.json()["detail"]
    assert error["loc"] == ["query", query] and f"{bound} 文字以内" in error["msg"] and "characters" in error["msg"], error
    within = http.get(meeting + route, params={query: "の" * bound}, headers=COUNSELOR)
    assert within.status_code == 200, within.text[:300]
    parameter = next(p for p in http.get(f"{meeting}/openapi.json").json()["paths"][route]["get"]["parameters"]
                     if p["name"] == query)
    assert parameter["schema"].get("maxLength") == bound or any(
        s.get("maxLength") == bound for s in parameter["schema"].get("anyOf", [])), parameter
