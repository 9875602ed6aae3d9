"""「伴走支援に移る」 refused for a goal not ticked keeps the goals that were ticked (HD's review, session 21): the page
came back naming the unmet goal (「未達成: 介護サービスを使う」) with the 開始日 kept but every goal unticked, so the
coordinator ticked them all again; now the ticked ones stay ticked and only the one named is left to tick."""

from __future__ import annotations

import re

import httpx
from playwright.async_api import Page, expect
from support.auth import reader
from support.municipality import LEAD

from jusou.runner import Suite

from .conftest import sign_in
from .test_collaboration_ui import escalate_a_case
from .test_plan_resume_accompany_ui import ROLES, approved_plan


async def test_a_refused_move_to_accompaniment_keeps_the_ticked_goals(ui_suite: Suite, page: Page) -> None:
    collaboration = ui_suite.url("collaboration")
    case_id = await escalate_a_case(ui_suite.url("intake"), "伴走 三郎")
    async with httpx.AsyncClient(headers=reader()) as client:
        plan_id, _ = await approved_plan(client, ui_suite, case_id, {
            "support_direction": "本人の外出を支える", "goals": ["週1回外出する", "通院を続ける"], "roles": ROLES,
            "members": [{"label": "母", "goals": ["介護サービスを使う"]}]})
    await sign_in(page, collaboration, "fukushi-003", LEAD, "coordinator")
    await page.goto(f"{collaboration}/ui/plans/{plan_id}")
    form = page.locator("#accompany")
    await form.get_by_label("週1回外出する").check()
    await form.get_by_label("通院を続ける").check()
    await form.get_by_label("伴走支援の開始日").fill("令和8年11月1日")
    await form.get_by_role("button", name=re.compile("伴走支援に移る")).click()

    await expect(page.locator("#accompany-error")).to_contain_text("未達成: 介護サービスを使う")
    await expect(form.get_by_label("週1回外出する")).to_be_checked()
    await expect(form.get_by_label("通院を続ける")).to_be_checked()
    await expect(form.get_by_label("介護サービスを使う")).not_to_be_checked()
    await expect(form.get_by_label("伴走支援の開始日")).to_have_value("令和8年11月1日")
