"""A contact recorded from a tab left open put the relationship back (HD's review, session 24, on a jusou up): the contact
form's 関係の段階（記録後） offers the stage the page was opened with; a colleague (or the same worker in another tab)
recorded a contact that moved the engagement from 「接触」 to 「関係形成」; the stale tab then recorded a visit that found
nobody, its stage select untouched at 「接触」, and the engagement went back to 「接触」 without a word (the log: 会えず
接触). Now a contact sent from a page that showed another stage than the engagement has now is refused, 409, saying
the stage it has now and that nothing was recorded, the form kept as typed with the stage now chosen; sent again from
there it is recorded (the worker has seen the stage)."""

from __future__ import annotations

import re

import httpx
from playwright.async_api import Page, expect
from support.journey import OUTREACH_WORKER
from support.municipality import LEAD

from jusou.runner import Suite

from .conftest import close_tab, sign_in


async def test_a_contact_from_a_stale_tab_does_not_put_the_stage_back(ui_suite: Suite, page: Page) -> None:
    outreach = ui_suite.url("outreach")
    async with httpx.AsyncClient(timeout=30, headers=OUTREACH_WORKER) as client:
        started = await client.post(f"{outreach}/engagements", json={"referred_by": "近隣住民", "reason": "二つのタブ"})
        assert started.status_code == 201, started.text
        case_id = started.json()["case_id"]
        first = await client.post(f"{outreach}/engagements/{case_id}/contacts",
                                  json={"method": "訪問", "reached": True, "note": "玄関先で話せた", "stage": "接触"})
        assert first.status_code < 300, first.text
    await sign_in(page, outreach, "outreach-007", LEAD, "outreach_worker")
    second = await page.context.new_page()
    for tab in (page, second):
        await tab.goto(f"{outreach}/ui/engagements/{case_id}")
        await expect(tab.get_by_label("関係の段階（記録後）")).to_have_value("接触")

    await page.get_by_label("会えた・話せた").check()
    await page.get_by_label("関係の段階（記録後）").select_option("関係形成")
    await page.get_by_label("記録 / note", exact=True).fill("部屋で30分話せた")
    await page.get_by_role("button", name=re.compile("接触を記録")).click()
    await expect(page.get_by_role("alert").first).to_contain_text("接触を記録しました")

    await second.get_by_label("会えなかった").check()
    await second.get_by_label("記録 / note", exact=True).fill("訪問したが不在")
    async with second.expect_response(lambda r: r.request.method == "POST") as answered:
        await second.get_by_role("button", name=re.compile("接触を記録")).click()
    assert (await answered.value).status == 409
    await expect(second.get_by_role("alert").first).to_contain_text("「関係形成」に替わっています")
    await expect(second.locator("#contact .flash.ng")).to_contain_text("記録していません")
    await expect(second.locator("#contact-log")).not_to_contain_text("訪問したが不在")
    await expect(second.locator("#note")).to_have_value("訪問したが不在")
    await expect(second.get_by_label("会えなかった")).to_be_checked()
    await expect(second.get_by_label("関係の段階（記録後）")).to_have_value("関係形成")

    await second.get_by_role("button", name=re.compile("接触を記録")).click()  # seen now: recorded
    await expect(second.get_by_role("alert").first).to_contain_text("接触を記録しました")
    log = second.locator("#contact-log tbody tr")
    await expect(log).to_have_count(3)
    await expect(log.nth(2)).to_contain_text("訪問したが不在")
    await expect(log.nth(2)).to_contain_text("関係形成")
    await close_tab(second)
