"""Tokens whose claims are odd in ways a person has to be told plainly (HE's review, session 21; HE2's fix).

`exp: true` was refused as 「有効期限が切れています / the token has expired」: PyJWT reads true as 1, an expiry in 1970,
and an issuer told its token expired looks at clocks, not at its claim. Now it is refused as the string already was:
`exp` must be a number (NumericDate, RFC 7519). A string that is a number of the past was "expired" too.

A token whose only role Jusou does not know (`roles: ["root"]`) was refused with 「あなたの役割（なし）…」 in the Japanese
half and "your roles (root) …" in the English one. Both halves now name the same roles, and say that a role Jusou does
not know grants nothing.
"""

from __future__ import annotations

import asyncio
import time
from pathlib import Path
from typing import Any

import jwt
import pytest
from starlette.requests import Request
from support.municipality import ELDERLY

from shared.domain.access import Forbidden
from shared.web import policy
from shared.web.auth import AuthSettings, DevIssuer, Principal, Unauthenticated, Verifier
from shared.web.policy import requires


def verifier(folder: Path) -> Verifier:
    return Verifier(AuthSettings(issuer="", jwks_url="", audience="jusou", staff_claim="sub",
                                 division_claim="division", roles_claim="roles", folder=folder))


def signed(folder: Path, **changes: Any) -> str:
    now = int(time.time())
    claims = {"iss": "jusou-dev", "aud": "jusou", "sub": "kouki-012", "division": ELDERLY.division,
              "roles": ["counselor"], "iat": now, "nbf": now, "exp": now + 600, **changes}
    return jwt.encode(claims, DevIssuer(folder).private_key(), algorithm="ES256")


@pytest.mark.parametrize("exp", [True, False, "100", str(int(time.time()) + 600)])
def test_a_token_whose_exp_is_no_number_is_refused_saying_so_not_as_expired(tmp_path: Path, exp: Any) -> None:
    with pytest.raises(Unauthenticated) as refused:
        verifier(tmp_path).verify(signed(tmp_path, exp=exp))
    said = str(refused.value)
    assert "exp" in said and "数" in said and "must be a number" in said, said
    assert "expired" not in said and "切れています" not in said, said


def test_a_token_past_its_exp_is_still_refused_as_expired(tmp_path: Path) -> None:
    with pytest.raises(Unauthenticated) as refused:
        verifier(tmp_path).verify(signed(tmp_path, exp=int(time.time()) - 120))
    assert "expired" in str(refused.value) and "切れています" in str(refused.value), str(refused.value)


def test_a_forged_token_with_exp_true_is_refused_for_its_signature(tmp_path: Path) -> None:
    """The claim is looked at only once the signature holds: another key's token says "bad signature"."""
    other = tmp_path / "other"
    other.mkdir()
    with pytest.raises(Unauthenticated) as refused:
        verifier(tmp_path).verify(signed(other, exp=True))
    assert "bad signature" in str(refused.value), str(refused.value)


# -- an unknown role: the refusal's two halves name the same roles ---------------------------------------------------

def _refusal(monkeypatch: pytest.MonkeyPatch, roles: list[str]) -> tuple[str, str]:
    """The policy's refusal (Japanese, English) of a principal with these roles for an action none of them allows."""
    route = type("Route", (), {"path": "/cases", "dependencies": [requires("intake.case.read")]})()
    request = Request({"type": "http", "method": "GET", "path": "/cases", "headers": [], "query_string": b"",
                       "route": route})
    principal = Principal("kouki-012", ELDERLY.division, frozenset(roles), "token")
    monkeypatch.setattr(policy, "principal_of", lambda _: principal)  # the token as verified
    with pytest.raises(Forbidden) as refused:
        asyncio.run(policy.gate("intake")(request))
    ja, _, en = str(refused.value).partition(" / ")
    return ja, en


def test_an_unknown_role_is_named_in_both_halves_as_granting_nothing(monkeypatch: pytest.MonkeyPatch) -> None:
    ja, en = _refusal(monkeypatch, ["root"])
    assert "'root'" in ja and "'root'" in en, (ja, en)
    assert "権限になりません" in ja and "grant nothing" in en, (ja, en)
    assert "なし" in ja and "none" in en, (ja, en)  # no role of Jusou's, in both


def test_known_and_unknown_roles_together_are_named_alike(monkeypatch: pytest.MonkeyPatch) -> None:
    ja, en = _refusal(monkeypatch, ["outreach_worker", "admin\n<b>"])
    assert "outreach_worker" in en and "なし" not in ja, (ja, en)
    assert "'admin\\n<b>'" in ja and "'admin\\n<b>'" in en, (ja, en)  # as written, escaped: no line of its own
    assert "\n" not in ja + en


def test_only_jusou_roles_read_as_before(monkeypatch: pytest.MonkeyPatch) -> None:
    ja, en = _refusal(monkeypatch, ["outreach_worker"])
    assert "Jusou" not in ja and "grant nothing" not in en and "outreach_worker" in en, (ja, en)
