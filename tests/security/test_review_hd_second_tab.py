"""A plan saved from a tab left open while the plan changed is refused, not a lost update (the review, session 16).

Probed on a running suite as a person with two tabs of one plan's editor: tab B saved its 支援の方向性, then tab A,
opened before B's save, saved its own, and both answered 「プランを保存しました」: A's save silently undid B's (the
plan read 「Aの方針」). The editor's form now carries the version of the plan its page showed (`seen_version`); a save
from an older version answers 409 with the editor as typed and a message saying what happened and what to do, and
records nothing; sent again from that page (which shows the version as it now is) it is saved. The plan pages are
the same in collaboration, outreach and participation (shared/web/plan_pages.py); outreach's are driven here.
"""

from __future__ import annotations

import html
import re
import uuid
from typing import Any

import httpx
from support.auth import staff_headers, token
from support.municipality import ELDERLY, LEAD

from jusou.runner import Suite
from shared.web.auth import COOKIE

WORKER = ("outreach-hd2", LEAD, "outreach_worker")


def editor_fields(page: str) -> dict[str, str]:
    """The hidden fields of the plan editor's form on a plan page."""
    form = re.search(r'<form class="stack plan-editor".*?</form>', page, re.DOTALL)
    assert form is not None, page[:500]
    return {name: html.unescape(value) for name, value in
            re.findall(r'<input type="hidden" name="([^"]+)" value="([^"]*)"', form.group(0))}


def saved(browser: httpx.Client, base: str, plan_id: str, hidden: dict[str, str], direction: str) -> httpx.Response:
    return browser.post(f"{base}/ui/plans/{plan_id}", data={
        **hidden, "support_direction": direction, "goal": "月1回の訪問", "role_agency": ELDERLY.ja,
        "role_responsibility": "見守り", "role_contact": "", "then": "save"}, headers={"Origin": base})


def direction_of(base: str, plan_id: str) -> Any:
    answer = httpx.get(f"{base}/plans/{plan_id}", headers=staff_headers(*WORKER), trust_env=False)
    assert answer.status_code == 200, answer.text
    return answer.json()["support_direction"]


def test_a_plan_saved_from_a_tab_opened_before_another_save_is_refused_with_409_and_the_input_kept(
        shared_suite: Suite) -> None:
    base = shared_suite.url("outreach")
    api = {**staff_headers(*WORKER), "content-type": "application/json"}
    case_id = str(uuid.uuid4())
    assert httpx.post(f"{base}/engagements", json={"case_id": case_id, "referred_by": "民生委員", "reason": "訪問を拒む"},
                      headers=api, trust_env=False).status_code == 201
    made = httpx.post(f"{base}/cases/{case_id}/plans", headers=api, trust_env=False, json={
        "support_direction": "はじめの方針", "goals": ["月1回の訪問"],
        "roles": [{"agency": ELDERLY.ja, "responsibility": "見守り"}]})
    assert made.status_code == 201, made.text
    plan_id = made.json()["plan_id"]

    with httpx.Client(trust_env=False, cookies={COOKIE: token(*WORKER)}, timeout=30) as browser:
        tab_a = editor_fields(browser.get(f"{base}/ui/plans/{plan_id}").text)
        tab_b = editor_fields(browser.get(f"{base}/ui/plans/{plan_id}").text)
        assert saved(browser, base, plan_id, tab_b, "Bの方針").status_code == 303

        stale = saved(browser, base, plan_id, tab_a, "Aの方針")

        assert stale.status_code == 409, (stale.status_code, stale.text[:300])
        assert "別のタブ" in stale.text and "another tab" in stale.text
        assert "Aの方針" in stale.text  # what tab A typed, kept in the editor
        assert direction_of(base, plan_id) == "Bの方針"  # nothing recorded: B's save stands

        again = saved(browser, base, plan_id, editor_fields(stale.text), "Aの方針")  # from the page that said so
        assert again.status_code == 303, (again.status_code, again.text[:300])
        assert direction_of(base, plan_id) == "Aの方針"


def needs_fields(page: str) -> dict[str, str]:
    """The hidden fields of the support page's needs form."""
    form = re.search(r'<form class="stack" method="post" action="/ui/supports/[^"]+/needs">.*?</form>', page, re.DOTALL)
    assert form is not None, page[:500]
    return {name: html.unescape(value) for name, value in
            re.findall(r'<input type="hidden" name="([^"]+)" value="([^"]*)"', form.group(0))}


def test_needs_recorded_from_a_tab_opened_before_another_recording_are_refused_with_409_and_the_input_kept(
        shared_suite: Suite) -> None:
    """The same on participation's support page: its needs form replaces the whole list, so a tab left open undid the
    needs another tab had recorded meanwhile."""
    from security.conftest import SERVICES
    from security.seed import seed

    base = shared_suite.url("participation")
    case_id = seed({name: shared_suite.url(name) for name in SERVICES}, name="調布 二郎")["case_id"]
    worker = ("sanka-hd2", LEAD, "participation_worker")

    def needs() -> Any:
        return httpx.get(f"{base}/supports/{case_id}", headers=staff_headers(*worker), trust_env=False).json()["needs"]

    def send(browser: httpx.Client, hidden: dict[str, str], rows: list[str]) -> httpx.Response:
        return browser.post(f"{base}/ui/supports/{case_id}/needs", data={**hidden, "needs": rows},
                            headers={"Origin": base})

    with httpx.Client(trust_env=False, cookies={COOKIE: token(*worker)}, timeout=30) as browser:
        tab_a = needs_fields(browser.get(f"{base}/ui/supports/{case_id}").text)
        tab_b = needs_fields(browser.get(f"{base}/ui/supports/{case_id}").text)
        assert send(browser, tab_b, ["就労体験", "居場所"]).status_code == 303

        stale = send(browser, tab_a, ["ボランティア"])

        assert stale.status_code == 409, (stale.status_code, stale.text[:300])
        assert "別のタブ" in stale.text and "ボランティア" in stale.text
        assert needs() == ["就労体験", "居場所"]
        assert send(browser, needs_fields(stale.text), ["ボランティア"]).status_code == 303
        assert needs() == ["ボランティア"]


def test_the_api_replaces_the_needs_only_if_the_support_is_still_the_version_read_when_if_match_is_sent(
        shared_suite: Suite) -> None:
    """The JSON API's two clients: GET the support (its `ETag`), PUT the needs with `If-Match`; a PUT naming a version
    the support has left is 412 `changed_meanwhile` and records nothing; without `If-Match` the last write wins, as
    before. The document declares the header, the 412 and the ETag."""
    from security.conftest import SERVICES
    from security.seed import seed

    base = shared_suite.url("participation")
    case_id = seed({name: shared_suite.url(name) for name in SERVICES}, name="調布 四郎")["case_id"]
    staff = {**staff_headers("sanka-hd3", LEAD, "participation_worker"), "content-type": "application/json"}
    with httpx.Client(trust_env=False, timeout=30, headers=staff) as api:
        read = api.get(f"{base}/supports/{case_id}")
        etag = read.headers["etag"]
        first = api.put(f"{base}/supports/{case_id}/needs", json={"needs": ["就労体験"]}, headers={"If-Match": etag})
        assert first.status_code == 200, first.text
        stale = api.put(f"{base}/supports/{case_id}/needs", json={"needs": ["居場所"]}, headers={"If-Match": etag})
        assert stale.status_code == 412 and stale.json()["code"] == "changed_meanwhile", (stale.status_code, stale.text)
        assert api.get(f"{base}/supports/{case_id}").json()["needs"] == ["就労体験"]
        assert api.put(f"{base}/supports/{case_id}/needs", json={"needs": ["居場所"]}).status_code == 200
        operation = api.get(f"{base}/openapi.json").json()["paths"]["/supports/{case_id}/needs"]["put"]
        assert "412" in operation["responses"]
        assert any(p["name"].lower() == "if-match" and p["in"] == "header" for p in operation["parameters"])
