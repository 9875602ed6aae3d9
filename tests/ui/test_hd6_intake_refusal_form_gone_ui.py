"""A counter's form refused from a tab left open said nothing when the page no longer had that form (HD's review, session
24, on a jusou up as demo-counselor): a case open in two tabs, 多機関協働事業へつなぐ pressed in one, then 対応終了を記録
with 経過のまとめ typed in the other: the answer was 409, but the page came back as the case is now (escalated: no
対応終了 form), with no word of why and the note lost. Now the refusal is said at the top of the page (in Japanese, with
what to do) and what was typed is shown to copy; nothing is recorded."""

from __future__ import annotations

import re

import httpx
from playwright.async_api import Page, expect
from support.journey import COUNTER_STAFF
from support.municipality import ELDERLY

from jusou.runner import Suite

from .conftest import close_tab, sign_in


async def test_a_closure_refused_after_the_case_was_escalated_in_another_tab_is_said_with_what_was_typed(
        ui_suite: Suite, page: Page) -> None:
    intake = ui_suite.url("intake")
    async with httpx.AsyncClient(timeout=30, headers=COUNTER_STAFF) as client:
        made = await client.post(f"{intake}/consultations", json={
            "counter": ELDERLY.code, "channel": "窓口", "concerns": ["高齢・介護", "ひきこもり"],
            "person": {"name": "国領 二郎", "kana": "こくりょう じろう", "birth_date": "1950-05-05"},
            "confirm_new_person": True})
        assert made.status_code == 201, made.text
    case_id = made.json()["case_id"]
    await sign_in(page, intake, "kouki-012", ELDERLY.division, "counselor")
    second = await page.context.new_page()
    for tab in (page, second):
        await tab.goto(f"{intake}/ui/cases/{case_id}")
        await expect(tab.get_by_role("button", name=re.compile("対応終了を記録"))).to_be_visible()

    await page.get_by_label(re.compile("理由（複雑化・複合化）")).fill("母の介護と本人のひきこもりが重なる")
    await page.get_by_role("button", name=re.compile("多機関協働事業へつなぐ")).click()
    await expect(page.get_by_role("alert").first).to_contain_text("多機関協働事業へつなぎました")

    await second.get_by_label(re.compile("経過のまとめ")).fill("介護サービスの利用が始まり、相談は解決した")
    async with second.expect_response(lambda r: r.request.method == "POST") as answered:
        await second.get_by_role("button", name=re.compile("対応終了を記録")).click()
    assert (await answered.value).status == 409
    said = second.locator("#error-gone")
    await expect(said).to_be_visible()
    await expect(said).to_have_attribute("role", "alert")
    await expect(said).to_contain_text("対応終了はできません")
    await expect(second.locator("#typed-not-recorded")).to_contain_text("介護サービスの利用が始まり、相談は解決した")
    await expect(second.get_by_role("button", name=re.compile("対応終了を記録"))).to_have_count(0)
    await close_tab(second)
