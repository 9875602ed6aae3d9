"""The UI's sign-in at the city's identity provider (OIDC), with Authlib's Starlette client.

- `/ui/login/oidc` sends the browser to the IdP: authorization code with PKCE (S256), a `state` and a
  `nonce`. What the callback needs (state, code verifier, nonce, redirect URI, where to go after) stays
  on the server (`Store`, under `JUSOU_SESSION_DIR`); the browser's short-lived cookie `jusou_oidc`
  holds only the marker of its own flow, so a callback from another browser, a second use of a
  callback (replay) or a forged state finds nothing. Anyone may start a sign-in, so what is kept is bounded
  (`PendingBounds`): at most `PENDING_PER_ADDRESS` started from one client address within `PENDING_SECONDS`,
  about `PENDING_MAX` in progress on the host, and those the IdP never sent back are swept once expired
  (before, each plain `GET /ui/login/oidc` left a file for ever: a way to fill the disk the stores are on).
- `/ui/login/callback` exchanges the code and checks the ID token (signature with the IdP's JWKS,
  `iss`, `aud`, `exp`, `iat`, the `nonce`, `at_hash`): Authlib's `authorize_access_token`. Who signed in
  (staff id, division, roles: the claims of `JUSOU_OIDC_*_CLAIM`) comes from the ID token, else from
  userinfo, and is checked as a bearer token's claims are (`Verifier.principal`).
- The browser then gets our own server-side session (`Sessions`): its cookie `jusou_session` is an
  opaque id (`jusou-s1.…`); the record (mode 600) holds the principal, the IdP's tokens and when the
  session ends (`DEFAULT_TTL_SECONDS`). The CSRF token and the revocation list work on it as on a
  development token (shared/web/auth.py): signing out ends it at every service sharing the folder.
- Before the access token expires (`REFRESH_MARGIN_SECONDS`), the next request refreshes it with the
  refresh token (one process at a time: a lock per session); an IdP that refuses the refresh (the
  staff member disabled, the grant revoked) ends the session.
- Sign-out ends the session here and sends the browser to the IdP's `end_session_endpoint`
  (RP-initiated logout, with `id_token_hint`), which sends it back to `/ui/logout/done`.

The access token is what a service forwards to another (server to server) when it is a JWT for
`JUSOU_OIDC_AUDIENCE`; else the ID token when that one is (an IdP whose client id is the audience).
"""

from __future__ import annotations

import base64
import collections
import contextlib
import fcntl
import hashlib
import json
import math
import os
import secrets
import threading
import time
import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import structlog
from joserfc.errors import JoseError
from starlette.requests import Request

from shared.settings import AuthSettings, write_private
from shared.web.auth import (
    DEFAULT_TTL_SECONDS,
    LEEWAY_SECONDS,
    SESSION_PREFIX,
    SESSION_STORES,
    Principal,
    Unauthenticated,
    Verifier,
)

with warnings.catch_warnings():  # Authlib 1.9 warns on every start that it would rather use httpx2: we use httpx
    from authlib.deprecate import AuthlibDeprecationWarning  # its own filter ("always") first, then ours before it

    warnings.filterwarnings("ignore", message="The httpx module is deprecated", category=AuthlibDeprecationWarning)
    from authlib.integrations.starlette_client import OAuth, OAuthError

PENDING_COOKIE = "jusou_oidc"  # the marker of this browser's sign-in in progress
TENANT_MARK = "_tenant"  # in the markers: which tenant's IdP (many municipalities)
PENDING_SECONDS = 600  # a sign-in not back from the IdP within this time starts again
#: sign-ins one client address may start within PENDING_SECONDS: its share of PENDING_MAX, generous because a whole
#: office can sign in from one address (a NAT, or a proxy whose X-Forwarded-For JUSOU_FORWARDED_ALLOW_IPS does not trust)
PENDING_PER_ADDRESS = 300
PENDING_MAX = 10_000  # sign-ins in progress a process lets the host keep (each a file of a few KiB)
SWEEP_SECONDS = 60.0  # how often a process removes the sign-ins in progress that expired (and counts the rest)
REFRESH_MARGIN_SECONDS = 120  # an access token closer than this to its expiry is refreshed
RETRY_SECONDS = 30  # an IdP that could not be reached for a refresh is asked again after this
TIMEOUT_SECONDS = 10
log = structlog.get_logger()


def digest(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


class Store:
    """JSON records by key, each in its own file (mode 600) of a folder the services of a host share;
    in this process only when the folder cannot be written (logged once)."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self._memory: dict[str, tuple[float, dict[str, Any]]] | None = None
        self._locks: dict[str, threading.Lock] = {}
        try:
            folder.mkdir(mode=0o700, parents=True, exist_ok=True)
            probe = folder / f".probe.{os.getpid()}"
            probe.write_bytes(b"")
            probe.unlink()
        except OSError as exc:
            log.warning("oidc.sessions_in_process", folder=str(folder), error=str(exc))
            self._memory = {}

    def _path(self, key: str) -> Path:
        return self.folder / f"{digest(key)}.json"

    def get(self, key: str) -> dict[str, Any] | None:
        if self._memory is not None:
            until, record = self._memory.get(key, (0.0, {}))
        else:
            try:
                stored = json.loads(self._path(key).read_text(encoding="utf-8"))
                until, record = float(stored["until"]), stored["record"]
            except (FileNotFoundError, ValueError, KeyError, TypeError):
                return None
        if until <= time.time():
            self.delete(key)
            return None
        return dict(record)

    def put(self, key: str, record: dict[str, Any], until: float) -> None:
        if self._memory is not None:
            self._memory[key] = (until, dict(record))
            return
        write_private(self._path(key), json.dumps({"until": until, "record": record}).encode())

    def delete(self, key: str) -> None:
        if self._memory is not None:
            self._memory.pop(key, None)
            return
        self._path(key).unlink(missing_ok=True)

    @contextlib.contextmanager
    def lock(self, key: str) -> Iterator[None]:
        """One process (and one thread) at a time for this key: a refresh token is used once."""
        with self._locks.setdefault(key, threading.Lock()):
            if self._memory is not None:
                yield
                return
            with open(self.folder / f".{digest(key)}.lock", "a") as held:  # kept while its record is (sweep)
                fcntl.flock(held, fcntl.LOCK_EX)
                yield

    def sweep_older_than(self, seconds: float) -> int:
        """Remove the records written more than `seconds` ago (for records kept at most that long: expired,
        told by the file's time without reading it); how many are left."""
        if self._memory is not None:
            now = time.time()
            for key in [k for k, (until, _) in self._memory.items() if until <= now]:
                del self._memory[key]
            return len(self._memory)
        left, oldest = 0, time.time() - seconds
        with contextlib.suppress(OSError), os.scandir(self.folder) as entries:
            for entry in entries:
                if not entry.name.endswith(".json") or entry.name.startswith("."):
                    continue
                with contextlib.suppress(OSError):
                    if entry.stat().st_mtime <= oldest:
                        os.unlink(entry.path)
                        continue
                    left += 1
        return left

    def sweep(self) -> None:
        """Forget records past their time (sessions ended without a sign-out)."""
        if self._memory is not None:
            return
        for path in self.folder.glob("*.json"):
            with contextlib.suppress(OSError, ValueError, KeyError, TypeError):
                if float(json.loads(path.read_text(encoding="utf-8"))["until"]) <= time.time():
                    path.unlink(missing_ok=True)
        for lock in self.folder.glob(".*.lock"):  # a lock whose session is gone, not used for a day
            with contextlib.suppress(OSError):
                if not (self.folder / f"{lock.name[1:-5]}.json").exists() and lock.stat().st_mtime < time.time() - 86400:
                    lock.unlink()


class TooManySignIns(Unauthenticated):
    """A sign-in not started: its client address started too many, or too many are in progress (429)."""

    status = 429

    def __init__(self, wait: int, why: str) -> None:
        super().__init__(f"ログインの開始が多すぎます。{max(1, -(-wait // 60))}分ほど待ってからもう一度ログインしてください",
                         f"too many sign-ins started ({why}): wait {wait} seconds and try again")
        self.wait = wait
        self.headers = {"Retry-After": str(wait)}


class PendingBounds:
    """What bounds the sign-ins in progress kept on the server (`begin` asks before anything is kept).

    Per client address, the starts within `PENDING_SECONDS` (in this process, as SignInThrottle counts passwords);
    on the host, the flows' files: every `SWEEP_SECONDS` those older than `PENDING_SECONDS` (expired: their
    `until` is at most that after they were written) are removed and the rest counted; a start is refused while
    the count with this process's starts since is at `PENDING_MAX` (with the folder full, swept again each second)."""

    ADDRESSES_KEPT = 100_000

    def __init__(self, store: Store) -> None:
        self.store = store
        self._starts: dict[str, collections.deque[float]] = {}
        self._lock = threading.Lock()
        self._swept = -math.inf
        self._count = 0

    def admit(self, address: str) -> None:
        """Count a sign-in started from `address`, or raise TooManySignIns (nothing counted)."""
        now = time.monotonic()
        with self._lock:
            if now - self._swept >= SWEEP_SECONDS or (self._count >= PENDING_MAX and now - self._swept >= 1.0):
                self._count, self._swept = self.store.sweep_older_than(PENDING_SECONDS), now
                if len(self._starts) > self.ADDRESSES_KEPT:
                    self._starts = {a: t for a, t in self._starts.items() if t and t[-1] > now - PENDING_SECONDS}
            starts = self._starts.setdefault(address, collections.deque())
            while starts and starts[0] <= now - PENDING_SECONDS:
                starts.popleft()
            if len(starts) >= PENDING_PER_ADDRESS:
                raise TooManySignIns(max(1, int(starts[0] + PENDING_SECONDS - now) + 1), "from this address")
            if self._count >= PENDING_MAX:
                raise TooManySignIns(int(SWEEP_SECONDS), "on this server")
            starts.append(now)
            self._count += 1


class PendingCache:
    """Authlib's state cache (its `cache=`): a sign-in in progress, on the server."""

    def __init__(self, store: Store) -> None:
        self.store = store

    async def get(self, key: str) -> str | None:
        record = self.store.get(key)
        return None if record is None else str(record["value"])

    async def set(self, key: str, value: str, expires: int | None = None) -> None:
        self.store.put(key, {"value": value}, time.time() + min(expires or PENDING_SECONDS, PENDING_SECONDS))

    async def delete(self, key: str) -> None:
        self.store.delete(key)


_clients: dict[tuple[object, ...], Any] = {}
_bounds: dict[tuple[object, ...], PendingBounds] = {}


def _key(settings: AuthSettings) -> tuple[object, ...]:
    return settings.issuer, settings.client_id, settings.client_secret, settings.scopes, str(settings.sessions)


def client(settings: AuthSettings) -> Any:
    """This process's Authlib client of the city's IdP (discovery read once, then its JWKS)."""
    key = _key(settings)
    if key not in _clients:
        pending = Store(settings.sessions / "pending")
        _bounds[key] = PendingBounds(pending)
        oauth = OAuth(cache=PendingCache(pending))
        _clients[key] = oauth.register(
            "city", client_id=settings.client_id, client_secret=settings.client_secret or None,
            server_metadata_url=f"{settings.issuer}/.well-known/openid-configuration",
            client_kwargs={"scope": settings.scopes, "code_challenge_method": "S256", "timeout": TIMEOUT_SECONDS,
                           "token_endpoint_auth_method": "client_secret_basic" if settings.client_secret else "none"})
    return _clients[key]


def _pending_of(request: Request) -> dict[str, Any]:
    """The browser's markers (`jusou_oidc`): which sign-in it started; nothing secret is in them."""
    try:
        pending = json.loads(base64.urlsafe_b64decode(request.cookies.get(PENDING_COOKIE, "")))
    except ValueError:
        return {}
    return pending if isinstance(pending, dict) else {}


def pending_cookie(request: Request, tenant: str = "") -> str:
    """The markers, and the tenant whose IdP the flow is at (many municipalities: shared/tenancy.py)."""
    markers = {**request.scope.get("session", {}), **({TENANT_MARK: tenant} if tenant else {})}
    return base64.urlsafe_b64encode(json.dumps(markers).encode()).decode()


def pending_tenant(request: Request) -> str:
    """The tenant the browser's sign-in in progress is at ("" without tenants); a changed one finds no flow."""
    return str(_pending_of(request).get(TENANT_MARK, ""))


async def begin(request: Request, settings: AuthSettings, redirect_uri: str, next_: str) -> str:
    """The IdP's authorization URL for this browser; its flow's data is kept on the server."""
    idp = client(settings)
    _bounds[_key(settings)].admit(request.client.host if request.client else "")  # before anything is kept (TooManySignIns)
    request.scope["session"] = _pending_of(request)
    try:
        await idp.load_server_metadata()
        made = await idp.create_authorization_url(redirect_uri)
    except (httpx.HTTPError, ValueError, RuntimeError) as exc:
        raise Unauthenticated("市の認証基盤に接続できません。しばらくしてからログインしてください",
                              f"cannot reach the identity provider ({type(exc).__name__})") from exc
    await idp.save_authorize_data(request, redirect_uri=redirect_uri, next=next_, **made)
    return str(made["url"])


class SignInRefused(Exception):
    """The callback is not one this browser's sign-in can accept (state, code, ID token): why, for the log."""

    def __init__(self, why: str, key: str) -> None:
        super().__init__(why)
        self.key = key  # the page's message (shared/web/ui.py MESSAGES)


async def finish(request: Request, settings: AuthSettings, verifier: Verifier) -> tuple[str, str]:
    """Back from the IdP: (the new session's cookie, where to go). The code is exchanged and the ID token
    checked by Authlib; a second use of the same callback finds no flow (its data is used once)."""
    idp = client(settings)
    request.scope["session"] = _pending_of(request)
    state = request.query_params.get("state", "")
    flow = await idp.framework.get_state_data(request.session, state) if state else None
    if flow is None:
        raise SignInRefused("no sign-in of this browser has this state (forged, expired or used already)",
                            "sign_in_again")
    try:
        token = await idp.authorize_access_token(request, leeway=LEEWAY_SECONDS, claims_options={
            "iss": {"essential": True, "values": [settings.issuer]}})
    except OAuthError as exc:
        raise SignInRefused(f"the identity provider refused: {exc.error} {exc.description or ''}", "idp_refused") from exc
    except (httpx.HTTPError, ValueError, RuntimeError) as exc:  # an unreachable IdP, its keys not a JWKS
        raise SignInRefused(f"cannot complete the sign-in ({type(exc).__name__}: {exc})", "idp_unreachable") from exc
    except JoseError as exc:  # a claim (iss, aud, exp, nonce, at_hash) or the signature
        raise SignInRefused(f"the ID token is not valid: {type(exc).__name__}: {exc}", "idp_refused") from exc
    if not token.get("userinfo"):
        raise SignInRefused("the identity provider gave no ID token (is `openid` among JUSOU_OIDC_SCOPES?)",
                            "idp_refused")
    claims = dict(token["userinfo"])
    wanted = (settings.staff_claim, settings.division_claim, settings.roles_claim)
    if any(name not in claims for name in wanted) and idp.server_metadata.get("userinfo_endpoint"):
        try:
            extra = await idp.userinfo(token=token)
        except (httpx.HTTPError, ValueError) as exc:
            raise SignInRefused(f"userinfo failed ({type(exc).__name__})", "idp_unreachable") from exc
        if extra.get("sub") == claims.get("sub"):  # OIDC Core 5.3.2: userinfo about another is ignored
            claims = {**dict(extra), **claims}
    try:
        who = verifier.principal(claims, str(token.get("id_token", "")))
    except Unauthenticated as exc:
        raise SignInRefused(str(exc), "idp_refused") from exc
    cookie = verifier.sessions.open(who, token)
    return cookie, str(flow.get("next") or "/ui/")


async def logout_url(settings: AuthSettings, id_token: str, back: str) -> str | None:
    """The IdP's end_session_endpoint for this session (RP-initiated logout); None when it has none."""
    idp = client(settings)
    try:
        metadata = await idp.load_server_metadata()
        if not metadata.get("end_session_endpoint"):
            return None
        made = await idp.create_logout_url(post_logout_redirect_uri=back, id_token_hint=id_token or None,
                                           client_id=settings.client_id)
    except (httpx.HTTPError, ValueError, RuntimeError) as exc:
        log.warning("oidc.logout_at_idp_unavailable", error=f"{type(exc).__name__}: {exc}")
        return None
    return str(made["url"])


class Sessions:
    """The UI's server-side sessions of staff signed in at the IdP (see the module's docstring)."""

    def __init__(self, settings: AuthSettings, verifier: Verifier) -> None:
        self.settings = settings
        self.verifier = verifier
        self.store = Store(settings.sessions)
        self._metadata: dict[str, Any] = {}

    def open(self, who: Principal, token: dict[str, Any]) -> str:
        cookie = SESSION_PREFIX + secrets.token_urlsafe(32)
        now = time.time()
        record: dict[str, Any] = {"staff_id": who.staff_id, "division": who.division, "roles": sorted(who.roles), "issued_at": now,
                                  "ends_at": now + DEFAULT_TTL_SECONDS, "id_token": str(token.get("id_token", "")),
                                  "tenant": who.tenant}
        record.update(self._tokens(token, record))
        if not record["refresh_token"]:  # nothing to renew it with: the session lasts as long as the IdP's token
            record["ends_at"] = min(record["ends_at"], record["access_expires_at"])
        self.store.sweep()
        self.store.put(digest(cookie), record, record["ends_at"])
        log.info("oidc.signed_in", staff_id=who.staff_id, refresh=bool(record["refresh_token"]))
        return cookie

    def _tokens(self, token: dict[str, Any], record: dict[str, Any]) -> dict[str, Any]:
        """The record's token fields from a token response (a refresh may omit the refresh and ID tokens)."""
        access = str(token.get("access_token", ""))
        lifetime = token.get("expires_in")
        expires = float(token["expires_at"]) if token.get("expires_at") else (
            time.time() + float(lifetime) if isinstance(lifetime, (int, float)) else record["ends_at"])
        id_token = str(token.get("id_token") or record.get("id_token", ""))
        return {"access_token": access, "access_expires_at": expires, "id_token": id_token,
                "refresh_token": str(token.get("refresh_token") or record.get("refresh_token", "")),
                "forward": self._forwardable(access, id_token), "retry_at": 0.0}

    def _forwardable(self, *tokens: str) -> str:
        """The first token the other services accept as a bearer token (a JWT for our audience)."""
        for candidate in tokens:
            if candidate.count(".") == 2:
                try:
                    self.verifier.verify(candidate)
                    return candidate
                except Unauthenticated:
                    continue
        return ""

    def principal(self, cookie: str) -> Principal:
        key = digest(cookie)
        record = self.store.get(key)
        if record is None:
            raise Unauthenticated("このセッションは終了しているか、ありません。もう一度ログインしてください",
                                  "no such session (ended, expired or never made): sign in again")
        now = time.time()
        if record["access_expires_at"] - now < REFRESH_MARGIN_SECONDS and record.get("refresh_token") \
                and record.get("retry_at", 0.0) <= now:
            record = self.refresh(key)
        return Principal(record["staff_id"], record["division"], frozenset(record["roles"]), record.get("forward", ""),
                         expires_at=float(record["ends_at"]), session=key, issued_at=float(record["issued_at"]),
                         tenant=str(record.get("tenant", "")))

    def refresh(self, key: str) -> dict[str, Any]:
        """A fresh access token with the refresh token (once for every service sharing the folder); an IdP
        that refuses ends the session, one that cannot be reached is asked again later."""
        from authlib.integrations.httpx_client import OAuth2Client
        from authlib.integrations.httpx_client import OAuthError as RefreshRefused

        with self.store.lock(key):
            record = self.store.get(key)
            if record is None:
                raise Unauthenticated.ended()
            if record["access_expires_at"] - time.time() >= REFRESH_MARGIN_SECONDS:
                return record  # another process refreshed it meanwhile
            s = self.settings
            try:
                endpoint = self.metadata()["token_endpoint"]
                with OAuth2Client(s.client_id, s.client_secret or None, timeout=TIMEOUT_SECONDS,
                                  token_endpoint_auth_method="client_secret_basic" if s.client_secret else "none") as http:
                    token = http.refresh_token(endpoint, refresh_token=record["refresh_token"])
            except RefreshRefused as exc:
                log.info("oidc.refresh_refused", staff_id=record["staff_id"], error=exc.error)
                self.end(key, record)
                raise Unauthenticated("市の認証基盤がセッションの更新を認めませんでした。もう一度ログインしてください",
                                      "the identity provider refused to refresh the session: sign in again") from exc
            except (httpx.HTTPError, ValueError, KeyError) as exc:
                log.warning("oidc.refresh_unavailable", error=f"{type(exc).__name__}: {exc}")
                record["retry_at"] = time.time() + RETRY_SECONDS
                self.store.put(key, record, record["ends_at"])
                return record
            record.update(self._tokens(dict(token), record))
            self.store.put(key, record, record["ends_at"])
            log.info("oidc.refreshed", staff_id=record["staff_id"])
            return record

    def metadata(self) -> dict[str, Any]:
        if not self._metadata:
            response = httpx.get(f"{self.settings.issuer}/.well-known/openid-configuration", timeout=TIMEOUT_SECONDS)
            response.raise_for_status()
            self._metadata = dict(response.json())
        return self._metadata

    def record(self, key: str) -> dict[str, Any] | None:
        return self.store.get(key)

    def end(self, key: str, record: dict[str, Any] | None = None) -> None:
        """Forget the session and add it to the revocation list (every service of the host refuses it)."""
        record = record or self.store.get(key)
        self.store.delete(key)
        until = float(record["ends_at"]) if record else time.time() + DEFAULT_TTL_SECONDS
        self.verifier.revocations.end_session(key, until)


SESSION_STORES[:] = [Sessions]
