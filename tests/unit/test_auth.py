"""Staff authentication (shared/web/auth.py): the development issuer, a city IdP's JWKS, the checks of
every token, the development accounts and the `jusou staff` / `jusou token` commands."""

from __future__ import annotations

import hashlib
import hmac
import io
import json
import stat
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, HTTPServer
from pathlib import Path
from typing import Any

import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from support.municipality import CHILDCARE, ELDERLY

from jusou.cli import parser
from shared.web.auth import Accounts, AuthSettings, DevIssuer, Unauthenticated, Verifier


def settings(folder: Path, **changes: Any) -> AuthSettings:
    base = {"issuer": "", "jwks_url": "", "audience": "jusou", "staff_claim": "sub", "division_claim": "division",
            "roles_claim": "roles", "folder": folder}
    return AuthSettings(**{**base, **changes})


def claims(**changes: Any) -> dict[str, Any]:
    now = int(time.time())
    body = {"iss": "jusou-dev", "aud": "jusou", "sub": "kouki-012", "division": ELDERLY.division,
            "roles": ["counselor"], "iat": now, "nbf": now, "exp": now + 600, **changes}
    return {k: v for k, v in body.items() if v is not None}


def refusal(verifier: Verifier, token: str) -> str:
    with pytest.raises(Unauthenticated) as refused:
        verifier.verify(token)
    assert refused.value.status == 401 and refused.value.headers["WWW-Authenticate"].startswith("Bearer")
    return str(refused.value)


def test_auth_the_development_issuer_makes_one_key_pair_kept_private(tmp_path: Path) -> None:
    first, second = DevIssuer(tmp_path / "auth"), DevIssuer(tmp_path / "auth")
    token = first.mint("kouki-012", ELDERLY.division, ["counselor"])

    principal = Verifier(settings(tmp_path / "auth")).verify(token)

    assert principal.staff_id == "kouki-012" and principal.division == ELDERLY.division
    assert principal.roles == frozenset({"counselor"}) and principal.token == token
    assert second.private_key().private_numbers() == first.private_key().private_numbers()
    assert stat.S_IMODE((tmp_path / "auth" / "signing-key.pem").stat().st_mode) == 0o600


@pytest.mark.parametrize(("changes", "says"), [
    ({"exp": -120}, "expired"),  # seconds from now, taken when the test runs (not when it is collected)
    ({"nbf": +600}, "not valid yet"),
    ({"aud": "another-app"}, "wrong audience"),
    ({"iss": "https://elsewhere.example"}, "wrong issuer"),
    ({"sub": None}, "'sub'"),
    ({"exp": None}, "'exp'"),
    ({"division": "nowhere"}, "unknown division"),
    ({"roles": "counselor"}, "list of strings"),
    ({"sub": "x" * 101}, "staff id"),
], ids=["expired", "not yet valid", "wrong audience", "wrong issuer", "no staff id", "no expiry", "unknown division",
        "roles not a list", "staff id too long"])
def test_auth_a_token_that_breaks_a_rule_is_refused_saying_which(tmp_path: Path, changes: dict[str, Any],
                                                                  says: str) -> None:
    issuer = DevIssuer(tmp_path)
    changes = {k: int(time.time()) + v if k in ("exp", "nbf") and isinstance(v, int) else v for k, v in changes.items()}
    token = jwt.encode(claims(**changes), issuer.private_key(), algorithm="ES256")

    message = refusal(Verifier(settings(tmp_path)), token)

    assert says in message and " / " in message  # Japanese, then English


def test_auth_a_clock_a_little_behind_is_forgiven(tmp_path: Path) -> None:
    token = jwt.encode(claims(exp=int(time.time()) - 10), DevIssuer(tmp_path).private_key(), algorithm="ES256")
    assert Verifier(settings(tmp_path)).verify(token).staff_id == "kouki-012"


def test_auth_a_verified_token_is_remembered_but_never_past_its_expiry(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
) -> None:
    issuer = DevIssuer(tmp_path / "auth")
    verifier = Verifier(settings(tmp_path / "auth"))
    checked: list[str] = []
    real = verifier._verify
    monkeypatch.setattr(verifier, "_verify", lambda token: checked.append(token) or real(token))
    token = issuer.mint("kouki-012", ELDERLY.division, ["counselor"], ttl_seconds=120)

    assert verifier.verify(token) == verifier.verify(token)
    assert checked == [token]  # the signature was checked once

    now = time.time()
    monkeypatch.setattr(time, "time", lambda: now + 90)  # past what is remembered, within the token's life
    assert verifier.verify(token).staff_id == "kouki-012" and checked == [token, token]
    verifier.verify(token)
    monkeypatch.setattr(time, "time", lambda: now + 121)  # past its exp: the signature and exp are checked again
    verifier.verify(token)  # (PyJWT reads its own clock: still within its leeway here)
    assert checked == [token, token, token]


def test_auth_a_bad_signature_alg_none_and_hmac_keyed_with_the_public_key_are_refused(tmp_path: Path) -> None:
    verifier = Verifier(settings(tmp_path))
    public_pem = DevIssuer(tmp_path).private_key().public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
    stranger = jwt.encode(claims(), ec.generate_private_key(ec.SECP256R1()), algorithm="ES256")
    unsigned = jwt.encode(claims(), None, algorithm="none")
    header, _body, _ = DevIssuer(tmp_path).mint("kouki-012", ELDERLY.division, ["counselor"]).split(".")
    forged_body = jwt.utils.base64url_encode(json.dumps(claims(roles=["supervisor"])).encode()).decode()
    hmac_header = jwt.utils.base64url_encode(b'{"alg":"HS256","typ":"JWT"}').decode()
    signing_input = f"{hmac_header}.{forged_body}".encode()
    hmac_signature = jwt.utils.base64url_encode(hmac.new(public_pem, signing_input, hashlib.sha256).digest()).decode()

    assert "bad signature" in refusal(verifier, stranger)
    assert "bad signature" in refusal(verifier, f"{header}.{forged_body}.{_}")  # tampered claims
    assert "'none'" in refusal(verifier, unsigned)
    assert "'HS256'" in refusal(verifier, f"{hmac_header}.{forged_body}.{hmac_signature}")
    assert "not a JWT" in refusal(verifier, "not-a-token")


def test_auth_a_token_of_another_algorithm_than_the_issuers_key_is_a_401_not_a_crash(tmp_path: Path) -> None:
    """RS256 against the development issuer's EC key (PyJWT raised TypeError: a 500), a header PyJWT
    refuses before the algorithm is known (crit, a numeric kid)."""
    verifier = Verifier(settings(tmp_path))
    DevIssuer(tmp_path).private_key()
    rs256 = jwt.encode(claims(), rsa.generate_private_key(public_exponent=65537, key_size=2048), algorithm="RS256")
    head = jwt.utils.base64url_encode(b'{"alg":"ES256","crit":["x"],"x":1}').decode()
    body = jwt.utils.base64url_encode(json.dumps(claims()).encode()).decode()

    assert "'RS256'" in refusal(verifier, rs256)
    assert "not a JWT" in refusal(verifier, f"{head}.{body}.AAAA")


def test_auth_an_ended_session_is_refused_even_while_remembered_as_verified(tmp_path: Path) -> None:
    """Sign-out and `jusou staff remove` end tokens at once, in every verifier sharing the auth folder."""
    issuer = DevIssuer(tmp_path)
    here, elsewhere = Verifier(settings(tmp_path)), Verifier(settings(tmp_path))  # two services of one host
    signed_out, other_session = (issuer.mint("kouki-012", ELDERLY.division, ["counselor"]) for _ in range(2))
    removed = issuer.mint("hoiku-1", CHILDCARE.division, ["counselor"])
    for token in (signed_out, other_session, removed):
        assert elsewhere.verify(token)  # now remembered as verified there

    assert here.end(here.verify(signed_out)) is True
    Accounts(tmp_path).add("hoiku-1", CHILDCARE.division, ["counselor"], "pw")
    assert Accounts(tmp_path).remove("hoiku-1")

    for verifier in (here, elsewhere):
        assert "ended" in refusal(verifier, signed_out) and "ended" in refusal(verifier, removed)
        assert verifier.verify(other_session).staff_id == "kouki-012"  # the same member's other session goes on
    assert elsewhere.verify(issuer.mint("hoiku-1", CHILDCARE.division, ["counselor"]))  # added again: signs in afresh
    assert stat.S_IMODE((tmp_path / "revoked.json").stat().st_mode) == 0o600


def test_auth_sign_in_is_throttled_per_account_and_per_address() -> None:
    from shared.web.auth import SignInThrottle

    throttle = SignInThrottle()
    tries = [throttle.begin("kouki-012", "10.0.0.1") for _ in range(SignInThrottle.PER_ACCOUNT + 1)]
    assert tries[:-1] == [None] * SignInThrottle.PER_ACCOUNT and 0 < tries[-1] <= SignInThrottle.WINDOW_SECONDS + 1
    assert throttle.begin("kouki-012", "10.0.0.2") is not None  # the account, from anywhere
    assert throttle.begin("hoiku-1", "10.0.0.1") is None  # another account from that address: not yet
    many = [throttle.begin(f"guess-{n}", "10.0.0.3") for n in range(SignInThrottle.PER_ADDRESS + 1)]
    assert many[-1] is not None and None not in many[-1:]
    throttle.begin("hoiku-2", "10.0.0.4")
    throttle.succeeded("hoiku-2", "10.0.0.4")  # a right password clears its account
    assert all(throttle.begin("hoiku-2", "10.0.0.4") is None for _ in range(SignInThrottle.PER_ACCOUNT))


@pytest.fixture
def idp() -> Iterator[tuple[str, rsa.RSAPrivateKey]]:
    """A city identity provider's JWKS endpoint on loopback, with one RS256 key."""
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    jwk = json.loads(jwt.algorithms.RSAAlgorithm.to_jwk(key.public_key()))
    document = json.dumps({"keys": [{**jwk, "kid": "city-1", "alg": "RS256", "use": "sig"}]}).encode()

    class JWKS(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            self.send_response(200)
            self.send_header("content-type", "application/json")
            self.end_headers()
            self.wfile.write(document)

        def log_message(self, *_: Any) -> None:
            pass

    server = HTTPServer(("127.0.0.1", 0), JWKS)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield f"http://127.0.0.1:{server.server_port}/jwks", key
    finally:
        server.shutdown()


def test_auth_tokens_of_the_citys_identity_provider_are_checked_with_its_jwks(
        tmp_path: Path, idp: tuple[str, rsa.RSAPrivateKey]) -> None:
    url, key = idp
    verifier = Verifier(settings(tmp_path, issuer="https://idp.city.example", jwks_url=url, division_claim="jusou_division",
                                 roles_claim="jusou_roles"))
    body = claims(iss="https://idp.city.example", division=None, roles=None, jusou_division=CHILDCARE.division,
                  jusou_roles=["counselor"])

    principal = verifier.verify(jwt.encode(body, key, algorithm="RS256", headers={"kid": "city-1"}))

    assert principal.division == CHILDCARE.division and principal.roles == frozenset({"counselor"})
    dev_token = DevIssuer(tmp_path).mint("kouki-012", ELDERLY.division, ["counselor"])
    assert "signing key" in refusal(verifier, dev_token)  # the development issuer's tokens are not the city's


def test_auth_a_development_issuer_that_cannot_make_its_key_says_what_to_do(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
) -> None:
    """On Kubernetes without the Secret jusou-dev-auth the auth folder is an empty read-only mount."""
    def read_only(*_: Any, **__: Any) -> None:
        raise OSError(30, "Read-only file system")

    monkeypatch.setattr("shared.web.auth.write_private", read_only)
    with pytest.raises(Unauthenticated) as refused:
        DevIssuer(tmp_path / "auth").mint("kouki-012", ELDERLY.division, ["counselor"])
    assert refused.value.status == 401
    assert "jusou-dev-auth" in str(refused.value) and "JUSOU_OIDC" in str(refused.value)


def test_auth_accounts_keep_only_a_salted_hash_in_a_private_file(tmp_path: Path) -> None:
    accounts = Accounts(tmp_path)
    accounts.add("kouki-012", ELDERLY.division, ["counselor"], "correct horse")

    assert accounts.check("kouki-012", "correct horse")["division"] == ELDERLY.division  # type: ignore[index]
    assert accounts.check("kouki-012", "wrong") is None and accounts.check("nobody", "correct horse") is None
    assert "correct horse" not in (tmp_path / "staff.json").read_text()
    assert stat.S_IMODE((tmp_path / "staff.json").stat().st_mode) == 0o600


def test_auth_an_unknown_staff_id_costs_the_cpu_a_known_one_does(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """No staff-id oracle: a wrong password for an unknown id runs scrypt once, with the same cost parameters, as for
    a known id (it ran twice before the dummy hash). Counted, not timed: the machine is shared."""
    accounts = Accounts(tmp_path)
    accounts.add("kouki-012", ELDERLY.division, ["counselor"], "correct horse")
    accounts.check("warm-up", "x")  # the dummy hash is made once, on first use
    runs: list[tuple[int, int, int]] = []
    scrypt = hashlib.scrypt

    def counted(password: bytes, *, salt: bytes, n: int, r: int, p: int, **rest: int) -> bytes:
        runs.append((n, r, p))
        return scrypt(password, salt=salt, n=n, r=r, p=p, **rest)

    monkeypatch.setattr(hashlib, "scrypt", counted)
    spent = {}
    for kind, staff_id in (("known", "kouki-012"), ("unknown", "nobody-1")):
        runs.clear()
        assert accounts.check(staff_id, "wrong") is None
        spent[kind] = list(runs)
    assert len(spent["known"]) == 1 and spent["unknown"] == spent["known"], spent


def main(argv: list[str]) -> int:
    """A `jusou` command, without the logging set-up of jusou.cli.main (it would keep pytest's stdout)."""
    args = parser().parse_args(argv)
    result: int = args.handler(args)
    return result


def test_auth_cli_adds_lists_mints_for_and_removes_an_account(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                             capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setenv("JUSOU_AUTH_DIR", str(tmp_path))
    monkeypatch.delenv("JUSOU_OIDC_ISSUER", raising=False)
    monkeypatch.setattr("sys.stdin", io.StringIO("a long password\n"))

    assert main(["staff", "add", "hoiku-3", "--division", CHILDCARE.division, "--role", "counselor", "--password-stdin"]) == 0
    assert {p.name for p in tmp_path.iterdir()} >= {"staff.json", "signing-key.pem"}  # all a pod needs (k8s Secret)
    assert main(["staff", "list"]) == 0
    assert f"hoiku-3\t{CHILDCARE.division}\tcounselor" in capsys.readouterr().out
    assert main(["token", "hoiku-3", "--ttl", "30m"]) == 0
    token = capsys.readouterr().out.strip()
    principal = Verifier(settings(tmp_path)).verify(token)
    assert principal.staff_id == "hoiku-3" and principal.division == CHILDCARE.division
    assert jwt.decode(token, options={"verify_signature": False})["exp"] - int(time.time()) <= 1800
    assert main(["staff", "remove", "hoiku-3"]) == 0
    with pytest.raises(SystemExit, match="no such account"):
        main(["token", "hoiku-3"])


def test_auth_demo_staff_are_one_account_per_role_with_a_password_printed_once(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from jusou.cli import DEMO_STAFF, demo_staff
    from shared.web.policy import ROLES

    demo_staff(tmp_path)

    printed = capsys.readouterr().out
    accounts = Accounts(tmp_path)
    assert set(DEMO_STAFF) == set(ROLES)
    for role, (staff_id, division) in DEMO_STAFF.items():
        password = next(line.split()[1] for line in printed.splitlines() if line.split()[:1] == [staff_id])
        assert accounts.check(staff_id, password) == {**accounts.all()[staff_id]}
        assert accounts.all()[staff_id]["roles"] == [role] and accounts.all()[staff_id]["division"] == division
