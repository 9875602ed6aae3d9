"""A supervisor erases a person from the case page (issue 6); a counselor is not offered the form."""

from __future__ import annotations

import re

import httpx
from playwright.async_api import Page, expect
from support.auth import sign_in, staff_headers
from support.municipality import ELDERLY

from jusou.runner import Suite

from .conftest import shoot

COUNTER_STAFF = staff_headers("kouki-012", ELDERLY.division, "counselor")
PERSON = {"name": "国領 鶺鴒", "kana": "こくりょう せきれい", "birth_date": "1952-08-15", "phone": "042-555-0192",
          "address": "調布市国領町八丁目"}


async def test_erasure_from_the_case_page_shows_the_person_as_erased(ui_suite: Suite, page: Page) -> None:
    intake = ui_suite.url("intake")
    async with httpx.AsyncClient(timeout=10) as http:
        made = await http.post(intake + "/consultations", headers=COUNTER_STAFF, json={
            "counter": ELDERLY.code, "channel": "窓口", "concerns": ["高齢・介護"], "person": PERSON,
            "confirm_new_person": True})
    assert made.status_code == 201, made.text
    case_id = made.json()["case_id"]

    await sign_in(page, intake, "kouki-013", ELDERLY.division, "counselor")
    await page.goto(f"{intake}/ui/cases/{case_id}")
    await expect(page.locator("#primary")).to_have_text(ELDERLY.ja)
    await expect(page.get_by_role("button", name=re.compile("消去する"))).to_have_count(0)

    await page.context.clear_cookies()
    await sign_in(page, intake, "kanri-002", ELDERLY.division, "supervisor")
    await page.goto(f"{intake}/ui/cases/{case_id}")
    await page.locator("#erase-basis").select_option("retention_expired")
    await page.locator("#erase-reason").fill("保存期間（5年）の満了")
    await shoot(page, "intake-erasure-form")
    await page.get_by_role("button", name=re.compile("消去する")).click()
    await expect(page.get_by_role("alert")).to_contain_text("消去しました")
    await expect(page.locator("#person")).to_contain_text("消去済み")
    await expect(page.locator("#person")).to_contain_text("保存期間満了")
    await shoot(page, "intake-person-erased")
    await page.get_by_role("link", name=re.compile("開示記録")).click()
    await expect(page.locator("#erased")).to_contain_text("消去済み")
    await expect(page.locator("tr[data-action='erased']")).to_contain_text("kanri-002")
    assert not [v for v in PERSON.values() if v in await page.content()]
