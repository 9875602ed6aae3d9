"""Two tenants (甲市 `kou`, 乙市 `otsu`) and a third on another municipality file (`hei`), served by one suite (issue 18):
the tenants file, each tenant's staff tokens (its own development issuer's key and `tenant` claim), and the seeding
client that acts as a tenant. The suite itself and the seeded journeys are tests/tenancy/conftest.py's fixtures,
shared by the package's modules.
"""

from __future__ import annotations

import secrets
import threading
import time
from collections.abc import Callable
from typing import Any

import httpx
import jwt
from support.auth import ROLE_STAFF
from support.municipality import FILE as DEPLOYMENT_FILE

from jusou.runner import Suite
from shared.organisation.municipality import DATA, DEFAULT_FILE
from shared.web.auth import DevIssuer
from shared.web.policy import ROLES

SERVICES = ("intake", "collaboration", "meeting", "outreach", "participation", "community")
KOU, OTSU, HEI = "kou", "otsu", "hei"
NAMES = {KOU: "甲野 太郎", OTSU: "乙野 花子"}
TENANTS_FILE = """\
[[tenants]]
id = "kou"
name = "甲市"
data_dir = "kou"

[[tenants]]
id = "otsu"
name = "乙市"
data_dir = "otsu"

[[tenants]]
id = "hei"
name = "架空市"
data_dir = "hei"
municipality_file = "{other}"
"""
#: The third tenant's municipality file: not the deployment's (support/municipality.py)
OTHER_FILE = DATA / ("kakushi.toml" if DEPLOYMENT_FILE.resolve() == DEFAULT_FILE.resolve() else "chofu.toml")

def tenant_token(suite: Suite, of: str, staff_id: str, division: str, *roles: str, key_of: str | None = None,
                 **claims: Any) -> str:
    """A staff token of tenant `of`'s development issuer (its own key: `<data_dir>/auth`); `key_of`: sign with
    another tenant's key instead (a forgery); `claims` change (None: remove) claims, `tenant` among them."""
    signer = next(t for t in suite.tenants if t.id == (key_of or of))
    now = int(time.time())
    body = {"iss": "jusou-dev", "aud": "jusou", "sub": staff_id, "division": division, "roles": sorted(roles),
            "iat": now, "nbf": now, "exp": now + 3600, "jti": secrets.token_urlsafe(12), "tenant": of, **claims}
    key = DevIssuer(signer.data_path / "auth").private_key()
    return jwt.encode({k: v for k, v in body.items() if v is not None}, key, algorithm="ES256")


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


class AsTenant(threading.local):
    """Which tenant this thread's seeding acts for: every request's token is minted again by that tenant's issuer,
    for the same staff member, division and roles (the seed's own tokens are the single-tenant issuer's)."""

    tenant = ""


def seed_client(suite: Suite, acting: AsTenant) -> Callable[..., httpx.Client]:
    def rewrite(request: httpx.Request) -> None:
        given = request.headers.get("authorization", "")
        if given.startswith("Bearer "):
            claims = jwt.decode(given.removeprefix("Bearer "), options={"verify_signature": False})
            request.headers["authorization"] = "Bearer " + tenant_token(
                suite, acting.tenant, claims["sub"], claims["division"], *claims["roles"])

    return lambda **kwargs: httpx.Client(event_hooks={"request": [rewrite]}, **kwargs)


def headers_as(suite: Suite, tenant: str, action: str, staff_prefix: str = "") -> dict[str, str]:
    """A staff member of `tenant` whose role may take `action` (shared/web/policy.py ROLES)."""
    role = next(r for r in ROLE_STAFF if action in ROLES[r].actions)
    staff_id, division = ROLE_STAFF[role]
    return bearer(tenant_token(suite, tenant, staff_prefix + staff_id, division, role))
