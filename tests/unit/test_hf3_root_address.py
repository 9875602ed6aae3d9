"""A browser opening a service's bare address goes to its pages (the review from outside as a new user, session 21).

`jusou up`'s table gives each UI as `http://127.0.0.1:8101/ui/`; typed or bookmarked without `/ui/`, the address
answered a JSON 404 (「このアドレスはありません。API の一覧は /docs にあります」) shown raw in the browser. A browser
(`Accept: text/html`) is now sent to `/ui/` (then the sign-in page if need be); a program still gets the 404 of an
unknown address, with its `code`. In process, the six services.
"""

from __future__ import annotations

import importlib

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

SERVICES = ("intake", "collaboration", "meeting", "outreach", "participation", "community")
BROWSER = {"accept": "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8"}


@pytest.mark.parametrize("service", SERVICES)
def test_a_browser_at_the_bare_address_is_sent_to_the_pages(service: str) -> None:
    api: FastAPI = importlib.import_module(f"services.{service}.main").api
    client = TestClient(api, follow_redirects=False)
    opened = client.get("/", headers=BROWSER)
    assert (opened.status_code, opened.headers.get("location")) == (303, "/ui/"), opened.text[:300]
    assert "default-src" in opened.headers.get("content-security-policy", "")  # the edge's headers, as every answer


@pytest.mark.parametrize("service", SERVICES)
def test_a_program_at_the_bare_address_gets_the_unknown_address_404(service: str) -> None:
    api: FastAPI = importlib.import_module(f"services.{service}.main").api
    client = TestClient(api, follow_redirects=False)
    bare, unknown = client.get("/"), client.get("/no-such-address")
    assert bare.status_code == unknown.status_code == 404
    assert bare.json() == unknown.json() and bare.json()["code"] == "not_found", bare.text
    assert client.head("/", headers=BROWSER).status_code == 303
