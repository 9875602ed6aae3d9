"""Sign-in at the city's identity provider, against a real OIDC provider (issue 17).

The provider is `oidc-provider-mock` (Authlib's authorization server in Flask) on loopback: discovery,
JWKS, the authorization form, the token endpoint with PKCE and refresh tokens, userinfo and
RP-initiated logout. The suite's side is the UI's sign-in routes, the policy gate and the CSRF guard
(shared/web/ui.py, policy.py, oidc.py) in an app made as `create_service` makes a service's, driven
with httpx: the provider's form is posted as a browser would (its "Authorize" button with a `sub`).
"""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Iterator
from datetime import timedelta
from types import SimpleNamespace
from typing import Any
from urllib.parse import parse_qs, quote, urlsplit

import httpx
import oidc_provider_mock
import pytest
import werkzeug.serving
from fastapi import Depends, FastAPI, Request
from fastapi.testclient import TestClient
from support.municipality import CHILDCARE
from uvicorn.middleware.proxy_headers import ProxyHeadersMiddleware

from shared.web import auth, oidc
from shared.web.http import _install_error_handlers
from shared.web.policy import gate, requires
from shared.web.ui import UI, SecurityHeaders, csrf_guard, mount_common

STAFF = "hoiku-7"
CLAIMS = {"division": CHILDCARE.division, "roles": ["counselor"], "name": "調布 花子"}
SERVICE = "http://testserver"  # JUSOU_INTAKE_URL: the TestClient's own address




def provider(**config: Any) -> Iterator[str]:
    """An OIDC provider on loopback (its issuer URL) until the context ends."""
    app = oidc_provider_mock.app(**config)
    server = werkzeug.serving.make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.1}, daemon=True)
    thread.start()
    issuer = f"http://127.0.0.1:{server.server_port}"
    try:
        yield issuer
    finally:
        server.shutdown()
        thread.join(5)


@pytest.fixture(scope="module")
def idp() -> Iterator[str]:
    """The city's IdP: the staff member hoiku-7 of 保育課 (childcare), a counselor."""
    yield from provider()


@pytest.fixture(scope="module")
def idp_of_the_past() -> Iterator[str]:
    """An IdP whose tokens are expired when they are issued (its clock five minutes ahead, as it were)."""
    yield from provider(access_token_max_age=timedelta(seconds=-300))


def add_staff(issuer: str, staff_id: str = STAFF, **claims: Any) -> None:
    made = httpx.put(f"{issuer}/users/{quote(staff_id)}", json={**CLAIMS, **claims}, trust_env=False)
    assert made.status_code == 204, made.text


def app(service: str = "intake") -> FastAPI:
    """A service's web edge as create_service makes it (gate, CSRF guard, error handlers, sign-in routes),
    with one page and one JSON route that need a signed-in staff member."""
    page = UI(service, "包括的相談支援事業")
    api = FastAPI(dependencies=[Depends(gate(service)), Depends(csrf_guard(service))])
    _install_error_handlers(api, page)
    # no store: these routes name no record, and the pages' live updates never fire
    api.state.runtime = SimpleNamespace(app=SimpleNamespace(service=service, on_commit=id, off_commit=id))
    api.add_middleware(SecurityHeaders)  # the pages' CSP, as _install_middleware adds it
    mount_common(api, page)

    @api.get("/ui/whoami", dependencies=[requires("ui.open")])
    async def whoami(request: Request) -> dict[str, Any]:
        who = request.state.principal
        return {"staff_id": who.staff_id, "division": who.division, "roles": sorted(who.roles), "token": who.token,
                "tenant": who.tenant}

    @api.get("/whoami", dependencies=[requires("ui.open")])
    async def whoami_api(request: Request) -> dict[str, Any]:
        return {"staff_id": request.state.principal.staff_id}

    return api


@pytest.fixture(scope="module")
def city_service(idp: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[FastAPI]:
    """A service configured for the city's IdP (client id `jusou`, the audience), made once for the module:
    its settings are read on every request, so a test may change them with its own monkeypatch."""
    with pytest.MonkeyPatch.context() as module_env:
        module_env.setenv("JUSOU_OIDC_ISSUER", idp)
        module_env.setenv("JUSOU_OIDC_CLIENT_ID", "jusou")
        module_env.setenv("JUSOU_OIDC_CLIENT_SECRET", "the-client-secret")
        module_env.setenv("JUSOU_AUTH_DIR", str(tmp_path_factory.mktemp("oidc") / "auth"))
        module_env.setenv("JUSOU_INTAKE_URL", SERVICE)
        add_staff(idp)
        yield app()


@pytest.fixture
def city(city_service: FastAPI) -> Iterator[TestClient]:
    """A new browser at that service."""
    auth.verifier.cache_clear()
    with TestClient(city_service, follow_redirects=False) as browser:
        yield browser
    auth.verifier.cache_clear()


def to_idp(browser: TestClient, next_: str = "/ui/whoami") -> str:
    """The sign-in page's link to the IdP: the authorization URL it redirects to."""
    away = browser.get("/ui/login/oidc", params={"next": next_})
    assert away.status_code == 303, away.text
    return away.headers["location"]


def authorize(url: str, staff_id: str = STAFF) -> str:
    """The staff member signs in at the IdP's form: where it sends the browser back (the callback)."""
    form = httpx.get(url, trust_env=False)
    assert form.status_code == 200 and "Authorize" in form.text, form.text[:300]
    back = httpx.post(url, data={"sub": staff_id}, trust_env=False)
    assert back.status_code == 302, back.text[:300]
    return back.headers["location"]


def callback(browser: TestClient, location: str) -> httpx.Response:
    assert location.startswith(SERVICE + "/ui/login/callback?"), location
    return browser.get(location.removeprefix(SERVICE))


def sign_in(browser: TestClient) -> httpx.Response:
    back = callback(browser, authorize(to_idp(browser)))
    assert back.status_code == 303 and back.headers["location"].startswith("/ui/whoami"), back.headers
    return back


def query_of(url: str) -> dict[str, str]:
    return {k: v[0] for k, v in parse_qs(urlsplit(url).query).items()}


def record_of(browser: TestClient) -> dict[str, Any]:
    cookie = browser.cookies[auth.COOKIE]
    record = auth.verifier().sessions.record(oidc.digest(cookie))
    assert record is not None
    return record


def test_oidc_sign_in_runs_the_code_flow_with_pkce_and_nonce_and_gives_a_server_side_session(city: TestClient,
                                                                                            idp: str) -> None:
    url = to_idp(city)
    asked = query_of(url)
    assert url.startswith(idp + "/oauth2/authorize?")
    assert asked["code_challenge_method"] == "S256" and asked["nonce"] and asked["state"] and asked["scope"] == "openid"
    assert asked["redirect_uri"] == SERVICE + "/ui/login/callback" and asked["client_id"] == "jusou"

    back = callback(city, authorize(url))

    assert back.status_code == 303 and back.headers["location"] == "/ui/whoami?ok=signed_in"
    cookie = city.cookies[auth.COOKIE]
    assert cookie.startswith(auth.SESSION_PREFIX) and cookie.count(".") == 1  # an opaque id, not the IdP's token
    assert "httponly" in back.headers["set-cookie"].lower() and "samesite=lax" in back.headers["set-cookie"].lower()
    who = city.get("/ui/whoami").json()
    assert (who["staff_id"], who["division"], who["roles"]) == (STAFF, CHILDCARE.division, ["counselor"])
    record = record_of(city)
    assert record["refresh_token"] and record["id_token"] and record["access_token"] not in cookie
    assert who["token"] == record["id_token"]  # the JWT for our audience that is forwarded to the other services
    assert city.get("/whoami").status_code == 401  # the JSON API never takes the cookie


def test_oidc_a_forged_state_or_a_replayed_callback_is_refused(city: TestClient) -> None:
    location = authorize(to_idp(city))
    forged = location.replace("state=", "state=x")

    refused = callback(city, forged)
    assert refused.status_code == 303 and refused.headers["location"] == "/ui/login?ng=sign_in_again"
    assert auth.COOKIE not in city.cookies

    assert callback(city, location).status_code == 303 and auth.COOKIE in city.cookies  # the real one signs in
    city.cookies.clear()
    replayed = callback(city, location)  # the same callback again (a copied URL, a back button)
    assert replayed.headers["location"] == "/ui/login?ng=sign_in_again" and auth.COOKIE not in city.cookies


def test_oidc_a_callback_in_another_browser_than_the_one_that_started_is_refused(city: TestClient,
                                                                                city_service: FastAPI) -> None:
    location = authorize(to_idp(city))
    with TestClient(city_service, follow_redirects=False) as other:  # a victim's browser sent the attacker's callback
        refused = callback(other, location)
    assert refused.headers["location"] == "/ui/login?ng=sign_in_again" and auth.COOKIE not in other.cookies


def test_oidc_an_id_token_for_another_nonce_is_refused(city: TestClient, idp: str) -> None:
    url = to_idp(city)
    asked = query_of(url)
    injected = url.replace(f"nonce={asked['nonce']}", "nonce=not-this-browsers")  # a code made for another flow

    refused = callback(city, authorize(injected))

    assert refused.headers["location"] == "/ui/login?ng=idp_refused" and auth.COOKIE not in city.cookies


def test_oidc_an_expired_id_token_is_refused(idp_of_the_past: str, tmp_path: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("JUSOU_OIDC_ISSUER", idp_of_the_past)
    monkeypatch.setenv("JUSOU_OIDC_CLIENT_ID", "jusou")
    monkeypatch.setenv("JUSOU_OIDC_CLIENT_SECRET", "the-client-secret")
    monkeypatch.setenv("JUSOU_AUTH_DIR", str(tmp_path / "auth"))
    monkeypatch.setenv("JUSOU_INTAKE_URL", SERVICE)
    auth.verifier.cache_clear()
    add_staff(idp_of_the_past)
    try:
        with TestClient(app(), follow_redirects=False) as browser:
            refused = callback(browser, authorize(to_idp(browser)))
            assert refused.headers["location"] == "/ui/login?ng=idp_refused" and auth.COOKIE not in browser.cookies
            page = browser.get("/ui/login?ng=idp_refused")
            assert "認証基盤がログインを認めませんでした" in page.text
    finally:
        auth.verifier.cache_clear()


def test_oidc_a_staff_member_the_idp_gives_no_known_division_is_not_signed_in(city: TestClient, idp: str) -> None:
    add_staff(idp, "stranger-1", division="no-such-division")
    refused = callback(city, authorize(to_idp(city), "stranger-1"))
    assert refused.headers["location"] == "/ui/login?ng=idp_refused" and auth.COOKIE not in city.cookies


def test_oidc_the_session_is_refreshed_before_the_access_token_expires(city: TestClient) -> None:
    sign_in(city)
    before = record_of(city)
    key = oidc.digest(city.cookies[auth.COOKIE])
    sessions = auth.verifier().sessions
    sessions.store.put(key, {**before, "access_expires_at": before["access_expires_at"] - 3500}, before["ends_at"])

    assert city.get("/ui/whoami").json()["staff_id"] == STAFF  # within the margin: refreshed first

    after = record_of(city)
    assert after["access_token"] != before["access_token"] and after["refresh_token"]  # kept when none new is given
    assert after["access_expires_at"] > before["access_expires_at"] - 3500 + oidc.REFRESH_MARGIN_SECONDS
    assert city.get("/ui/whoami").status_code == 200 and record_of(city)["access_token"] == after["access_token"]


def test_oidc_a_session_whose_refresh_the_idp_refuses_ends(city: TestClient, idp: str) -> None:
    sign_in(city)
    record = record_of(city)
    key = oidc.digest(city.cookies[auth.COOKIE])
    auth.verifier().sessions.store.put(key, {**record, "access_expires_at": record["access_expires_at"] - 3500},
                                       record["ends_at"])
    assert httpx.post(f"{idp}/users/{STAFF}/revoke-tokens", trust_env=False).status_code == 204  # disabled at the IdP

    page = city.get("/ui/whoami")

    assert page.status_code == 303 and page.headers["location"].startswith("/ui/login?next=")
    assert auth.verifier().sessions.record(key) is None
    assert city.get("/ui/whoami").status_code == 303  # and it stays ended


def test_oidc_sign_out_ends_the_session_here_and_at_the_idp(city: TestClient, idp: str, city_service: FastAPI) -> None:
    sign_in(city)
    cookie = city.cookies[auth.COOKIE]
    id_token = record_of(city)["id_token"]

    out = city.post("/ui/logout", data={"csrf_token": auth.csrf_token(cookie)})

    at_idp = out.headers["refresh"].removeprefix("0; url=")  # a page going on by itself: CSP form-action 'self'
    assert out.status_code == 200 and at_idp.startswith(idp + "/oauth2/end_session?") and at_idp.replace("&", "&amp;") in out.text
    asked = query_of(at_idp)
    assert asked["id_token_hint"] == id_token and asked["post_logout_redirect_uri"] == SERVICE + "/ui/logout/done"
    assert auth.COOKIE not in city.cookies and auth.verifier().sessions.record(oidc.digest(cookie)) is None
    confirm = httpx.get(at_idp, trust_env=False)
    assert confirm.status_code == 200
    done = httpx.post(f"{idp}/oauth2/end_session/confirm", data={"redirect_uri": asked["post_logout_redirect_uri"]},
                      trust_env=False)
    assert done.status_code == 302 and done.headers["location"] == SERVICE + "/ui/logout/done"
    back = city.get("/ui/logout/done")
    assert back.headers["location"] == "/ui/login?ok=signed_out"
    with TestClient(city_service, follow_redirects=False, cookies={auth.COOKIE: cookie}) as stolen:
        assert stolen.get("/ui/whoami").status_code == 303  # the old cookie names no session any more


def id_token_for(issuer: str, client_id: str, staff_id: str = STAFF) -> str:
    """A token the IdP issues to a client (any client id: the provider takes them unregistered)."""
    redirect_uri = "http://127.0.0.1:9/callback"
    url = f"{issuer}/oauth2/authorize?" + "&".join(f"{k}={quote(v)}" for k, v in {
        "response_type": "code", "client_id": client_id, "redirect_uri": redirect_uri, "scope": "openid",
        "state": "s", "nonce": "n"}.items())
    code = query_of(authorize(url, staff_id))["code"]
    token = httpx.post(f"{issuer}/oauth2/token", trust_env=False, auth=(client_id, "any"), data={
        "grant_type": "authorization_code", "code": code, "redirect_uri": redirect_uri})
    assert token.status_code == 200, token.text
    return str(token.json()["id_token"])


def test_oidc_the_api_takes_the_providers_tokens_for_our_audience_only_and_unexpired(
        city: TestClient, idp: str, idp_of_the_past: str, monkeypatch: pytest.MonkeyPatch) -> None:
    ours, theirs = id_token_for(idp, "jusou"), id_token_for(idp, "another-app")

    accepted = city.get("/whoami", headers={"Authorization": f"Bearer {ours}"})
    other_audience = city.get("/whoami", headers={"Authorization": f"Bearer {theirs}"})

    assert accepted.status_code == 200 and accepted.json() == {"staff_id": STAFF}, accepted.text
    assert other_audience.status_code == 401 and "aud" in other_audience.json()["detail"]
    monkeypatch.setenv("JUSOU_OIDC_ISSUER", idp_of_the_past)  # the IdP whose tokens are born expired
    auth.verifier.cache_clear()
    add_staff(idp_of_the_past)
    too_old = city.get("/whoami", headers={"Authorization": f"Bearer {id_token_for(idp_of_the_past, 'jusou')}"})
    assert too_old.status_code == 401 and "有効期限" in too_old.json()["detail"], too_old.text
    assert too_old.headers["www-authenticate"].startswith("Bearer")


def test_oidc_behind_a_tls_proxy_the_redirect_uri_is_https_and_the_cookies_secure(
        idp: str, tmp_path: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("JUSOU_OIDC_ISSUER", idp)
    monkeypatch.setenv("JUSOU_OIDC_CLIENT_ID", "jusou")
    monkeypatch.setenv("JUSOU_OIDC_CLIENT_SECRET", "the-client-secret")
    monkeypatch.setenv("JUSOU_AUTH_DIR", str(tmp_path / "auth"))
    monkeypatch.delenv("JUSOU_INTAKE_URL", raising=False)
    monkeypatch.setenv("JUSOU_HOST", "jusou.city.example")
    auth.verifier.cache_clear()
    add_staff(idp)
    proxied = ProxyHeadersMiddleware(app(), trusted_hosts="testclient")  # as serve() runs it (JUSOU_FORWARDED_ALLOW_IPS)
    forwarded = {"X-Forwarded-Proto": "https", "X-Forwarded-For": "203.0.113.7", "Host": "jusou.city.example"}
    try:
        with TestClient(proxied, follow_redirects=False, base_url="https://jusou.city.example") as browser:
            away = browser.get("/ui/login/oidc", headers=forwarded)
            assert query_of(away.headers["location"])["redirect_uri"] == "https://jusou.city.example:8101/ui/login/callback"
            assert "secure" in away.headers["set-cookie"].lower()
        with TestClient(app(), follow_redirects=False, base_url="http://jusou.city.example") as direct:
            away = direct.get("/ui/login/oidc", headers=forwarded)  # a client that is not the proxy is not believed
            assert query_of(away.headers["location"])["redirect_uri"].startswith("http://jusou.city.example:8101/")
            assert "secure" not in away.headers["set-cookie"].lower()
        monkeypatch.setenv("JUSOU_COOKIE_SECURE", "always")
        with TestClient(app(), follow_redirects=False, base_url="http://jusou.city.example") as direct:
            assert "secure" in direct.get("/ui/login/oidc").headers["set-cookie"].lower()
    finally:
        auth.verifier.cache_clear()


def test_oidc_with_many_municipalities_the_staff_member_chooses_theirs_and_signs_in_at_its_idp(
        idp: str, tmp_path: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    tenants = tmp_path / "tenants.toml"
    tenants.write_text(f"""
[[tenants]]
id = "chofu"
name = "調布市"
data_dir = "chofu"
[tenants.oidc]
issuer = "{idp}"
jwks_url = "{idp}/jwks"
client_id = "jusou"
client_secret = "the-client-secret"

[[tenants]]
id = "kakushi"
name = "架空市"
data_dir = "kakushi"
""", encoding="utf-8")
    monkeypatch.setenv("JUSOU_TENANTS_FILE", str(tenants))
    monkeypatch.setenv("JUSOU_AUTH_DIR", str(tmp_path / "auth"))
    monkeypatch.setenv("JUSOU_INTAKE_URL", SERVICE)
    for name in ("JUSOU_OIDC_ISSUER", "JUSOU_OIDC_CLIENT_ID"):
        monkeypatch.delenv(name, raising=False)
    auth.verifier.cache_clear()
    add_staff(idp)
    try:
        with TestClient(app(), follow_redirects=False) as browser:
            chooser = browser.get("/ui/login/oidc", params={"next": "/ui/whoami"})
            assert chooser.status_code == 200 and "調布市" in chooser.text and "架空市" not in chooser.text  # no IdP there
            assert "/ui/login/oidc?tenant=chofu&amp;next=%2Fui%2Fwhoami" in chooser.text

            back = callback(browser, authorize(to_idp_of(browser, "chofu")))

            assert back.headers["location"] == "/ui/whoami?ok=signed_in", back.headers["location"]
            who = browser.get("/ui/whoami").json()
            assert (who["staff_id"], who["tenant"]) == (STAFF, "chofu")
            assert (tmp_path / "chofu" / "auth" / "sessions").is_dir()  # the tenant's own folder keeps its sessions
            assert browser.get("/ui/login/oidc", params={"tenant": "kakushi"}).status_code == 200  # the chooser again
    finally:
        auth.verifier.cache_clear()


def to_idp_of(browser: TestClient, tenant: str) -> str:
    away = browser.get("/ui/login/oidc", params={"next": "/ui/whoami", "tenant": tenant})
    assert away.status_code == 303, away.text
    return away.headers["location"]


def test_oidc_without_a_refresh_token_the_session_ends_with_the_idps_token(tmp_path: Any,
                                                                          monkeypatch: pytest.MonkeyPatch) -> None:
    with contextlib.contextmanager(provider)(issue_refresh_token=False, access_token_max_age=timedelta(minutes=10)) as bare:
        monkeypatch.setenv("JUSOU_OIDC_ISSUER", bare)
        monkeypatch.setenv("JUSOU_OIDC_CLIENT_ID", "jusou")
        monkeypatch.setenv("JUSOU_OIDC_CLIENT_SECRET", "the-client-secret")
        monkeypatch.setenv("JUSOU_AUTH_DIR", str(tmp_path / "auth"))
        monkeypatch.setenv("JUSOU_INTAKE_URL", SERVICE)
        auth.verifier.cache_clear()
        add_staff(bare)
        try:
            with TestClient(app(), follow_redirects=False) as browser:
                sign_in(browser)
                record = record_of(browser)
                assert record["refresh_token"] == "" and record["ends_at"] == record["access_expires_at"]
                assert record["ends_at"] < time.time() + 11 * 60  # not a working day: ten minutes, the IdP's
                assert browser.get("/ui/whoami").json()["staff_id"] == STAFF  # and never a refresh it cannot do
        finally:
            auth.verifier.cache_clear()
