"""The counter's case page gives the whole ケース番号 (HD's review, session 21). Every other program's case page shows it
(「ケース番号 772e856f-…」), and outreach's 「既存のケース」 asks for it (「ケースの画面からコピー」, the whole number
only), but a case begins at the counter, whose page showed only its first eight characters: the counselor could not
give the outreach worker the number to start from (the address bar aside). Now the counter's page shows it, and the
number copied from there starts outreach on the same case."""

from __future__ import annotations

import re

import httpx
from playwright.async_api import Page, expect
from support.journey import COUNTER_STAFF
from support.municipality import ELDERLY, LEAD, concern, program_of

from jusou.runner import Suite

from .conftest import at_the_counter, sign_in


async def test_the_counters_case_page_gives_the_whole_number_that_outreach_starts_from(
        ui_suite: Suite, page: Page) -> None:
    intake, outreach = ui_suite.url("intake"), ui_suite.url("outreach")
    async with httpx.AsyncClient(timeout=30, headers=COUNTER_STAFF) as client:
        made = await client.post(f"{intake}/consultations", json={
            "counter": ELDERLY.code, "channel": "窓口", "concerns": [concern("elderly-care"), concern("hikikomori")],
            "person": {"name": "番号 写子", "birth_date": "1950-02-03"}, "confirm_new_person": True})
        assert made.status_code == 201, made.text
        # the counter connects the case to outreach (つなぎ, D9): only then does its division read it (test_hb6_outreach_start_scope)
        connected = await client.post(f"{intake}/cases/{made.json()['case_id']}/connect", json={
            "to_agency": program_of("outreach").ja, "reason": "訪問してほしい"})
        assert connected.status_code == 200, connected.text
    case_id = made.json()["case_id"]

    await at_the_counter(page, ui_suite, "kouki-012")
    await page.goto(f"{intake}/ui/cases/{case_id}")
    number = page.get_by_role("row", name=re.compile("ケース番号")).locator("code")
    await expect(number).to_have_text(case_id)
    copied = await number.inner_text()

    await sign_in(page, outreach, "outreach-007", LEAD, "outreach_worker")
    await page.goto(f"{outreach}/ui/")
    await page.get_by_role("radio", name=re.compile("既存のケース")).check()
    await page.get_by_role("textbox", name=re.compile("ケース番号")).fill(copied)
    await page.get_by_label(re.compile("紹介元")).select_option(index=1)
    await page.get_by_label(re.compile("理由・状況")).fill("窓口から: 息子が外出しない")
    await page.get_by_role("button", name=re.compile("始める")).click()
    await expect(page).to_have_url(re.compile(rf"/ui/engagements/{case_id}\?"))
    await expect(page.locator("#case-number")).to_have_text(case_id)
