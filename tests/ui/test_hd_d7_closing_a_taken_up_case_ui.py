"""D7 at the counter's page: a case the counter took up again from outreach's referral while the plan it was escalated
under is in force is not closed there (tests/unit/test_hd_d7_closing_a_taken_up_case.py): 対応終了 answers 409 beside
its form, saying to ask for the plan's 終結 at the meeting, the note as typed kept, and the page at the case's own
address (a reload posts nothing)."""

from __future__ import annotations

import re
from typing import Any

import httpx
from playwright.async_api import Page, expect
from support.auth import reader
from support.journey import COUNTER_STAFF, OUTREACH_WORKER, Journey
from support.municipality import ELDERLY, concern
from support.poll import eventually

from jusou.runner import Suite

from .conftest import at_the_counter


async def test_d7_closing_a_taken_up_case_whose_plan_is_in_force_is_refused_beside_its_form_with_the_note_kept(
        ui_suite: Suite, page: Page) -> None:
    async with httpx.AsyncClient(timeout=30, headers=reader()) as client:
        journey = Journey({name: ui_suite.url(name) for name in ui_suite.services}, client)
        case_id = await journey.receive_and_escalate()
        plan_id = await journey.draft_and_propose(case_id)
        await journey.decide(await journey.convene(), plan_id, 1, "approved", connect_to=["outreach"])
        await journey.get_when("outreach", f"/engagements/{case_id}", lambda e: True, "outreach to start (connect_to)")
        await journey.post("outreach", f"/engagements/{case_id}/hand-over", {
            "to_program": "intake", "reason": "窓口で就労の相談をしたい", "counter": ELDERLY.code}, OUTREACH_WORKER)

        async def waiting() -> list[dict[str, Any]]:
            answer = await client.get(journey.urls["intake"] + "/referrals", headers=COUNTER_STAFF)
            return [r for r in answer.json() if r["case_id"] == case_id]
        referral = (await eventually(waiting, "the referral to wait at the counter"))[0]
        await journey.post("intake", "/consultations", {
            "counter": ELDERLY.code, "channel": "窓口", "concerns": [concern("employment")], "referral": case_id,
            "person_ref": referral["person_ref"]}, COUNTER_STAFF)

    intake = await at_the_counter(page, ui_suite, "kouki-012")
    await page.goto(f"{intake}/ui/cases/{case_id}")
    note = "就労につながったので終了したい（窓口でのまとめ）"
    await page.get_by_label(re.compile("経過のまとめ")).fill(note)
    async with page.expect_response(lambda r: r.request.method == "POST" and r.url.endswith("/closure")) as answered:
        await page.get_by_role("button", name=re.compile("対応終了を記録")).click()

    assert (await answered.value).status == 409
    await expect(page.locator("#error-closure")).to_contain_text("終結")
    await expect(page.get_by_label(re.compile("経過のまとめ"))).to_have_value(note)
    await expect(page).to_have_url(re.compile(rf"/ui/cases/{case_id}$"))
