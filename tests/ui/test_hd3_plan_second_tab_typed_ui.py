"""終結の依頼 sent from a second tab after the plan's closure was already requested is refused, as before, saying so at
the top of the plan page; but the 経過 the coordinator had written there (often a paragraph of the support's course) was
lost with the form, which the page no longer shows. Now the page shows it under 「記録していない入力内容」 to copy
(HD's review, session 21)."""

from __future__ import annotations

import re

import httpx
from playwright.async_api import Page, expect
from support.auth import reader
from support.journey import Journey
from support.municipality import LEAD

from jusou.runner import Suite

from .conftest import close_tab, sign_in


async def test_d7_a_closure_request_refused_in_a_second_tab_keeps_its_progress_on_the_page(
        ui_suite: Suite, page: Page) -> None:
    collaboration = ui_suite.url("collaboration")
    async with httpx.AsyncClient(timeout=30, headers=reader()) as client:
        journey = Journey({name: ui_suite.url(name) for name in ui_suite.services}, client)
        case_id = await journey.receive_and_escalate()
        plan_id = await journey.draft_and_propose(case_id)
        await journey.decide(await journey.convene(), plan_id, 1, "approved")
        await journey.get_when("collaboration", f"/plans/{plan_id}", lambda p: p["status"] == "approved", "approval")
    await sign_in(page, collaboration, "fukushi-003", LEAD, "coordinator")
    second = await page.context.new_page()
    for tab in (page, second):
        await tab.goto(f"{collaboration}/ui/plans/{plan_id}")
        await expect(tab.locator("#closure textarea[name=progress]")).to_be_visible()

    await page.locator("#closure textarea[name=progress]").fill("訪問が定着した")
    await page.get_by_role("button", name=re.compile("終結の評価を依頼する")).click()
    await expect(page.get_by_role("alert").first).to_contain_text("終結の評価を会議に依頼しました")

    progress = "週1回の外出が3か月続き、母の介護サービスも安定した。本人は就労準備の講座に通い始めた。"
    await second.locator("#closure textarea[name=progress]").fill(progress)
    async with second.expect_response(lambda r: r.request.method == "POST") as answered:
        await second.get_by_role("button", name=re.compile("終結の評価を依頼する")).click()
    assert (await answered.value).status == 409
    await expect(second.locator("#closure-refused")).to_contain_text("終結を依頼できません")
    await expect(second.locator("#typed-not-recorded")).to_contain_text(progress)
    await close_tab(second)
