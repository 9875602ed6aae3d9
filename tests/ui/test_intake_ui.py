"""Intake counter staff in the browser: receive, search before create, consent, escalate; live list."""

from __future__ import annotations

import re

from playwright.async_api import Page, expect
from support.auth import reader, staff_headers
from support.municipality import CHILDCARE, ELDERLY, concern
from support.ui_ready import script_ready

from jusou.runner import Suite

from .conftest import shoot, sign_in


async def test_counter_staff_receive_a_consultation_and_escalate_it(ui_suite: Suite, page: Page) -> None:
    intake = ui_suite.url("intake")
    await sign_in(page, intake, "kouki-012", ELDERLY.division, "counselor")
    await expect(page.get_by_role("heading", name=re.compile(ELDERLY.ja))).to_be_visible()
    await shoot(page, "intake-home")
    await page.get_by_role("link", name=re.compile("新しい相談")).click()
    await page.get_by_label("経路").select_option("電話")
    await page.get_by_label("高齢・介護").check()
    await page.get_by_label("ひきこもり").check()
    await page.get_by_label("氏名").fill("鬼怒 楓")  # a name no other module uses: the suite is shared (D2 would offer a namesake)
    await page.get_by_label("生年月日").fill("1944-05-01")
    await shoot(page, "intake-new-consultation")
    await page.get_by_role("button", name=re.compile("受け付ける")).click()
    await expect(page.get_by_role("alert")).to_contain_text("相談を受け付けました")
    await expect(page.locator("#primary")).to_have_text(ELDERLY.ja)
    await page.get_by_role("button", name=re.compile("同意を記録")).click()
    await expect(page.locator("#consent")).to_contain_text("あり")
    await page.get_by_label(re.compile("理由（複雑化")).fill("8050世帯: 母の介護と息子のひきこもり")
    await page.get_by_role("button", name="多機関協働事業へつなぐ").click()
    await expect(page.get_by_role("alert")).to_contain_text("多機関協働事業へつなぎました")
    await shoot(page, "intake-case")
    await page.get_by_role("link", name=re.compile("経過を見る")).click()
    timeline = page.get_by_role("list", name="経過")
    await expect(timeline.locator("li[data-event='Case.Escalated']")).to_be_visible()
    for _ in range(50):  # collaboration records its part a moment after the escalation
        if await timeline.locator("li[data-service='collaboration']").count():
            break
        await page.wait_for_timeout(100)
        await page.reload()
    await expect(timeline.locator("li[data-event='CollaborationCase.Opened']")).to_contain_text("多機関協働")
    await expect(timeline.locator("li").first).to_contain_text("令和")
    await shoot(page, "intake-timeline")
    # Search before create: the same person again is offered, not duplicated (D2).
    await page.goto(f"{intake}/ui/consultations/new")
    await page.get_by_label("高齢・介護").check()
    await page.get_by_label("氏名").fill("鬼怒　楓")
    await page.get_by_label("生年月日").fill("1944-05-01")
    await page.get_by_role("button", name=re.compile("受け付ける")).click()
    await expect(page.get_by_text("同じ方が登録されている可能性があります")).to_be_visible()
    await shoot(page, "intake-possible-duplicate")


async def test_the_counter_list_updates_without_reloading(ui_suite: Suite, page: Page) -> None:
    import httpx

    intake = ui_suite.url("intake")
    await sign_in(page, intake, "hoiku-3", CHILDCARE.division, "counselor")
    await expect(page.get_by_role("heading", name=re.compile(CHILDCARE.ja))).to_be_visible()
    await script_ready(page)  # the list's live part listens (htmx) before the consultation it is to show is received
    rows_before = await page.locator("#cases tbody tr[data-case]").count()
    async with httpx.AsyncClient(headers=reader()) as client:  # another staff member receives a consultation meanwhile
        response = await client.post(f"{intake}/consultations", json={
            "counter": CHILDCARE.code, "channel": "窓口", "concerns": [concern("childcare")], "person": {"name": "別の方"},
            "confirm_new_person": True}, headers=staff_headers("hoiku-4", CHILDCARE.division, "counselor"))
        assert response.status_code == 201
    await expect(page.locator("#cases tbody tr[data-case]")).to_have_count(rows_before + 1, timeout=3000)


async def test_csv_export_opens_in_excel(ui_suite: Suite, page: Page) -> None:
    import httpx

    async with httpx.AsyncClient(headers=reader()) as client:
        response = await client.get(f"{ui_suite.url('intake')}/ui/cases.csv", params={"counter": ELDERLY.code})
    assert response.content.startswith(b"\xef\xbb\xbf")  # UTF-8 BOM: Excel reads Japanese correctly
    assert response.text.lstrip("\ufeff").splitlines()[0].startswith("ケース番号,窓口")
    assert "\r\n" in response.text
