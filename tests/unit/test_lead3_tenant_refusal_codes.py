"""Both ways a deployment of many municipalities refuses a token's tenant give the documented codes (docs/tenancy.md).

The token check (shared/web/auth.py) answers `tenant_not_named` / `tenant_not_served` (401). The runtime's own check
behind it (shared/web/deps.py, reached when a principal arrives without the token check's verdict) answered
`tenant_missing` (401) and `tenant_unknown` (403), codes no document names (HF's review, session 21): an integrator
branching on `code` would miss them.
"""

from __future__ import annotations

from shared.web import auth, deps
from shared.web.errors import code_of


def test_the_runtimes_tenant_refusals_carry_the_token_checks_codes_and_status() -> None:
    for ours, theirs in ((deps.TenantNotNamed(), auth.TenantNotNamed()),
                         (deps.TenantNotServed("otsu"), auth.TenantNotServed("otsu"))):
        assert code_of(ours) == code_of(theirs) in ("tenant_not_named", "tenant_not_served")
        assert ours.status == 401 and "WWW-Authenticate" in ours.headers
