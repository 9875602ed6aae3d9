"""`/metrics` does not grow with what a client without a token chooses (HB's review from outside, session 24).

Found on a `jusou up`: intake's `/metrics` was 33 KB; 1,292 requests without a token, in 4.4 s, each of one of the
methods the HTTP parser knows (PROPFIND, MKCOL, SEARCH, PURGE, M-SEARCH …) on each path of the OpenAPI document, all
refused (401, 405), made it 2.95 MB: 25,882 series of `jusou_http_requests_total` and `jusou_http_request_seconds`, one
per route, method and status, kept for the life of the process and sent to every scrape (a Prometheus label set chosen
by the client). A method no route of the suite takes is now counted as `other`, so the series stay bounded by the
routes, the methods the suite serves and the statuses it answers.
"""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from jusou.runner import Suite

#: methods the HTTP parser accepts (llhttp) that no route of the suite takes
ODD = ("PROPFIND", "MKCOL", "SEARCH", "PURGE", "M-SEARCH", "LOCK", "REPORT", "TRACE", "SUBSCRIBE", "MKCALENDAR")


@pytest.fixture(scope="module")
def http() -> Iterator[httpx.Client]:
    with httpx.Client(timeout=30, trust_env=False) as client:
        yield client


def methods_counted(http: httpx.Client, base: str) -> set[str]:
    families = text_string_to_metric_families(http.get(f"{base}/metrics").text)
    return {sample.labels["method"] for family in families if family.name == "jusou_http_requests"
            for sample in family.samples}


def test_a_method_no_route_takes_is_counted_as_other_not_as_a_series_of_its_own(
        shared_suite: Suite, http: httpx.Client) -> None:
    base = shared_suite.url("community")
    for method in ODD:
        for path in ("/healthz", "/places", "/no-such-address"):
            refused = http.request(method, base + path)
            assert 400 <= refused.status_code < 500, (method, path, refused.status_code)

    counted = methods_counted(http, base)

    assert not counted & set(ODD), sorted(counted & set(ODD))
    assert "other" in counted and "GET" in counted, sorted(counted)


def test_the_methods_the_suite_serves_keep_their_own_label(shared_suite: Suite, http: httpx.Client) -> None:
    base = shared_suite.url("community")
    for method in ("GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"):
        http.request(method, f"{base}/healthz")

    assert {"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"} <= methods_counted(http, base)
