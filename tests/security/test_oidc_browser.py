"""A real browser signs in at a real OIDC provider and out again (issue 17).

Debian's chromium (Playwright, as tests/ui/conftest.py launches it) at a service's web edge served by
uvicorn, and `oidc-provider-mock` on loopback: the sign-in page's link, the provider's form, the callback,
the page signed in; then the top bar's sign-out form, the provider's end-session form and back. What a
client of httpx cannot show: the cookies a browser really keeps and sends across the redirects (SameSite,
paths) and the page's Content-Security-Policy letting the sign-out go on to the provider.
"""

from __future__ import annotations

import os
import shutil
import threading
import time
from collections.abc import Iterator
from typing import Any

import pytest
import uvicorn
from support.servers import free_port

from security.test_oidc_flow import STAFF, add_staff, app, provider
from shared.web import auth

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")


def chromium() -> str:
    found = os.environ.get("JUSOU_CHROMIUM") or shutil.which("chromium") or shutil.which("chromium-browser")
    if found is None:
        if os.environ.get("CI"):
            pytest.fail("Debian's chromium is required for the browser tests in CI (apt-get install chromium)")
        pytest.skip("no chromium on this machine (apt-get install chromium)")
    return found


@pytest.fixture
def service(tmp_path: Any, monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[str, str]]:
    """(the service's address, the IdP's issuer): both served on loopback for the test."""
    with contextlib_provider() as issuer:
        port = free_port()
        address = f"http://127.0.0.1:{port}"
        for name, value in {"JUSOU_OIDC_ISSUER": issuer, "JUSOU_OIDC_CLIENT_ID": "jusou",
                            "JUSOU_OIDC_CLIENT_SECRET": "the-client-secret", "JUSOU_AUTH_DIR": str(tmp_path / "auth"),
                            "JUSOU_INTAKE_URL": address}.items():
            monkeypatch.setenv(name, value)
        auth.verifier.cache_clear()
        add_staff(issuer)
        server = uvicorn.Server(uvicorn.Config(app(), host="127.0.0.1", port=port, log_level="warning", lifespan="off"))
        thread = threading.Thread(target=server.run, daemon=True)
        thread.start()
        deadline = time.monotonic() + 20
        while not server.started:
            assert time.monotonic() < deadline, "uvicorn did not start"
            time.sleep(0.02)
        try:
            yield address, issuer
        finally:
            server.should_exit = True
            thread.join(10)
            auth.verifier.cache_clear()


def contextlib_provider() -> Any:
    import contextlib

    return contextlib.contextmanager(provider)()


def test_oidc_a_browser_signs_in_at_the_idp_and_out_at_the_idp(service: tuple[str, str]) -> None:
    from playwright.sync_api import sync_playwright

    address, issuer = service
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=chromium(), args=[
            "--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-background-networking", "--disable-sync"])
        try:
            page = browser.new_page(locale="ja-JP")
            page.goto(address + "/ui/whoami")
            assert page.url.startswith(address + "/ui/login?next=")  # a stranger is sent to sign in
            page.get_by_role("link", name="市の認証基盤でログイン / sign in at the city's identity provider").click()
            page.wait_for_url(issuer + "/oauth2/authorize?**")
            page.get_by_placeholder("sub").fill(STAFF)
            page.get_by_role("button", name="Authorize").click()
            page.wait_for_url(address + "/ui/whoami?ok=signed_in")
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
        finally:
            browser.close()
