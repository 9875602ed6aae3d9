"""No answer that may hold personal information is kept by the browser (HF's review, session 16, fixed by HD).

At a counter PC, after ログアウト the browser's Back showed the case page (氏名, 生年月日, 電話…) from its cache with no
request to the server: the pages, lists, CSVs and JSON answers carried no `Cache-Control`. Every answer now says
`no-store`, refusals included; the static assets (style sheets, scripts, the docs' Swagger UI), which hold nothing
personal, say `no-cache` (kept, asked again before use) so that a page does not fetch them anew each time.
In process: the header is the edge's (shared/web/ui.py SECURITY_HEADERS), whatever the route answers.
"""

from __future__ import annotations

import importlib

import pytest
from fastapi.testclient import TestClient
from support.auth import staff_headers
from support.municipality import LEAD


@pytest.mark.parametrize("service", ["intake", "community"])
def test_pages_json_and_refusals_say_no_store_and_static_assets_no_cache(service: str) -> None:
    client = TestClient(importlib.import_module(f"services.{service}.main").api, raise_server_exceptions=False)
    auditor = staff_headers("kansa-001", LEAD, "auditor")
    for path, headers in [("/ui/login", {}), ("/healthz", {}), ("/openapi.json", {}), ("/reference/divisions", auditor),
                          ("/cases/not-a-uuid", auditor), ("/reference/nope", auditor), ("/ui/no-such-page", {}),
                          ("/docs", {})]:
        answer = client.get(path, headers=headers)
        assert answer.headers.get("cache-control") == "no-store", (path, answer.status_code, answer.headers)
    for path in ("/ui/static/jusou.js", "/docs/static/swagger-ui.css"):
        answer = client.get(path)
        assert answer.status_code == 200 and answer.headers.get("cache-control") == "no-cache", (path, answer.headers)
