"""The contact form refuses a contact that reached the person with the relationship left at 「未接触」 (HD's review,
session 22): before, the form's 関係の段階（記録後）, which offers the engagement's stage (未接触 on a new one), recorded
「会えた … 未接触」 when the worker did not change it. Now the refusal says to choose 「接触」 or later (the page's alert,
and beside the form), the form kept as typed; with 接触 chosen the contact is recorded."""

from __future__ import annotations

import re

import httpx
from playwright.async_api import Page, expect
from support.journey import OUTREACH_WORKER
from support.municipality import LEAD

from jusou.runner import Suite

from .conftest import sign_in


async def test_a_reached_contact_left_at_not_contacted_is_refused_with_the_form_kept(ui_suite: Suite, page: Page) -> None:
    outreach = ui_suite.url("outreach")
    async with httpx.AsyncClient(timeout=30, headers=OUTREACH_WORKER) as client:
        started = await client.post(f"{outreach}/engagements", json={"referred_by": "近隣住民", "reason": "段階の確認"})
        assert started.status_code == 201, started.text
    case_id = started.json()["case_id"]
    await sign_in(page, outreach, "outreach-007", LEAD, "outreach_worker")
    await page.goto(f"{outreach}/ui/engagements/{case_id}")

    await expect(page.get_by_label("関係の段階（記録後）")).to_have_value("未接触")
    await page.get_by_label("会えた・話せた").check()
    await page.get_by_label("記録 / note", exact=True).fill("玄関先で10分話せた")
    await page.get_by_role("button", name=re.compile("接触を記録")).click()

    await expect(page.get_by_role("alert").first).to_contain_text("「接触」以降を選んでください")
    await expect(page.locator("#contact .flash.ng")).to_contain_text("「接触」以降を選んでください")
    await expect(page.locator("#contact-log")).to_contain_text("まだ接触の記録はありません")
    await expect(page.get_by_label("会えた・話せた")).to_be_checked()
    await expect(page.locator("#note")).to_have_value("玄関先で10分話せた")

    await page.get_by_label("関係の段階（記録後）").select_option("接触")
    await page.get_by_role("button", name=re.compile("接触を記録")).click()
    await expect(page.get_by_role("alert").first).to_contain_text("接触を記録しました")
    await expect(page.locator("#contact-log tbody tr").first).to_contain_text("玄関先で10分話せた")
