"""Staff credentials for the tests: tokens and accounts of the development issuer.

Every suite the tests start shares one auth folder (`JUSOU_AUTH_DIR`, set here for this test run
and inherited by the services), so a token minted here is valid at every suite, and a header made
at import time can be a module constant. Divisions by role (support/municipality.py): the staff of the
重層 programs sit in the lead division (`LEAD`), the counselor at the elderly counter's (`ELDERLY.division`).
"""

from __future__ import annotations

import os
import tempfile
import time
from pathlib import Path
from typing import Any

import jwt

from shared.web.auth import Accounts, DevIssuer
from support.municipality import ELDERLY, LEAD

AUTH_DIR = Path(os.environ.get("JUSOU_AUTH_DIR") or tempfile.mkdtemp(prefix="jusou-test-auth-"))
os.environ["JUSOU_AUTH_DIR"] = str(AUTH_DIR)
ISSUER = DevIssuer(AUTH_DIR)
PASSWORD = "test-password-1"  # every account the browser tests make


def token(staff_id: str, division: str, *roles: str, **claims: Any) -> str:
    """A token of the suites' development issuer; `claims` override or add claims (None removes one)."""
    if not claims:
        return ISSUER.mint(staff_id, division, list(roles))
    now = int(time.time())
    body = {"iss": "jusou-dev", "aud": "jusou", "sub": staff_id, "division": division, "roles": list(roles),
            "iat": now, "nbf": now, "exp": now + 3600, **claims}
    return jwt.encode({k: v for k, v in body.items() if v is not None}, ISSUER.private_key(), algorithm="ES256")


def staff_headers(staff_id: str, division: str, *roles: str) -> dict[str, str]:
    """`Authorization: Bearer …` for a staff member of `division` with `roles` (shared/web/policy.py ROLES)."""
    return {"Authorization": f"Bearer {token(staff_id, division, *roles)}"}


# Reads that are not the test's point (waiting for a state, checking a list): an auditor reads every division.
READER_ID = "kansa-001"


#: No credential at all, also on a client whose default headers carry the reader's token.
ANONYMOUS = {"Authorization": ""}


def reader() -> dict[str, str]:
    return staff_headers(READER_ID, LEAD, "auditor")


#: Each program's own staff: who sends its commands in tests that are about something else.
WORKERS = {
    "intake": ("kouki-012", ELDERLY.division, "counselor"),
    "collaboration": ("fukushi-003", LEAD, "coordinator"),
    "meeting": ("kaigi-001", LEAD, "secretariat"),
    "outreach": ("outreach-007", LEAD, "outreach_worker"),
    "participation": ("sanka-002", LEAD, "participation_worker"),
    "community": ("chiiki-001", LEAD, "community_worker"),
}
ROLE_STAFF = {  # one staff member per role (shared/web/policy.py ROLES); the counselor at an intake counter
    "counselor": ("kouki-012", ELDERLY.division), "coordinator": ("fukushi-003", LEAD),
    "secretariat": ("kaigi-001", LEAD), "outreach_worker": ("outreach-007", LEAD),
    "participation_worker": ("sanka-002", LEAD), "community_worker": ("chiiki-001", LEAD),
    "welfare_coordinator": ("csw-001", LEAD),
    "supervisor": ("kanri-001", LEAD), "auditor": (READER_ID, LEAD),
    "operator": ("unyo-001", LEAD),
}


def worker(service: str) -> dict[str, str]:
    """Headers of the staff whose program `service` runs."""
    return staff_headers(*WORKERS[service])


def headers_for(service: str, method: str, template: str) -> dict[str, str]:
    """Headers of a staff member the policy lets call this route (the first role that may)."""
    import importlib

    from shared.web.policy import PUBLIC, ROLES, actions

    action = actions(importlib.import_module(f"services.{service}.main").api)[(method, template)]
    if action == PUBLIC:
        return {}
    role = next(r for r in ROLE_STAFF if action in ROLES[r].actions)
    return staff_headers(*ROLE_STAFF[role], role)


def actor(headers: dict[str, str]) -> dict[str, str]:
    """The staff id and division that events record for a request with these headers."""
    claims = jwt.decode(headers["Authorization"].removeprefix("Bearer "), options={"verify_signature": False})
    return {"staff_id": claims["sub"], "division": claims["division"]}


def account(staff_id: str, division: str, *roles: str) -> str:
    """An account of the development issuer (for the sign-in page); its password."""
    Accounts(AUTH_DIR).add(staff_id, division, list(roles), PASSWORD)
    return PASSWORD


async def sign_in(page: Any, base: str, staff_id: str, division: str, *roles: str) -> None:
    """Sign in on the UI's page as a person would (the account is made first)."""
    password = account(staff_id, division, *roles)
    await page.goto(f"{base}/ui/login")
    await page.get_by_label("職員番号").fill(staff_id)
    await page.get_by_label("パスワード").fill(password)
    await page.get_by_role("button", name="ログイン").click()
