"""Many municipalities on one deployment (issue 18): the tenants file, and which tenant is acting.

A prefecture or a vendor runs one suite for several municipalities. Each is a *tenant*, sealed off
from the others: its own NATS account (accounts isolate subjects and streams), its own stores (a
SQLite folder, or PostgreSQL schemas of its own), its own cipher key, its own staff and identity
provider, its own municipality file. The same service processes serve every tenant: one application
per tenant, each with its own store, relay and inbox on its own NATS connection to its account.

The tenant of a request is the signed-in staff member's (the token's `tenant` claim, verified with
that tenant's IdP keys: shared/web/auth.py), the tenant of an event the account it arrived on (the
connection it came on): never a request parameter.

The tenants file (`JUSOU_TENANTS_FILE`, `jusou up --tenants FILE`) is TOML, one `[[tenants]]` table
each; a bad file stops the program with status 2 and the line::

    [[tenants]]
    id = "chofu"                     # a-z, 0-9, -: the NATS account, the token's `tenant` claim
    name = "調布市"
    municipality_file = "chofu.toml" # relative to this file's folder; absent: JUSOU_MUNICIPALITY_FILE / Chofu's
    data_dir = "tenants/chofu"       # its SQLite stores, cipher key, NATS passwords, development issuer
    pg_schema_prefix = "jusou_chofu_"  # JUSOU_STORE=postgres: its schemas (default jusou_<id>_)
    [tenants.oidc]                   # absent: the development issuer in <data_dir>/auth
    issuer = "https://idp.example.jp/realms/chofu"
    jwks_url = "https://idp.example.jp/realms/chofu/protocol/openid-connect/certs"
    audience = "jusou"

Without a tenants file nothing here applies: the suite is the one municipality it always was.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from shared.organisation.municipality import _japanese, _where, read_toml
from shared.settings import AuthSettings, Settings, cipher_key_in, current

if TYPE_CHECKING:
    from shared.organisation.municipality import Organisation

VARIABLE = "JUSOU_TENANTS_FILE"
CLAIM = "tenant"  # the staff token's claim naming the tenant
NATS_CREDENTIALS_FILE = "nats-auth.json"  # shared/messaging/natsauth.py CREDENTIALS_FILE, in the tenant's folder
SEPARATOR = "@"  # a tenant's NATS user: `<service>@<tenant>` (user names are unique across a server's accounts)

TenantId = str


class Oidc(BaseModel):
    """A tenant's identity provider (its own issuer and keys); absent: the development issuer in its folder."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    issuer: str = Field(min_length=1)
    jwks_url: str = Field(min_length=1)
    audience: str = "jusou"
    client_id: str = ""
    client_secret: str = ""


class Tenant(BaseModel):
    """One municipality of the deployment."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    id: str = Field(pattern=r"^[a-z][a-z0-9-]{0,30}$")
    name: str = ""
    municipality_file: str = ""
    data_dir: str = Field(min_length=1)
    pg_schema_prefix: str = Field("", pattern=r"^([a-z_][a-z0-9_]{0,40})?$")
    pg_dbname: str = ""
    nats_url: str = ""  # absent: the deployment's (NATS_URL / the suite's own), the tenant's own account on it
    nats_credentials: str = ""  # user → password (JSON); absent: <data_dir>/nats-auth.json (`jusou up` makes it)
    oidc: Oidc | None = None

    @property
    def schema_prefix(self) -> str:
        return self.pg_schema_prefix or f"jusou_{self.id.replace('-', '_')}_"

    @property
    def data_path(self) -> Path:
        return Path(self.data_dir)

    @property
    def credentials_path(self) -> Path:
        return Path(self.nats_credentials) if self.nats_credentials else self.data_path / NATS_CREDENTIALS_FILE

    @property
    def account(self) -> str:
        """Its NATS account's name."""
        return f"TENANT_{self.id.upper().replace('-', '_')}"

    def nats_user(self, user: str) -> str:
        """The server-wide name of its account's user `user` (a service, the operator, the integrator)."""
        return f"{user}{SEPARATOR}{self.id}"


class TenantsFile(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    tenants: list[Tenant] = Field(min_length=1)

    @model_validator(mode="after")
    def _distinct(self) -> TenantsFile:
        for field in ("id", "data_dir", "schema_prefix"):
            seen: set[str] = set()
            for tenant in self.tenants:
                value = str(getattr(tenant, field))
                if value in seen:
                    raise ValueError(f"two tenants share {field} {value!r}: each tenant's must be its own")
                seen.add(value)
        return self


class TenantsFileError(ValueError):
    """A tenants file that cannot be used: the message names the file, the line and the tenant."""


def _resolved(tenant: Tenant, folder: Path) -> Tenant:
    """Paths relative to the tenants file's folder, made absolute."""

    def absolute(value: str) -> str:
        return str((folder / value).resolve()) if value else ""

    return tenant.model_copy(update={"data_dir": absolute(tenant.data_dir),
                                     "municipality_file": absolute(tenant.municipality_file),
                                     "nats_credentials": absolute(tenant.nats_credentials)})


def load(path: Path | str) -> dict[TenantId, Tenant]:
    """The tenants in the file, by id (in the file's order); `TenantsFileError` says what is wrong where."""
    path = Path(path)
    text, data = read_toml(path, "テナントファイル", "the tenants file", TenantsFileError)
    try:
        model = TenantsFile.model_validate(data)
    except ValidationError as error:
        named = {**data, "tenants": [{"code": row.get("id"), **row} if isinstance(row, dict) else row
                                     for row in data.get("tenants", [])]} if isinstance(data.get("tenants"), list) else data
        problems = [f"{path}: {_where(text, named, tuple(p['loc']))}: {_japanese(p)} / "
                    f"{p['msg']} (input {p.get('input')!r})"[:300] for p in error.errors()]
        raise TenantsFileError("テナントファイルの内容が正しくありません / the tenants file is not valid:\n  "
                               + "\n  ".join(problems)) from None
    return {t.id: _resolved(t, path.resolve().parent) for t in model.tenants}


def tenants_file() -> str:
    """`JUSOU_TENANTS_FILE` ("" when unset: one municipality, no tenants)."""
    configured = str(getattr(current(), "tenants_file", "") or "")  # shared/settings.py's field, when it has one
    return configured or os.environ.get(VARIABLE, "").strip()


_loaded: dict[str, dict[TenantId, Tenant]] = {}


def configured() -> dict[TenantId, Tenant]:
    """The deployment's tenants ({} without a tenants file), loaded once per file."""
    path = tenants_file()
    if not path:
        return {}
    if path not in _loaded:
        _loaded[path] = load(path)
    return _loaded[path]


def exit_if_invalid() -> dict[TenantId, Tenant]:
    """A program's first steps: a tenants file that cannot be used stops it with status 2, no traceback."""
    try:
        found = configured()
        for tenant in found.values():
            organisation_of(tenant)
    except (TenantsFileError, ValueError) as error:
        print(error, file=sys.stderr)
        named = os.environ.get("JUSOU_TENANTS_FILE")
        if named:  # the README's promise: a refused setting names its variable
            print(f"（環境変数 JUSOU_TENANTS_FILE={named} の設定です）/ (from the tenants file JUSOU_TENANTS_FILE names)",
                  file=sys.stderr)
        raise SystemExit(2) from None
    return found


# --- which tenant is acting -------------------------------------------------------------------------------

#: The tenant whose work this request or task is: set from the verified token (shared/web/auth.py) and around
#: each tenant's relay and inbox (shared/web/deps.py). Unset: no tenant (a single-tenant suite, or a refusal).
CURRENT: ContextVar[TenantId | None] = ContextVar("jusou_tenant", default=None)


@contextmanager
def acting_for(tenant: TenantId) -> Iterator[None]:
    token = CURRENT.set(tenant)
    try:
        yield
    finally:
        CURRENT.reset(token)


def current_tenant() -> Tenant | None:
    """The acting tenant's entry (None: none acting, or no tenants file)."""
    tenant = CURRENT.get()
    return configured().get(tenant) if tenant is not None else None


_organisations: dict[str, Organisation] = {}


def organisation_of(tenant: Tenant) -> Organisation | None:
    """The tenant's own municipality file, loaded (None: the deployment's, JUSOU_MUNICIPALITY_FILE or Chofu's)."""
    if not tenant.municipality_file:
        return None
    found = _organisations.get(tenant.municipality_file)
    if found is None:
        from shared.organisation.municipality import load as load_municipality

        found = _organisations[tenant.municipality_file] = load_municipality(tenant.municipality_file)
    return found


def current_organisation() -> Organisation | None:
    """The acting tenant's organisation (shared/organisation/reference.py asks first); None: the deployment's."""
    if CURRENT.get() is None:
        return None
    tenant = current_tenant()
    return organisation_of(tenant) if tenant is not None else None


# --- a tenant's settings ------------------------------------------------------------------------------------


def service_settings(base: Settings, tenant: Tenant) -> Settings:
    """A service's settings for one tenant: its folder, schemas, key and NATS account's user."""
    data_dir = tenant.data_path
    user, password = nats_login(tenant, base.service)
    return replace(
        base,
        data_dir=data_dir,
        pg_schema_prefix=tenant.schema_prefix,
        pg_dbname=tenant.pg_dbname or base.pg_dbname,
        nats_url=tenant.nats_url or base.nats_url,
        cipher_key=cipher_key_in(data_dir),
        nats_user=user,
        nats_password=password,
        extra={**base.extra, "tenant": tenant.id},
    )


def nats_login(tenant: Tenant, user: str) -> tuple[str, str]:
    """The tenant account's user `user` and its password (from the tenant's credentials file; ("", "") without one:
    a NATS without authorization)."""
    import json

    path = tenant.credentials_path
    if not path.exists():
        return ("", "")
    known = json.loads(path.read_text(encoding="utf-8"))
    return (tenant.nats_user(user), str(known.get(user, "")))


OPERATOR = "jusou-operator"  # shared/messaging/natsauth.py OPERATOR: the NATS user of the `jusou` commands


def command_environment(tenant: Tenant, given: Mapping[str, str] = os.environ) -> dict[str, str | None]:
    """What an operator command (`jusou … --tenant ID`) reads from the environment, as the tenant's: its folder
    (stores, cipher key, retention periods, development issuer), its schemas and database, its NATS account's
    operator, its IdP and municipality file. None: unset, since the deployment's value names no tenant, or another
    (a deployment-wide JUSOU_CIPHER_KEY, JUSOU_AUTH_DIR, JUSOU_OIDC_ISSUER; a NATS_USER of another account)."""
    oidc = tenant.oidc
    found: dict[str, str | None] = {
        "JUSOU_DATA_DIR": str(tenant.data_path),
        "JUSOU_AUTH_DIR": str(tenant.data_path / "auth"),
        "JUSOU_SESSION_DIR": None,
        "JUSOU_CIPHER_KEY": None,  # the tenant's is <data_dir>/cipher.key (service_settings)
        "JUSOU_PG_SCHEMA_PREFIX": tenant.schema_prefix,
        "JUSOU_OIDC_ISSUER": oidc.issuer if oidc else None,
        "JUSOU_OIDC_JWKS_URL": oidc.jwks_url if oidc else None,
        "JUSOU_OIDC_CLIENT_ID": oidc.client_id if oidc else None,
        "JUSOU_OIDC_CLIENT_SECRET": oidc.client_secret if oidc else None,
    }
    if oidc:
        found["JUSOU_OIDC_AUDIENCE"] = oidc.audience
    if tenant.pg_dbname:
        found["JUSOU_PG_DBNAME"] = tenant.pg_dbname
    if tenant.nats_url:
        found["NATS_URL"] = tenant.nats_url
    if tenant.municipality_file:
        found["JUSOU_MUNICIPALITY_FILE"] = tenant.municipality_file
    user, password = nats_login(tenant, OPERATOR)
    if password:
        found["NATS_USER"], found["NATS_PASSWORD"] = user, password
    elif not str(given.get("NATS_USER", "")).endswith(f"{SEPARATOR}{tenant.id}"):  # one the operator gave for it stays
        found["NATS_USER"] = found["NATS_PASSWORD"] = None
    return found


def auth_settings(base: AuthSettings, tenant: Tenant) -> AuthSettings:
    """How the tenant's staff tokens are checked: its IdP, else the development issuer in its own folder."""
    oidc = tenant.oidc
    folder = tenant.data_path / "auth"
    if oidc is None:
        return replace(base, issuer="", jwks_url="", folder=folder, client_id="", client_secret="")
    return replace(base, issuer=oidc.issuer.rstrip("/"), jwks_url=oidc.jwks_url, audience=oidc.audience,
                   folder=folder, client_id=oidc.client_id, client_secret=oidc.client_secret)


def describe(found: dict[TenantId, Tenant]) -> str:
    """One line per tenant (what `jusou up --tenants` prints)."""
    return "\n".join(f"  {t.id}: {t.name or t.id} — {t.data_dir} (NATS account {t.account})" for t in found.values())


def main(argv: list[str] | None = None) -> int:
    """`python -m shared.tenancy FILE`: check a tenants file (status 2 and what is wrong where)."""
    args = sys.argv[1:] if argv is None else argv
    if len(args) != 1:
        print("使い方 / usage: python -m shared.tenancy TENANTS.toml", file=sys.stderr)
        return 2
    try:
        found = load(args[0])
        for tenant in found.values():
            organisation_of(tenant)
    except (TenantsFileError, ValueError) as error:
        print(error, file=sys.stderr)
        return 2
    print(f"{len(found)} テナント / tenants:\n{describe(found)}")
    return 0


def claims_tenant(claims: dict[str, Any]) -> str | None:
    """The tenant a token's claims name, or None."""
    value = claims.get(CLAIM)
    return value if isinstance(value, str) and value else None


if __name__ == "__main__":
    raise SystemExit(main())
