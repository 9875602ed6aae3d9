"""Realistic journeys of the source's 支援フロー through every service, over HTTP only (issue: D1–D15)."""

from __future__ import annotations

from support.auth import staff_headers
from support.journey import COORDINATOR, SECRETARIAT, Journey
from support.municipality import CHILDCARE, ELDERLY, HARDSHIP, LEAD, LEAD_NAME, SHAKYO, concern

# by role, from the municipality file in force (support/municipality.py): Chofu's 保育コンシェルジュ (保育課),
# 調布ライフサポート (生活福祉課), 地域包括支援センター, 福祉総務課
HOIKU_STAFF = staff_headers("hoiku-021", CHILDCARE.division, "counselor")
LIFE_STAFF = staff_headers("life-009", HARDSHIP.division, "counselor")
ATTENDEES = [LEAD_NAME, CHILDCARE.ja, ELDERLY.ja]


async def test_double_care_through_the_hoiku_concierge(journey: Journey) -> None:
    """ダブルケア: a mother raising an infant and caring for her father, at the 保育コンシェルジュ (D1 D2 D3 D4 D5 D7)."""
    received = await journey.post("intake", "/consultations", {
        "counter": CHILDCARE.code, "channel": "窓口", "concerns": [concern("childcare"), concern("elderly-care")],
        "person": {"name": "深大寺 さくら", "kana": "じんだいじ さくら", "birth_date": "1988-05-05"},
    }, HOIKU_STAFF)
    case_id = received["case_id"]
    case = (await journey.http.get(journey.urls["intake"] + f"/cases/{case_id}")).json()
    assert case["division"] == CHILDCARE.division and case["escalation_candidate"] is True  # two fields (D3)
    await journey.post("intake", f"/cases/{case_id}/consent", {"scope": "重層的支援会議での情報共有", "granted": True,
                                                               "method": "書面"}, HOIKU_STAFF)
    await journey.post("intake", f"/cases/{case_id}/escalate",
                       {"reason": "保育と介護の両立が難しい（ダブルケア）", "primary_agency": CHILDCARE.ja}, HOIKU_STAFF)
    await journey.get_when("collaboration", f"/cases/{case_id}", lambda c: c["primary_agency"] == CHILDCARE.ja,
                           "collaboration to open the case with the counter as primary (D11)")
    plan = await journey.post("collaboration", f"/cases/{case_id}/plans", {
        "support_direction": "保育と介護の両方の負担を軽くし、本人が就労を続けられるようにする",
        "goals": ["保育所の入所調整", "父の介護サービス利用開始"],
        "roles": [{"agency": CHILDCARE.ja, "responsibility": "保育所の入所調整", "contact": "佐藤"},
                  {"agency": ELDERLY.ja, "responsibility": "父の要介護認定と介護サービス"}],
    }, COORDINATOR)
    plan_id = plan["plan_id"]
    await journey.post("collaboration", f"/plans/{plan_id}/propose", None, COORDINATOR)
    meeting = await journey.post("meeting", "/meetings", {"meeting_type": "jusou_shien_kaigi", "held_on": "2026-12-03",
                                                          "attendees": ATTENDEES}, SECRETARIAT)
    await journey.decide(meeting["meeting_id"], plan_id, 1, "approved")
    await journey.get_when("collaboration", f"/plans/{plan_id}", lambda p: p["status"] == "approved", "approval")
    await journey.post("collaboration", f"/plans/{plan_id}/closure-request",
                       {"progress": "保育所に入所し、父はデイサービスを週3回利用"}, COORDINATOR)
    await journey.evaluate(meeting["meeting_id"], plan_id, "closed")
    await journey.get_when("collaboration", f"/plans/{plan_id}", lambda p: p["status"] == "closed", "終結")
    trend = (await journey.http.get(journey.urls["intake"] + "/reports/trend")).json()
    assert any(r["counter"] == CHILDCARE.code and r["escalations"] >= 1 and r["meeting_cases"] >= 1 for r in trend)


async def test_case_without_consent_goes_to_the_shien_kaigi_first_then_to_the_jusou_shien_kaigi(journey: Journey) -> None:
    """D9 D10: no consent yet → 支援会議 (confidential); consent given → 重層的支援会議 decides."""
    received = await journey.post("intake", "/consultations", {
        "counter": HARDSHIP.code, "channel": "電話",
        "concerns": [concern("poverty"), concern("mental-health"), concern("housing")],
        "person": {"name": "柴崎 健", "kana": "しばさき けん", "birth_date": "1979-09-19"},
    }, LIFE_STAFF)
    case_id = received["case_id"]
    await journey.post("intake", f"/cases/{case_id}/escalate",
                       {"reason": "家賃滞納と精神的不調、本人は同意に迷っている", "primary_agency": HARDSHIP.ja},
                       LIFE_STAFF)
    plan_id = await journey.draft_and_propose(case_id)
    jusou = await journey.convene()
    await journey.get_when("meeting", f"/agenda/{plan_id}", lambda r: r["status"] == "proposed", "the plan on the agenda")
    refused = await journey.http.post(journey.urls["meeting"] + f"/meetings/{jusou}/decisions", json={
        "plan_id": plan_id, "decision": "approved", "reasons": "合議",
        "positions": [{"agency": a, "position": "agree"} for a in (LEAD_NAME, ELDERLY.ja, HARDSHIP.ja)],
    }, headers=SECRETARIAT)
    assert refused.status_code == 409 and "支援会議" in refused.json()["detail"]
    shien = await journey.post("meeting", "/meetings", {"meeting_type": "shien_kaigi", "held_on": "2026-12-01",
                                                        "attendees": [LEAD_NAME, HARDSHIP.ja]}, SECRETARIAT)
    await journey.decide(shien["meeting_id"], plan_id, 1, "revision_requested",
                         reasons="同意を得たうえで重層的支援会議に諮る")
    await journey.get_when("collaboration", f"/plans/{plan_id}", lambda p: p["status"] == "revision_requested", "支援会議の決定")
    await journey.post("intake", f"/cases/{case_id}/consent", {"scope": "重層的支援会議での情報共有", "granted": True,
                                                               "method": "書面"},
                       LIFE_STAFF)
    await journey.get_when("meeting", f"/consents/{case_id}", lambda c: c["granted"], "consent at the meeting")
    await journey.post("collaboration", f"/plans/{plan_id}/propose", None, COORDINATOR)
    await journey.decide(jusou, plan_id, 2, "approved")
    plan = await journey.get_when("collaboration", f"/plans/{plan_id}", lambda p: p["status"] == "approved", "approval")
    assert [h["decision"] for h in plan["history"]] == ["revision_requested", "approved"]


async def test_suspended_plan_resumes_with_a_new_revision(journey: Journey) -> None:
    """D7: 中断 is not 終結; the owner revises and the meeting approves again."""
    case_id = await journey.receive_and_escalate()
    plan_id = await journey.draft_and_propose(case_id)
    meeting_id = await journey.convene()
    await journey.decide(meeting_id, plan_id, 1, "approved")
    await journey.get_when("collaboration", f"/plans/{plan_id}", lambda p: p["status"] == "approved", "approval")
    await journey.post("collaboration", f"/plans/{plan_id}/closure-request", {"progress": "本人が入院"}, COORDINATOR)
    await journey.evaluate(meeting_id, plan_id, "suspended", reason="入院のため中断")
    await journey.get_when("collaboration", f"/plans/{plan_id}", lambda p: p["status"] == "suspended", "中断")
    revised = {"support_direction": "退院後の生活を支える", "goals": ["退院後の訪問再開"],
               "roles": [{"agency": ELDERLY.ja, "responsibility": "退院調整"}]}
    response = await journey.http.put(journey.urls["collaboration"] + f"/plans/{plan_id}", json=revised, headers=COORDINATOR)
    assert response.status_code == 200, response.text
    await journey.post("collaboration", f"/plans/{plan_id}/propose", None, COORDINATOR)
    await journey.decide(meeting_id, plan_id, 2, "approved")
    plan = await journey.get_when("collaboration", f"/plans/{plan_id}",
                                  lambda p: p["status"] == "approved" and p["revision"] == 2, "resumed approval")
    assert [h.get("outcome") or h.get("decision") for h in plan["history"]] == ["approved", "suspended", "approved"]
    assert [r["revision"] for r in plan["revisions"]] == [1, 2]  # D4: each revision kept as proposed
    assert plan["revisions"][0]["support_direction"] != plan["revisions"][1]["support_direction"]


async def test_8050_household_mother_at_the_houkatsu_son_reached_by_outreach_first(journey: Journey) -> None:
    """8050: a mother in her 80s at the 地域包括支援センター; her son, long withdrawn, reached by outreach
    before any escalation (D12), handed on to participation, who finds him a place (D13); the mother's
    household plan goes through the 重層的支援会議 (D3 D4 D5) and closes (D7)."""
    from support.journey import OUTREACH_WORKER, PARTICIPATION_STAFF
    from support.poll import eventually

    community_staff = staff_headers("chiiki-1", LEAD, "community_worker")
    # The son first: the mother's care manager worries; outreach starts with no case at intake (D12).
    son = await journey.post("outreach", "/engagements", {"referred_by": ELDERLY.ja,
                                                          "reason": "50代の息子が20年ひきこもっている"}, OUTREACH_WORKER)
    son_case = son["case_id"]
    for method, reached, stage in (("手紙", False, "未接触"), ("訪問", False, "未接触"), ("訪問", True, "接触"),
                                   ("訪問", True, "関係形成"), ("電話", True, "信頼関係")):
        await journey.post("outreach", f"/engagements/{son_case}/contacts",
                           {"method": method, "reached": reached, "note": "", "stage": stage}, OUTREACH_WORKER)
    # The mother at the counter; her case is escalated as a compound household case (D3).
    mother_case = await journey.receive_and_escalate()
    plan_id = await journey.draft_and_propose(mother_case)
    meeting_id = await journey.convene()
    await journey.decide(meeting_id, plan_id, 1, "approved")
    # The son is ready for a place to belong: outreach hands him to participation (D12 → D13).
    await journey.post("outreach", f"/engagements/{son_case}/hand-over",
                       {"to_program": "participation", "reason": "居場所への参加を希望"}, OUTREACH_WORKER)
    support = await journey.get_when("participation", f"/supports/{son_case}", lambda s: True, "participation to start")
    assert support["referred_by"] == "outreach"
    await journey.http.put(journey.urls["participation"] + f"/supports/{son_case}/needs",
                           json={"needs": ["日中の居場所", "同年代との交流"]}, headers=PARTICIPATION_STAFF)
    resource = await journey.post("community", "/resources", {"kind": "ibasho", "name": "ひきこもり当事者の集い 国領",
                                                              "provider": SHAKYO, "area": "国領"}, community_staff)

    async def in_catalogue() -> bool:
        rows = (await journey.http.get(journey.urls["participation"] + "/catalogue")).json()
        return any(r["resource_id"] == resource["resource_id"] for r in rows)

    await eventually(in_catalogue, "the new place in participation's catalogue")
    await journey.post("participation", f"/supports/{son_case}/matches", {"resource_id": resource["resource_id"]},
                       PARTICIPATION_STAFF)
    placed = await journey.post("participation", f"/supports/{son_case}/placements",
                                {"resource_id": resource["resource_id"], "started_on": "2026-12-10"}, PARTICIPATION_STAFF)
    await journey.post("participation", f"/supports/{son_case}/placements/{placed['index']}/review",
                       {"outcome": "settled", "note": "月2回参加"}, PARTICIPATION_STAFF)
    # The mother's plan closes once both are settled (D7).
    await journey.get_when("collaboration", f"/plans/{plan_id}", lambda p: p["status"] == "approved", "approval")
    await journey.post("collaboration", f"/plans/{plan_id}/closure-request",
                       {"progress": "母は介護サービス利用、息子は居場所に定着"}, COORDINATOR)
    await journey.evaluate(meeting_id, plan_id, "closed")
    await journey.get_when("collaboration", f"/plans/{plan_id}", lambda p: p["status"] == "closed", "終結")
    engagement = (await journey.http.get(journey.urls["outreach"] + f"/engagements/{son_case}")).json()
    assert engagement["handed_over_to"] == "participation" and len(engagement["contacts"]) == 5
    intake_cases = {c["case_id"] for c in (await journey.http.get(journey.urls["intake"] + "/cases")).json()}
    assert son_case not in intake_cases and mother_case in intake_cases  # the son never had to come to a counter
