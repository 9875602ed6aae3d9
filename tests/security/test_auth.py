"""Staff authentication at the running suite: no account without a credential (issue 6).

The bearer token (or the UI's cookie holding it) is refused with 401, `WWW-Authenticate: Bearer`
and a message in Japanese and English saying what is wrong; a /ui page sends the browser to the
sign-in page instead, and comes back after it.
"""

from __future__ import annotations

import re
import time
from typing import Any

import httpx
import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import ec
from support.auth import PASSWORD, account, staff_headers, token
from support.municipality import CHILDCARE, ELDERLY, LEAD

from jusou.runner import Suite
from shared.web.auth import COOKIE

NOW = int(time.time())  # taken at collection: valid tokens last 6 h from it, so a long run keeps them valid


def forged(**changes: Any) -> str:
    """A counselor's token signed by a key that is not the issuer's."""
    body = {"iss": "jusou-dev", "aud": "jusou", "sub": "kouki-012", "division": ELDERLY.division,
            "roles": ["counselor"], "exp": NOW + 6 * 3600, **changes}
    return jwt.encode(body, ec.generate_private_key(ec.SECP256R1()), algorithm="ES256")


def tampered() -> str:
    """A real token whose roles were edited after signing."""
    header, _, signature = token("kouki-012", ELDERLY.division, "counselor").split(".")
    body = jwt.utils.base64url_encode(
        b'{"iss":"jusou-dev","aud":"jusou","sub":"kouki-012","division":"' + ELDERLY.division.encode() + b'","roles":["supervisor"],'
        + f'"exp":{NOW + 6 * 3600}}}'.encode()).decode()
    return f"{header}.{body}.{signature}"


CASES = {
    "missing": ({}, "Bearer"),
    "not bearer": ({"Authorization": "Basic a291a2k6cGFzcw=="}, "Bearer"),
    "expired": ({"Authorization": f"Bearer {token('kouki-012', ELDERLY.division, 'counselor', exp=NOW - 300)}"},
                "expired"),
    "bad signature": ({"Authorization": f"Bearer {forged()}"}, "bad signature"),
    "wrong audience": ({"Authorization": f"Bearer {token('kouki-012', ELDERLY.division, 'counselor', aud='other')}"},
                       "wrong audience"),
    "alg none": ({"Authorization": "Bearer " + jwt.encode({"iss": "jusou-dev", "aud": "jusou", "sub": "x",
                                                            "division": CHILDCARE.division, "roles": ["supervisor"],
                                                            "exp": NOW + 6 * 3600}, None, algorithm="none")}, "'none'"),
    "tampered cookie": ({"cookie": f"{COOKIE}={tampered()}"}, "Bearer"),  # the API never reads the UI's cookie
    "old unsigned cookie": ({"cookie": "jusou_staff=kouki-012:elderly-support"}, "Bearer"),
}


@pytest.mark.parametrize("case", list(CASES))
def test_auth_a_request_without_a_valid_token_is_refused_with_401_saying_why(case: str, own_suite: Suite) -> None:
    headers, says = CASES[case]

    response = httpx.get(own_suite.url("intake") + "/reports/trend", headers=headers, trust_env=False)

    assert response.status_code == 401, response.text
    assert response.headers["www-authenticate"].startswith("Bearer")
    detail = response.json()["detail"]
    assert says in detail and " / " in detail, detail


def test_auth_the_old_staff_headers_name_no_one(own_suite: Suite) -> None:
    response = httpx.get(own_suite.url("intake") + "/reports/trend", trust_env=False,
                         headers={"X-Jusou-Staff": "kouki-012", "X-Jusou-Division": ELDERLY.division})

    assert response.status_code == 401


def test_auth_health_metrics_and_documents_need_no_token(own_suite: Suite) -> None:
    for path in ("/healthz", "/readyz", "/metrics", "/asyncapi.json", "/openapi.json", "/docs", "/ui/login",
                 "/ui/static/jusou.css"):
        response = httpx.get(own_suite.url("meeting") + path, trust_env=False)
        assert response.status_code == 200, (path, response.status_code)


def test_auth_a_ui_page_sends_a_stranger_to_sign_in_and_back_again(own_suite: Suite) -> None:
    outreach = own_suite.url("outreach")
    account("outreach-031", LEAD, "outreach_worker")
    with httpx.Client(trust_env=False, follow_redirects=False) as browser:
        away = browser.get(outreach + "/ui/engagements-table?x=1")
        assert away.status_code == 303 and away.headers["location"] == "/ui/login?next=%2Fui%2Fengagements-table%3Fx%3D1"
        wrong = browser.post(outreach + "/ui/login", data={"staff_id": "outreach-031", "password": "nope",
                                                           "next": "/ui/engagements-table?x=1"})
        assert wrong.status_code == 303 and "ng=" in wrong.headers["location"] and COOKIE not in wrong.cookies
        signed = browser.post(outreach + "/ui/login", data={"staff_id": "outreach-031", "password": PASSWORD,
                                                            "next": "/ui/engagements-table?x=1"})
        assert signed.status_code == 303 and signed.headers["location"].startswith("/ui/engagements-table?x=1")
        assert browser.get(outreach + "/ui/engagements-table").status_code == 200
        # the same cookie signs in at every service of the host (one login, six UIs)
        assert browser.get(own_suite.url("community") + "/ui/log").status_code == 200
        assert browser.get(outreach + "/ui/logout").status_code == 200  # a confirmation page: a link signs no one out
        assert browser.get(outreach + "/ui/").status_code == 200
        csrf = re.search(r'name="csrf_token" value="([^"]+)"', browser.get(outreach + "/ui/log").text)
        assert csrf is not None
        out = browser.post(outreach + "/ui/logout", data={"csrf_token": csrf.group(1)})
        assert out.status_code == 303 and browser.get(outreach + "/ui/").status_code == 303


def test_auth_a_ui_page_with_a_tampered_cookie_asks_to_sign_in_again_saying_why(own_suite: Suite) -> None:
    response = httpx.get(own_suite.url("intake") + "/ui/", cookies={COOKIE: tampered()}, trust_env=False)

    assert response.status_code == 303 and "bad signature" in httpx.URL(response.headers["location"]).params["ng"]


def test_auth_a_ui_page_with_an_expired_cookie_asks_to_sign_in_again_saying_why(own_suite: Suite) -> None:
    expired = token("outreach-031", LEAD, "outreach_worker", exp=NOW - 300)
    response = httpx.get(own_suite.url("outreach") + "/ui/", cookies={COOKIE: expired}, trust_env=False)

    assert response.status_code == 303 and "expired" in httpx.URL(response.headers["location"]).params["ng"]


def test_auth_a_staff_member_acts_under_the_tokens_name(own_suite: Suite) -> None:
    """The event records the token's staff id and division, whatever the request says."""
    made = httpx.post(own_suite.url("outreach") + "/engagements", trust_env=False,
                      json={"referred_by": "民生委員", "reason": "外出しない"},
                      headers={**staff_headers("outreach-032", LEAD, "outreach_worker"),
                               "X-Jusou-Staff": "someone-else"})
    assert made.status_code == 201, made.text

    history = httpx.get(own_suite.url("outreach") + f"/cases/{made.json()['case_id']}/history", trust_env=False,
                        headers=staff_headers("kansa-001", LEAD, "auditor")).json()
    assert history[0]["actor"] == {"staff_id": "outreach-032", "division": LEAD}
