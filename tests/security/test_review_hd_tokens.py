"""Tokens at the edges of their claims (the review from outside as an attacker, session 16).

Probed against a running suite with tokens signed by its development issuer's key: `alg` none, HS256, RS256 against
the EC key, ES512, `crit`, a missing `exp`, `sub`, `division` or `roles`, a wrong `aud` or `iss`, `exp` 20 s and 40 s
past (the 30 s leeway), `nbf` and `iat` ahead, `exp`/`iat` as `1e400`, `NaN` or 5000 digits were all refused with
401 saying why (tests/security/test_auth.py, test_browser_sessions.py cover most). Two were taken:

- `exp` a century ahead (or 2**64, or 10**30): a token valid for ever, which no sign-out list outlives (the list
  forgets a session once its token would have expired) and which `jusou token --ttl` itself never mints (a week at
  most);
- `exp` as a string (`"exp": "1796…"`): PyJWT reads it as a number; RFC 7519's NumericDate is a JSON number.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import jwt
import pytest
from support.municipality import ELDERLY

from shared.web.auth import AuthSettings, DevIssuer, Unauthenticated, Verifier


def verifier(folder: Path) -> Verifier:
    return Verifier(AuthSettings(issuer="", jwks_url="", audience="jusou", staff_claim="sub",
                                 division_claim="division", roles_claim="roles", folder=folder))


def signed(folder: Path, **changes: Any) -> str:
    now = int(time.time())
    claims = {"iss": "jusou-dev", "aud": "jusou", "sub": "kouki-012", "division": ELDERLY.division,
              "roles": ["counselor"], "iat": now, "nbf": now, "exp": now + 600, **changes}
    return jwt.encode(claims, DevIssuer(folder).private_key(), algorithm="ES256")


@pytest.mark.parametrize("ahead", [100 * 365 * 86400, 2**64 - int(time.time()), 10**30, 8 * 86400])
def test_a_token_whose_exp_is_further_ahead_than_a_week_is_refused_saying_so(tmp_path: Path, ahead: int) -> None:
    token = signed(tmp_path, exp=int(time.time()) + ahead)
    with pytest.raises(Unauthenticated) as refused:
        verifier(tmp_path).verify(token)
    assert "exp" in str(refused.value) and "7 days" in str(refused.value), str(refused.value)


def test_a_token_minted_for_the_longest_ttl_the_cli_gives_is_taken(tmp_path: Path) -> None:
    token = DevIssuer(tmp_path).mint("kouki-012", ELDERLY.division, ["counselor"], ttl_seconds=7 * 86400)
    assert verifier(tmp_path).verify(token).staff_id == "kouki-012"


def test_a_token_whose_exp_is_a_string_is_refused(tmp_path: Path) -> None:
    token = signed(tmp_path, exp=str(int(time.time()) + 600))
    with pytest.raises(Unauthenticated) as refused:
        verifier(tmp_path).verify(token)
    assert "number" in str(refused.value), str(refused.value)
