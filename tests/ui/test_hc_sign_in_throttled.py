"""Too many sign-ins started at the city's IdP are refused in the sign-in page's words (HB's 9be6da4, HC's page).

`oidc.begin` refuses a start past its bounds (one address's starts within the flow's 10 minutes, the host's flows in
progress) with `TooManySignIns` (429, `wait` seconds). The page said 「市の認証基盤に接続できません」 (its
`except Unauthenticated`), which sends staff to the help desk about an IdP that is up; it now answers 429 with
Retry-After and the sign-in page's 「ログインの試行が多すぎます。N分ほど待って…」.
"""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient
from security.test_oidc_flow import city, city_service, idp  # noqa: F401 (fixtures)

from shared.web import oidc


@pytest.fixture
def one_start_per_address(monkeypatch: pytest.MonkeyPatch) -> None:
    for bounds in oidc._bounds.values():
        monkeypatch.setattr(bounds, "_starts", {})
    monkeypatch.setattr(oidc, "PENDING_PER_ADDRESS", 1)


@pytest.mark.usefixtures("one_start_per_address")
def test_a_sign_in_past_the_bound_of_starts_says_to_wait_not_that_the_idp_is_unreachable(
        city: TestClient, idp: str) -> None:  # noqa: F811
    first = city.get("/ui/login/oidc", params={"next": "/ui/"})
    assert first.status_code == 303 and first.headers["location"].startswith(idp), first.text
    refused = city.get("/ui/login/oidc", params={"next": "/ui/"})
    assert refused.status_code == 429, (refused.status_code, refused.headers.get("location"))
    assert int(refused.headers["retry-after"]) > 0
    assert "ログインの試行が多すぎます" in refused.text and "接続できません" not in refused.text
    assert '<html lang="ja">' in refused.text
