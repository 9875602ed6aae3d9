"""Community's regional issues are read in the division scope of the case they came from (the review, session 16).

Probed on a running suite with another division's token on every route of every service: a 地域づくり担当 of 保育課
(childcare, which runs no community program) was refused `GET /cases/{case_id}/history` at community, as the division
scope says, but `GET /issues` listed the issue found at that case's 支援会議 (its case id, need, area and text) and
`GET /issues/{issue_id}` answered it, as did the pages `/ui/`, `/ui/issues.csv` and `/ui/issues/{issue_id}` (with the
case's 担当者). They now follow the case's scope at community: the divisions that run the program and those its
record names read it; another division's list leaves it out and its page or record is 403 `X-Jusou-Refused-By: scope`.
"""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from support.auth import staff_headers, token
from support.municipality import CHILDCARE, LEAD

from jusou.runner import Suite
from security.conftest import SERVICES
from security.seed import seed
from shared.organisation.scope import PROGRAM_DIVISIONS
from shared.web.auth import COOKIE

OUTSIDER = ("chiiki-hoiku", CHILDCARE.division, "community_worker")
INSIDER = ("chiiki-hd", LEAD, "community_worker")


@pytest.fixture(scope="module")
def issue(shared_suite: Suite) -> dict[str, Any]:
    """A regional issue community opened from a case's resource gap (security/seed.py)."""
    assert CHILDCARE.division not in PROGRAM_DIVISIONS["community"], "the outsider's division must run no community program"
    ids = seed({name: shared_suite.url(name) for name in SERVICES}, name="調布 地域")
    return {"issue_id": ids["issue_id"], "case_id": ids["case_id"]}


def test_another_divisions_community_worker_does_not_list_or_read_the_issue_of_a_case_out_of_its_scope(
        shared_suite: Suite, issue: dict[str, Any]) -> None:
    community = shared_suite.url("community")
    with httpx.Client(trust_env=False, timeout=30) as http:
        outsider, insider = staff_headers(*OUTSIDER), staff_headers(*INSIDER)
        assert http.get(f"{community}/cases/{issue['case_id']}/history", headers=outsider).status_code == 403

        listed = http.get(f"{community}/issues", headers=outsider, params={"limit": 500})
        assert listed.status_code == 200 and issue["case_id"] not in listed.text, listed.text[:300]
        one = http.get(f"{community}/issues/{issue['issue_id']}", headers=outsider)
        assert one.status_code == 403 and one.headers["x-jusou-refused-by"] == "scope", (one.status_code, one.text)
        assert issue["case_id"] not in one.text

        # the program's own divisions read it as before
        assert issue["case_id"] in http.get(f"{community}/issues", headers=insider, params={"limit": 500}).text
        assert http.get(f"{community}/issues/{issue['issue_id']}", headers=insider).status_code == 200


def test_another_divisions_community_pages_do_not_show_the_issue_of_a_case_out_of_its_scope(
        shared_suite: Suite, issue: dict[str, Any]) -> None:
    community = shared_suite.url("community")
    with httpx.Client(trust_env=False, timeout=30, cookies={COOKIE: token(*OUTSIDER)}) as browser:
        for path in ("/ui/", "/ui/issues-table", "/ui/issues.csv"):
            shown = browser.get(community + path)
            assert shown.status_code == 200 and issue["case_id"] not in shown.text \
                and issue["issue_id"] not in shown.text, (path, shown.status_code)
        page = browser.get(f"{community}/ui/issues/{issue['issue_id']}")
        assert page.status_code == 403 and issue["case_id"] not in page.text, page.status_code
    with httpx.Client(trust_env=False, timeout=30, cookies={COOKIE: token(*INSIDER)}) as browser:
        assert issue["issue_id"] in browser.get(f"{community}/ui/issues.csv").text
        assert browser.get(f"{community}/ui/issues/{issue['issue_id']}").status_code == 200
