"""Who is acting: OIDC-style JWT bearer tokens, from the city's identity provider or the built-in
development issuer.

- `JUSOU_OIDC_ISSUER` set: tokens of the city's IdP, keys from its JWKS (`JUSOU_OIDC_JWKS_URL`, else
  its discovery document's; fetched once, cached); a browser signs in there (shared/web/oidc.py) and
  gets a server-side session, whose cookie (`jusou-s1.…`) `Verifier.verify` resolves too;
- unset (the embedded default): the development issuer `jusou-dev`, an ES256 key pair made once in
  `<JUSOU_DATA_DIR>/auth/` (or `JUSOU_AUTH_DIR`), and its staff accounts in `staff.json` there
  (`jusou staff add`, `jusou token`).

Every token is checked for its signature (RS256 or ES256 only: never `none`, never an HMAC keyed
with a public key), `iss`, `aud`, `exp` / `nbf` (with a small leeway), the staff id (`sub`), a known
division and a list of roles. A failure is a 401 saying what is wrong, in Japanese and English.

Sessions end at once (README "Staff, roles and tokens"): every token names a session (`jti`, else
a hash of the token) and the revocation list `revoked.json` in the auth folder, shared by the six
services of a host, ends it: signing out adds the session, `jusou staff remove` the staff member
(every token issued to them until then). It is read again whenever the file changes, and checked
on every request, also for a token remembered as verified.
"""

from __future__ import annotations

import base64
import collections
import getpass
import hashlib
import hmac
import json
import os
import secrets
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from functools import cache
from pathlib import Path
from typing import Any

import httpx
import jwt
import structlog
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from shared import tenancy
from shared.kernel.journey import DomainError
from shared.organisation.reference import divisions, lead_division
from shared.settings import AuthSettings, current, write_private

ALGORITHMS = ("RS256", "ES256")  # asymmetric only
LEEWAY_SECONDS = 30  # clocks of the IdP and the services may differ a little
#: The longest a token may still be valid when it arrives: `jusou token --ttl` mints at most a week, and an IdP's
#: access tokens live minutes to hours. A token whose `exp` is further ahead (a century: the review from outside) is
#: refused: whoever holds the signing key, or one leaked token, is not given a session no sign-out list outlives.
MAX_TOKEN_LIFETIME_SECONDS = 7 * 24 * 3600
#: A verified token is remembered this long (never past its expiry): every request of a signed-in
#: staff member carries the same token, and checking its ES256 signature again each time was about
#: 5% of a service's time under load (bench/ --profile). A key the IdP withdraws stops working
#: within this time.
VERIFIED_FOR_SECONDS = 60.0
VERIFIED_KEPT = 1024  # tokens remembered, the oldest forgotten first
DEV_ISSUER = "jusou-dev"
COOKIE = "jusou_session"  # the UI's signed token; one cookie for the six services on one host
DEFAULT_TTL_SECONDS = 8 * 3600  # a working day
CLI_TTL_SECONDS = 300  # a token the CLI mints for one command
SCRYPT = {"n": 2**14, "r": 8, "p": 1}
SESSION_PREFIX = "jusou-s1."  # a browser's session at the city's IdP (shared/web/oidc.py); a token is a JWT
REVOKED = "revoked.json"  # the auth folder's revocation list: ended sessions and removed staff

log = structlog.get_logger()
#: What makes a verifier's store of browser sessions (shared/web/oidc.py registers `Sessions`).
SESSION_STORES: list[Callable[[AuthSettings, Verifier], Any]] = []


class Unauthenticated(DomainError):
    """No valid credential: 401 with `WWW-Authenticate: Bearer`."""

    status = 401

    def __init__(self, ja: str, en: str, error: str = "invalid_token") -> None:
        super().__init__(f"{ja} / {en}")
        self.headers = {"WWW-Authenticate": f'Bearer realm="jusou", error="{error}"'}

    @classmethod
    def missing(cls) -> Unauthenticated:
        error = cls("ログインが必要です。Authorization: Bearer <トークン> を付けてください",
                    "sign in first: send Authorization: Bearer <token>")
        error.headers = {"WWW-Authenticate": 'Bearer realm="jusou"'}
        return error

    @classmethod
    def ended(cls) -> Unauthenticated:
        return cls("このセッションは終了しています（ログアウト、または職員登録の削除）。もう一度ログインしてください",
                   "this session has ended (signed out, or the account was removed); sign in again")


@dataclass(frozen=True)
class Principal:
    """A signed-in staff member (or an operator's command: `cli:<user>`)."""

    staff_id: str
    division: str
    roles: frozenset[str]
    token: str = field(default="", repr=False, compare=False)  # forwarded to the other services
    expires_at: float = field(default=float("inf"), repr=False, compare=False)  # the token's exp
    session: str = field(default="", repr=False, compare=False)  # the token's jti (else its hash): what sign-out ends
    issued_at: float = field(default=0.0, repr=False, compare=False)  # the token's iat (0: not said)
    tenant: str = ""  # the municipality they work for (issue 18, shared/tenancy.py): "" on a single-tenant suite

    @property
    def actor(self) -> dict[str, str]:
        """What events record as who acted."""
        return {"staff_id": self.staff_id, "division": self.division}


class DevIssuer:
    """The development issuer: an ES256 key pair made once in the auth folder."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.key_path = folder / "signing-key.pem"

    def private_key(self) -> ec.EllipticCurvePrivateKey:
        if not self.key_path.exists():
            key = ec.generate_private_key(ec.SECP256R1())
            pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                    serialization.NoEncryption())
            try:
                write_private(self.key_path, pem, only_if_absent=True)  # six services starting together agree
            except OSError as exc:  # a read-only folder: on Kubernetes, the Secret jusou-dev-auth was not made
                raise Unauthenticated(
                    "開発用の発行者の鍵 (signing-key.pem) がなく、ここでは作れません。市の認証基盤 (JUSOU_OIDC_*) を"
                    "設定するか、鍵と職員を Secret jusou-dev-auth で渡してください（README）",
                    f"the development issuer has no signing key in {self.folder} and cannot make one there ({exc}): "
                    "configure the city's IdP (JUSOU_OIDC_*) or give every pod the key and accounts as the Secret "
                    "jusou-dev-auth (README)") from exc
        loaded = serialization.load_pem_private_key(self.key_path.read_bytes(), password=None)
        assert isinstance(loaded, ec.EllipticCurvePrivateKey)
        return loaded

    def mint(self, staff_id: str, division: str, roles: list[str], audience: str = "jusou",
             ttl_seconds: int = DEFAULT_TTL_SECONDS, tenant: str = "") -> str:
        """A signed token; `tenant`: the municipality whose issuer this is (many on one deployment, issue 18:
        the folder is `<its data_dir>/auth`, and the claim names it)."""
        now = int(time.time())
        claims: dict[str, Any] = {
            "iss": DEV_ISSUER, "aud": audience, "sub": staff_id, "division": division,
            # iat to the millisecond: a member removed and added again within a second signs in afresh
            "roles": sorted(roles), "iat": round(time.time(), 3), "nbf": now, "exp": now + ttl_seconds,
            "jti": secrets.token_urlsafe(16)}  # the session: sign-out ends it (Revocations)
        if tenant:
            claims[tenancy.CLAIM] = tenant
        return jwt.encode(claims, self.private_key(), algorithm="ES256")


#: a token whose `exp` is no number (a string, true, false): PyJWT reads true as 1, an expiry in 1970
EXP_NOT_A_NUMBER = ("トークンの有効期限 (exp) は数（1970年1月1日からの秒数）で書かれていなければなりません。発行し直してください",
                    ("the token's exp must be a number of seconds since 1970 (NumericDate, RFC 7519), not a string "
                     "or true/false: get a new token"))


def _numeric_exp(token: str) -> bool:
    """Whether the token's `exp` is a number (true and false are not): read only after its signature was checked."""
    try:
        exp = jwt.decode(token, options={"verify_signature": False}).get("exp")
    except jwt.PyJWTError:
        return True  # unreadable claims: the caller's own message stands
    return isinstance(exp, (int, float)) and not isinstance(exp, bool)


def _not_yet(token: str) -> Unauthenticated:
    """A token PyJWT found not yet valid (its signature checked): issued in the future (`iat`: the issuer's clock, or
    this server's, is wrong) or valid only from a later time (`nbf`), said as the one it is."""
    try:
        iat = jwt.decode(token, options={"verify_signature": False}).get("iat")
    except jwt.InvalidTokenError:
        iat = None
    if isinstance(iat, (int, float)) and not isinstance(iat, bool) and iat > time.time() + LEEWAY_SECONDS:
        return Unauthenticated(
            "トークンの発行時刻 (iat) が未来になっています。発行者（IdP）とこのサーバーの時計を確かめ、発行し直してください",
            "the token's issued-at time (iat) is in the future: the issuer's (IdP's) clock or this server's is wrong; "
            "check them and get a new token")
    return Unauthenticated("トークンはまだ有効になっていません (nbf)。有効になる時刻を過ぎてから使ってください",
                           "the token is not valid yet (nbf): use it once its not-before time has passed")


class Verifier:
    """Checks a token and says who it names."""

    def __init__(self, settings: AuthSettings) -> None:
        self.settings = settings
        self.dev = DevIssuer(settings.folder) if settings.development else None
        self.jwks: jwt.PyJWKClient | None = None  # the IdP's keys (made on first use: the URL may come from discovery)
        self._dev_public: Any = None
        self._verified: dict[str, tuple[float, Principal]] = {}  # token → (remembered until, who)
        self.revocations = Revocations(settings.folder)
        self._sessions: Any = None

    @property
    def sessions(self) -> Any:
        """The UI's server-side sessions of staff signed in at the IdP (shared/web/oidc.py Sessions, which
        registers itself in SESSION_STORES when the UI imports it: this module does not import the flow)."""
        if self._sessions is None:
            if not SESSION_STORES:
                raise Unauthenticated("この環境ではブラウザーのセッションを扱いません", "no browser sessions here")
            self._sessions = SESSION_STORES[0](self.settings, self)
        return self._sessions

    def _jwks_client(self) -> jwt.PyJWKClient:
        if self.jwks is None:
            url = self.settings.jwks_url
            if not url:
                try:
                    url = str(self.sessions.metadata()["jwks_uri"])
                except (httpx.HTTPError, ValueError, KeyError) as exc:
                    raise Unauthenticated("市の認証基盤の署名鍵 (JWKS) の場所がわかりません",
                                          f"cannot find the identity provider's JWKS ({type(exc).__name__})") from exc
            self.jwks = jwt.PyJWKClient(url, cache_keys=True, lifespan=600, timeout=10)
        return self.jwks

    @property
    def issuer(self) -> str:
        return self.settings.issuer or DEV_ISSUER

    def _key(self, token: str) -> Any:
        if self.dev is not None:
            if self._dev_public is None:
                self._dev_public = self.dev.private_key().public_key()
            return self._dev_public
        try:
            client = self._jwks_client()
            header = jwt.get_unverified_header(token)
            if header.get("kid") is None:  # an IdP that names no key id: its one key of the token's algorithm
                signing = client.get_signing_keys()
                if len(signing) == 1 and signing[0].algorithm_name == header.get("alg"):
                    return signing[0].key
            return client.get_signing_key_from_jwt(token).key
        except jwt.PyJWKClientError as exc:
            raise Unauthenticated("トークンの署名鍵が市の認証基盤にありません",
                                  f"the token's signing key is not at the IdP ({exc})") from exc

    def verify(self, token: str) -> Principal:
        if token.startswith(SESSION_PREFIX):  # a browser's session at the IdP: the server keeps who it is
            principal: Principal = self.sessions.principal(token)
            if self.revocations.ended(principal):
                raise Unauthenticated.ended()
            return principal
        known = self._verified.get(token)
        if known is not None and time.time() < known[0]:
            principal = known[1]
        else:
            self._verified.pop(token, None)
            principal = self._verify(token)
            if len(self._verified) >= VERIFIED_KEPT:
                self._verified.pop(next(iter(self._verified)), None)
            self._verified[token] = (min(time.time() + VERIFIED_FOR_SECONDS, principal.expires_at), principal)
        if self.revocations.ended(principal):  # also for a token remembered as verified
            self._verified.pop(token, None)
            raise Unauthenticated.ended()
        return principal

    def end(self, principal: Principal) -> bool:
        """Sign-out: end this token's session at every service sharing the auth folder (False: only here)."""
        self._verified.pop(principal.token, None)
        if self._sessions is not None and self._sessions.record(principal.session) is not None:
            self._sessions.store.delete(principal.session)  # a session at the IdP: its tokens are forgotten
        return self.revocations.end_session(principal.session, principal.expires_at)

    def _verify(self, token: str) -> Principal:
        s = self.settings
        try:
            algorithm = jwt.get_unverified_header(token).get("alg")
        except jwt.InvalidTokenError as exc:  # not base64/JSON, a header that is not an object, a numeric kid, crit…
            raise Unauthenticated("トークンの形式が正しくありません", f"the token is not a JWT ({exc})") from exc
        if algorithm not in ALGORITHMS:
            raise Unauthenticated(f"署名方式 {algorithm!r} のトークンは使えません（{' または '.join(ALGORITHMS)}）",
                                  f"algorithm {algorithm!r} is not accepted; {' or '.join(ALGORITHMS)} only")
        try:
            claims = jwt.decode(token, self._key(token), algorithms=[algorithm], audience=s.audience,
                                issuer=self.issuer, leeway=LEEWAY_SECONDS,
                                options={"require": ["exp", "iss", "aud", s.staff_claim]})
        except jwt.ExpiredSignatureError as exc:
            if not _numeric_exp(token):  # PyJWT reads "exp": true as 1 (1970): not a date, say so
                raise Unauthenticated(EXP_NOT_A_NUMBER[0], EXP_NOT_A_NUMBER[1]) from exc
            raise Unauthenticated("トークンの有効期限が切れています。もう一度ログインしてください",
                                  "the token has expired; sign in again") from exc
        except jwt.ImmatureSignatureError as exc:  # PyJWT's for an iat in the future as for an nbf: say which
            raise _not_yet(token) from exc
        except jwt.InvalidAudienceError as exc:
            raise Unauthenticated(f"トークンの対象 (aud) が {s.audience!r} ではありません",
                                  f"wrong audience: the token is not for {s.audience!r}") from exc
        except jwt.InvalidIssuerError as exc:
            raise Unauthenticated(f"トークンの発行者 (iss) が {self.issuer!r} ではありません",
                                  f"wrong issuer: expected {self.issuer!r}") from exc
        except jwt.InvalidSignatureError as exc:
            raise Unauthenticated("トークンの署名が正しくありません", "bad signature") from exc
        except jwt.MissingRequiredClaimError as exc:
            raise Unauthenticated(f"トークンに {exc.claim!r} がありません", f"the token has no {exc.claim!r} claim") from exc
        except jwt.InvalidTokenError as exc:
            raise Unauthenticated("トークンが正しくありません", f"invalid token ({exc})") from exc
        except (jwt.PyJWTError, TypeError, ValueError) as exc:  # e.g. RS256 against the issuer's EC key
            raise Unauthenticated(f"署名方式 {algorithm!r} はこの発行者の鍵に合いません",
                                  f"algorithm {algorithm!r} does not match the issuer's key") from exc
        exp = claims["exp"]
        if not isinstance(exp, (int, float)) or isinstance(exp, bool):  # PyJWT takes "exp": "1796…" as a number
            raise Unauthenticated(EXP_NOT_A_NUMBER[0], EXP_NOT_A_NUMBER[1])
        if exp > time.time() + MAX_TOKEN_LIFETIME_SECONDS + LEEWAY_SECONDS:
            raise Unauthenticated(
                f"トークンの有効期限 (exp) が先すぎます（受け付けるのは {MAX_TOKEN_LIFETIME_SECONDS // 86400} 日以内）。"
                "発行し直してください",
                f"the token's exp is more than {MAX_TOKEN_LIFETIME_SECONDS // 86400} days ahead: no token is accepted "
                "for that long; get a new one")
        return self.principal(claims, token)

    def principal(self, claims: dict[str, Any], token: str) -> Principal:
        s = self.settings
        staff_id, division, roles = claims.get(s.staff_claim), claims.get(s.division_claim), claims.get(s.roles_claim)
        # a blank or space-padded id ("jusou staff add ' '") recorded events that named nobody, or another's id lookalike
        if (not isinstance(staff_id, str) or not 0 < len(staff_id) <= 100 or not staff_id.isprintable()
                or staff_id != staff_id.strip()):
            raise Unauthenticated(f"トークンの職員番号 ({s.staff_claim}) が正しくありません",
                                  f"the staff id claim {s.staff_claim!r} is not 1-100 printable characters "
                                  "without spaces at either end")
        if not isinstance(division, str) or division not in divisions():
            raise Unauthenticated(f"トークンの所属課 ({s.division_claim}) {division!r} は登録されていません",
                                  f"unknown division {division!r} in claim {s.division_claim!r}; one of: " + ", ".join(divisions()))
        if not isinstance(roles, list) or not all(isinstance(r, str) for r in roles):
            raise Unauthenticated(f"トークンの役割 ({s.roles_claim}) は文字列のリストです",
                                  f"the roles claim {s.roles_claim!r} must be a list of strings")
        jti, iat = claims.get("jti"), claims.get("iat")
        session = jti if isinstance(jti, str) and 0 < len(jti) <= 200 else hashlib.sha256(token.encode()).hexdigest()
        issued = float(iat) if isinstance(iat, (int, float)) and not isinstance(iat, bool) else 0.0
        return Principal(staff_id, division, frozenset(roles), token, expires_at=float(claims["exp"]), session=session,
                         issued_at=issued, tenant=tenancy.claims_tenant(claims) or "")


class TenantNotNamed(Unauthenticated):
    """Many municipalities on one deployment (issue 18): a token without a `tenant` claim."""

    def __init__(self) -> None:
        super().__init__(f"このトークンには自治体 ({tenancy.CLAIM}) がありません。所属する自治体の認証基盤でログインしてください",
                         f"the token names no tenant (claim {tenancy.CLAIM!r}): sign in at your municipality's identity provider")


class TenantNotServed(Unauthenticated):
    """A token naming a tenant this deployment does not serve."""

    def __init__(self, tenant: str) -> None:
        super().__init__(f"自治体 {tenant!r} はこの環境で扱っていません", f"this deployment serves no tenant {tenant!r}")


class TenantVerifier(Verifier):
    """Many municipalities on one deployment (issue 18, shared/tenancy.py): a token is checked by its tenant's
    own verifier (its IdP's keys, or its own development issuer's key, issuer and staff), chosen by the token's
    `tenant` claim; a claim naming another tenant than the key that signed it fails that tenant's signature
    check. The verified tenant is the request's from then on (shared/tenancy.py `CURRENT`, shared/web/deps.py)."""

    def __init__(self, settings: AuthSettings, tenants: dict[str, tenancy.Tenant]) -> None:
        super().__init__(settings)
        self.of_tenant = {t.id: Verifier(tenancy.auth_settings(settings, t)) for t in tenants.values()}
        #: token → the tenant its (unverified) claims name: read from the token's own bytes, so the same text always
        #: names the same tenant; its signature is checked by that tenant's verifier on every request all the same
        #: (issue 19: the unverified decode was a JWT parse per request). Only tokens naming a tenant served here.
        self._named: dict[str, str] = {}

    def verify(self, token: str) -> Principal:
        if token.startswith(SESSION_PREFIX):  # a browser's session at a tenant's IdP: the tenant whose store has it
            key = hashlib.sha256(token.encode()).hexdigest()
            for tenant_id, checker in self.of_tenant.items():
                if checker.settings.issuer and checker.sessions.record(key) is not None:
                    with tenancy.acting_for(tenant_id):
                        principal = checker.verify(token)
                    tenancy.CURRENT.set(tenant_id)
                    return replace(principal, tenant=tenant_id)  # the tenant whose IdP signed the staff member in
            raise Unauthenticated("このセッションは終了しているか、ありません。もう一度ログインしてください",
                                  "no such session (ended, expired or never made): sign in again")
        tenant = self._named.get(token)
        if tenant is None:
            try:
                unverified = jwt.decode(token, options={"verify_signature": False})
            except jwt.InvalidTokenError as exc:
                raise Unauthenticated("トークンの形式が正しくありません", f"the token is not a JWT ({exc})") from exc
            tenant = tenancy.claims_tenant(unverified)
            if tenant is None:
                raise TenantNotNamed()
            if tenant not in self.of_tenant:
                raise TenantNotServed(tenant)
            if len(self._named) >= VERIFIED_KEPT:
                self._named.pop(next(iter(self._named)), None)
            self._named[token] = tenant
        one = self.of_tenant[tenant]
        with tenancy.acting_for(tenant):  # its own municipality file: the division is checked against it
            principal = one.verify(token)
        if principal.tenant != tenant:  # the verified claims are those read: never, but never trusted
            raise TenantNotServed(principal.tenant)
        tenancy.CURRENT.set(tenant)  # the request's tenant from here on
        return principal

    def end(self, principal: Principal) -> bool:
        return self.of_tenant[principal.tenant].end(principal)


class Revocations:
    """Ended sessions and removed staff: `revoked.json` in the auth folder (mode 600), which the six
    services of a host share (`jusou up`, compose's shared volume). Read again when the file changes
    (a stat per request); ended sessions are forgotten once their token would have expired anyway.

    A read-only auth folder (Kubernetes: the Secret jusou-dev-auth) cannot be written by a service:
    a sign-out there ends the session in that process (and deletes the cookie), and the list comes
    with the Secret (`jusou staff remove` writes it into the folder the Secret is made from)."""

    def __init__(self, folder: Path) -> None:
        self.path = folder / REVOKED
        self._stat_path = str(self.path)  # stat per request: os.stat of the text, not pathlib's (a few µs less)
        self._seen: tuple[int, int, int] | None = None
        self._sessions: dict[str, float] = {}  # session → until (its token's exp)
        self._staff: dict[str, float] = {}  # staff id → tokens issued until then are ended
        self._here: dict[str, float] = {}  # sessions ended in this process only (the folder was read-only)
        self._lock = threading.Lock()

    def _load(self) -> None:
        try:
            info = os.stat(self._stat_path)
        except FileNotFoundError:
            self._seen, self._sessions, self._staff = None, {}, {}
            return
        seen = (info.st_mtime_ns, info.st_size, info.st_ino)
        if seen == self._seen:
            return
        data = self._read()
        self._sessions = {str(k): float(v) for k, v in data.get("sessions", {}).items()}
        self._staff = {str(k): float(v) for k, v in data.get("staff", {}).items()}
        self._seen = seen

    def _read(self) -> dict[str, dict[str, float]]:
        try:
            data = json.loads(self.path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            return {}
        return data if isinstance(data, dict) else {}

    def ended(self, principal: Principal) -> bool:
        with self._lock:
            self._load()
            sessions, staff = self._sessions, self._staff
        if principal.session and (principal.session in sessions or principal.session in self._here):
            return True
        removed = staff.get(principal.staff_id)
        return removed is not None and principal.issued_at <= removed

    def _change(self, kind: str, key: str, value: float) -> None:
        import fcntl

        self.path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        with open(self.path.parent / f".{REVOKED}.lock", "a") as lock:  # services and the CLI write in turn
            fcntl.flock(lock, fcntl.LOCK_EX)
            data = self._read()
            now = time.time()
            data["sessions"] = {k: v for k, v in data.get("sessions", {}).items() if v > now}  # expired anyway
            data.setdefault("staff", {})
            data[kind][key] = value
            write_private(self.path, json.dumps(data, ensure_ascii=False, indent=1).encode())

    def end_session(self, session: str, until: float) -> bool:
        """End one session (sign-out). False when the folder is read-only: ended in this process only."""
        if not session:
            return False
        until = until if until != float("inf") else time.time() + DEFAULT_TTL_SECONDS
        try:
            self._change("sessions", session, until)
            return True
        except OSError as exc:
            log.warning("auth.revocation_not_shared", folder=str(self.path.parent), error=str(exc))
            self._here[session] = until
            return False

    def end_staff(self, staff_id: str) -> None:
        """End every session of a staff member issued until now (`jusou staff remove`)."""
        self._change("staff", staff_id, time.time())


class SignInThrottle:
    """Wrong passwords are tried slowly: at most `PER_ACCOUNT` tries of one staff id and `PER_ADDRESS`
    from one client address within `WINDOW_SECONDS` (per service process); a try counts from its start,
    so many sent at once are counted too. A successful sign-in clears its account's count."""

    PER_ACCOUNT = 10
    PER_ADDRESS = 50
    WINDOW_SECONDS = 600.0
    KEYS_KEPT = 100_000

    def __init__(self) -> None:
        self._tries: dict[str, collections.deque[float]] = {}
        self._lock = threading.Lock()

    def _recent(self, key: str, now: float) -> collections.deque[float]:
        tries = self._tries.setdefault(key, collections.deque())
        while tries and tries[0] <= now - self.WINDOW_SECONDS:
            tries.popleft()
        return tries

    def begin(self, staff_id: str, address: str) -> int | None:
        """None: go on (the try is counted); else the seconds to wait."""
        now = time.monotonic()
        with self._lock:
            if len(self._tries) > self.KEYS_KEPT:  # many ids tried: forget the quiet ones
                for key in [k for k, v in self._tries.items() if not v or v[-1] <= now - self.WINDOW_SECONDS]:
                    del self._tries[key]
            keys = ((f"staff:{staff_id}", self.PER_ACCOUNT), (f"address:{address}", self.PER_ADDRESS))
            for key, limit in keys:
                tries = self._recent(key, now)
                if len(tries) >= limit:
                    return max(1, int(tries[0] + self.WINDOW_SECONDS - now) + 1)
            for key, _ in keys:
                self._tries[key].append(now)
            return None

    def succeeded(self, staff_id: str, address: str) -> None:
        with self._lock:
            self._tries.pop(f"staff:{staff_id}", None)
            tries = self._tries.get(f"address:{address}")
            if tries:
                tries.pop()  # a right password is no guess


def csrf_token(session_token: str) -> str:
    """The CSRF token of a signed-in browser: an HMAC keyed by its session token (httponly, never shown),
    so a page of another origin cannot know it, and every service of the host computes the same."""
    digest = hmac.new(session_token.encode(), b"jusou-csrf-v1", hashlib.sha256).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode()


@cache
def verifier() -> Verifier:
    """This process's verifier (settings are read once): one per tenant with a tenants file (issue 18)."""
    settings, tenants = AuthSettings.from_env(), tenancy.configured()
    return TenantVerifier(settings, tenants) if tenants else Verifier(settings)


def bearer(authorization: str) -> str | None:
    scheme, _, value = authorization.partition(" ")
    return value.strip() if scheme.lower() == "bearer" and value.strip() else None


# --- the development issuer's staff accounts (`<auth folder>/staff.json`, mode 600) ---------------


def hash_password(password: str, salt: bytes | None = None) -> str:
    salt = salt or secrets.token_bytes(16)
    digest = hashlib.scrypt(password.encode(), salt=salt, **SCRYPT)
    return f"scrypt${base64.b64encode(salt).decode()}${base64.b64encode(digest).decode()}"


def password_matches(password: str, stored: str) -> bool:
    _, salt, digest = stored.split("$")
    expected = hash_password(password, base64.b64decode(salt)).split("$")[2]
    return hmac.compare_digest(expected, digest)


class Accounts:
    """The development issuer's staff: id → division, roles, scrypt password hash."""

    def __init__(self, folder: Path) -> None:
        self.path = folder / "staff.json"

    def all(self) -> dict[str, dict[str, Any]]:
        if not self.path.exists():
            return {}
        data: dict[str, dict[str, Any]] = json.loads(self.path.read_text(encoding="utf-8"))
        return data

    def add(self, staff_id: str, division: str, roles: list[str], password: str) -> None:
        accounts = self.all()
        accounts[staff_id] = {"division": division, "roles": sorted(set(roles)), "password": hash_password(password)}
        write_private(self.path, json.dumps(accounts, ensure_ascii=False, indent=2).encode())

    def remove(self, staff_id: str) -> bool:
        """Remove the account and end its sessions at once, at every service sharing the folder."""
        accounts = self.all()
        if accounts.pop(staff_id, None) is None:
            return False
        write_private(self.path, json.dumps(accounts, ensure_ascii=False, indent=2).encode())
        Revocations(self.path.parent).end_staff(staff_id)
        return True

    def check(self, staff_id: str, password: str) -> dict[str, Any] | None:
        """The account if the password is right, else None; an unknown id is checked against a dummy
        hash, so it takes one scrypt like a known one (the time tells nothing about who exists)."""
        account = self.all().get(staff_id)
        stored = account["password"] if account else _dummy_hash()
        return account if password_matches(password, stored) and account else None


@cache
def _dummy_hash() -> str:
    return hash_password(secrets.token_urlsafe(16))


def operator_token() -> str:
    """The token a CLI command sends: `JUSOU_TOKEN`, else one minted for the local operator
    (`cli:<os user>`, auditor) by the development issuer, valid for a few minutes."""
    given = current().token.strip()
    if given:
        return given
    settings = AuthSettings.from_env()
    if not settings.development:
        raise SystemExit("JUSOU_OIDC_ISSUER is set: give a token of the city's IdP in JUSOU_TOKEN / "
                         "市の認証基盤のトークンを JUSOU_TOKEN に設定してください")
    return DevIssuer(settings.folder).mint(f"cli:{getpass.getuser()}", lead_division(), ["auditor"],
                                           settings.audience, CLI_TTL_SECONDS)
