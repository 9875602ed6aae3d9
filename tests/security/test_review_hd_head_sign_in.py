"""A HEAD of the way to the city's IdP and back starts or finishes no sign-in (the review from outside, session 16).

Every GET route answers HEAD as its GET (shared/web/routing.py). `HEAD /ui/login/oidc` (noticed as odd the session
before) so began a sign-in: the flow's data kept on the server and its cookie set, for a probe or a link checker;
`HEAD /ui/login/callback?code=…&state=…` exchanged the IdP's code and used the browser's flow up, so that the
browser's own GET of the callback then failed. Each is refused now with 405 `Allow: GET` and nothing kept; the GETs
work as before. Against a real OIDC provider, as tests/security/test_oidc_flow.py runs it.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from security.test_oidc_flow import SERVICE, add_staff, app, authorize, provider
from shared.web import auth, oidc
from shared.web.routing import install as index_routes


@pytest.fixture(scope="module")
def idp() -> Iterator[str]:
    yield from provider()


@pytest.fixture(scope="module")
def service(idp: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[FastAPI]:
    """A service's edge configured for the city's IdP, its routes matched as a service matches them (HEAD as GET)."""
    with pytest.MonkeyPatch.context() as env:
        env.setenv("JUSOU_OIDC_ISSUER", idp)
        env.setenv("JUSOU_OIDC_CLIENT_ID", "jusou")
        env.setenv("JUSOU_OIDC_CLIENT_SECRET", "the-client-secret")
        env.setenv("JUSOU_AUTH_DIR", str(tmp_path_factory.mktemp("oidc-head") / "auth"))
        env.setenv("JUSOU_INTAKE_URL", SERVICE)
        add_staff(idp)
        api = app()
        assert index_routes(api) is not None
        yield api


@pytest.fixture
def browser(service: FastAPI) -> Iterator[TestClient]:
    auth.verifier.cache_clear()
    with TestClient(service, follow_redirects=False) as client:
        yield client
    auth.verifier.cache_clear()


def test_a_head_of_the_way_to_the_idp_begins_no_sign_in(browser: TestClient) -> None:
    probe = browser.head("/ui/login/oidc", params={"next": "/ui/whoami"})
    assert probe.status_code == 405 and probe.headers["allow"] == "GET", (probe.status_code, probe.headers)
    assert oidc.PENDING_COOKIE not in probe.headers.get("set-cookie", "")
    assert not probe.content

    away = browser.get("/ui/login/oidc", params={"next": "/ui/whoami"})  # the browser's GET as before
    assert away.status_code == 303 and oidc.PENDING_COOKIE in away.headers["set-cookie"]


def test_a_head_of_the_callback_leaves_the_browsers_sign_in_to_its_get(browser: TestClient) -> None:
    away = browser.get("/ui/login/oidc", params={"next": "/ui/whoami"})
    back = authorize(away.headers["location"]).removeprefix(SERVICE)
    assert back.startswith("/ui/login/callback?")

    probe = browser.head(back)
    assert probe.status_code == 405 and probe.headers["allow"] == "GET", (probe.status_code, probe.headers)
    assert auth.COOKIE not in probe.headers.get("set-cookie", "")

    signed_in = browser.get(back)  # the code and the flow are still the browser's
    assert signed_in.status_code == 303 and signed_in.headers["location"] == "/ui/whoami?ok=signed_in", \
        signed_in.headers
    assert browser.get("/ui/whoami").json()["staff_id"] == "hoiku-7"
