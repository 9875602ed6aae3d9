"""The meeting's rules over HTTP: consensus (D5), evaluation per goal (D7), consent (D9)."""

from __future__ import annotations

from support.auth import staff_headers
from support.journey import COORDINATOR, COUNTER_STAFF, SECRETARIAT, Journey

ATTENDEES = ("福祉総務課", "地域包括支援センター", "調布ライフサポート")


async def proposed(journey: Journey) -> tuple[str, str, str]:
    case_id = await journey.receive_and_escalate()
    plan_id = await journey.draft_and_propose(case_id)
    meeting_id = await journey.convene()
    await journey.get_when("meeting", f"/agenda/{plan_id}", lambda r: r["status"] == "proposed", "the plan on the agenda")
    return case_id, plan_id, meeting_id


async def test_d5_decision_refused_while_an_agency_objects(journey: Journey) -> None:
    _, plan_id, meeting_id = await proposed(journey)
    positions = [{"agency": a, "position": "agree"} for a in ATTENDEES[:2]]
    positions.append({"agency": ATTENDEES[2], "position": "object", "reason": "家計の役割分担が未定"})
    response = await journey.http.post(journey.urls["meeting"] + f"/meetings/{meeting_id}/decisions", json={
        "plan_id": plan_id, "decision": "approved", "reasons": "合議", "positions": positions}, headers=SECRETARIAT)
    assert response.status_code == 409 and "家計の役割分担が未定" in response.json()["detail"]
    review = (await journey.http.get(journey.urls["meeting"] + f"/agenda/{plan_id}")).json()
    assert review["status"] == "proposed"  # nothing decided


async def test_d5_every_attending_agency_states_a_position(journey: Journey) -> None:
    _, plan_id, meeting_id = await proposed(journey)
    response = await journey.http.post(journey.urls["meeting"] + f"/meetings/{meeting_id}/decisions", json={
        "plan_id": plan_id, "decision": "approved", "reasons": "合議",
        "positions": [{"agency": ATTENDEES[0], "position": "agree"}]}, headers=SECRETARIAT)
    assert response.status_code == 422
    assert ATTENDEES[1] in response.json()["detail"] and ATTENDEES[2] in response.json()["detail"]


async def test_d5_minutes_keep_each_position(journey: Journey) -> None:
    _, plan_id, meeting_id = await proposed(journey)
    await journey.decide(meeting_id, plan_id, 1, "approved")
    meeting = (await journey.http.get(journey.urls["meeting"] + f"/meetings/{meeting_id}", headers=SECRETARIAT)).json()
    [entry] = [m for m in meeting["minutes"] if m.get("plan_id") == plan_id]
    assert {p["agency"] for p in entry["positions"]} == set(ATTENDEES)


async def test_d7_evaluation_covers_every_goal(journey: Journey) -> None:
    _, plan_id, meeting_id = await proposed(journey)
    await journey.decide(meeting_id, plan_id, 1, "approved")
    await journey.get_when("collaboration", f"/plans/{plan_id}", lambda p: p["status"] == "approved", "approval")
    await journey.post("collaboration", f"/plans/{plan_id}/closure-request", {"progress": "安定"}, COORDINATOR)
    await journey.get_when("meeting", f"/agenda/{plan_id}", lambda r: r["status"] == "closure_requested", "closure request")
    response = await journey.http.post(journey.urls["meeting"] + f"/meetings/{meeting_id}/evaluations", json={
        "plan_id": plan_id, "outcome": "closed", "course": "c", "result": "r", "goal_results": []}, headers=SECRETARIAT)
    assert response.status_code == 422 and "目標ごと" in response.json()["detail"]
    await journey.evaluate(meeting_id, plan_id, "continued", next_review_on="2027-03-31")
    plan = await journey.get_when("collaboration", f"/plans/{plan_id}", lambda p: p["status"] == "continued", "PlanContinued")
    assert plan["history"][-1]["evaluation"]["goals"][0]["result"] == "achieved"


async def test_d9_consent_withdrawn_stops_the_jusou_shien_kaigi(journey: Journey) -> None:
    case_id, plan_id, meeting_id = await proposed(journey)
    await journey.post("intake", f"/cases/{case_id}/consent", {"scope": "重層的支援会議での情報共有", "granted": False,
                                                               "method": "口頭"}, COUNTER_STAFF)
    await journey.get_when("meeting", f"/consents/{case_id}", lambda c: c["granted"] is False, "the withdrawal at the meeting")
    response = await journey.http.post(journey.urls["meeting"] + f"/meetings/{meeting_id}/decisions", json={
        "plan_id": plan_id, "decision": "approved", "reasons": "合議",
        "positions": [{"agency": a, "position": "agree"} for a in ATTENDEES]}, headers=SECRETARIAT)
    assert response.status_code == 409 and "本人同意" in response.json()["detail"]


async def test_d10_shien_kaigi_records_are_shown_only_to_its_members(journey: Journey) -> None:
    shien = await journey.post("meeting", "/meetings", {"meeting_type": "shien_kaigi", "held_on": "2026-11-28",
                                                        "attendees": ["福祉総務課", "地域包括支援センター"]}, SECRETARIAT)
    url = journey.urls["meeting"] + f"/meetings/{shien['meeting_id']}"
    member = await journey.http.get(url, headers=SECRETARIAT)
    assert member.status_code == 200 and member.json()["confidential"] is True
    outsider = await journey.http.get(url, headers=staff_headers("hoiku-1", "childcare", "counselor"))
    assert outsider.status_code == 403 and "守秘義務" in outsider.json()["detail"]


async def test_d10_personal_information_is_shown_on_a_legal_basis_and_each_showing_recorded(journey: Journey) -> None:
    case_id = await journey.receive_and_escalate()  # consent to the 重層的支援会議 granted in this journey
    url = journey.urls["intake"] + f"/cases/{case_id}/person"
    outsider = staff_headers("hoiku-1", "childcare", "counselor")
    for basis in ("own_counter", "consent", "shien_kaigi"):  # another division: not the case's, on any basis
        refused = await journey.http.get(url, params={"basis": basis}, headers=outsider)
        assert refused.status_code == 403 and refused.headers["x-jusou-refused-by"] == "scope", refused.text
    coordinator = staff_headers("fukushi-9", "welfare-general", "coordinator")  # reads the escalated case
    narrow = await journey.http.get(url, params={"basis": "consent"}, headers=coordinator)
    assert narrow.status_code == 403 and "範囲" in narrow.json()["detail"], "D9: consent to the meeting only"
    await journey.post("intake", f"/cases/{case_id}/consent", {
        "scope": "関係機関との情報共有", "granted": True, "method": "書面", "covers": ["related_agencies"]}, COUNTER_STAFF)
    shown = await journey.http.get(url, params={"basis": "consent"}, headers=coordinator)
    assert shown.status_code == 200 and shown.json()["name"] == "調布 一郎"
    no_meeting = await journey.http.get(url, params={"basis": "shien_kaigi"}, headers=coordinator)
    assert no_meeting.status_code == 422
    await journey.post("intake", f"/cases/{case_id}/consent", {"scope": "関係機関との情報共有", "granted": False,
                                                               "method": "口頭"}, COUNTER_STAFF)
    withdrawn = await journey.http.get(url, params={"basis": "consent"}, headers=coordinator)
    assert withdrawn.status_code == 403 and "同意" in withdrawn.json()["detail"]
    case = (await journey.http.get(journey.urls["intake"] + f"/cases/{case_id}")).json()
    assert case["disclosures"] == 1
