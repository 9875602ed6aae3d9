"""Settings from the environment, one place (STYLE 10).

Embedded default: a SQLite file per service under `JUSOU_DATA_DIR` and the suite's own
nats-server. `JUSOU_STORE=postgres` puts every store in PostgreSQL (one schema per service);
`NATS_URL` points the services at an existing NATS.
"""

from __future__ import annotations

import base64
import os
import secrets
from dataclasses import dataclass, field
from pathlib import Path

PORTS = {
    "intake": 8101,
    "collaboration": 8102,
    "meeting": 8103,
    "outreach": 8104,
    "participation": 8105,
    "community": 8106,
}
DEFAULT_NATS_PORT = 4223  # 4222 is often taken by a system nats-server; JUSOU_NATS_PORT changes it


@dataclass(frozen=True)
class Setting:
    name: str
    default: str
    meaning: str


SETTINGS: tuple[Setting, ...] = (
    Setting("JUSOU_DATA_DIR", "./data", "folder for SQLite stores, the suite's NATS data and the cipher key"),
    Setting("JUSOU_STORE", "sqlite", "`sqlite` (a file per service) or `postgres` (a schema per service)"),
    Setting("JUSOU_PG_HOST", "127.0.0.1", "PostgreSQL host"),
    Setting("JUSOU_PG_PORT", "5432", "PostgreSQL port"),
    Setting("JUSOU_PG_USER", "postgres", "PostgreSQL user"),
    Setting("JUSOU_PG_PASSWORD", "", "PostgreSQL password"),
    Setting("JUSOU_PG_DBNAME", "postgres", "PostgreSQL database; each service uses its own schema in it"),
    Setting("JUSOU_PG_SCHEMA_PREFIX", "jusou_", "prefix of each service's PostgreSQL schema"),
    Setting("JUSOU_PG_POOL_SIZE", "5",
            "PostgreSQL connections each service process keeps open for its store (its read models keep 2 more)"),
    Setting("NATS_URL", "nats://127.0.0.1:4223", "NATS server with JetStream; `jusou up` starts its own unless set"),
    Setting("JUSOU_NATS_PORT", str(DEFAULT_NATS_PORT), "port of the suite's own nats-server (`jusou up`)"),
    Setting("JUSOU_STREAM_REPLICAS", "1",
            "copies of each stream the services create when it is missing: `3` on a three-node NATS cluster (`jusou cluster up`)"),
    Setting("NATS_USER", "", "NATS user to connect as; `jusou up`'s own NATS gives each service a user that may publish only `jusou.<service>.>`"),
    Setting("NATS_PASSWORD", "", "that user's password; `jusou up` generates them per data folder (`nats-auth.json`, mode 600)"),
    Setting("JUSOU_NATS_<SERVICE>_PASSWORD", "(none: required by compose and Kubernetes)",
            "Docker Compose / Kubernetes: the password of the service's NATS user, read by nats-server "
            "(deploy/nats/auth.conf) and given to that service alone as `NATS_PASSWORD`; hex (`secrets.token_hex(24)`)"),
    Setting("JUSOU_NATS_OPERATOR_PASSWORD", "(none: required by compose and Kubernetes)",
            "Docker Compose / Kubernetes: the password of `jusou-operator`, the NATS user of the `jusou` commands "
            "(`NATS_USER=jusou-operator`); no service gets it; hex"),
    Setting("JUSOU_NATS_INTEGRATOR_PASSWORD", "(none: required by compose and Kubernetes)",
            "Docker Compose / Kubernetes: the password of `integrator`, the read-only NATS user of new programs "
            "reading `JUSOU` (docs/integrating.md); no service gets it; hex"),
    Setting("JUSOU_HOST", "127.0.0.1", "address the services listen on"),
    Setting("JUSOU_<SERVICE>_PORT", "8101…8106", "a service's HTTP port (CONTRACT.md)"),
    Setting("JUSOU_<SERVICE>_URL", "(this host, the service's port)",
            "address of a service's pages for links in the browser (a public address behind a proxy)"),
    Setting("JUSOU_<SERVICE>_INTERNAL_URL", "(http://127.0.0.1:<port>)",
            "address at which the services reach each other (`http://intake:8101` in compose / Kubernetes)"),
    Setting("JUSOU_READMODELS_FOLLOW", "1",
            "`1`: each service keeps its read models (case index, seals) current in a thread; `0` only on read"),
    Setting("JUSOU_CIPHER_KEY", "(generated)", "base64 AES key for stored events; generated into the data folder if unset"),
    Setting("JUSOU_OIDC_ISSUER", "(none: the development issuer `jusou-dev`)",
            "the city's identity provider (OIDC issuer URL): staff tokens must carry it as `iss`; unset, the built-in "
            "development issuer signs tokens with a key pair in the auth folder"),
    Setting("JUSOU_OIDC_JWKS_URL", "(none)", "where the identity provider publishes its signing keys (JWKS); needed with `JUSOU_OIDC_ISSUER`"),
    Setting("JUSOU_OIDC_CLIENT_ID", "(none: the sign-in page only explains)",
            "the UI's client at the identity provider: its sign-in page runs the authorization-code flow with PKCE "
            "(register `<service address>/ui/login/callback` of each service there)"),
    Setting("JUSOU_OIDC_CLIENT_SECRET", "(none: a public client)", "that client's secret, if the identity provider gave it one"),
    Setting("JUSOU_OIDC_AUDIENCE", "jusou", "the `aud` every staff token must carry"),
    Setting("JUSOU_OIDC_STAFF_CLAIM", "sub", "claim holding the staff id"),
    Setting("JUSOU_OIDC_DIVISION_CLAIM", "division", "claim holding the staff member's division code (shared/reference.py)"),
    Setting("JUSOU_OIDC_ROLES_CLAIM", "roles", "claim holding the staff member's roles, a list (shared/policy.py)"),
    Setting("JUSOU_AUTH_DIR", "(<JUSOU_DATA_DIR>/auth)",
            "the development issuer's folder: its signing key and staff accounts (`staff.json`), mode 600; "
            "every service must see the same one (compose: a shared volume)"),
    Setting("JUSOU_TOKEN", "(minted for the local operator)",
            "bearer token the `jusou` commands send to the services; unset, a 5-minute auditor token of the development issuer"),
    Setting("JUSOU_MAX_DELIVER", "5", "tries before a failing message goes to the dead-letter subject"),
    Setting("JUSOU_RELAY_POLL_SECONDS", "1.0", "relay's fallback poll interval (it is also woken on every commit)"),
    Setting("JUSOU_LOG_FORMAT", "console", "`json` for one JSON object per log line (production), `console` for readable lines"),
    Setting("OTEL_EXPORTER_OTLP_ENDPOINT", "(none: no tracing)",
            "OpenTelemetry collector (OTLP over HTTP/protobuf, e.g. `http://collector:4318`) that receives each service's "
            "spans; unset, nothing is traced (shared/tracing.py; the other standard `OTEL_*` variables apply)"),
)


def _env(name: str, default: str) -> str:
    return os.environ.get(name, default)


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
    nats_user: str = ""  # empty: shared.natsauth.client_credentials decides
    nats_password: str = ""
    stream_replicas: int = 1  # JetStream replicas of the streams a service creates (a NATS cluster: 3)
    pg_pool_size: int = 5

    @classmethod
    def from_env(cls, service: str) -> Settings:
        data_dir = Path(_env("JUSOU_DATA_DIR", "./data")).resolve()
        store = _env("JUSOU_STORE", "sqlite").lower()
        if store not in ("sqlite", "postgres"):
            raise SystemExit(f"JUSOU_STORE must be 'sqlite' or 'postgres', not {store!r}")
        return cls(
            service=service,
            data_dir=data_dir,
            store=store,
            pg_host=_env("JUSOU_PG_HOST", "127.0.0.1"),
            pg_port=int(_env("JUSOU_PG_PORT", "5432")),
            pg_user=_env("JUSOU_PG_USER", "postgres"),
            pg_password=_env("JUSOU_PG_PASSWORD", ""),
            pg_dbname=_env("JUSOU_PG_DBNAME", "postgres"),
            pg_schema_prefix=_env("JUSOU_PG_SCHEMA_PREFIX", "jusou_"),
            nats_url=_env("NATS_URL", f"nats://127.0.0.1:{_env('JUSOU_NATS_PORT', str(DEFAULT_NATS_PORT))}"),
            host=_env("JUSOU_HOST", "127.0.0.1"),
            port=int(_env(f"JUSOU_{service.upper()}_PORT", str(PORTS[service]))),
            cipher_key=_env("JUSOU_CIPHER_KEY", "") or cipher_key_in(data_dir),
            max_deliver=int(_env("JUSOU_MAX_DELIVER", "5")),
            relay_poll_seconds=float(_env("JUSOU_RELAY_POLL_SECONDS", "1.0")),
            nats_user=_env("NATS_USER", ""),
            nats_password=_env("NATS_PASSWORD", ""),
            stream_replicas=int(_env("JUSOU_STREAM_REPLICAS", "1")),
            pg_pool_size=int(_env("JUSOU_PG_POOL_SIZE", "5")),
        )

    @property
    def pg_schema(self) -> str:
        return f"{self.pg_schema_prefix}{self.service}"


@dataclass(frozen=True)
class AuthSettings:
    """How staff tokens are issued and checked (shared/auth.py): the city's IdP, or the development issuer."""

    issuer: str  # "": the development issuer
    jwks_url: str
    audience: str
    staff_claim: str
    division_claim: str
    roles_claim: str
    folder: Path
    client_id: str = ""  # the UI's sign-in at the IdP (authorization code with PKCE)
    client_secret: str = ""

    @classmethod
    def from_env(cls) -> AuthSettings:
        data_dir = Path(_env("JUSOU_DATA_DIR", "./data")).resolve()
        return cls(
            issuer=_env("JUSOU_OIDC_ISSUER", "").rstrip("/"),
            jwks_url=_env("JUSOU_OIDC_JWKS_URL", ""),
            audience=_env("JUSOU_OIDC_AUDIENCE", "jusou"),
            staff_claim=_env("JUSOU_OIDC_STAFF_CLAIM", "sub"),
            division_claim=_env("JUSOU_OIDC_DIVISION_CLAIM", "division"),
            roles_claim=_env("JUSOU_OIDC_ROLES_CLAIM", "roles"),
            folder=Path(_env("JUSOU_AUTH_DIR", "") or data_dir / "auth").resolve(),
            client_id=_env("JUSOU_OIDC_CLIENT_ID", ""),
            client_secret=_env("JUSOU_OIDC_CLIENT_SECRET", ""),
        )

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
