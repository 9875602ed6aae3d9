"""A staff id that names nobody (found by the new user's walk through `jusou staff`, HD): `jusou staff add ' '` made an
account, `jusou token ' '` a token for it, and intake recorded a consultation whose actor was `{"staff_id": " "}`:
an event no one can be held to (D15). `jusou staff add` now refuses such an id (exit 2) and every service refuses a
token whose staff id is blank or padded with spaces (401 saying so), whichever issuer signed it; the ids staff have
(kouki-012, demo-counselor, cli:<user>) are taken as before."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import jwt
import pytest
from support.municipality import ELDERLY

from jusou.cli import parser
from shared.web.auth import AuthSettings, DevIssuer, Unauthenticated, Verifier


def verifier(folder: Path) -> Verifier:
    return Verifier(AuthSettings(issuer="", jwks_url="", audience="jusou", staff_claim="sub",
                                 division_claim="division", roles_claim="roles", folder=folder))


def signed(folder: Path, **changes: Any) -> str:
    now = int(time.time())
    claims = {"iss": "jusou-dev", "aud": "jusou", "sub": "kouki-012", "division": ELDERLY.division,
              "roles": ["counselor"], "iat": now, "nbf": now, "exp": now + 600, **changes}
    return jwt.encode(claims, DevIssuer(folder).private_key(), algorithm="ES256")


@pytest.mark.parametrize("staff_id", [" ", "   ", " kouki-012", "kouki-012 ", "\u3000"])
def test_a_token_whose_staff_id_is_blank_or_padded_is_refused(tmp_path: Path, staff_id: str) -> None:
    token = DevIssuer(tmp_path).mint(staff_id, ELDERLY.division, ["counselor"])
    with pytest.raises(Unauthenticated) as refused:
        verifier(tmp_path).verify(token)
    assert "staff id" in str(refused.value), str(refused.value)


@pytest.mark.parametrize("staff_id", ["kouki-012", "demo-counselor", "cli:root", "山田 太郎"])
def test_the_staff_ids_staff_have_are_taken(tmp_path: Path, staff_id: str) -> None:
    assert verifier(tmp_path).verify(signed(tmp_path, sub=staff_id)).staff_id == staff_id


@pytest.mark.parametrize("staff_id", ["", " ", " kouki-012", "kouki-012 ", "x" * 101, "a\tb"])
def test_jusou_staff_add_refuses_an_id_no_token_could_carry(staff_id: str, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as refused:
        parser().parse_args(["staff", "add", staff_id, "--division", ELDERLY.division, "--role", "counselor"])
    assert refused.value.code == 2
    assert "職員番号" in capsys.readouterr().err


def test_jusou_staff_add_takes_an_id_as_before() -> None:
    args = parser().parse_args(["staff", "add", "kouki-012", "--division", ELDERLY.division, "--role", "counselor"])
    assert args.staff_id == "kouki-012"
