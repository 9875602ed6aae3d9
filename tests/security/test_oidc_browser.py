"""A real browser signs in at a real OIDC provider and out again (issue 17).

Debian's chromium (Playwright, as tests/ui/conftest.py launches it) at a service's web edge served by
uvicorn, and `oidc-provider-mock` on loopback: the sign-in page's link, the provider's form, the callback,
the page signed in; then the top bar's sign-out form, the provider's end-session form and back. What a
client of httpx cannot show: the cookies a browser really keeps and sends across the redirects (SameSite,
paths) and the page's Content-Security-Policy letting the sign-out go on to the provider.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from support.idp_browser import behind_the_idp, browser, sign_in_at_the_idp

from security.test_oidc_flow import STAFF, app
from shared.web import auth

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")


@pytest.fixture
def service(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[str, str]]:
    """(the service's address, the IdP's issuer): both served on loopback for the test."""
    with behind_the_idp(monkeypatch, tmp_path / "auth", app) as served:
        yield served


def test_oidc_a_browser_signs_in_at_the_idp_and_out_at_the_idp(service: tuple[str, str]) -> None:
    address, issuer = service
    with browser() as chromium:
        page = chromium.new_page(locale="ja-JP")
        page.goto(address + "/ui/whoami")
        assert page.url.startswith(address + "/ui/login?next=")  # a stranger is sent to sign in
        sign_in_at_the_idp(page, address, issuer, "/ui/whoami?ok=signed_in")
        assert f'"staff_id":"{STAFF}"' in page.content()
        cookies = {c["name"]: c for c in page.context.cookies(address)}
        assert cookies[auth.COOKIE]["value"].startswith(auth.SESSION_PREFIX) and cookies[auth.COOKIE]["httpOnly"]
        assert "jusou_oidc" not in cookies  # the flow's marker is gone once used

        page.goto(address + "/ui/logout")
        page.get_by_role("button", name="ログアウトする / sign out").click()
        page.wait_for_url(issuer + "/oauth2/end_session?**")
        page.get_by_role("button", name="End session").click()
        page.wait_for_url(address + "/ui/login?ok=signed_out")
        assert "ログアウトしました" in page.content()
        assert auth.COOKIE not in {c["name"] for c in page.context.cookies(address)}
        page.goto(address + "/ui/whoami")
        assert page.url.startswith(address + "/ui/login?next=")
