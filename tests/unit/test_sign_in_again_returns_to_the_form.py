"""A form refused for want of a session leads to the sign-in page and back to the page the form was on (README "Pages"):
its Referer when that is this origin's /ui/ page, else /ui/ — never another site, the sign-in page itself, nor the
words of the last redirect's message."""

from __future__ import annotations

import pytest
from starlette.requests import Request

from shared.web.ui import form_page, login_url


def _post(referer: str | None, path: str = "/ui/consultations", method: str = "POST") -> Request:
    headers = [(b"host", b"127.0.0.1:8101")] + ([(b"referer", referer.encode())] if referer is not None else [])
    return Request({"type": "http", "method": method, "path": path, "query_string": b"", "headers": headers,
                    "scheme": "http", "server": ("127.0.0.1", 8101)})


@pytest.mark.parametrize(("referer", "back"), [
    ("http://127.0.0.1:8101/ui/consultations/new", "/ui/consultations/new"),
    ("http://127.0.0.1:8101/ui/cases/1/casework?tab=notes&ok=recorded&sig=x", "/ui/cases/1/casework?tab=notes"),
    ("http://127.0.0.1:8101/ui/?ng=%E6%96%87&sig=abc", "/ui/"),
    ("https://evil.example/ui/consultations/new", "/ui/"),        # another site
    ("http://127.0.0.1:8102/ui/cases/1", "/ui/"),                  # another service (port) of the host
    ("http://127.0.0.1:8101/api/x", "/ui/"),                       # not a page
    ("http://127.0.0.1:8101/ui/login?next=%2Fui%2Fx", "/ui/"),     # the sign-in page itself
    ("", "/ui/"),
    (None, "/ui/"),
])
def test_a_refused_form_returns_to_its_own_page_of_this_origin_only(referer: str | None, back: str) -> None:
    assert form_page(_post(referer)) == back


def test_the_sign_in_page_of_a_refused_post_comes_back_to_the_form_not_to_the_posts_address() -> None:
    assert login_url(_post("http://127.0.0.1:8101/ui/consultations/new")) == "/ui/login?next=%2Fui%2Fconsultations%2Fnew"
    page = _post("http://127.0.0.1:8101/ui/other", path="/ui/cases/7", method="GET")
    assert login_url(page) == "/ui/login?next=%2Fui%2Fcases%2F7"  # a page's own address, as before
