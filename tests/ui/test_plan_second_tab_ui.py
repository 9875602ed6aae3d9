"""A plan page open in two tabs (the review of issue 15's pages): 「終結の評価を依頼する」 in the first, then in the second
whose page still shows the form. The second is refused, and the answer says why at the top of the page: its form is no
longer there to hold the message (before, the page came back with no word at all)."""

from __future__ import annotations

import re

import httpx
from playwright.async_api import Page, expect
from support.auth import reader
from support.municipality import LEAD

from jusou.runner import Suite

from .conftest import close_tab, sign_in
from .test_collaboration_ui import escalate_a_case
from .test_plan_resume_accompany_ui import ROLES, approved_plan


async def test_a_closure_asked_again_from_a_stale_second_tab_says_why_it_was_refused(ui_suite: Suite, page: Page) -> None:
    collaboration = ui_suite.url("collaboration")
    case_id = await escalate_a_case(ui_suite.url("intake"), "二重 依頼")
    async with httpx.AsyncClient(headers=reader()) as client:
        plan_id, _ = await approved_plan(client, ui_suite, case_id, {
            "support_direction": "本人の外出を支える", "goals": ["週1回外出する"], "roles": ROLES})
    await sign_in(page, collaboration, "fukushi-003", LEAD, "coordinator")
    second = await page.context.new_page()
    for tab in (page, second):
        await tab.goto(f"{collaboration}/ui/plans/{plan_id}")
        await expect(tab.locator("#closure")).to_be_visible()

    await page.locator("#closure").get_by_label(re.compile("これまでの経過")).fill("目標を達成した")
    await page.locator("#closure").get_by_role("button", name=re.compile("終結の評価を依頼する")).click()
    await expect(page.locator("#closure")).to_have_count(0)

    await second.locator("#closure").get_by_label(re.compile("これまでの経過")).fill("同じ依頼をもう一度")
    await second.locator("#closure").get_by_role("button", name=re.compile("終結の評価を依頼する")).click()
    await expect(second.locator("#closure")).to_have_count(0)
    await expect(second.locator("#closure-refused")).to_be_visible()
    assert (await second.locator("#closure-refused").inner_text()).strip(), "the refusal's message is on the page"
    await close_tab(second)
