"""A decision sent from a second tab (or a second secretary's desk) after the plan was decided is refused, as before,
saying so at the top of the meeting page; but what the secretary had typed -- the reasons for a 修正依頼, each
agency's comment -- was lost with the form, which the page no longer shows (the plan has left the agenda). Now the
page shows it under 「記録していない入力内容」 to copy (HD's review, session 21)."""

from __future__ import annotations

import re

import httpx
from playwright.async_api import Page, expect
from support.auth import reader
from support.journey import Journey
from support.municipality import LEAD

from jusou.runner import Suite

from .conftest import close_tab, sign_in


async def test_a_decision_refused_in_a_second_tab_keeps_what_was_typed_on_the_page(ui_suite: Suite, page: Page) -> None:
    meeting = ui_suite.url("meeting")
    async with httpx.AsyncClient(timeout=30, headers=reader()) as client:
        journey = Journey({name: ui_suite.url(name) for name in ui_suite.services}, client)
        case_id = await journey.receive_and_escalate()
        plan_id = await journey.draft_and_propose(case_id)
        meeting_id = await journey.convene()
        await journey.get_when("meeting", f"/agenda/{plan_id}", lambda r: r["status"] == "proposed", "the agenda")
        await journey.get_when("meeting", f"/consents/{case_id}", lambda c: c["granted"], "the consent")
    await sign_in(page, meeting, "kaigi-001", LEAD, "secretariat")
    second = await page.context.new_page()
    form_of = f"form:has(input[name=plan_id][value='{plan_id}']):has(button[name=all_agree])"
    for tab in (page, second):
        await tab.goto(f"{meeting}/ui/meetings/{meeting_id}")
        await expect(tab.locator(form_of)).to_be_visible()

    await page.locator(form_of).get_by_role("button", name=re.compile("全員賛成で承認")).click()
    await expect(page.get_by_role("alert").first).to_contain_text("決定を記録しました")

    typed = second.locator(form_of)
    await typed.locator("input[name=position-0][value=comment]").check()
    await typed.locator("input[name=reason-0]").fill("就労の目標を週単位で書いてほしい")
    for index in (1, 2):
        await typed.locator(f"input[name=position-{index}][value=agree]").check()
    await typed.locator("input[name=decision][value=revision_requested]").check()
    await typed.locator("textarea[name=reasons]").fill("目標を具体的に（週1回の外出を何曜日に）")
    async with second.expect_response(lambda r: r.request.method == "POST") as answered:
        await typed.get_by_role("button", name=re.compile("決定を記録する")).click()
    assert (await answered.value).status == 409
    await expect(second.get_by_role("alert").first).to_contain_text("審議できる状態ではありません")
    kept = second.locator("#typed-not-recorded")
    await expect(kept).to_contain_text("目標を具体的に（週1回の外出を何曜日に）")
    await expect(kept).to_contain_text("就労の目標を週単位で書いてほしい")
    await close_tab(second)
