"""The meeting's rules over HTTP: consensus (D5), evaluation per goal (D7), consent (D9)."""

from __future__ import annotations

from support.auth import staff_headers
from support.journey import COORDINATOR, COUNTER_STAFF, SECRETARIAT, Journey
from support.municipality import CHILDCARE, ELDERLY, HARDSHIP, LEAD, LEAD_NAME

ATTENDEES = (LEAD_NAME, ELDERLY.ja, HARDSHIP.ja)


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
    assert plan["next_review_on"] == "2027-03-31", "the next review date where the plan's owner works (issue 16)"


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
                                                        "attendees": [LEAD_NAME, ELDERLY.ja]}, SECRETARIAT)
    url = journey.urls["meeting"] + f"/meetings/{shien['meeting_id']}"
    member = await journey.http.get(url, headers=SECRETARIAT)
    assert member.status_code == 200 and member.json()["confidential"] is True
    outsider = await journey.http.get(url, headers=staff_headers("hoiku-1", CHILDCARE.division, "counselor"))
    assert outsider.status_code == 403 and "守秘義務" in outsider.json()["detail"]


async def test_d10_personal_information_is_shown_on_a_legal_basis_and_each_showing_recorded(journey: Journey) -> None:
    case_id = await journey.receive_and_escalate()  # consent to the 重層的支援会議 granted in this journey
    url = journey.urls["intake"] + f"/cases/{case_id}/person"
    outsider = staff_headers("hoiku-1", CHILDCARE.division, "counselor")
    for basis in ("own_counter", "consent", "shien_kaigi"):  # another division: not the case's, on any basis
        refused = await journey.http.get(url, params={"basis": basis}, headers=outsider)
        assert refused.status_code == 403 and refused.headers["x-jusou-refused-by"] == "scope", refused.text
    coordinator = staff_headers("fukushi-9", LEAD, "coordinator")  # reads the escalated case
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


async def test_city_must_attend_and_a_learning_reaches_the_casebook_over_http(journey: Journey) -> None:
    """Issue 16 over HTTP: a 重層的支援会議 without 福祉総務課 decides nothing (409, saying who must attend); a
    sitting convened with its people and agenda decides 全員賛成; a learning with a phone number is refused (422),
    without it recorded, and another counter's staff find it in the 事例集."""
    case_id, plan_id, _ = await proposed(journey)
    await journey.get_when("meeting", f"/consents/{case_id}", lambda c: c["granted"], "the consent at the meeting")
    meetings = journey.urls["meeting"] + "/meetings"
    without = await journey.post("meeting", "/meetings", {"meeting_type": "jusou_shien_kaigi", "held_on": "2026-12-03",
                                                          "attendees": list(ATTENDEES[1:])}, SECRETARIAT)
    refused = await journey.http.post(f"{meetings}/{without['meeting_id']}/decisions", json={
        "plan_id": plan_id, "decision": "approved", "reasons": "合議", "all_agree": True}, headers=SECRETARIAT)
    assert refused.status_code == 409 and f"{LEAD_NAME}（市）が出席していない" in refused.json()["detail"]

    people = [{"name": "調布 花子", "agency": LEAD_NAME}, {"name": "深大寺 太郎", "agency": ELDERLY.ja}]
    sitting = {"starts_at": "14:00", "ends_at": "15:00", "place": "市役所", "present": people,
               "chair": "調布 花子", "recorder": "深大寺 太郎"}
    meeting_id = (await journey.post("meeting", "/meetings", {
        "meeting_type": "jusou_shien_kaigi", "held_on": "2026-12-03", "attendees": list(ATTENDEES), "sitting": sitting,
        "agenda": [plan_id]}, SECRETARIAT))["meeting_id"]
    await journey.post("meeting", f"/meetings/{meeting_id}/decisions",
                       {"plan_id": plan_id, "decision": "approved", "reasons": "全員賛成", "all_agree": True}, SECRETARIAT)
    shown = (await journey.http.get(f"{meetings}/{meeting_id}", headers=SECRETARIAT)).json()
    assert shown["sitting"]["chair"] == "調布 花子" and [a["ref"] for a in shown["agenda"]] == [plan_id]
    [decision] = [m for m in shown["minutes"] if m["kind"] == "decision"]
    assert [(p["agency"], p["position"]) for p in decision["positions"]] == [(a, "agree") for a in ATTENDEES]

    learning = {"plan_id": plan_id, "situation": "介護と家計の課題が重なる世帯", "worked": "訪問に家計相談が同行した",
                "concerns": ["elderly-care", "debt"], "resources": ["家計改善支援"]}
    phone = await journey.http.post(f"{meetings}/{meeting_id}/learnings",
                                    json={**learning, "worked": "042-481-7111 に連絡して同行"}, headers=SECRETARIAT)
    assert phone.status_code == 422 and "個人を特定できる情報" in phone.json()["detail"]
    await journey.post("meeting", f"/meetings/{meeting_id}/learnings", learning, SECRETARIAT)
    another_counter = staff_headers("hoiku-1", CHILDCARE.division, "counselor")
    found = (await journey.http.get(journey.urls["meeting"] + "/learnings", params={"concern": "debt"},
                                    headers=another_counter)).json()
    mine = [f for f in found if f["meeting_id"] == meeting_id]
    assert [f["worked"] for f in mine] == ["訪問に家計相談が同行した"] and "case_id" not in mine[0]
