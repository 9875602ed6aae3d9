"""A page that records a showing is not recorded when another site opened it (HE's review, session 21; HE2's fix).

With the staff member's cookie (SameSite=Lax: sent on another site's link or `window.location`), `GET
/ui/cases/{id}` and `/ui/consultations/new?person_ref=…` showed the person and recorded the showing: the person's
disclosures went 3 → 4 → 5 as a page elsewhere chose. Now such a GET whose `Sec-Fetch-Site` is `cross-site` or
`same-site` (another port of this host) answers a page of its own (200) saying that opening records the viewing, with
a link to open it here, and records nothing; `same-origin`, `none` and no header go through and record as before
(shared/web/showing.py). The same for the other pages that record a showing of a person a link can choose: the search
with something to search for, the household page, the printed 経過記録, a counter's list narrowed by its filters or
page, and the list's live part.

Runs on the shared suite; each test makes its own records. The staff member is signed in by bearer (the pages take
it as they take the cookie): the guard reads the request's `Sec-Fetch-Site` only.
"""

from __future__ import annotations

from typing import Any
from uuid import uuid4

import httpx
import pytest
from support.auth import reader, staff_headers
from support.municipality import ELDERLY, concern

from jusou.runner import Suite

COUNSELOR = staff_headers("kouki-012", ELDERLY.division, "counselor")
AUDITOR = staff_headers("kansa-091", ELDERLY.division, "auditor")  # reads cases, never a person: records nothing
NOTICE = "この画面を開くと相談者の閲覧が記録されます"
NOTICE_EN = "Opening this page records that you viewed this person"


@pytest.fixture(scope="module")
def http(shared_suite: Suite) -> Any:
    with httpx.Client(timeout=30, trust_env=False) as client:
        yield client


def receive(client: httpx.Client, intake: str) -> tuple[str, str, str]:
    name = f"越境 閲覧{uuid4().hex[:6]}"
    response = client.post(f"{intake}/consultations", headers=COUNSELOR, json={
        "counter": ELDERLY.code, "channel": "窓口", "concerns": [concern("elderly-care")],
        "person": {"name": name}, "confirm_new_person": True})
    assert response.status_code == 201, response.text
    case_id: str = response.json()["case_id"]
    return case_id, client.get(f"{intake}/cases/{case_id}", headers=COUNSELOR).json()["person_ref"], name


def disclosures(client: httpx.Client, intake: str, person_ref: str) -> list[dict[str, Any]]:
    got = client.get(f"{intake}/audit/people/{person_ref}/disclosures?format=json&limit=200", headers=reader())
    assert got.status_code == 200, got.text
    return list(got.json())


def pages(case_id: str, person_ref: str, name: str) -> list[str]:
    """Every GET page that records a showing of one person a link can choose."""
    return [f"/ui/cases/{case_id}", f"/ui/consultations/new?person_ref={person_ref}",
            f"/ui/persons?name={name}", f"/ui/persons/{person_ref}/household", f"/ui/cases/{case_id}/casework/print",
            f"/ui/?counter={ELDERLY.code}&status=open", f"/ui/cases-table?counter={ELDERLY.code}"]


@pytest.mark.parametrize("site", ["cross-site", "same-site", "Cross-Site"])
def test_d9_a_page_opened_from_another_site_asks_first_and_records_nothing(site: str, shared_suite: Suite,
                                                                           http: httpx.Client) -> None:
    intake = shared_suite.url("intake")
    case_id, person_ref, name = receive(http, intake)
    http.get(f"{intake}/ui/persons?name={name}", headers=COUNSELOR)  # a household for the person: the search made none
    before = disclosures(http, intake, person_ref)
    for path in pages(case_id, person_ref, name):
        answer = http.get(f"{intake}{path}", headers={**COUNSELOR, "Sec-Fetch-Site": site, "Sec-Fetch-Mode": "navigate"})

        assert answer.status_code == 200, (path, answer.status_code, answer.text[:300])
        assert NOTICE in answer.text and NOTICE_EN in answer.text, (path, answer.text[:500])
        assert f'id="open-here" href="{path.split("?")[0]}' in answer.text, path  # opens it from here
        assert name not in answer.text, path  # nothing of the person on the page
        assert answer.headers["cache-control"] == "no-store"
        assert disclosures(http, intake, person_ref) == before, path


@pytest.mark.parametrize("site", ["same-origin", "none", None])
def test_d9_a_page_opened_here_typed_or_by_an_older_browser_records_as_before(site: str | None, shared_suite: Suite,
                                                                            http: httpx.Client) -> None:
    intake = shared_suite.url("intake")
    case_id, person_ref, name = receive(http, intake)
    before = len(disclosures(http, intake, person_ref))
    headers = {**COUNSELOR, **({"Sec-Fetch-Site": site} if site is not None else {})}

    answer = http.get(f"{intake}/ui/cases/{case_id}", headers=headers)

    assert answer.status_code == 200 and name in answer.text and NOTICE not in answer.text
    assert len(disclosures(http, intake, person_ref)) == before + 1
    reception = http.get(f"{intake}/ui/consultations/new?person_ref={person_ref}", headers=headers)
    assert reception.status_code == 200 and name in reception.text
    assert len(disclosures(http, intake, person_ref)) == before + 2


def test_d9_pages_that_show_no_person_are_not_held_back(shared_suite: Suite, http: httpx.Client) -> None:
    """An auditor's case page shows no person (records none); a reception form without a person, a search page without
    a query, a list, the 経過記録 on screen: nothing to record, so nothing to ask."""
    intake = shared_suite.url("intake")
    case_id, person_ref, _ = receive(http, intake)
    before = disclosures(http, intake, person_ref)
    away = {"Sec-Fetch-Site": "cross-site"}
    for headers, path in [(AUDITOR, f"/ui/cases/{case_id}"), (COUNSELOR, "/ui/consultations/new"),
                          (COUNSELOR, "/ui/persons"), (COUNSELOR, f"/ui/cases/{case_id}/casework"),
                          (COUNSELOR, "/ui/persons?name=")]:
        answer = http.get(f"{intake}{path}", headers={**headers, **away})
        assert answer.status_code == 200 and NOTICE not in answer.text, (path, answer.text[:300])
    assert disclosures(http, intake, person_ref) == before
    # a counter's list as the programs' menu and other programs' pages link to it (no filter, no page: nobody chosen)
    listed = http.get(f"{intake}/ui/?counter={ELDERLY.code}", headers={**COUNSELOR, **away})
    assert listed.status_code == 200 and NOTICE not in listed.text
