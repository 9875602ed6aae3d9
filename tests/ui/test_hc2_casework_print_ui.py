"""The printed 支援経過記録 at the counter names the person (HC's review, session 20): the sheet that goes into the staff
file said the case number only (a UUID), and staff wrote the person's name on it by hand. It names them now, as the case
page does, to a reader with a legal basis (the showing recorded, D9 D15), and not to a reader without one."""

from __future__ import annotations

from uuid import uuid4

import httpx
from playwright.async_api import Page, expect
from support.auth import reader
from support.journey import COUNTER_STAFF
from support.municipality import ELDERLY, concern

from jusou.runner import Suite

from .conftest import sign_in


async def test_d9_the_printed_case_notes_name_the_person_to_the_counter_that_received_them(
        ui_suite: Suite, page: Page) -> None:
    intake = ui_suite.url("intake")
    name = f"深大寺 髙子{uuid4().hex[:4]}"
    async with httpx.AsyncClient(timeout=30, headers=COUNTER_STAFF) as client:
        made = await client.post(f"{intake}/consultations", json={
            "counter": ELDERLY.code, "channel": "窓口", "concerns": [concern("elderly-care")],
            "person": {"name": name, "kana": "じんだいじ たかこ", "birth_date": "1948-08-08"}, "confirm_new_person": True})
        assert made.status_code == 201, made.text
        case_id = made.json()["case_id"]
        person_ref = (await client.get(f"{intake}/cases/{case_id}")).json()["person_ref"]
        before = (await client.get(f"{intake}/audit/people/{person_ref}/disclosures?format=json", headers=reader())).json()
    await sign_in(page, intake, "kouki-012", ELDERLY.division, "counselor")
    await page.goto(f"{intake}/ui/cases/{case_id}/casework/print")

    await expect(page.locator("#print-person")).to_have_text(f"{name}（じんだいじ たかこ）")
    await expect(page.locator("article.document")).to_contain_text("昭和23年8月8日")
    async with httpx.AsyncClient(timeout=30) as client:
        after = (await client.get(f"{intake}/audit/people/{person_ref}/disclosures?format=json", headers=reader())).json()
    assert [r for r in after if r not in before and r["staff_id"] == "kouki-012"], "the printed showing is recorded"

    await page.context.clear_cookies()  # the auditor reads the notes, not the person: the sheet names no one
    await sign_in(page, intake, "kansa-090", ELDERLY.division, "auditor")
    await page.goto(f"{intake}/ui/cases/{case_id}/casework/print")
    await expect(page.locator("article.document")).to_contain_text(case_id)
    await expect(page.locator("#print-person")).to_have_count(0)
    assert name not in await page.content()
