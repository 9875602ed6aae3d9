"""Many municipalities on one deployment (issue 18): the tenant a token names is read from its text once (issue 19:
the unverified decode was a JWT parse per request), and every refusal stays as it was on the second request as on the
first: another tenant's key, a tenant not served, no tenant, a malformed token, a session ended."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import jwt
import pytest

from shared import tenancy
from shared.organisation.reference import lead_division
from shared.settings import AuthSettings
from shared.web import auth
from shared.web.auth import DevIssuer, TenantNotNamed, TenantNotServed, TenantVerifier, Unauthenticated


def verifier(tmp_path: Path) -> tuple[TenantVerifier, DevIssuer, DevIssuer]:
    tenants = {t: tenancy.Tenant(id=t, data_dir=str(tmp_path / t)) for t in ("a", "b")}
    settings = AuthSettings(issuer="", jwks_url="", audience="jusou", staff_claim="sub", division_claim="division",
                            roles_claim="roles", folder=tmp_path / "auth")
    return TenantVerifier(settings, tenants), DevIssuer(tmp_path / "a" / "auth"), DevIssuer(tmp_path / "b" / "auth")


def test_a_tokens_tenant_is_read_once(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    checker, issuer_a, _ = verifier(tmp_path)
    unverified: list[Any] = []
    real = jwt.decode

    def counted(token: str, *args: Any, **kwargs: Any) -> Any:
        if kwargs.get("options", {}).get("verify_signature") is False:
            unverified.append(token)
        return real(token, *args, **kwargs)

    monkeypatch.setattr(auth.jwt, "decode", counted)
    token = issuer_a.mint("fukushi-003", lead_division(), ["coordinator"], tenant="a")
    for _ in range(3):
        with tenancy.acting_for("b"):  # whatever was acting before, the token's tenant is the request's
            principal = checker.verify(token)
            assert (principal.tenant, tenancy.CURRENT.get()) == ("a", "a")
    assert unverified == [token]


def test_refusals_are_the_same_on_every_request(tmp_path: Path) -> None:
    checker, issuer_a, issuer_b = verifier(tmp_path)
    division = lead_division()
    forged = issuer_b.mint("fukushi-003", division, ["coordinator"], tenant="a")  # b's key, a's name
    unserved = issuer_a.mint("fukushi-003", division, ["coordinator"], tenant="c")
    unnamed = issuer_a.mint("fukushi-003", division, ["coordinator"])
    for _ in range(2):
        with pytest.raises(Unauthenticated, match="bad signature"):
            checker.verify(forged)
        with pytest.raises(TenantNotServed):
            checker.verify(unserved)
        with pytest.raises(TenantNotNamed):
            checker.verify(unnamed)
        with pytest.raises(Unauthenticated, match="not a JWT"):
            checker.verify("not-a-token")
    token = issuer_a.mint("fukushi-003", division, ["coordinator"], tenant="a")
    principal = checker.verify(token)
    checker.end(principal)  # signed out
    with pytest.raises(Unauthenticated):
        checker.verify(token)
    assert checker.verify(issuer_a.mint("fukushi-003", division, ["coordinator"], tenant="a")).tenant == "a"
