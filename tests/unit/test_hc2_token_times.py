"""A token refused for its times says which time is wrong (HC's review, session 20): PyJWT raises the same error for an
`iat` in the future as for an `nbf` still to come, and the verifier said "(nbf)" for both: a token issued by an IdP
whose clock is ahead was reported as one that is not valid yet, and the operator looked for an nbf the token had not."""

from __future__ import annotations

import time
from pathlib import Path

import jwt
import pytest
from support.municipality import ELDERLY

from shared.web.auth import AuthSettings, DevIssuer, Unauthenticated, Verifier


def _verifier(folder: Path) -> Verifier:
    return Verifier(AuthSettings(issuer="", jwks_url="", audience="jusou", staff_claim="sub",
                                 division_claim="division", roles_claim="roles", folder=folder))


def _token(folder: Path, **times: int | None) -> str:
    now = int(time.time())
    body = {"iss": "jusou-dev", "aud": "jusou", "sub": "kouki-012", "division": ELDERLY.division,
            "roles": ["counselor"], "iat": now, "nbf": now, "exp": now + 600}
    body.update({k: now + v for k, v in times.items() if v is not None})
    body = {k: v for k, v in body.items() if not (k in times and times[k] is None)}
    return jwt.encode(body, DevIssuer(folder).private_key(), algorithm="ES256")


def _refusal(folder: Path, token: str) -> str:
    with pytest.raises(Unauthenticated) as refused:
        _verifier(folder).verify(token)
    return str(refused.value)


@pytest.mark.parametrize("nbf", [0, None], ids=["with nbf now", "without nbf"])
def test_a_token_issued_in_the_future_is_said_to_be_so_not_to_be_before_its_nbf(tmp_path: Path, nbf: int | None) -> None:
    message = _refusal(tmp_path, _token(tmp_path, iat=+600, nbf=nbf))

    japanese, _, english = message.partition(" / ")
    assert "(iat)" in japanese and "未来" in japanese and "時計" in japanese, message
    assert "(iat)" in english and "in the future" in english and "clock" in english, message
    assert "nbf" not in message, message


def test_a_token_before_its_nbf_is_still_said_to_be_not_valid_yet(tmp_path: Path) -> None:
    message = _refusal(tmp_path, _token(tmp_path, nbf=+600))

    assert "(nbf)" in message and "not valid yet" in message and "(iat)" not in message, message


def test_an_iat_a_little_ahead_is_forgiven_as_the_clocks_may_differ(tmp_path: Path) -> None:
    assert _verifier(tmp_path).verify(_token(tmp_path, iat=+10)).staff_id == "kouki-012"
