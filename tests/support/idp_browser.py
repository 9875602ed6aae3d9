"""A page of a service's web edge behind the city's identity provider, and a real browser to sign in there: what
tests/security/test_oidc_browser.py and test_sign_in_again_at_the_idp_browser.py share.

`oidc-provider-mock` and the service (uvicorn in a thread) on loopback; Debian's chromium driven by Playwright's sync
API (its own event loop: these tests run in tests/security, before tests/ui's session-wide async Playwright starts)."""

from __future__ import annotations

import contextlib
import os
import shutil
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import uvicorn

from shared.web import auth
from support.servers import free_port

#: the link of the sign-in page that leads to the city's identity provider
IDP_LINK = "市の認証基盤でログイン / sign in at the city's identity provider"
ARGS = ["--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-background-networking", "--disable-sync"]


def chromium() -> str:
    found = os.environ.get("JUSOU_CHROMIUM") or shutil.which("chromium") or shutil.which("chromium-browser")
    if found is None:
        if os.environ.get("CI"):
            pytest.fail("Debian's chromium is required for the browser tests in CI (apt-get install chromium)")
        pytest.skip("no chromium on this machine (apt-get install chromium)")
    return found


@contextlib.contextmanager
def browser() -> Iterator[Any]:
    """Debian's chromium, launched by Playwright's sync API, closed afterwards."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=chromium(), args=ARGS)
        try:
            yield launched
        finally:
            launched.close()


@contextlib.contextmanager
def behind_the_idp(monkeypatch: pytest.MonkeyPatch, auth_dir: Path,
                   make_api: Callable[[], Any]) -> Iterator[tuple[str, str]]:
    """(the service's address, the IdP's issuer): the API `make_api` returns, served on loopback behind the provider,
    with the test's staff member known there (tests/security/test_oidc_flow.py)."""
    from security.test_oidc_flow import add_staff, provider

    with contextlib.contextmanager(provider)() as issuer:
        port = free_port()
        address = f"http://127.0.0.1:{port}"
        for name, value in {"JUSOU_OIDC_ISSUER": issuer, "JUSOU_OIDC_CLIENT_ID": "jusou",
                            "JUSOU_OIDC_CLIENT_SECRET": "the-client-secret", "JUSOU_AUTH_DIR": str(auth_dir),
                            "JUSOU_INTAKE_URL": address}.items():
            monkeypatch.setenv(name, value)
        auth.verifier.cache_clear()
        add_staff(issuer)
        server = uvicorn.Server(uvicorn.Config(make_api(), host="127.0.0.1", port=port, log_level="warning",
                                               lifespan="off"))
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


def sign_in_at_the_idp(page: Any, address: str, issuer: str, then: str) -> None:
    """From the sign-in page: the link to the IdP, its form as the test's staff member, back at `then`."""
    from security.test_oidc_flow import STAFF

    page.get_by_role("link", name=IDP_LINK).click()
    page.wait_for_url(issuer + "/oauth2/authorize?**")
    page.get_by_placeholder("sub").fill(STAFF)
    page.get_by_role("button", name="Authorize").click()
    page.wait_for_url(address + then)
