"""A sign-in at the city's IdP that anyone may start keeps a bounded amount on the server (HB's review).

`GET /ui/login/oidc` needs no sign-in: each one kept its flow's data (state, PKCE verifier, nonce, where to go
after) in a file under `<sessions>/pending`, and a flow the IdP never sent back was never removed, so a loop of
plain GETs from one address filled the disk the stores are on. Now one address starts at most
`PENDING_PER_ADDRESS` within `PENDING_SECONDS`, the host keeps about `PENDING_MAX`, and expired flows are swept.
The IdP and the service are test_oidc_flow's (oidc-provider-mock on loopback, the service's edge in a TestClient).
"""

from __future__ import annotations

import os
import time
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from security.test_oidc_flow import authorize, callback, city, city_service, idp  # noqa: F401 (fixtures)
from shared.settings import AuthSettings
from shared.web import auth, oidc


def pending_folder() -> Path:
    return AuthSettings.from_env().sessions / "pending"


def flows() -> set[str]:
    return {p.name for p in pending_folder().glob("*.json")} if pending_folder().exists() else set()


def start(browser: TestClient) -> str:
    """A plain GET of the way to the IdP: where it sends the browser."""
    away = browser.get("/ui/login/oidc", params={"next": "/ui/whoami?" + "x" * 1900})
    assert away.status_code in (303, 429), away.text
    return away.headers["location"] if away.status_code == 303 else ""


@pytest.fixture
def fresh_bounds(monkeypatch: pytest.MonkeyPatch) -> None:
    """Each test counts its own starts (the module's service is shared) and sweeps on every start."""
    for bounds in getattr(oidc, "_bounds", {}).values():
        monkeypatch.setattr(bounds, "_starts", {})
        monkeypatch.setattr(bounds, "_swept", float("-inf"))
    monkeypatch.setattr(oidc, "SWEEP_SECONDS", 0.0, raising=False)


@pytest.mark.usefixtures("fresh_bounds")
def test_one_address_starting_sign_ins_in_a_loop_is_refused_past_its_bound_and_keeps_nothing_more(
        city: TestClient, idp: str, monkeypatch: pytest.MonkeyPatch) -> None:  # noqa: F811
    monkeypatch.setattr(oidc, "PENDING_PER_ADDRESS", 5, raising=False)
    before = flows()
    sent = [start(city) for _ in range(5)]
    assert all(url.startswith(idp) for url in sent), sent
    kept = flows() - before
    assert len(kept) == 5, kept

    for _ in range(20):  # the loop goes on: not one more file
        url = start(city)
        assert not url.startswith(idp), url
    assert flows() - before == kept

    monkeypatch.setattr(oidc, "PENDING_PER_ADDRESS", 300, raising=False)  # the bound, not the IdP, refused: a flow kept works
    assert callback(city, authorize(sent[-1])).status_code == 303 and auth.COOKIE in city.cookies


@pytest.mark.usefixtures("fresh_bounds")
def test_the_host_keeps_at_most_pending_max_sign_ins_in_progress(
        city: TestClient, idp: str, monkeypatch: pytest.MonkeyPatch) -> None:  # noqa: F811
    monkeypatch.setattr(oidc, "PENDING_MAX", len(flows()) + 3, raising=False)
    assert all(start(city).startswith(idp) for _ in range(3))
    count = len(flows())
    assert not start(city).startswith(idp)
    assert len(flows()) == count


@pytest.mark.usefixtures("fresh_bounds")
def test_a_sign_in_the_idp_never_sent_back_is_removed_once_expired(city: TestClient, idp: str) -> None:  # noqa: F811
    assert start(city).startswith(idp)
    abandoned = sorted(flows())
    old = time.time() - oidc.PENDING_SECONDS - 5  # written longer ago than any flow is kept
    for name in abandoned:
        os.utime(pending_folder() / name, (old, old))

    assert start(city).startswith(idp)  # the next start sweeps (every SWEEP_SECONDS; here every start)
    left = flows()
    assert not left & set(abandoned), left & set(abandoned)
    assert len(left) == 1
