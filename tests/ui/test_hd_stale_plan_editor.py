"""A plan's editor open in a tab while the plan leaves the draft elsewhere (HD's review as staff: a second tab, or a
colleague's desk, takes it to the meeting). Saving from the stale tab is refused (409, nothing recorded, D4: the
proposed revision stays as it was proposed), and the page says so at its top, with what was typed kept on the page to
copy. Before, the answer was the plan page without the editor (the plan is no longer editable) and without a word:
the refusal was put in the editor, which the page no longer shows, and the typed text was gone with it. The same
pages serve outreach's and participation's plans (shared/web/plan_pages.py)."""

from __future__ import annotations

import re

import httpx
from playwright.async_api import Page, expect
from support.auth import reader, staff_headers
from support.municipality import ELDERLY, LEAD

from jusou.runner import Suite

from .conftest import sign_in
from .test_collaboration_ui import escalate_a_case, post

COORDINATOR = ("fukushi-003", LEAD, "coordinator")


async def test_d4_a_draft_saved_from_a_tab_opened_before_it_was_proposed_elsewhere_says_so_and_keeps_the_text(
        ui_suite: Suite, page: Page) -> None:
    collaboration = ui_suite.url("collaboration")
    case_id = await escalate_a_case(ui_suite.url("intake"), "古い 編集画面")
    headers = staff_headers(*COORDINATOR)
    async with httpx.AsyncClient(headers=reader(), timeout=30) as client:
        async def collaboration_holds_it() -> bool:
            return (await client.get(f"{collaboration}/cases/{case_id}")).status_code == 200
        from support.poll import eventually
        await eventually(collaboration_holds_it, "collaboration to open the escalated case")
        plan = await post(client, f"{collaboration}/cases/{case_id}/plans", {
            "support_direction": "母の介護を支える", "goals": ["月1回の訪問"],
            "roles": [{"agency": ELDERLY.ja, "responsibility": "母の介護サービス調整"}]}, headers)
    plan_id = plan["plan_id"]

    await sign_in(page, collaboration, *COORDINATOR)
    await page.goto(f"{collaboration}/ui/plans/{plan_id}")
    typed = "本人の外出を週1回から始め、家計の相談を生活困窮の窓口につなぐ（この画面で書き直した方向性）"
    await page.get_by_label(re.compile("支援の方向性")).fill(typed)

    async with httpx.AsyncClient(timeout=30) as client:  # the other tab: the draft goes to the meeting as it was
        await post(client, f"{collaboration}/plans/{plan_id}/propose", None, headers)

    async with page.expect_response(lambda r: r.request.method == "POST" and r.url.endswith(plan_id)) as answered:
        await page.get_by_role("button", name=re.compile("下書き保存")).click()
    assert (await answered.value).status == 409

    refused = page.locator("#editor-refused")
    await expect(refused).to_be_visible()
    await expect(refused).to_have_attribute("role", "alert")
    await expect(refused).to_contain_text("保存していません")
    await expect(refused).to_contain_text("会議に提出中")  # where the plan is now, in staff's words
    await expect(refused).not_to_contain_text("proposed")  # no status code
    await expect(page.locator("#typed-not-saved")).to_contain_text(typed)  # what was typed, to copy
    async with httpx.AsyncClient(headers=reader(), timeout=30) as client:
        kept = (await client.get(f"{collaboration}/plans/{plan_id}")).json()
    assert kept["status"] == "proposed" and kept["support_direction"] == "母の介護を支える", kept
