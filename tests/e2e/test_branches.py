"""The journey's other branches across the running suite (SQLite): D5 return, D6 plans, D7, D8, D12."""

from __future__ import annotations

from itertools import takewhile
from typing import Any

from support.auth import ANONYMOUS, staff_headers
from support.journey import (
    COORDINATOR,
    COUNTER_STAFF,
    OUTREACH_WORKER,
    PARTICIPATION_STAFF,
    PLAN,
    SECRETARIAT,
    Journey,
)
from support.municipality import CHILDCARE, ELDERLY, HARDSHIP, LEAD, LEAD_NAME, SHAKYO, concern, partner
from support.poll import eventually

# divisions, counters, agencies and concern fields by role, from the municipality file in force (support/municipality.py)
CONSENT = {"scope": "重層的支援会議での情報共有", "granted": True, "method": "書面"}


async def receive_and_escalate_at(journey: Journey, counter: str, staff: dict[str, str], primary: str) -> str:
    """A consultation at `counter` by its division's staff, with consent (D9), escalated naming `primary` (D3 D11)."""
    case = await journey.post("intake", "/consultations", {
        "counter": counter, "channel": "窓口", "concerns": [concern("elderly-care"), concern("hikikomori"), concern("debt")],
        "person": {"name": "調布 一郎", "kana": "ちょうふ いちろう", "birth_date": "1968-10-10"},
        "confirm_new_person": True}, staff)
    case_id: str = case["case_id"]
    await journey.post("intake", f"/cases/{case_id}/consent", CONSENT, staff)
    await journey.post("intake", f"/cases/{case_id}/escalate", {"reason": "複合的な課題", "primary_agency": primary}, staff)
    return case_id


async def test_d5_returned_to_intake_makes_intake_primary_again(journey: Journey) -> None:
    # The case leaves the counter's hands: escalated with another agency (社協) named primary (D3 D11).
    case_id = await receive_and_escalate_at(journey, ELDERLY.code, COUNTER_STAFF, SHAKYO)
    escalated = await journey.get_when("intake", f"/cases/{case_id}", lambda c: c["status"] == "escalated", "escalation")
    assert escalated["primary"] == SHAKYO
    plan_id = await journey.draft_and_propose(case_id)
    meeting_id = await journey.convene()
    await journey.decide(meeting_id, plan_id, 1, "returned_to_intake", primary_agency=ELDERLY.ja)
    case = await journey.get_when("intake", f"/cases/{case_id}", lambda c: c["status"] == "returned",
                                  "CaseReturnedToIntake to reach intake")
    assert case["primary"] == ELDERLY.ja, "D5 D11: the counter's agency is primary again"
    plan = await journey.get_when("collaboration", f"/plans/{plan_id}", lambda p: p["status"] == "returned", "the plan to follow")
    assert plan["history"][0]["decision"] == "returned_to_intake"
    # Intake holds the case again: it may escalate it anew (refused while it was escalated, D3).
    await journey.post("intake", f"/cases/{case_id}/escalate", {"reason": "再度の複合化", "primary_agency": ELDERLY.ja},
                       COUNTER_STAFF)


async def test_d7_suspended_plan_can_be_closed_later(journey: Journey) -> None:
    case_id = await journey.receive_and_escalate()
    plan_id = await journey.draft_and_propose(case_id)
    meeting_id = await journey.convene()
    await journey.decide(meeting_id, plan_id, 1, "approved")
    await journey.get_when("collaboration", f"/plans/{plan_id}", lambda p: p["status"] == "approved", "approval")
    await journey.post("collaboration", f"/plans/{plan_id}/closure-request", {"progress": "本人が転居"}, COORDINATOR)
    await journey.evaluate(meeting_id, plan_id, "suspended", reason="市外へ転居", result="一部達成")
    plan = await journey.get_when("collaboration", f"/plans/{plan_id}", lambda p: p["status"] == "suspended", "PlanSuspended")
    assert plan["history"][-1]["outcome"] == "suspended"
    # Later (D7): the owner asks again for closure of the suspended plan, and the meeting closes it.
    await journey.post("collaboration", f"/plans/{plan_id}/closure-request", {"progress": "転居先の機関へ引継ぎ済み"}, COORDINATOR)
    await journey.evaluate(meeting_id, plan_id, "closed")
    plan = await journey.get_when("collaboration", f"/plans/{plan_id}", lambda p: p["status"] == "closed", "PlanClosed")
    assert [h.get("outcome") or h.get("decision") for h in plan["history"]] == ["approved", "suspended", "closed"]


async def test_d12_outreach_starts_before_escalation_and_d6_its_plan_goes_to_the_meeting(journey: Journey) -> None:
    started = await journey.post("outreach", "/engagements", {"referred_by": "民生委員", "reason": "長期ひきこもりの疑い"},
                                 OUTREACH_WORKER)
    case_id = started["case_id"]
    await journey.post("outreach", f"/engagements/{case_id}/contacts",
                       {"method": "訪問", "reached": True, "note": "玄関越しに会話", "stage": "接触"}, OUTREACH_WORKER)
    plan = await journey.post("outreach", f"/cases/{case_id}/plans", PLAN, OUTREACH_WORKER)
    plan_id = plan["plan_id"]
    await journey.post("outreach", f"/plans/{plan_id}/propose", None, OUTREACH_WORKER)
    # D6: outreach's own plan is on the meeting's agenda as proposed, as outreach wrote it ...
    item = await journey.get_when("meeting", f"/agenda/{plan_id}", lambda r: r["program"] == "outreach",
                                  "the outreach plan on the agenda")
    assert (item["case_id"], item["status"], item["revision"], item["goals"]) == (case_id, "proposed", 1, PLAN["goals"])
    # ... D12: while neither intake nor collaboration has ever known the case: outreach began first.
    for service in ("intake", "collaboration"):
        unknown = await journey.http.get(journey.urls[service] + f"/cases/{case_id}")
        assert unknown.status_code == 404, f"{service} knows the case before any consultation or escalation"
    # No consent was ever recorded: the 重層的支援会議 refuses to discuss it (D9).
    meeting_id = await journey.convene()
    refused = await journey.http.post(journey.urls["meeting"] + f"/meetings/{meeting_id}/decisions",
                                      json={"plan_id": plan_id, "decision": "approved", "reasons": "合議", "positions": [
                                          {"agency": a, "position": "agree"} for a in (LEAD_NAME, ELDERLY.ja, HARDSHIP.ja)]},
                                      headers=SECRETARIAT)
    assert refused.status_code == 409 and "本人同意" in refused.json()["detail"]
    # Outreach hands the person to a counter, which records their consent on the same case (D12 D9) ...
    await journey.post("outreach", f"/engagements/{case_id}/hand-over",
                       {"to_program": "intake", "reason": "本人が相談を希望", "counter": ELDERLY.code}, OUTREACH_WORKER)

    async def referred() -> bool:
        rows = (await journey.http.get(journey.urls["intake"] + "/referrals")).json()
        return any(r["case_id"] == case_id for r in rows)

    await eventually(referred, "the referral at intake")
    await journey.post("intake", "/consultations", {
        "counter": ELDERLY.code, "channel": "訪問", "concerns": [concern("hikikomori")], "referral": case_id,
        "person": {"name": "深大寺 三郎", "birth_date": "1990-06-01"}, "confirm_new_person": True}, COUNTER_STAFF)
    await journey.post("intake", f"/cases/{case_id}/consent", CONSENT, COUNTER_STAFF)
    # ... and the 重層的支援会議 decides outreach's plan; the decision comes back to outreach (D6).
    await journey.decide(meeting_id, plan_id, 1, "approved")
    plan_view = await journey.get_when("outreach", f"/plans/{plan_id}", lambda p: p["status"] == "approved", "approval at outreach")
    assert [(h["meeting_id"], h["decision"]) for h in plan_view["history"]] == [(meeting_id, "approved")]


async def test_d8_shortage_and_gap_reach_community_as_regional_issues(journey: Journey) -> None:
    case_id = await journey.receive_and_escalate()
    plan_id = await journey.draft_and_propose(case_id)
    meeting_id = await journey.convene()
    await journey.decide(meeting_id, plan_id, 1, "approved", connect_to=["participation"])
    await journey.get_when("participation", f"/supports/{case_id}", lambda s: True, "participation to start")
    await journey.post("participation", f"/supports/{case_id}/shortages",
                       {"need": "夜間の居場所", "area": "調布市東部", "description": "夜間に開いている居場所がない"}, PARTICIPATION_STAFF)
    await journey.post("meeting", f"/meetings/{meeting_id}/resource-gaps",
                       {"case_id": case_id, "need": "ひきこもり当事者会", "area": "市内全域", "description": "当事者会がない"}, SECRETARIAT)

    async def issues() -> list[dict[str, str]] | None:
        response = await journey.http.get(journey.urls["community"] + "/issues")
        mine = [i for i in response.json() if i["case_id"] == case_id]
        return mine if len(mine) == 2 else None

    found = await eventually(issues, "both regional issues at community")
    assert {(i["need"], i["reported_by"]) for i in found} == {("夜間の居場所", "participation"), ("ひきこもり当事者会", "meeting")}


async def test_d6_participation_plan_goes_to_the_meeting_and_its_decision_comes_back(journey: Journey) -> None:
    case_id = await journey.receive_and_escalate()
    plan_id = await journey.draft_and_propose(case_id)
    meeting_id = await journey.convene()
    await journey.decide(meeting_id, plan_id, 1, "approved", connect_to=["participation"])
    await journey.get_when("participation", f"/supports/{case_id}", lambda s: True, "participation to start")
    # D13: only a resource of the catalogue can be matched; community registers it (D8).
    community_staff = staff_headers("chiiki-004", LEAD, "community_worker")
    resource = await journey.post("community", "/resources", {"kind": "ibasho", "name": "こころの居場所 国領",
                                                              "provider": partner("npo"), "area": "国領町"}, community_staff)

    async def catalogued() -> bool:
        response = await journey.http.get(journey.urls["participation"] + "/catalogue")
        return any(r["resource_id"] == resource["resource_id"] for r in response.json())

    await eventually(catalogued, "the resource in participation's catalogue")
    await journey.post("participation", f"/supports/{case_id}/matches",
                       {"resource_kind": "居場所", "resource_id": resource["resource_id"]}, PARTICIPATION_STAFF)
    own = await journey.post("participation", f"/cases/{case_id}/plans", PLAN, PARTICIPATION_STAFF)
    await journey.post("participation", f"/plans/{own['plan_id']}/propose", None, PARTICIPATION_STAFF)
    item = await journey.get_when("meeting", f"/agenda/{own['plan_id']}", lambda r: r["status"] == "proposed",
                                  "participation's plan on the agenda")
    assert (item["program"], item["case_id"], item["revision"]) == ("participation", case_id, 1)
    await journey.decide(meeting_id, own["plan_id"], 1, "revision_requested")
    await journey.get_when("participation", f"/plans/{own['plan_id']}", lambda p: p["status"] == "revision_requested",
                           "the revision request at participation")
    await journey.post("participation", f"/plans/{own['plan_id']}/propose", None, PARTICIPATION_STAFF)
    await journey.decide(meeting_id, own["plan_id"], 2, "approved")
    decided = await journey.get_when("participation", f"/plans/{own['plan_id']}", lambda p: p["status"] == "approved",
                                     "the participation plan's approval")
    assert [(h["meeting_id"], h["decision"]) for h in decided["history"]] == [
        (meeting_id, "revision_requested"), (meeting_id, "approved")]


async def test_d2_search_before_create_over_http(journey: Journey) -> None:
    COUNTER_STAFF = staff_headers("hoiku-003", CHILDCARE.division, "counselor")

    person = {"name": "国領 次郎", "kana": "こくりょう じろう", "birth_date": "1961-07-07", "phone": "090-1111-2222"}
    body = {"counter": CHILDCARE.code, "channel": "窓口", "concerns": [concern("childcare"), concern("elderly-care")],
            "person": person}
    first = await journey.post("intake", "/consultations", body, COUNTER_STAFF)
    again = await journey.http.post(journey.urls["intake"] + "/consultations", json=body, headers=COUNTER_STAFF)
    assert again.status_code == 409
    [candidate] = again.json()["candidates"]
    known = await journey.http.get(journey.urls["intake"] + f"/cases/{first['case_id']}")
    assert candidate["person_ref"] == known.json()["person_ref"]
    reused = await journey.post("intake", "/consultations", {**body, "person": None, "person_ref": candidate["person_ref"]},
                                COUNTER_STAFF)
    assert reused["case_id"] != first["case_id"]
    second = (await journey.http.get(journey.urls["intake"] + f"/cases/{reused['case_id']}")).json()
    assert second["person_ref"] == candidate["person_ref"], "the new case is the known person's, not a new person"


async def test_d4_plan_refused_without_roles_or_with_an_unknown_agency(journey: Journey) -> None:
    case_id = await journey.receive_and_escalate()
    await journey.get_when("collaboration", f"/cases/{case_id}", lambda c: True, "collaboration to open the case")
    url = journey.urls["collaboration"] + f"/cases/{case_id}/plans"
    no_roles = await journey.http.post(url, json={**PLAN, "roles": []}, headers=COORDINATOR)
    assert no_roles.status_code == 422 and "役割" in no_roles.json()["detail"]
    unknown = await journey.http.post(url, json={**PLAN, "roles": [{"agency": "架空の会", "responsibility": "見守り"}]},
                                      headers=COORDINATOR)
    assert unknown.status_code == 422 and "架空の会" in unknown.json()["detail"]
    agencies = (await journey.http.get(journey.urls["collaboration"] + "/reference/agencies")).json()
    assert ELDERLY.ja in agencies and "架空の会" not in agencies


async def test_auth_commands_without_a_credential_are_refused(journey: Journey) -> None:
    body = {"counter": ELDERLY.code, "channel": "窓口", "concerns": [concern("elderly-care")], "person": {"name": "匿名"}}
    anonymous = await journey.http.post(journey.urls["intake"] + "/consultations", json=body, headers=ANONYMOUS)
    assert anonymous.status_code == 401 and "Bearer" in anonymous.json()["detail"]
    assert anonymous.headers["www-authenticate"].startswith("Bearer")
    unknown_division = await journey.http.post(journey.urls["intake"] + "/consultations", json=body,
                                               headers=staff_headers("x", "nowhere", "counselor"))
    assert unknown_division.status_code == 401 and LEAD in unknown_division.json()["detail"]


async def test_d12_outreach_hands_over_to_collaboration_which_opens_the_case(journey: Journey) -> None:
    started = await journey.post("outreach", "/engagements", {"referred_by": "家族", "reason": "10年以上外出していない"},
                                 OUTREACH_WORKER)
    case_id = started["case_id"]
    for stage in ("接触", "関係形成", "信頼関係"):
        await journey.post("outreach", f"/engagements/{case_id}/contacts",
                           {"method": "訪問", "reached": True, "note": stage, "stage": stage}, OUTREACH_WORKER)
    refused = await journey.http.post(journey.urls["outreach"] + f"/engagements/{case_id}/hand-over",
                                      json={"to_program": "collaboration", "reason": "複合課題"}, headers=OUTREACH_WORKER)
    assert refused.status_code == 422 and "主担当" in refused.json()["detail"]
    await journey.post("outreach", f"/engagements/{case_id}/hand-over",
                       {"to_program": "collaboration", "reason": "家族の介護と本人の就労", "primary_agency": ELDERLY.ja},
                       OUTREACH_WORKER)
    case = await journey.get_when("collaboration", f"/cases/{case_id}", lambda c: True, "collaboration to open the case")
    assert case["primary_agency"] == ELDERLY.ja
    engagement = (await journey.http.get(journey.urls["outreach"] + f"/engagements/{case_id}")).json()
    assert engagement["stage"] == "信頼関係" and len(engagement["contacts"]) == 3


async def test_d14_trend_report_counts_meeting_cases_per_counter(journey: Journey) -> None:
    # The suite is shared: the counter's row before this case, and what this case adds to it.
    def counts(rows: list[dict[str, Any]]) -> tuple[int, int, int]:
        mine = [r for r in rows if r["counter"] == HARDSHIP.code]
        consultations, escalations, meeting_cases = (sum(r[k] for r in mine) for k in ("consultations", "escalations",
                                                                                           "meeting_cases"))
        return consultations, escalations, meeting_cases

    life_support = staff_headers("life-014", HARDSHIP.division, "counselor")
    before = counts((await journey.http.get(journey.urls["intake"] + "/reports/trend")).json())
    case_id = await receive_and_escalate_at(journey, HARDSHIP.code, life_support, HARDSHIP.ja)
    plan_id = await journey.draft_and_propose(case_id)
    meeting_id = await journey.convene()
    await journey.decide(meeting_id, plan_id, 1, "revision_requested")
    await journey.get_when("collaboration", f"/plans/{plan_id}", lambda p: p["status"] == "revision_requested", "revision")
    await journey.post("collaboration", f"/plans/{plan_id}/propose", None, COORDINATOR)
    await journey.decide(meeting_id, plan_id, 2, "approved")
    await journey.get_when("intake", f"/cases/{case_id}", lambda c: len(c.get("meetings", [])) == 2,
                           "both decisions to reach intake")

    rows = (await journey.http.get(journey.urls["intake"] + "/reports/trend")).json()
    [row, *_] = [r for r in rows if r["counter"] == HARDSHIP.code]
    # One consultation, escalated once, discussed at a meeting twice: one meeting case more (a case counts once).
    assert counts(rows) == (before[0] + 1, before[1] + 1, before[2] + 1), (before, rows)
    assert row["period_ja"] == f"{row['fiscal_year']}年度 第{row['quarter']}四半期"


async def test_d15_a_case_history_lists_every_program_in_order(journey: Journey) -> None:
    from jusou.cli import case_history

    case_id = await journey.receive_and_escalate()
    plan_id = await journey.draft_and_propose(case_id)
    meeting_id = await journey.convene()
    await journey.decide(meeting_id, plan_id, 1, "approved")
    await journey.get_when("collaboration", f"/plans/{plan_id}", lambda p: p["status"] == "approved", "approval")
    await journey.get_when("intake", f"/cases/{case_id}", lambda c: c.get("meetings"), "the decision at intake")
    import asyncio

    rows = await asyncio.to_thread(case_history, case_id, journey.urls)
    steps = [(r["service"], r["event"]) for r in rows]
    for expected in [("intake", "Case.Received"), ("intake", "Case.Escalated"), ("collaboration", "CollaborationCase.Opened"),
                     ("collaboration", "Plan.Proposed"), ("meeting", "PlanReview.Listed"), ("meeting", "Meeting.Decided"),
                     ("collaboration", "Plan.DecisionRecorded"), ("intake", "Case.MeetingNoted")]:
        assert expected in steps, f"{expected} missing from the history"
    assert steps.index(("intake", "Case.Escalated")) < steps.index(("collaboration", "CollaborationCase.Opened"))
    assert steps.index(("meeting", "Meeting.Decided")) < steps.index(("collaboration", "Plan.DecisionRecorded"))
    decided = next(r for r in rows if r["event"] == "Meeting.Decided")
    assert decided["actor"]["division"] == LEAD and decided["fields"]["decision"] == "approved"
    assert all("調布 一郎" not in str(r) for r in rows), "personal information in the history"
    from shared.domain.audit import causation_tree

    tree = [(depth, r["service"], r["event"]) for depth, r in causation_tree(rows)]
    escalated = tree.index((0, "intake", "Case.Escalated"))
    children = list(takewhile(lambda t: t[0] > 0, tree[escalated + 1:]))  # the policies under their cause
    assert (1, "collaboration", "CollaborationCase.Opened") in children, tree
    assert (1, "meeting", "HeldCase.Announced") in children, tree  # the meeting heard it too (D4), either first
    decided = next(i for i, t in enumerate(tree) if t[1:] == ("meeting", "Meeting.Decided"))
    assert (tree[decided][0] + 1, "collaboration", "Plan.DecisionRecorded") in tree[decided + 1:]


async def test_d12_outreach_hands_over_to_a_counter_which_receives_the_person_on_the_same_case(journey: Journey) -> None:
    from support.journey import COUNTER_STAFF

    started = await journey.post("outreach", "/engagements", {"referred_by": "民生委員", "reason": "高齢の独居、受診拒否"},
                                 OUTREACH_WORKER)
    case_id = started["case_id"]
    refused = await journey.http.post(journey.urls["outreach"] + f"/engagements/{case_id}/hand-over",
                                      json={"to_program": "intake", "reason": "相談につながった"}, headers=OUTREACH_WORKER)
    assert refused.status_code == 422 and "窓口" in refused.json()["detail"]
    await journey.post("outreach", f"/engagements/{case_id}/hand-over",
                       {"to_program": "intake", "reason": "本人が相談を希望", "counter": ELDERLY.code}, OUTREACH_WORKER)

    async def waiting() -> list[dict[str, str]] | None:
        rows = (await journey.http.get(journey.urls["intake"] + "/referrals")).json()
        return [r for r in rows if r["case_id"] == case_id] or None

    from support.poll import eventually

    [referral] = await eventually(waiting, "the referral at intake")
    assert referral["counter"] == ELDERLY.code
    received = await journey.post("intake", "/consultations", {
        "counter": ELDERLY.code, "channel": "訪問", "concerns": [concern("elderly-care"), concern("health")], "referral": case_id,
        "person": {"name": "飛田給 トメ", "birth_date": "1938-02-11"}, "confirm_new_person": True}, COUNTER_STAFF)
    assert received["case_id"] == case_id  # one case, one journey, from outreach to the counter
    again = await journey.http.post(journey.urls["intake"] + "/consultations", json={
        "counter": ELDERLY.code, "channel": "訪問", "concerns": [concern("health")], "referral": case_id,
        "person": {"name": "x"}, "confirm_new_person": True}, headers=COUNTER_STAFF)
    assert again.status_code == 409
    assert case_id not in [r["case_id"] for r in (await journey.http.get(journey.urls["intake"] + "/referrals")).json()]
