"""A session refused on the 活動と実績 page is said beside its own form only (HD's review, session 21): the refusal of
「開催を記録する」 (「新規参加者数は参加者数以下にしてください」) was also shown above 「自主グループを記録する」 further
down, as if that form had been sent and refused too (three alerts for one refusal). Now it stands at the top and beside
the session form; a group's refusal beside the group form, as before."""

from __future__ import annotations

from datetime import date

import httpx
from playwright.async_api import Page, expect
from support.auth import staff_headers
from support.municipality import ELDERLY

from jusou.runner import Suite
from shared.domain.wareki import today_in_japan
from shared.organisation.reference import programs

from .conftest import sign_in

WORKER = staff_headers("kouki-021", ELDERLY.division, "community_worker")
PROGRAM = next(p for p in programs().values() if p.kind == "community" and p.division == ELDERLY.division)


async def test_a_refused_session_is_said_beside_its_form_not_beside_the_group_form(ui_suite: Suite, page: Page) -> None:
    community = ui_suite.url("community")
    place = f"拒否の置き場所サロン {today_in_japan().isoformat()}"
    async with httpx.AsyncClient(timeout=30, headers=WORKER) as client:
        made = await client.post(f"{community}/places", json={
            "program": PROGRAM.code, "name": place, "area": "東部地区",
            "opened_on": date(today_in_japan().year, 1, 1).isoformat()})
        assert made.status_code == 201, made.text
    await sign_in(page, community, "kouki-021", ELDERLY.division, "community_worker")
    await page.goto(f"{community}/ui/activities")
    record = page.locator("#record")

    await record.get_by_label("拠点 / place").select_option(label=f"{place}（{PROGRAM.ja}・東部地区）")
    await record.get_by_label("参加者数 / participants").fill("5")
    await record.get_by_label("うち新規参加者数").fill("7")
    async with page.expect_response(lambda r: r.request.method == "POST") as answered:
        await page.get_by_role("button", name="開催を記録する").click()
    assert (await answered.value).status == 422

    await expect(record.locator(".flash.ng")).to_contain_text("新規参加者数は参加者数以下にしてください")
    await expect(page.locator("#groups .flash.ng")).to_have_count(0)
    await expect(page.locator("main .flash.ng")).to_have_count(2)  # the page's alert and the session form's
