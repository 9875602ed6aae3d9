"""D3 D11 D12 through every service over HTTP (HB's review, HE): intake escalates a case, the meeting connects it to
outreach (connect_to), outreach hands the person back to the counter (OutreachHandedOver, to_program=intake). Receiving
that referral used to answer 409 「同時に別の更新がありました」 for ever (a second case with the held case's id) and the
referral stayed waiting; now the counter takes the case up again: no second case, the referral leaves the waiting list,
the counter is primary and closes the case where it is (対応終了) once the meeting ended the plan the case was escalated
under (D7: refused with 409 while that plan is in force, which collaboration and the meeting still held as in force)."""

from __future__ import annotations

from typing import Any

from support.journey import COORDINATOR, COUNTER_STAFF, OUTREACH_WORKER, Journey
from support.municipality import ELDERLY, concern


async def test_d3_d12_a_person_outreach_hands_back_to_the_counter_that_escalated_their_case_is_taken_up_and_closed(
        journey: Journey) -> None:
    case_id = await journey.receive_and_escalate()
    plan_id = await journey.draft_and_propose(case_id)
    meeting_id = await journey.convene()
    await journey.decide(meeting_id, plan_id, 1, "approved", connect_to=["outreach"])
    await journey.get_when("outreach", f"/engagements/{case_id}", lambda e: True, "outreach to start (connect_to)")
    await journey.post("outreach", f"/engagements/{case_id}/hand-over", {
        "to_program": "intake", "reason": "本人が窓口で就労の相談をしたいと話した", "counter": ELDERLY.code},
        OUTREACH_WORKER)

    async def referrals() -> list[dict[str, Any]]:
        response = await journey.http.get(journey.urls["intake"] + "/referrals", headers=COUNTER_STAFF)
        assert response.status_code == 200, response.text
        return [r for r in response.json() if r["case_id"] == case_id]

    from support.poll import eventually
    waiting = await eventually(referrals, "the referral to wait at the counter")
    person_ref = (await journey.http.get(journey.urls["intake"] + f"/cases/{case_id}", headers=COUNTER_STAFF)).json()[
        "person_ref"]
    assert waiting[0]["person_ref"] == person_ref, waiting
    body = {"counter": ELDERLY.code, "channel": "窓口", "concerns": [concern("employment")], "referral": case_id}

    # another person's details: a clear refusal naming the case's own person (D12), nothing recorded
    other = await journey.http.post(journey.urls["intake"] + "/consultations", headers=COUNTER_STAFF, json={
        **body, "person": {"name": "別の 人", "kana": "べつの ひと", "birth_date": "1990-01-01"},
        "confirm_new_person": True})
    assert other.status_code == 409 and person_ref in other.json()["detail"], other.text
    assert await referrals(), "a refused reception leaves the referral waiting"

    received = await journey.post("intake", "/consultations", {**body, "person_ref": person_ref}, COUNTER_STAFF)
    assert received["case_id"] == case_id  # the same case (D12), not a second one
    assert await referrals() == []
    case = await journey.get_when("intake", f"/cases/{case_id}", lambda c: c["status"] == "open", "taken up (D11)")
    assert case["primary"] == ELDERLY.ja and concern("employment") in case["concerns"], case
    early = await journey.http.post(journey.urls["intake"] + f"/cases/{case_id}/closure", headers=COUNTER_STAFF,
                                    json={"outcome": "resolved", "note": "就労につながった"})
    assert early.status_code == 409 and "終結" in early.json()["detail"], early.text  # D7: its plan is still in force
    await journey.post("collaboration", f"/plans/{plan_id}/closure-request", {"progress": "窓口で就労の相談へ"},
                       COORDINATOR)
    await journey.evaluate(meeting_id, plan_id, "closed")
    await journey.get_when("collaboration", f"/plans/{plan_id}", lambda p: p["status"] == "closed", "the plan's 終結")

    async def closed_at_the_counter() -> dict[str, Any] | None:
        answer = await journey.http.post(journey.urls["intake"] + f"/cases/{case_id}/closure", headers=COUNTER_STAFF,
                                         json={"outcome": "resolved", "note": "就労につながった"})
        return answer.json() if answer.status_code == 200 else None  # 409 until PlanClosed has reached intake
    closed = await eventually(closed_at_the_counter, "the counter to close the case once its plan ended")
    assert closed["status"] == "closed"  # D3: the agency handling it at the end closes it where it is
    cases = (await journey.http.get(journey.urls["intake"] + "/cases", headers=COUNTER_STAFF)).json()
    assert [c["case_id"] for c in cases].count(case_id) == 1
