"""A case's 経過 lists the journey's steps, not the store's bookkeeping (HC's review, session 20; the lead's go-ahead):
since each new plan takes its case's 1ケース1プラン record (OpenPlan, shared/domain/open_plan.py), the timeline said
「プランの作成（1ケース1プランの記録）」 right after 「支援プランの作成」 for every plan, a second step for one act. It is
left out of the steps; 監査 (the causation tree) still shows it."""

from __future__ import annotations

import httpx
from playwright.async_api import Browser, expect
from support.auth import reader
from support.journey import Journey

from jusou.runner import Suite

from .every_page import role_cookie


async def test_the_timeline_shows_a_plan_s_drafting_once_and_the_audit_keeps_its_open_plan_record(
        ui_suite: Suite, browser: Browser) -> None:
    urls = {name: ui_suite.url(name) for name in ui_suite.services}
    async with httpx.AsyncClient(timeout=30, headers=reader()) as client:
        journey = Journey(urls, client)
        case_id = await journey.receive_and_escalate()
        await journey.draft_and_propose(case_id)
    collaboration = urls["collaboration"]
    context = await browser.new_context(locale="ja-JP", viewport={"width": 1280, "height": 900})
    try:
        await context.add_cookies([role_cookie("coordinator", collaboration)])
        page = await context.new_page()
        await page.goto(f"{collaboration}/ui/cases/{case_id}/timeline")
        steps = page.get_by_role("list", name="経過")
        await expect(steps.locator("li[data-event='Plan.Drafted']")).to_have_count(1)
        await expect(steps.locator("li[data-event^='OpenPlan.']")).to_have_count(0)
        await expect(steps).not_to_contain_text("1ケース1プランの記録")

        await context.clear_cookies()
        await context.add_cookies([role_cookie("auditor", collaboration)])
        await page.goto(f"{collaboration}/ui/audit/cases/{case_id}")
        await expect(page.locator("main")).to_contain_text("1ケース1プランの記録")
    finally:
        await context.close()
