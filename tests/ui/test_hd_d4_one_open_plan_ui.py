"""D4 in the browser: 「プランを作成」 open in two tabs (or at two coordinators' desks). The first saves its draft; the second
is refused (409), saying the case has a plan not ended and where it is, with a link to that plan and the form as typed
(before, it made a second plan of the case, and both could go to the meeting: tests/unit/test_hd_d4_one_open_plan.py)."""

from __future__ import annotations

import re

from playwright.async_api import Page, expect
from support.municipality import ELDERLY, LEAD
from support.ui_ready import script_ready

from jusou.runner import Suite

from .conftest import close_tab, sign_in
from .test_collaboration_ui import escalate_a_case

COORDINATOR = ("fukushi-003", LEAD, "coordinator")


async def _write(tab: Page, direction: str) -> None:
    await tab.get_by_label(re.compile("支援の方向性")).fill(direction)
    await tab.locator("#goal-1").fill("月1回の訪問")
    await tab.locator("#role-agency-1").fill(ELDERLY.ja)
    await tab.locator("#role-responsibility-1").fill("母の介護サービス調整")


async def test_d4_a_second_tabs_new_plan_is_refused_naming_the_plan_not_ended_with_a_link_and_the_form_kept(
        ui_suite: Suite, page: Page) -> None:
    collaboration = ui_suite.url("collaboration")
    case_id = await escalate_a_case(ui_suite.url("intake"), "二枚目 計画")
    await sign_in(page, collaboration, *COORDINATOR)
    await expect(page.locator(f"#cases tr[data-case='{case_id}']")).to_be_visible(timeout=20_000)  # heard of it
    second = await page.context.new_page()
    for tab in (page, second):
        await tab.goto(f"{collaboration}/ui/cases/{case_id}/plans/new")
        await expect(tab.get_by_role("heading", name=re.compile("プランの作成"))).to_be_visible()

    await _write(page, "最初のタブの方向性")
    await page.get_by_role("button", name=re.compile("下書き保存")).click()
    await script_ready(page, url=re.compile(r"/ui/plans/[0-9a-f-]{36}\?"))
    first_plan = re.search(r"/ui/plans/([0-9a-f-]{36})", page.url).group(1)  # type: ignore[union-attr]

    await _write(second, "二つ目のタブの方向性")
    async with second.expect_response(lambda r: r.request.method == "POST") as answered:
        await second.get_by_role("button", name=re.compile("下書き保存")).click()
    assert (await answered.value).status == 409
    await expect(second.get_by_role("alert").first).to_contain_text("終わっていないプラン")
    await expect(second.get_by_role("alert").first).to_contain_text("下書き")
    await expect(second.locator("#open-plan a")).to_have_attribute("href", f"/ui/plans/{first_plan}")
    await expect(second.get_by_label(re.compile("支援の方向性"))).to_have_value("二つ目のタブの方向性")
    await close_tab(second)
