"""Issue 13, items 1–3: a disclosure's legal basis is verified, every case is scoped to its divisions,
and what a 支援会議 said stays with its members (D9, D10, D11; 社会福祉法第106条の6).

Each test drives the suite of `security/conftest.py` (its own nats-server with a NATS user per
service) over HTTP as staff of different divisions would, with fresh records of its own, and
checks both the refusal and that nothing was recorded by it.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from typing import Any
from uuid import uuid4

import httpx
import nats as nats_py
import pytest
from support.auth import reader, staff_headers, token
from support.journey import COORDINATOR, COUNTER_STAFF, SECRETARIAT, Journey
from support.municipality import CHILDCARE, DISABILITY, ELDERLY, HARDSHIP, LEAD_NAME, concern, division_name

from jusou.runner import Suite
from security.conftest import SERVICES
from security.test_policy import served
from shared.web.auth import COOKIE

# by role, from the municipality file in force (support/municipality.py); Chofu's names in the comments
KOUKI = COUNTER_STAFF  # 高齢者支援室, the 地域包括支援センター's counter
KOUKI_COLLEAGUE = staff_headers("kouki-044", ELDERLY.division, "counselor")
SHOGAI = staff_headers("shogai-002", DISABILITY.division, "counselor")  # 障害福祉課
HOIKU = staff_headers("hoiku-001", CHILDCARE.division, "counselor")  # 保育課 (保育コンシェルジュ)
SEIKATSU = staff_headers("seikatsu-005", HARDSHIP.division, "counselor")  # 生活福祉課 (調布ライフサポート)
HOIKU_SUPERVISOR = ("hoiku-kanri", CHILDCARE.division, "supervisor")
KOUKI_SUPERVISOR = ("kouki-kanri", ELDERLY.division, "supervisor")
SECRET = "秘密の検討内容XYZ"


@pytest.fixture
async def journey(own_suite: Suite) -> AsyncIterator[Journey]:
    async with httpx.AsyncClient(timeout=15, headers=reader()) as client:
        yield Journey({name: own_suite.url(name) for name in SERVICES}, client)


async def receive(journey: Journey, counter: str = ELDERLY.code, staff: dict[str, str] = KOUKI,
                  name: str = "調布 三郎", birth_date: str | None = None) -> str:
    case = await journey.post("intake", "/consultations", {
        "counter": counter, "channel": "窓口", "concerns": [concern("elderly-care"), concern("hikikomori")],
        "person": {"name": name, "kana": "ちょうふ さぶろう", "birth_date": birth_date or f"19{uuid4().int % 90 + 10}-04-01"},
        "confirm_new_person": True}, staff)
    return str(case["case_id"])


async def convene(journey: Journey, meeting_type: str, attendees: list[str]) -> str:
    meeting = await journey.post("meeting", "/meetings", {"meeting_type": meeting_type, "held_on": "2026-12-04",
                                                          "attendees": attendees}, SECRETARIAT)
    return str(meeting["meeting_id"])


def person_url(journey: Journey, case_id: str) -> str:
    return journey.urls["intake"] + f"/cases/{case_id}/person"


async def consent_to_the_jusou_meeting(journey: Journey, case_id: str) -> None:
    """D9: the person's consent to sharing at the 重層的支援会議, recorded at the counter and heard by the meeting."""
    await journey.post("intake", f"/cases/{case_id}/consent", {"scope": "重層的支援会議での情報共有", "granted": True,
                                                               "method": "書面", "covers": ["jusou_shien_kaigi"]}, KOUKI)
    await journey.get_when("meeting", f"/consents/{case_id}", lambda c: c["granted"], "the consent at the meeting")


async def disclosures(journey: Journey, case_id: str) -> int:
    case = (await journey.http.get(journey.urls["intake"] + f"/cases/{case_id}")).json()
    return int(case["disclosures"])


# -- 1. the legal basis of a disclosure is verified (D9, D10) -----------------------------------------


async def test_trust_d10_a_made_up_or_wrong_meeting_is_no_basis_and_members_of_the_sitting_read(journey: Journey) -> None:
    case_id = await receive(journey)
    url = person_url(journey, case_id)
    made_up = {"basis": "shien_kaigi", "meeting_id": str(uuid4())}

    outsider = await journey.http.get(url, params=made_up, headers=SHOGAI)
    assert outsider.status_code == 403, "another division, a made-up 支援会議: refused (was 200 and recorded)"
    colleague = await journey.http.get(url, params=made_up, headers=KOUKI_COLLEAGUE)
    assert colleague.status_code == 403 and "支援会議ではありません" in colleague.json()["detail"], colleague.text

    jusou = await convene(journey, "jusou_shien_kaigi", [LEAD_NAME, DISABILITY.ja])
    shien = await convene(journey, "shien_kaigi", [LEAD_NAME, DISABILITY.ja])
    other_shien = await convene(journey, "shien_kaigi", [LEAD_NAME, CHILDCARE.ja])
    await consent_to_the_jusou_meeting(journey, case_id)  # D9: the 重層的支援会議 takes the case up with it only
    for meeting_id in (jusou, shien):
        taken = await journey.post("meeting", f"/meetings/{meeting_id}/cases", {"case_id": case_id}, SECRETARIAT)
        assert case_id in taken["cases"]
    await journey.get_when("intake", f"/cases/{case_id}", lambda c: len(c["sittings"]) == 2,
                           "MeetingCaseTakenUp of both sittings at intake")

    not_shien = await journey.http.get(url, params={"basis": "shien_kaigi", "meeting_id": jusou}, headers=SHOGAI)
    assert not_shien.status_code == 403, "a 重層的支援会議 is not a 支援会議 basis"
    not_member = await journey.http.get(url, params={"basis": "shien_kaigi", "meeting_id": shien}, headers=HOIKU)
    assert not_member.status_code == 403, "保育課 did not sit in that 支援会議"
    not_this_case = await journey.http.get(url, params={"basis": "shien_kaigi", "meeting_id": other_shien},
                                           headers=HOIKU)
    assert not_this_case.status_code == 403, "a 支援会議 that did not take this case up"
    assert await disclosures(journey, case_id) == 0, "no refusal was recorded as a disclosure"

    member = await journey.http.get(url, params={"basis": "shien_kaigi", "meeting_id": shien}, headers=SHOGAI)
    assert member.status_code == 200 and member.json()["name"] == "調布 三郎", member.text
    person_ref = member.json()["person_ref"]
    audit = (await journey.http.get(journey.urls["intake"] + f"/audit/people/{person_ref}/disclosures")).json()
    assert [(r["division"], r["basis"], r["meeting_id"]) for r in audit if r["action"] == "shown"] == [
        (DISABILITY.division, "shien_kaigi", shien)]


async def test_trust_d10_membership_compares_division_codes_not_display_names(journey: Journey) -> None:
    shien = await convene(journey, "shien_kaigi", [LEAD_NAME, ELDERLY.ja])
    url = journey.urls["meeting"] + f"/meetings/{shien}"

    elderly = await journey.http.get(url, headers=KOUKI)  # 高齢者支援室 runs the 地域包括支援センター
    assert elderly.status_code == 200 and elderly.json()["confidential"] is True, elderly.text
    childcare = await journey.http.get(url, headers=HOIKU)
    assert childcare.status_code == 403 and "守秘義務" in childcare.json()["detail"]


async def test_trust_d9_a_consent_is_read_for_what_it_covers(journey: Journey) -> None:
    case_id = await receive(journey)
    await journey.post("intake", f"/cases/{case_id}/escalate", {"reason": "複合", "primary_agency": ELDERLY.ja}, KOUKI)
    url = person_url(journey, case_id)
    unclear = await journey.http.post(journey.urls["intake"] + f"/cases/{case_id}/consent",
                                      json={"scope": "情報共有", "granted": True, "method": "書面"}, headers=KOUKI)
    assert unclear.status_code == 422 and "範囲" in unclear.json()["detail"], "a consent must say what it covers"
    await journey.post("intake", f"/cases/{case_id}/consent", {"scope": "重層的支援会議での情報共有", "granted": True,
                                                               "method": "書面", "covers": ["jusou_shien_kaigi"]}, KOUKI)
    narrow = await journey.http.get(url, params={"basis": "consent"}, headers=COORDINATOR)
    assert narrow.status_code == 403, "consent to the 重層的支援会議 is not consent for every agency"

    jusou = await convene(journey, "jusou_shien_kaigi", [LEAD_NAME, ELDERLY.ja])
    await journey.get_when("meeting", f"/consents/{case_id}", lambda c: c["granted"], "the consent at the meeting (D9)")
    await journey.post("meeting", f"/meetings/{jusou}/cases", {"case_id": case_id}, SECRETARIAT)
    await journey.get_when("intake", f"/cases/{case_id}", lambda c: c["sittings"], "the sitting at intake")
    at_meeting = await journey.http.get(url, params={"basis": "consent"}, headers=COORDINATOR)
    assert at_meeting.status_code == 200, "福祉総務課 sat in a 重層的支援会議 that took the case up, with consent"

    await journey.post("intake", f"/cases/{case_id}/consent", {"scope": "関係機関との情報共有", "granted": True,
                                                               "method": "書面", "covers": ["related_agencies"]}, KOUKI)
    await journey.get_when("meeting", f"/consents/{case_id}", lambda c: c["given"] and not c["granted"],
                           "the narrower consent at the meeting")
    plan = await journey.post("collaboration", f"/cases/{case_id}/plans", {
        "support_direction": "見守り", "goals": ["月1回の訪問"],
        "roles": [{"agency": ELDERLY.ja, "responsibility": "訪問"}]}, COORDINATOR)
    await journey.post("collaboration", f"/plans/{plan['plan_id']}/propose", None, COORDINATOR)
    await journey.get_when("meeting", f"/agenda/{plan['plan_id']}", lambda r: r["status"] == "proposed", "the plan on the agenda")
    refused = await journey.http.post(journey.urls["meeting"] + f"/meetings/{jusou}/decisions", json={
        "plan_id": plan["plan_id"], "decision": "approved", "reasons": "合議",
        "positions": [{"agency": a, "position": "agree"} for a in (LEAD_NAME, ELDERLY.ja)]},
        headers=SECRETARIAT)
    assert refused.status_code == 409 and "本人同意" in refused.json()["detail"], "D9: the consent does not cover the meeting"


async def test_trust_d9_a_closure_evaluation_at_the_jusou_meeting_needs_the_consent(journey: Journey) -> None:
    case_id = await journey.receive_and_escalate()
    plan_id = await journey.draft_and_propose(case_id)
    meeting_id = await journey.convene()
    await journey.decide(meeting_id, plan_id, 1, "approved")
    await journey.get_when("collaboration", f"/plans/{plan_id}", lambda p: p["status"] == "approved", "approval")
    await journey.post("collaboration", f"/plans/{plan_id}/closure-request", {"progress": "安定"}, COORDINATOR)
    await journey.post("intake", f"/cases/{case_id}/consent", {"scope": "重層的支援会議での情報共有", "granted": False,
                                                               "method": "口頭"}, KOUKI)
    await journey.get_when("meeting", f"/consents/{case_id}", lambda c: not c["granted"], "the withdrawal at the meeting")
    await journey.get_when("meeting", f"/agenda/{plan_id}", lambda r: r["status"] == "closure_requested", "the closure request")

    refused = await journey.http.post(journey.urls["meeting"] + f"/meetings/{meeting_id}/evaluations", json={
        "plan_id": plan_id, "outcome": "closed", "course": "訪問を継続", "result": "安定",
        "goal_results": [{"goal": g, "result": "achieved"} for g in
                         (await journey.http.get(journey.urls["meeting"] + f"/agenda/{plan_id}")).json()["goals"]]},
        headers=SECRETARIAT)

    assert refused.status_code == 409 and "本人同意" in refused.json()["detail"], refused.text
    plan = (await journey.http.get(journey.urls["collaboration"] + f"/plans/{plan_id}")).json()
    assert plan["status"] == "closure_requested", "no PlanClosed went out"


# -- 3. 支援会議 confidentiality end to end (法106条の6) ---------------------------------------------


async def read_meeting_decided(suite: Suite, plan_id: str) -> dict[str, Any]:
    """The MeetingDecided of `plan_id` as it stands on the JUSOU stream (the operator reads it)."""
    user, password = suite.nats_operator()
    nc = await nats_py.connect(suite.nats_url, user=user, password=password, allow_reconnect=False)
    try:
        js = nc.jetstream()
        sub = await js.subscribe("jusou.meeting.MeetingDecided", ordered_consumer=True)
        found: dict[str, Any] | None = None
        while True:
            try:
                msg = await sub.next_msg(timeout=1)
            except nats_py.errors.TimeoutError:
                break
            body = json.loads(msg.data)
            if body["payload"]["plan_id"] == plan_id:
                found = body
        assert found is not None, "the decision was published"
        return found
    finally:
        await nc.close()


async def test_trust_d10_shien_kaigi_approves_nothing_and_its_content_stays_with_its_members(
        journey: Journey, own_suite: Suite) -> None:
    case_id = await journey.receive_and_escalate()
    plan_id = await journey.draft_and_propose(case_id)  # roles: 地域包括支援センター, 調布ライフサポート
    members = [LEAD_NAME, ELDERLY.ja]
    shien = await convene(journey, "shien_kaigi", members)
    agree = [{"agency": a, "position": "agree"} for a in members]
    await journey.get_when("meeting", f"/agenda/{plan_id}", lambda r: r["status"] == "proposed", "the plan on the agenda")
    approval = await journey.http.post(journey.urls["meeting"] + f"/meetings/{shien}/decisions", json={
        "plan_id": plan_id, "decision": "approved", "reasons": "合議", "positions": agree}, headers=SECRETARIAT)
    assert approval.status_code == 409 and "適切性" in approval.json()["detail"], "D10: only the 重層的支援会議 approves"

    await journey.post("meeting", f"/meetings/{shien}/decisions", {
        "plan_id": plan_id, "decision": "revision_requested", "reasons": SECRET, "positions": agree}, SECRETARIAT)
    await journey.get_when("collaboration", f"/plans/{plan_id}", lambda p: p["status"] == "revision_requested",
                           "the revision request at collaboration")

    on_the_bus = await read_meeting_decided(own_suite, plan_id)
    assert on_the_bus["payload"]["meeting_type"] == "shien_kaigi" and on_the_bus["payload"]["reasons"] == ""
    assert SECRET not in json.dumps(on_the_bus, ensure_ascii=False)
    for path in (f"/cases/{case_id}/history", f"/plans/{plan_id}", f"/cases/{case_id}/state"):
        shown = await journey.http.get(journey.urls["collaboration"] + path)
        assert shown.status_code == 200 and SECRET not in shown.text, f"collaboration {path} shows the 支援会議's content"

    # 生活福祉課 holds a role in the plan: it reads the case at the meeting, but not the 支援会議's content
    for path in (f"/cases/{case_id}/history", f"/cases/{case_id}/state"):
        non_member = await journey.http.get(journey.urls["meeting"] + path, headers=SEIKATSU)
        assert non_member.status_code == 200 and SECRET not in non_member.text, f"meeting {path} to a non-member"
        assert "支援会議 members only" in non_member.text
        member = await journey.http.get(journey.urls["meeting"] + path, headers=KOUKI)
        assert member.status_code == 200 and SECRET in member.text, f"meeting {path}: a member sees the minutes"


# -- 2. division scope on every route of every service, reads and writes --------------------------------


async def test_trust_scope_cross_division_writes_are_refused_and_record_nothing(journey: Journey) -> None:
    case_id = await receive(journey, DISABILITY.code, SHOGAI)
    base = journey.urls["intake"] + f"/cases/{case_id}"
    writes = {
        "consent": {"scope": "重層的支援会議での情報共有", "granted": True, "method": "書面"},
        "connect": {"to_agency": CHILDCARE.ja, "reason": "保育の相談"},
        "escalate": {"reason": "複合", "primary_agency": CHILDCARE.ja},
    }
    for action, body in writes.items():
        refused = await journey.http.post(f"{base}/{action}", json=body, headers=HOIKU)
        assert refused.status_code == 403 and refused.headers["x-jusou-refused-by"] == "scope", (action, refused.text)
    case = (await journey.http.get(base)).json()
    assert (case["consent"], case["connections"], case["status"]) == (None, [], "open"), "nothing was recorded"
    assert (await journey.http.get(base, headers=HOIKU)).status_code == 403, "the refused connect made no reader"

    # connected by its own division, 保育課 reads the case to answer it, but does not write it
    await journey.post("intake", f"/cases/{case_id}/connect", writes["connect"], SHOGAI)
    assert (await journey.http.get(base, headers=HOIKU)).status_code == 200
    for action in ("consent", "escalate"):
        refused = await journey.http.post(f"{base}/{action}", json=writes[action], headers=HOIKU)
        assert refused.status_code == 403 and division_name(DISABILITY.division) in refused.json()["detail"], (action, refused.text)
    page = await journey.http.get(journey.urls["intake"] + f"/ui/cases/{case_id}", headers={"Authorization": ""},
                                  cookies={COOKIE: token("hoiku-001", CHILDCARE.division, "counselor")})
    assert page.status_code == 200 and f"/ui/cases/{case_id}/answer" in page.text
    assert f"/ui/cases/{case_id}/consent" not in page.text and f"/ui/cases/{case_id}/escalate" not in page.text, \
        "the case page offers 保育課 only the answer, not the writes it would be refused"
    answered = await journey.http.post(f"{base}/connections/0/answer", json={"accepted": False, "reason": "対象外"},
                                       headers=HOIKU)
    assert answered.status_code == 200, answered.text
    assert (await journey.http.get(base, headers=HOIKU)).status_code == 403, "a declined connection reads no more"


async def test_trust_scope_a_counselor_receives_only_at_their_own_divisions_counters(journey: Journey) -> None:
    refused = await journey.http.post(journey.urls["intake"] + "/consultations", json={
        "counter": DISABILITY.code, "channel": "窓口", "concerns": [concern("disability")],
        "person": {"name": "調布 四郎", "birth_date": "1980-01-01"}, "confirm_new_person": True}, headers=HOIKU)
    assert refused.status_code == 403 and CHILDCARE.code in refused.json()["detail"], refused.text
    cookies = {COOKIE: token("hoiku-001", CHILDCARE.division, "counselor")}
    page = await journey.http.get(journey.urls["intake"] + "/ui/consultations/new", cookies=cookies,
                                  headers={"Authorization": ""})
    assert page.status_code == 200 and f'value="{CHILDCARE.code}"' in page.text
    assert f'value="{DISABILITY.code}"' not in page.text, "the page offers only the counselor's own counters"


def _bearer(staff: tuple[str, str, str]) -> dict[str, str]:
    return staff_headers(*staff)


async def test_trust_scope_every_case_route_of_every_service_refuses_another_divisions_supervisor(
        journey: Journey, own_suite: Suite, seeded: dict[str, Any]) -> None:
    """The seeded case: received by 高齢者支援室, connected to 調布ライフサポート, escalated, planned, decided at a
    重層的支援会議, at participation and outreach. 保育課's supervisor (every read role) is refused it everywhere;
    高齢者支援室's reads it everywhere it is recorded; an auditor reads every division."""
    outsider, receiver, auditor = _bearer(HOIKU_SUPERVISOR), _bearer(KOUKI_SUPERVISOR), reader()
    checked = by_scope = 0
    for service, method, path in served():
        if method != "GET" or not ("{case_id}" in path or "{plan_id}" in path):
            continue
        url = own_suite.url(service) + path.replace("{case_id}", seeded["case_id"]).replace("{plan_id}", seeded["plan_id"])
        if "{" in url:
            continue
        if (await journey.http.get(url, headers=auditor)).status_code == 404:
            continue  # not this program's record (another program's plan): nobody sees anything
        if path.startswith("/ui/"):
            refused = await journey.http.get(url, headers={"Authorization": ""}, cookies={COOKIE: token(*HOIKU_SUPERVISOR)})
        else:
            refused = await journey.http.get(url, headers=outsider)
        assert refused.status_code == 403 and refused.headers.get("x-jusou-refused-by") in ("scope", "policy"), (
            service, path, refused.status_code)
        by_scope += refused.headers.get("x-jusou-refused-by") == "scope"
        if not path.startswith("/ui/"):
            audited = await journey.http.get(url, headers=auditor)  # every division; its role may still refuse
            assert audited.headers.get("x-jusou-refused-by") != "scope", (service, path, audited.status_code)
        checked += 1
    assert checked >= 20 and by_scope >= 20, (checked, by_scope)  # the role allowed them; the scope refused

    for service, path in (("collaboration", "/cases"), ("meeting", "/agenda"), ("participation", "/supports"),
                          ("outreach", "/engagements"), ("intake", "/cases")):
        listed = (await journey.http.get(own_suite.url(service) + path, headers=outsider)).json()
        assert seeded["case_id"] not in json.dumps(listed), f"{service} {path} lists another division's case"
    for service in ("intake", "collaboration", "meeting", "participation"):
        history = await journey.http.get(own_suite.url(service) + f"/cases/{seeded['case_id']}/history", headers=receiver)
        assert history.status_code == 200 and history.json(), f"{service}: the receiving division reads its case"


# -- 1. the second road: search, a new case at one's own counter, then the person's record -----------------


async def test_trust_a_basis_created_just_before_by_its_reader_is_marked_and_listed_for_supervisors(
        journey: Journey) -> None:
    birth = f"19{uuid4().int % 90 + 10}-07-07"
    first = await receive(journey, name="調布 五郎", birth_date=birth)
    own = await journey.http.get(person_url(journey, first), params={"basis": "own_counter"}, headers=KOUKI)
    assert own.status_code == 200

    found = await journey.http.get(journey.urls["intake"] + "/persons/search",
                                   params={"name": "調布 五郎", "birth_date": birth}, headers=HOIKU)
    person_ref = found.json()[0]["person_ref"]
    second = await journey.post("intake", "/consultations", {"counter": CHILDCARE.code, "channel": "電話",
                                                             "concerns": [concern("childcare")], "person_ref": person_ref}, HOIKU)
    read = await journey.http.get(person_url(journey, second["case_id"]), params={"basis": "own_counter"}, headers=HOIKU)
    assert read.status_code == 200

    audit = (await journey.http.get(journey.urls["intake"] + f"/audit/people/{person_ref}/disclosures")).json()
    shown = [(r["division"], r["recent_basis"]) for r in audit if r["action"] == "shown" and r["basis"] == "own_counter"]
    assert shown == [(ELDERLY.division, False), (CHILDCARE.division, True)], shown
    mine = (await journey.http.get(journey.urls["intake"] + "/audit/disclosures/recent-basis",
                                   headers=_bearer(HOIKU_SUPERVISOR))).json()
    assert (second["case_id"], "hoiku-001") in [(r["case_id"], r["staff_id"]) for r in mine]
    assert {r["division"] for r in mine} == {CHILDCARE.division}, "a supervisor sees their own division's staff"
    others = (await journey.http.get(journey.urls["intake"] + "/audit/disclosures/recent-basis",
                                     headers=_bearer(("shogai-kanri", DISABILITY.division, "supervisor")))).json()
    assert second["case_id"] not in json.dumps(others), "a supervisor sees their own division's staff"
    page = await journey.http.get(journey.urls["intake"] + "/ui/audit/recent-basis", headers={"Authorization": ""},
                                  cookies={COOKIE: token(*HOIKU_SUPERVISOR)})
    assert page.status_code == 200 and second["case_id"][:8] in page.text


async def test_trust_scope_a_persons_records_are_their_cases_divisions(journey: Journey) -> None:
    """The disclosure report and the erasure of a person: the divisions that read one of their cases."""
    case_id = await receive(journey, name="調布 六郎")
    person_ref = (await journey.http.get(journey.urls["intake"] + f"/cases/{case_id}")).json()["person_ref"]
    report = journey.urls["intake"] + f"/audit/people/{person_ref}/disclosures"

    outsider = await journey.http.get(report, headers=_bearer(HOIKU_SUPERVISOR))
    assert outsider.status_code == 403 and outsider.headers["x-jusou-refused-by"] == "scope", outsider.text
    erase = await journey.http.post(journey.urls["intake"] + f"/persons/{person_ref}/erasure", headers=_bearer(
        HOIKU_SUPERVISOR), json={"basis": "person_request", "reason": "本人の請求"})
    assert erase.status_code == 403 and erase.headers["x-jusou-refused-by"] == "scope", erase.text
    assert (await journey.http.get(report, headers=_bearer(KOUKI_SUPERVISOR))).status_code == 200
    assert (await journey.http.get(person_url(journey, case_id), params={"basis": "own_counter"},
                                   headers=KOUKI)).json()["erased"] is None, "the refused erasure erased nothing"
