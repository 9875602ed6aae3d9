"""Settings from the environment, one place (STYLE 10): the typed model `Environment`.

Embedded default: a SQLite file per service under `JUSOU_DATA_DIR` and the suite's own
nats-server. `JUSOU_STORE=postgres` puts every store in PostgreSQL (one schema per service);
`NATS_URL` points the services at an existing NATS.

Every variable is a field of `Environment` (pydantic-settings): its name, type, bounds, default and
meaning. `current()` reads the environment as it is now (a test's monkeypatch is seen at once);
a bad value raises `SettingsError`, naming each variable, its value and what is allowed, in
Japanese and English. `exit_if_invalid()` is what a service, `jusou up` and the `jusou` commands
call first: such a value stops them with status 2 and that message, no traceback. `SETTINGS`, the
table docs/configuration.md and the README are generated from (jusou/configdoc.py), is derived
from the model's fields. A blank variable counts as unset.
"""

from __future__ import annotations

import base64
import ipaddress
import os
import secrets
import socket
import sys
import tomllib
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated, Any, Literal
from urllib.parse import urlsplit

from pydantic import Field, JsonValue, ValidationError, ValidationInfo, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

PORTS = {
    "intake": 8101,
    "collaboration": 8102,
    "meeting": 8103,
    "outreach": 8104,
    "participation": 8105,
    "community": 8106,
}
DEFAULT_NATS_PORT = 4223  # 4222 is often taken by a system nats-server; JUSOU_NATS_PORT changes it
COMPOSE_ONLY = "(none: required by compose and Kubernetes)"
MIN_LETTERS_BYTES = 16 << 20  # JUSOU_DLQ_MAX_BYTES, JUSOU_REPLAY_MAX_BYTES: 0 or at least 16 MiB (Environment says why)


@dataclass(frozen=True)
class Setting:
    """One row of the configuration reference."""

    name: str
    default: str
    meaning: str


def setting(name: str, default: Any, meaning: str, *, shown: str | None = None, row: str | None = None,
            **bounds: Any) -> Any:
    """A field read from the variable `name`. `shown`: the default as the reference states it;
    `row`: the reference's one row for a per-service variable (`JUSOU_<SERVICE>_PORT`)."""
    extra: dict[str, JsonValue] = {key: value for key, value in (("shown", shown), ("row", row)) if value is not None}
    return Field(default, validation_alias=name, description=meaning, json_schema_extra=extra or None, **bounds)


Port = Annotated[int, Field(ge=1, le=65535)]
PORT_ROW = ("JUSOU_<SERVICE>_PORT", "8101…8106", "a service's HTTP port (CONTRACT.md)")
URL_ROW = ("JUSOU_<SERVICE>_URL", "(this host, the service's port)",
           "address of a service's pages for links in the browser (a public address behind a proxy)")
INTERNAL_ROW = ("JUSOU_<SERVICE>_INTERNAL_URL", "(http://127.0.0.1:<port>)",
                "address at which the services reach each other (`http://intake:8101` in compose / Kubernetes)")
NATS_PASSWORD_ROW = (
    "JUSOU_NATS_<SERVICE>_PASSWORD", COMPOSE_ONLY,
    ("Docker Compose / Kubernetes: the password of the service's NATS user, read by nats-server "
     "(deploy/nats/auth.conf) and given to that service alone as `NATS_PASSWORD`; hex (`secrets.token_hex(24)`)"))


def per_service(template: tuple[str, str, str], service: str, default: Any, **bounds: Any) -> Any:
    row, shown, meaning = template
    return setting(row.replace("<SERVICE>", service.upper()), default, meaning, shown=shown, row=row, **bounds)


class Environment(BaseSettings):
    """Every variable Jusou reads, typed; the reference (docs/configuration.md) lists them in this order."""

    model_config = SettingsConfigDict(case_sensitive=True, extra="ignore", env_ignore_empty=True, frozen=True)

    @model_validator(mode="before")
    @classmethod
    def _blank_is_unset(cls, values: Any) -> Any:
        """A variable of spaces only counts as unset, as an empty one does (env_ignore_empty): the default. Not
        JUSOU_CIPHER_KEY: spaces there are refused (`_aes_key`, a key that failed to load is not taken for none)."""
        if isinstance(values, dict):
            return {k: v for k, v in values.items()
                    if k == "JUSOU_CIPHER_KEY" or not (isinstance(v, str) and v and not v.strip())}
        return values

    data_dir: str = setting("JUSOU_DATA_DIR", "./data",
                            "folder for SQLite stores, the suite's NATS data and the cipher key")
    municipality_file: str = setting(
        "JUSOU_MUNICIPALITY_FILE", "",
        "the municipality's organisation: a TOML file of its divisions, counters, programs, partners and meeting kinds, "
        "each with the dates it is valid (format: shared/organisation/municipalities/chofu.toml; example: "
        "shared/organisation/municipalities/kakushi.toml); every service and `jusou` command must read the same file",
        shown="(Chofu: shared/organisation/municipalities/chofu.toml)")
    tenants_file: str = setting(
        "JUSOU_TENANTS_FILE", "",
        "many municipalities on one deployment (issue 18): a TOML file of the tenants, each with its municipality file, "
        "data folder or PostgreSQL schemas, NATS account and identity provider (shared/tenancy.py; "
        "`jusou up --tenants FILE`); unset, one municipality", shown="(none: one municipality)")
    store: Literal["sqlite", "postgres"] = setting(
        "JUSOU_STORE", "sqlite", "`sqlite` (a file per service) or `postgres` (a schema per service)")
    pg_host: str = setting("JUSOU_PG_HOST", "127.0.0.1", "PostgreSQL host")
    pg_port: Port = setting("JUSOU_PG_PORT", 5432, "PostgreSQL port")
    pg_user: str = setting("JUSOU_PG_USER", "postgres", "PostgreSQL user")
    pg_password: str = setting("JUSOU_PG_PASSWORD", "", "PostgreSQL password")
    pg_dbname: str = setting("JUSOU_PG_DBNAME", "postgres", "PostgreSQL database; each service uses its own schema in it")
    pg_schema_prefix: str = setting("JUSOU_PG_SCHEMA_PREFIX", "jusou_", "prefix of each service's PostgreSQL schema",
                                    pattern=r"^[a-z_][a-z0-9_]{0,40}$")
    pg_pool_size: int = setting(
        "JUSOU_PG_POOL_SIZE", 5,
        "PostgreSQL connections each service process keeps open for its store (its relay reads on one of them, taken "
        "out of the pool when there are 2 or more; its read models keep 2 more)", ge=1)
    pg_group_commit: bool = setting(
        "JUSOU_PG_GROUP_COMMIT", True,
        "PostgreSQL: a service's saves that arrive while one of its transactions commits share the next one (one table "
        "lock, one WAL flush; docs/capacity.md §5.13); `false` commits each save alone, as before")
    pg_group_in_flight: int = setting(
        "JUSOU_PG_GROUP_IN_FLIGHT", 1,
        "PostgreSQL, with group commit: a service's grouped transactions in flight at once; `2` sends the next group "
        "while the one before flushes (docs/capacity.md §5.14: not better in the bench on a 2-core machine)", ge=1, le=4)
    nats_url: str = setting("NATS_URL", "", "NATS server with JetStream; `jusou up` starts its own unless set",
                            shown="nats://127.0.0.1:4223")
    nats_port: Port = setting("JUSOU_NATS_PORT", DEFAULT_NATS_PORT, "port of the suite's own nats-server (`jusou up`)")
    stream_replicas: int = setting(
        "JUSOU_STREAM_REPLICAS", 1,
        "copies of each stream the services create when it is missing: `3` on a three-node NATS cluster (`jusou cluster up`)",
        ge=1, le=5)
    nats_user: str = setting("NATS_USER", "", "NATS user to connect as; `jusou up`'s own NATS gives each service a user "
                             "that may publish only `jusou.<service>.>`")
    nats_password: str = setting("NATS_PASSWORD", "", "that user's password; `jusou up` generates them per data folder "
                                 "(`nats-auth.json`, mode 600)")
    nats_intake_password: str = per_service(NATS_PASSWORD_ROW, "intake", "")
    nats_collaboration_password: str = per_service(NATS_PASSWORD_ROW, "collaboration", "")
    nats_meeting_password: str = per_service(NATS_PASSWORD_ROW, "meeting", "")
    nats_outreach_password: str = per_service(NATS_PASSWORD_ROW, "outreach", "")
    nats_participation_password: str = per_service(NATS_PASSWORD_ROW, "participation", "")
    nats_community_password: str = per_service(NATS_PASSWORD_ROW, "community", "")
    nats_operator_password: str = setting(
        "JUSOU_NATS_OPERATOR_PASSWORD", "",
        "Docker Compose / Kubernetes: the password of `jusou-operator`, the NATS user of the `jusou` commands "
        "(`NATS_USER=jusou-operator`); no service gets it; hex", shown=COMPOSE_ONLY)
    nats_integrator_password: str = setting(
        "JUSOU_NATS_INTEGRATOR_PASSWORD", "",
        "Docker Compose / Kubernetes: the password of `integrator`, the read-only NATS user of new programs "
        "reading `JUSOU` (docs/integrating.md); no service gets it; hex", shown=COMPOSE_ONLY)
    host: str = setting("JUSOU_HOST", "127.0.0.1", "address the services listen on")
    intake_port: Port = per_service(PORT_ROW, "intake", PORTS["intake"])
    collaboration_port: Port = per_service(PORT_ROW, "collaboration", PORTS["collaboration"])
    meeting_port: Port = per_service(PORT_ROW, "meeting", PORTS["meeting"])
    outreach_port: Port = per_service(PORT_ROW, "outreach", PORTS["outreach"])
    participation_port: Port = per_service(PORT_ROW, "participation", PORTS["participation"])
    community_port: Port = per_service(PORT_ROW, "community", PORTS["community"])
    intake_url: str = per_service(URL_ROW, "intake", "")
    collaboration_url: str = per_service(URL_ROW, "collaboration", "")
    meeting_url: str = per_service(URL_ROW, "meeting", "")
    outreach_url: str = per_service(URL_ROW, "outreach", "")
    participation_url: str = per_service(URL_ROW, "participation", "")
    community_url: str = per_service(URL_ROW, "community", "")
    intake_internal_url: str = per_service(INTERNAL_ROW, "intake", "")
    collaboration_internal_url: str = per_service(INTERNAL_ROW, "collaboration", "")
    meeting_internal_url: str = per_service(INTERNAL_ROW, "meeting", "")
    outreach_internal_url: str = per_service(INTERNAL_ROW, "outreach", "")
    participation_internal_url: str = per_service(INTERNAL_ROW, "participation", "")
    community_internal_url: str = per_service(INTERNAL_ROW, "community", "")
    readmodels_follow: Literal["0", "1"] = setting(
        "JUSOU_READMODELS_FOLLOW", "1",
        "`1`: each service keeps its read models (case index, seals) current in a thread; `0` only on read")
    cipher_key: str = setting("JUSOU_CIPHER_KEY", "",
                              "base64 AES key for stored events; generated into the data folder if unset",
                              shown="(generated)")
    oidc_issuer: str = setting(
        "JUSOU_OIDC_ISSUER", "",
        "the city's identity provider (OIDC issuer URL): staff tokens must carry it as `iss`; unset, the built-in "
        "development issuer signs tokens with a key pair in the auth folder", shown="(none: the development issuer `jusou-dev`)")
    oidc_jwks_url: str = setting(
        "JUSOU_OIDC_JWKS_URL", "",
        "where the identity provider publishes its signing keys (JWKS); unset, the `jwks_uri` of its discovery document "
        "(`<issuer>/.well-known/openid-configuration`)", shown="(from the discovery document)")
    oidc_client_id: str = setting(
        "JUSOU_OIDC_CLIENT_ID", "",
        "the UI's client at the identity provider: its sign-in page runs the authorization-code flow with PKCE and a "
        "nonce (Authlib), checks the ID token and keeps a server-side session; register each service's "
        "`<address>/ui/login/callback` as a redirect URI and `<address>/ui/logout/done` as a post-logout redirect URI",
        shown="(none: the sign-in page only explains)")
    oidc_client_secret: str = setting("JUSOU_OIDC_CLIENT_SECRET", "",
                                      "that client's secret, if the identity provider gave it one",
                                      shown="(none: a public client)")
    oidc_scopes: str = setting(
        "JUSOU_OIDC_SCOPES", "openid",
        "the scopes the UI's sign-in asks for, space-separated (`openid` first; add the scopes under which the IdP "
        "puts the division and roles claims in the ID token or userinfo, and `offline_access` if it gives refresh "
        "tokens only so)")
    oidc_audience: str = setting("JUSOU_OIDC_AUDIENCE", "jusou", "the `aud` every staff token must carry")
    oidc_staff_claim: str = setting("JUSOU_OIDC_STAFF_CLAIM", "sub", "claim holding the staff id")
    oidc_division_claim: str = setting("JUSOU_OIDC_DIVISION_CLAIM", "division",
                                       "claim holding the staff member's division code (shared/organisation/reference.py)")
    oidc_roles_claim: str = setting("JUSOU_OIDC_ROLES_CLAIM", "roles",
                                    "claim holding the staff member's roles, a list (shared/web/policy.py)")
    auth_dir: str = setting(
        "JUSOU_AUTH_DIR", "",
        "the development issuer's folder: its signing key and staff accounts (`staff.json`), mode 600; "
        "every service must see the same one (compose: a shared volume)", shown="(<JUSOU_DATA_DIR>/auth)")
    session_dir: str = setting(
        "JUSOU_SESSION_DIR", "",
        "where the UI keeps the sessions of staff signed in at the city's IdP (their principal, ID, access and refresh "
        "tokens; mode 600): the services sharing one host's cookie must see the same one; a folder that cannot be "
        "written keeps them in the process (a restart signs staff in again at the IdP)",
        shown="(<auth folder>/sessions)")
    cookie_secure: Literal["auto", "always"] = setting(
        "JUSOU_COOKIE_SECURE", "auto",
        "`auto`: the session cookies are `Secure` when the request came over https (behind a TLS proxy: with "
        "`JUSOU_FORWARDED_ALLOW_IPS` set); `always`: whatever the request says")
    forwarded_allow_ips: str = setting(
        "JUSOU_FORWARDED_ALLOW_IPS", "127.0.0.1",
        "the proxies (comma-separated addresses or networks, `*` for any) whose `X-Forwarded-Proto` and "
        "`X-Forwarded-For` a service believes (uvicorn's `forwarded_allow_ips`): behind a TLS-terminating "
        "proxy or Ingress, its address, so the service sees https (Secure cookies, https redirect URIs)")
    token: str = setting(
        "JUSOU_TOKEN", "",
        "bearer token the `jusou` commands send to the services; unset, a 5-minute auditor token of the development issuer",
        shown="(minted for the local operator)")
    max_deliver: int = setting("JUSOU_MAX_DELIVER", 5, "tries before a failing message goes to the dead-letter subject",
                               ge=1)
    inbox_batch: int = setting("JUSOU_INBOX_BATCH", 1,
                               "messages each inbox consumer holds and applies in one transaction (`jusou up`: 16; runs: "
                               "docs/capacity.md §5.1); more than 1 only with one process per service: replicas share the "
                               "consumers", ge=1, le=1000)
    partitions: int = setting(
        "JUSOU_PARTITIONS", 1,
        "partitions per source that a service's replicas divide by case (docs/capacity.md §6): 1, the default, one durable "
        "consumer per source; more (up to 64) with every replica of the service restarted together, the same number in "
        "each, and the NATS users' rights rendered with it (`jusou nats config`)", ge=1, le=64)
    partition_lease_seconds: float = setting(
        "JUSOU_PARTITION_LEASE_SECONDS", 15.0,
        "with JUSOU_PARTITIONS > 1: how long a replica's partitions outlive its last lease renewal (renewed every quarter "
        "of it); the service's lease bucket keeps the value it was made with", ge=1, le=600)
    aggregate_cache: int = setting(
        "JUSOU_AGGREGATE_CACHE", 0,
        "aggregates each service process keeps decoded between commands and reads (least recent out; `0`, the default: "
        "none, each load replays the aggregate's events; worth it where cases grow long, e.g. 1000): a kept one reads only the events recorded after it, by any replica or "
        "process, before it is used (fast-forward), so replicas and partitions stay correct; aggregates with personal "
        "information (intake's person, 主訴, household, case notes) are never kept, so an erasure reaches every read "
        "at once (docs/capacity.md). With `0` the meeting and collaboration still keep up to 4,000 aggregates each, the "
        "last they recorded or read, each checked against the store by one select at every use and decoded afresh if "
        "anything was recorded after it (shared/domain/kept_reads.py, docs/capacity.md §5.10)", ge=0, le=1_000_000)
    dlq_max_bytes: int = setting(
        "JUSOU_DLQ_MAX_BYTES", 1 << 30,
        "the most the dead letters (`JUSOU_DLQ`) may take on NATS, in bytes (at least 16 MiB); `0`: no limit. Full, the "
        "stream refuses a new letter (never drops an old one): the consumer keeps the message unacknowledged and "
        "retries (its `/readyz` degraded naming it, its log `inbox.run_failed`; `jusou status` names a stream 90 % full), until letters are removed "
        "(`jusou deadletters discard SEQ`) or the limit raised (`jusou nats init --limits`). "
        "Applied when the stream is made; an existing stream keeps its own until `jusou nats init --limits`",
        shown="1073741824 (1 GiB)", ge=0)
    replay_max_bytes: int = setting(
        "JUSOU_REPLAY_MAX_BYTES", 1 << 30,
        "the most the replayed dead letters (`JUSOU_REPLAY`, kept as a record) may take on NATS, in bytes (at least "
        "16 MiB); `0`: no limit. Full, `jusou deadletters replay` is refused (the letter stays in `JUSOU_DLQ`), never an old one dropped",
        shown="1073741824 (1 GiB)", ge=0)
    relay_poll_seconds: float = setting(
        "JUSOU_RELAY_POLL_SECONDS", 1.0,
        "relay's fallback poll interval (it is also woken by every commit that records events); idle, it looks at its stream's tail for "
        "messages its store never recorded one poll after its last publish, then twice as long after each look that "
        "found none, up to 32 polls", gt=0, allow_inf_nan=False)
    log_format: Literal["console", "json"] = setting(
        "JUSOU_LOG_FORMAT", "console", "`json` for one JSON object per log line (production), `console` for readable lines")
    otel_endpoint: str = setting(
        "OTEL_EXPORTER_OTLP_ENDPOINT", "",
        "OpenTelemetry collector (OTLP over HTTP/protobuf, e.g. `http://collector:4318`) that receives each service's "
        "spans; unset, nothing is traced (shared/observe/tracing.py; the other standard `OTEL_*` variables apply)",
        shown="(none: no tracing)")
    targets_file: str = setting(
        "JUSOU_TARGETS_FILE", "",
        "TOML file of the city's targets (事業目標) per fiscal year, shown beside the figures (`/ui/figures`, "
        "`jusou report`); see deploy/targets.example.toml", shown="(none: no targets shown)")

    @field_validator("cipher_key")
    @classmethod
    def _aes_key(cls, value: str) -> str:
        """Unset, or the base64 of an AES key (16, 24 or 32 bytes): anything else failed only in a service's store."""
        if value == "":
            return value
        try:
            key = base64.b64decode(value.strip(), validate=True)
        except ValueError:
            key = b""
        if len(key) not in (16, 24, 32):
            raise ValueError("not the base64 of a 16, 24 or 32 byte AES key")
        return value

    @field_validator("oidc_issuer", "oidc_jwks_url")
    @classmethod
    def _identity_provider_url(cls, value: str, info: ValidationInfo) -> str:
        """The IdP's addresses: https (what a token's trust rests on), http only for a test IdP on this machine."""
        if value:
            _check_url(value, ("https", "http"), loopback_only=("http",))
            if info.field_name == "oidc_issuer" and urlsplit(value).query:  # OpenID Connect Discovery 1.0, §2
                raise ValueError("? 以降（クエリー）を含んでいます / it holds a ?query, which an issuer never has")
        return value

    @field_validator("oidc_jwks_url", "oidc_client_id")
    @classmethod
    def _needs_an_issuer(cls, value: str, info: ValidationInfo) -> str:
        """A client or keys of an IdP with no IdP named: the development issuer would be used and they ignored."""
        if value and info.data.get("oidc_issuer", "?") == "":  # (absent: refused itself, named above)
            raise ValueError("JUSOU_OIDC_ISSUER が未設定なので使われません（開発用発行者が使われます） / "
                             "unused: JUSOU_OIDC_ISSUER is unset, so the development issuer signs the tokens")
        return value

    @field_validator("oidc_client_id")
    @classmethod
    def _client_id(cls, value: str) -> str:
        if any(c.isspace() or not c.isprintable() for c in value):
            raise ValueError("空白か制御文字を含んでいます / it holds a space or a control character")
        return value

    @field_validator("oidc_scopes")
    @classmethod
    def _scopes(cls, value: str) -> str:
        if "openid" not in value.split() or any(not c.isprintable() for c in value):
            raise ValueError("`openid` がありません（ID トークンが発行されずサインインできません） / "
                             "no `openid` scope (the IdP would issue no ID token: no one could sign in)")
        return value

    @field_validator(*(f"{s}_url" for s in PORTS), *(f"{s}_internal_url" for s in PORTS), "otel_endpoint")
    @classmethod
    def _http_url(cls, value: str) -> str:
        if value:
            _check_url(value, ("http", "https"))
        return value

    @field_validator("nats_url")
    @classmethod
    def _nats_servers(cls, value: str) -> str:
        for server in (part.strip() for part in value.split(",") if value):
            if not server:
                raise ValueError("カンマの前後が空です / an empty server between commas")
            _check_url(server if "://" in server else f"nats://{server}", ("nats", "tls", "ws", "wss"))
        return value

    @field_validator("dlq_max_bytes", "replay_max_bytes")
    @classmethod
    def _room_for_letters(cls, value: int) -> int:
        """0 (none) or at least MIN_LETTERS_BYTES: with 10 % of the limit above any one letter (NATS's max payload,
        1 MiB by default), a letter refused means the stream is over 90 % full, which `jusou status` names; a smaller
        limit could refuse a letter with the stream all but empty, and no one told."""
        if 0 < value < MIN_LETTERS_BYTES:
            raise ValueError(f"{MIN_LETTERS_BYTES} 未満です / below {MIN_LETTERS_BYTES}")
        return value

    @field_validator("forwarded_allow_ips")
    @classmethod
    def _proxies(cls, value: str) -> str:
        """uvicorn takes an entry that is no address or network as a literal client name and never matches a proxy's
        address with it: the service started, and believed no proxy (http redirect URIs, no Secure cookies)."""
        for entry in (part.strip() for part in value.split(",")):
            if entry == "*" or entry.startswith(("unix:", "/")):  # any; a proxy on a unix socket (uvicorn's literals)
                continue
            try:
                ipaddress.ip_network(entry, strict=False)
            except ValueError:
                raise ValueError(f"{entry!r} はアドレスでもネットワークでもありません / {entry!r} is no address or "
                                 "network") from None
        return value

    @field_validator("host")
    @classmethod
    def _host(cls, value: str) -> str:
        if any(c.isspace() or not c.isprintable() for c in value) or "/" in value or "://" in value:
            raise ValueError("アドレスではありません / not an address")
        return value

    @field_validator("store", "log_format", "cookie_secure", mode="before")
    @classmethod
    def _any_case(cls, value: Any) -> Any:
        return value.strip().lower() if isinstance(value, str) else value

    @property
    def data_path(self) -> Path:
        return Path(self.data_dir).resolve()

    @property
    def nats_address(self) -> str:
        """`NATS_URL`, else the suite's own nats-server on `JUSOU_NATS_PORT`."""
        return self.nats_url or f"nats://127.0.0.1:{self.nats_port}"

    @property
    def auth_folder(self) -> Path:
        return Path(self.auth_dir).resolve() if self.auth_dir else self.data_path / "auth"

    def port_of(self, service: str) -> int:
        return int(getattr(self, f"{service}_port"))

    def url_of(self, service: str) -> str:
        """`JUSOU_<SERVICE>_URL`, "" when unset."""
        return str(getattr(self, f"{service}_url"))

    def internal_url_of(self, service: str) -> str:
        """`JUSOU_<SERVICE>_INTERNAL_URL`, "" when unset."""
        return str(getattr(self, f"{service}_internal_url"))


LOOPBACK = frozenset({"127.0.0.1", "localhost", "::1"})


def _check_url(value: str, schemes: tuple[str, ...], *, loopback_only: tuple[str, ...] = ()) -> None:
    """ValueError saying (Japanese / English) what is wrong with `value` as a URL of one of `schemes`."""
    if any(c.isspace() or not c.isprintable() for c in value):
        raise ValueError("空白か制御文字を含んでいます / it holds a space or a control character")
    try:
        parts = urlsplit(value)
        host, port = parts.hostname, parts.port  # port: ValueError when not a number from 0 to 65535
    except ValueError:
        raise ValueError("URL として読めません（ポート番号など） / not a URL (e.g. its port)") from None
    wanted = "・".join(f"{scheme}://" for scheme in schemes), ", ".join(f"{scheme}://" for scheme in schemes)
    if "://" not in value:
        raise ValueError(f"{wanted[0]} のようなスキームが前にありません / no scheme such as {wanted[1]} in front")
    if parts.scheme not in schemes:
        raise ValueError(f"{parts.scheme}:// は使えません（{wanted[0]}） / {parts.scheme}:// is not one of {wanted[1]}")
    if not host:
        raise ValueError("ホスト名がありません / it names no host")
    if port == 0:
        raise ValueError("ポート 0 は使えません / port 0")
    if parts.username is not None or parts.password is not None:
        raise ValueError("利用者名・パスワードを含んでいます / it holds a user name or password")
    if parts.fragment:
        raise ValueError("# 以降（フラグメント）を含んでいます / it holds a #fragment")
    if parts.scheme in loopback_only and host not in LOOPBACK:
        raise ValueError(f"{parts.scheme}:// は暗号化されません（このマシン上の試験用 IdP だけに使えます） / "
                         f"{parts.scheme}:// is not encrypted (only for a test IdP on this machine)")


_NAMES = tuple(str(info.validation_alias) for info in Environment.model_fields.values())


def variable_names() -> tuple[str, ...]:
    """Every variable the model reads, per-service ones spelled out."""
    return _NAMES


def settings_table() -> tuple[Setting, ...]:
    """The reference's rows from the model's fields, a per-service variable once (`JUSOU_<SERVICE>_PORT`)."""
    rows: dict[str, Setting] = {}
    for info in Environment.model_fields.values():
        extra = info.json_schema_extra if isinstance(info.json_schema_extra, dict) else {}
        name = str(extra.get("row") or info.validation_alias)
        if name not in rows:
            rows[name] = Setting(name, str(extra.get("shown", info.default)), info.description or "")
    return tuple(rows.values())


SETTINGS: tuple[Setting, ...] = settings_table()


class SettingsError(ValueError):
    """Bad values in the environment: the message names each variable, its value and what is allowed."""


#: What to write instead, (Japanese, English), for the variables whose value is more than a type and bounds.
_ALLOWED: dict[str, tuple[str, str]] = {
    "JUSOU_OIDC_ISSUER": (
        "市の IdP の発行者 URL（https://、例 https://idp.example.jp/realms/city）か未設定（開発用発行者）",
        ("the city's IdP's issuer URL, https:// (e.g. https://idp.example.jp/realms/city), or unset for the "
        "development issuer; http:// only for a test IdP on 127.0.0.1 or localhost")),
    "JUSOU_OIDC_JWKS_URL": (
        ("IdP の署名鍵の URL（https://、例 https://idp.example.jp/realms/city/protocol/openid-connect/certs）、"
        "JUSOU_OIDC_ISSUER と一緒に。未設定なら発行者のディスカバリー文書から"),
        ("the IdP's signing keys, https:// (e.g. https://idp.example.jp/realms/city/protocol/openid-connect/certs), "
        "with JUSOU_OIDC_ISSUER set; or unset: the issuer's discovery document names it")),
    "JUSOU_OIDC_CLIENT_ID": (
        "IdP に登録したクライアント ID（空白なし）、JUSOU_OIDC_ISSUER と一緒に",
        "the client id registered at the IdP (no spaces), with JUSOU_OIDC_ISSUER set; or unset"),
    "JUSOU_OIDC_SCOPES": ("`openid` を含むスペース区切りのスコープ（例 `openid profile`）",
                          "space-separated scopes including `openid` (e.g. `openid profile`)"),
    "JUSOU_<SERVICE>_URL": (
        "ブラウザーから見た <service> の http(s):// アドレス（例 https://<service>.city.example）か未設定",
        "<service>'s address as the browser reaches it, http(s):// (e.g. https://<service>.city.example), or unset"),
    "JUSOU_<SERVICE>_INTERNAL_URL": (
        "サービス間で <service> に届く http(s):// アドレス（例 http://<service>:<port>）か未設定",
        "where the other services reach <service>, http(s):// (e.g. http://<service>:<port>), or unset"),
    "OTEL_EXPORTER_OTLP_ENDPOINT": ("OTLP/HTTP コレクターの http(s):// アドレス（例 http://collector:4318）か未設定",
                                    "an OTLP/HTTP collector, http(s):// (e.g. http://collector:4318), or unset"),
    "NATS_URL": ("nats://ホスト:ポート（例 nats://nats:4222、クラスターはカンマ区切り）か未設定",
                 "nats://host:port (e.g. nats://nats:4222; a cluster's servers comma-separated), or unset"),
    "JUSOU_FORWARDED_ALLOW_IPS": ("プロキシのアドレスかネットワークのカンマ区切り（例 10.0.0.0/8,127.0.0.1）、すべてなら *",
                                  ("the proxies' addresses or networks, comma-separated (e.g. 10.0.0.0/8,127.0.0.1), "
                                  "or * for any")),
    "JUSOU_PG_SCHEMA_PREFIX": ("英小文字・数字・_ で、英小文字か _ で始まる 41 文字以内（例 jusou_）",
                               "lower-case letters, digits and _, starting with a letter or _, at most 41 (e.g. jusou_)"),
    "JUSOU_DLQ_MAX_BYTES": ("0（制限なし）か 16777216（16 MiB）以上のバイト数", ("0 (no limit) or a number of bytes of at "
                            "least 16777216 (16 MiB)")),
    "JUSOU_REPLAY_MAX_BYTES": ("0（制限なし）か 16777216（16 MiB）以上のバイト数", ("0 (no limit) or a number of bytes of "
                               "at least 16777216 (16 MiB)")),
    "JUSOU_HOST": ("このマシンのアドレス（127.0.0.1、すべてのインターフェースなら 0.0.0.0）",
                   "an address of this machine (127.0.0.1; 0.0.0.0 for every interface)"),
    "JUSOU_TARGETS_FILE": ("事業目標の TOML ファイルのパス（例 deploy/targets.example.toml）か未設定",
                           "the path of a TOML file of targets (e.g. deploy/targets.example.toml), or unset"),
}


def _allowed(name: str) -> tuple[str, str]:
    """What the variable `name` may be, (Japanese, English)."""
    info = next((i for key, i in Environment.model_fields.items() if name in (i.validation_alias, key)), None)
    if info is None:
        return "docs/configuration.md の値", "see docs/configuration.md"
    kind = info.annotation
    if typing.get_origin(kind) is Literal:
        choices = ", ".join(f"`{choice}`" for choice in typing.get_args(kind))
        return f"{choices} のいずれか", f"one of {choices}"
    bounds: dict[str, Any] = {}
    for rule in info.metadata:
        for key in ("ge", "le", "gt"):
            if getattr(rule, key, None) is not None:
                bounds[key] = getattr(rule, key)
    if name in _ALLOWED:
        return _ALLOWED[name]
    for service, port in PORTS.items():
        generic = name.replace(f"_{service.upper()}_", "_<SERVICE>_")
        if generic in _ALLOWED:
            ja, en = (text.replace("<service>", service).replace("<port>", str(port)) for text in _ALLOWED[generic])
            return ja, en
    if name == "JUSOU_CIPHER_KEY":
        return ("AES 鍵（16・24・32 バイト、例えば secrets.token_bytes(32)）の base64",
                "the base64 of an AES key of 16, 24 or 32 bytes (e.g. secrets.token_bytes(32))")
    if kind is float and "ge" in bounds and "le" in bounds:
        return f"{bounds['ge']}〜{bounds['le']} の数", f"a number from {bounds['ge']} to {bounds['le']}"
    if kind is float:
        return f"{bounds.get('gt', 0)} より大きい数（有限）", f"a number above {bounds.get('gt', 0)} (finite)"
    if "ge" in bounds and "le" in bounds:
        return f"{bounds['ge']}〜{bounds['le']} の整数", f"a whole number from {bounds['ge']} to {bounds['le']}"
    if "ge" in bounds:
        return f"{bounds['ge']} 以上の整数", f"a whole number of at least {bounds['ge']}"
    return "文字列", "text"


def describe_header() -> str:
    return "設定（環境変数）の値が正しくありません / a setting (environment variable) has a bad value:"


def describe_footer() -> str:
    return "docs/configuration.md に一覧があります / every setting is listed in docs/configuration.md"


def describe(error: ValidationError) -> str:
    lines = [describe_header()]
    for problem in error.errors():
        name = str(problem["loc"][0]) if problem["loc"] else "?"
        ja, en = _allowed(name)
        secret = name.endswith(("_KEY", "_PASSWORD", "_SECRET", "_TOKEN"))  # never a key in a log or a terminal
        shown = "（秘密のため表示しません / not shown: a secret）" if secret else repr(problem["input"])
        wrong = problem.get("ctx", {}).get("error") if problem["type"] == "value_error" else None
        lines.append(f"  {name}={shown}: {f'{wrong}; ' if wrong else ''}"
                     f"使える値は{ja}です / allowed: {en}")
    lines.append(describe_footer())
    return "\n".join(lines)


_last: tuple[tuple[str | None, ...], Environment] | None = None


def current() -> Environment:
    """The settings as the environment is now (read again whenever a variable changed)."""
    global _last
    key = tuple(map(os.environ.get, _NAMES))  # ~40 µs: cheap enough to notice a test's monkeypatch at once
    last = _last
    if last is not None and last[0] == key:
        return last[1]
    try:
        env = Environment()
    except ValidationError as error:
        raise SettingsError(describe(error)) from None
    _last = (key, env)
    return env


def host_problem(host: str) -> str | None:
    """Why a service could not listen on `host` (JUSOU_HOST) on this machine, None when it can: the name must
    resolve and the address be one of this machine's (else uvicorn fails after the service has started, status 3)."""
    try:
        found = socket.getaddrinfo(host, None, type=socket.SOCK_STREAM)
    except (OSError, UnicodeError) as exc:
        return f"名前を解決できません / cannot be resolved ({exc})"
    family, _, _, _, address = found[0]
    with socket.socket(family, socket.SOCK_STREAM) as sock:
        try:
            sock.bind((address[0], 0))
        except OSError as exc:
            return f"このマシンのアドレスではありません / not an address of this machine ({exc.strerror})"
    return None


def targets_problem(path: str) -> str | None:
    """Why the targets file (JUSOU_TARGETS_FILE) cannot be read as TOML, None when it can (its indicators are
    checked where they are shown: shared/domain/figures.py)."""
    try:
        tomllib.loads(Path(path).read_text(encoding="utf-8"))
    except FileNotFoundError:
        return f"ファイル {Path(path).resolve()} がありません / no such file"
    except (OSError, UnicodeError) as exc:
        return f"ファイル {Path(path).resolve()} を読めません / cannot read it ({exc})"
    except tomllib.TOMLDecodeError as exc:
        return f"TOML ではありません / not TOML ({exc})"
    return None


def environment_problems(env: Environment) -> list[str]:
    """What `current()` cannot see in the values alone (it reads no file and asks no resolver): JUSOU_HOST that
    cannot be listened on here, a targets file that is missing or no TOML. One line each, as `describe` writes."""
    problems = {"JUSOU_HOST": (env.host, host_problem(env.host)),
                "JUSOU_TARGETS_FILE": (env.targets_file, targets_problem(env.targets_file) if env.targets_file else None)}
    lines = []
    for name, (value, wrong) in problems.items():
        if wrong:
            ja, en = _allowed(name)
            lines.append(f"  {name}={value!r}: {wrong}; 使える値は{ja}です / allowed: {en}")
    return lines


def exit_if_invalid() -> Environment:
    """A program's first step: bad settings stop it with status 2 and the message, no traceback; so do a
    JUSOU_HOST this machine cannot listen on and a targets file that cannot be read (`environment_problems`)."""
    try:
        env = current()
    except SettingsError as error:
        print(error, file=sys.stderr)
        raise SystemExit(2) from None
    problems = environment_problems(env)
    if problems:
        print("\n".join([describe_header(), *problems, describe_footer()]), file=sys.stderr)
        raise SystemExit(2)
    return env


@dataclass(frozen=True)
class Settings:
    """One service's settings."""

    service: str
    data_dir: Path
    store: str
    pg_host: str
    pg_port: int
    pg_user: str
    pg_password: str
    pg_dbname: str
    pg_schema_prefix: str
    nats_url: str
    host: str
    port: int
    cipher_key: str
    max_deliver: int
    relay_poll_seconds: float
    extra: dict[str, str] = field(default_factory=dict)
    nats_user: str = ""  # empty: shared.messaging.natsauth.client_credentials decides
    nats_password: str = ""
    stream_replicas: int = 1  # JetStream replicas of the streams a service creates (a NATS cluster: 3)
    pg_pool_size: int = 5
    pg_group_commit: bool = True  # PostgreSQL saves committed in groups (shared/kernel/group_commit.py)
    pg_group_in_flight: int = 1  # … at most this many of those groups' transactions in flight at once
    forwarded_allow_ips: str = "127.0.0.1"  # uvicorn believes X-Forwarded-* from these (a TLS proxy)

    @classmethod
    def from_env(cls, service: str) -> Settings:
        env = current()
        data_dir = env.data_path
        return cls(
            service=service,
            data_dir=data_dir,
            store=env.store,
            pg_host=env.pg_host,
            pg_port=env.pg_port,
            pg_user=env.pg_user,
            pg_password=env.pg_password,
            pg_dbname=env.pg_dbname,
            pg_schema_prefix=env.pg_schema_prefix,
            nats_url=env.nats_address,
            host=env.host,
            port=env.port_of(service),
            cipher_key=env.cipher_key or cipher_key_in(data_dir),
            max_deliver=env.max_deliver,
            relay_poll_seconds=env.relay_poll_seconds,
            nats_user=env.nats_user,
            nats_password=env.nats_password,
            stream_replicas=env.stream_replicas,
            pg_pool_size=env.pg_pool_size,
            pg_group_commit=env.pg_group_commit,
            pg_group_in_flight=env.pg_group_in_flight,
            forwarded_allow_ips=env.forwarded_allow_ips,
        )

    @property
    def pg_schema(self) -> str:
        return f"{self.pg_schema_prefix}{self.service}"


@dataclass(frozen=True)
class AuthSettings:
    """How staff tokens are issued and checked (shared/web/auth.py): the city's IdP, or the development issuer."""

    issuer: str  # "": the development issuer
    jwks_url: str
    audience: str
    staff_claim: str
    division_claim: str
    roles_claim: str
    folder: Path
    client_id: str = ""  # the UI's sign-in at the IdP (authorization code with PKCE and a nonce: shared/web/oidc.py)
    client_secret: str = ""
    scopes: str = "openid"
    session_folder: Path | None = None  # the UI's server-side sessions (None: <folder>/sessions)
    cookie_secure: str = "auto"  # "auto": Secure on https requests; "always"

    @classmethod
    def from_env(cls) -> AuthSettings:
        env = current()
        return cls(
            issuer=env.oidc_issuer.rstrip("/"),
            jwks_url=env.oidc_jwks_url,
            audience=env.oidc_audience,
            staff_claim=env.oidc_staff_claim,
            division_claim=env.oidc_division_claim,
            roles_claim=env.oidc_roles_claim,
            folder=env.auth_folder,
            client_id=env.oidc_client_id,
            client_secret=env.oidc_client_secret,
            scopes=env.oidc_scopes,
            session_folder=Path(env.session_dir).resolve() if env.session_dir else None,
            cookie_secure=env.cookie_secure,
        )

    @property
    def sessions(self) -> Path:
        return self.session_folder or self.folder / "sessions"

    @property
    def development(self) -> bool:
        return not self.issuer


def write_private(path: Path, data: bytes, *, only_if_absent: bool = False) -> None:
    """Write `path` readable by its owner only (mode 600), atomically. `only_if_absent`: of processes
    racing to create it (services starting together), exactly one wins and the others keep its bytes.
    A folder it makes is its owner's only (mode 700)."""
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as f:
        f.write(data)
    if not only_if_absent:
        os.replace(tmp, path)
        return
    try:
        os.link(tmp, path)
    except FileExistsError:
        pass
    finally:
        tmp.unlink()


def cipher_key_in(data_dir: Path) -> str:
    """The suite's AES key, made once and kept (mode 600) in the data folder."""
    path = data_dir / "cipher.key"
    if not path.exists():
        write_private(path, base64.b64encode(secrets.token_bytes(32)), only_if_absent=True)
    return path.read_text().strip()
