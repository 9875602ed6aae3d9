"""Participation staff in the browser (D13): a support arrives live, needs as rows, the resource
catalogue community grows (D8), matching, placements and their reviews, and a shortage report."""

from __future__ import annotations

import re
from datetime import datetime, timedelta, timezone
from typing import Any

import httpx
import pytest
from playwright.async_api import Page, expect
from support.auth import reader
from support.municipality import LEAD
from support.poll import eventually
from support.ui_ready import script_ready

from jusou.runner import Suite

from .conftest import shoot, sign_in
from .upstream import gap_answered_by_resources, hand_over_from_outreach

pytestmark = pytest.mark.own_suite  # its filters are checked by the number of rows they leave


async def test_participation_staff_match_place_and_review(ui_suite: Suite, page: Page) -> None:
    participation = ui_suite.url("participation")
    await sign_in(page, participation, "sanka-002", LEAD, "participation_worker")
    await expect(page.get_by_role("heading", name="参加支援 / supports")).to_be_visible()
    await script_ready(page)  # the list's live part listens (htmx) before the support it is to show arrives
    async with httpx.AsyncClient(headers=reader()) as client:
        case_id = await hand_over_from_outreach(ui_suite, client)
        # The new support appears without reloading the page.
        row = page.locator(f"#supports tr[data-case='{case_id}']")
        await expect(row).to_be_visible(timeout=10_000)
        await expect(row).to_contain_text("未記録")
        await shoot(page, "participation-home")

        # Needs, edited as rows: add two, remove one, save.
        await row.get_by_role("link").click()
        await script_ready(page, url=re.compile(rf"/ui/supports/{case_id}$"))  # the rows' buttons are jusou.js's
        await page.get_by_label("ニーズ 1", exact=True).fill("日中に通える居場所")
        await page.get_by_role("button", name="ニーズを追加").click()
        await page.get_by_label("ニーズ 2", exact=True).fill("短時間の就労体験")
        await page.get_by_role("button", name="ニーズを追加").click()
        await page.get_by_label("ニーズ 3", exact=True).fill("消す行")
        await page.get_by_role("button", name="ニーズ 3 を削除 / remove").click()
        await page.get_by_role("button", name="ニーズを記録").click()
        await expect(page.get_by_role("alert")).to_contain_text("ニーズを記録しました")
        await expect(page.get_by_label("ニーズ 2", exact=True)).to_have_value("短時間の就労体験")
        await expect(page.get_by_label("ニーズ 3", exact=True)).to_have_count(0)

        # The catalogue grows from community's registrations (D8 D13).
        await gap_answered_by_resources(ui_suite, client, case_id)
    await page.goto(f"{participation}/ui/catalogue")
    await expect(page.get_by_role("cell", name="若者のたまり場「ひだまり」")).to_be_visible(timeout=10_000)
    await expect(page.get_by_role("cell", name="就労体験「まちの本屋」")).to_be_visible(timeout=10_000)
    await page.get_by_label("種類 / kind").select_option(label="就労支援")
    await page.get_by_role("button", name="絞り込む").click()
    await expect(page.get_by_role("cell", name="就労体験「まちの本屋」")).to_be_visible()
    await expect(page.get_by_role("cell", name="若者のたまり場「ひだまり」")).to_have_count(0)
    await page.get_by_label("種類 / kind").select_option("")
    await page.get_by_label("地域 / area").fill("東部")
    await page.get_by_role("button", name="絞り込む").click()
    await expect(page.locator("#catalogue-table tbody tr")).to_have_count(1)
    await expect(page.locator("#catalogue-table")).to_contain_text("NPO法人ひだまり")
    # 資源の案内情報 (issue 15): schedule, the provider's contact and the fee, written on the catalogue.
    row = page.locator("#catalogue-table tbody tr").first
    await row.get_by_label("若者のたまり場「ひだまり」 の案内情報を記入する").click()
    await row.get_by_label("開催日時・曜日").fill("毎週火・木 13:00〜17:00")
    await row.get_by_label("連絡先").fill("042-000-1234（ひだまり事務局）")
    await row.get_by_label("利用料").fill("無料")
    await row.get_by_role("button", name="保存").click()
    await expect(page.get_by_role("alert")).to_contain_text("案内情報を保存しました")
    saved = page.locator("#catalogue-table tbody tr", has_text="若者のたまり場「ひだまり」")
    await expect(saved.locator("td.schedule")).to_have_text("毎週火・木 13:00〜17:00")
    await expect(saved.locator("td.contact")).to_have_text("042-000-1234（ひだまり事務局）")
    await expect(saved.locator("td.fee")).to_have_text("無料")
    await shoot(page, "participation-catalogue")

    # Match from the support's page, start a placement, review it.
    await page.goto(f"{participation}/ui/supports/{case_id}")
    catalogue = page.locator("#catalogue")
    await catalogue.get_by_label("種類 / kind").select_option(label="居場所")
    await catalogue.get_by_role("button", name="絞り込む").click()
    await page.get_by_role("button", name="若者のたまり場「ひだまり」 をマッチングする").click()
    await expect(page.get_by_role("alert")).to_contain_text("資源をマッチングしました")
    await expect(page.locator("#matches")).to_contain_text("若者のたまり場「ひだまり」")
    await expect(catalogue.get_by_text("マッチング済み")).to_be_visible()
    await expect(catalogue.locator("td.schedule", has_text="毎週火・木 13:00〜17:00")).to_be_visible()
    await page.get_by_label("参加開始日").fill("2026-12-01")
    await page.get_by_role("button", name="参加を始める").click()
    placement = page.locator("article[data-placement='0']")
    await expect(placement).to_contain_text("参加中")
    await expect(placement).to_contain_text("令和8年12月1日")
    # A second placement at the same resource is not offered while this one is open; the page says what to do
    # (the refusal, 「この資源への参加は続いています」, stays for a tab opened before: tests/unit/test_hd3_placement_offered.py).
    await expect(page.locator("#no-placement-to-start")).to_contain_text("「終了」と評価してください")
    await expect(page.get_by_role("button", name="参加を始める")).to_have_count(0)
    await page.get_by_label("参加の状況").select_option(label="定着")
    await page.get_by_label("所見").fill("週2回通えている。スタッフとも話せるようになった")
    await page.get_by_role("button", name="評価を記録").click()
    await expect(page.get_by_role("alert")).to_contain_text("参加の評価を記録しました（定着）")
    await expect(placement.locator("[data-status]")).to_have_text("定着")
    await expect(placement).to_contain_text("週2回通えている")

    # A need no resource meets goes to community as a regional issue (D8).
    shortages = page.locator("#shortages")
    await shortages.get_by_label("不足しているもの").fill("夜間に通える居場所")
    await shortages.get_by_label("地域").fill("調布市西部")
    await shortages.get_by_label("内容").fill("昼夜逆転の若者が夜に立ち寄れる場がない")
    await shortages.get_by_role("button", name="不足を報告").click()
    await expect(page.get_by_role("alert")).to_contain_text("不足を報告しました")
    await expect(shortages).to_contain_text("夜間に通える居場所")
    await shoot(page, "participation-support")
    await page.set_viewport_size({"width": 768, "height": 1024})
    await shoot(page, "participation-support-tablet")

    async with httpx.AsyncClient(headers=reader()) as client:
        async def reported() -> dict[str, Any] | None:
            issues = (await client.get(f"{ui_suite.url('community')}/issues")).json()
            return next((i for i in issues if i["need"] == "夜間に通える居場所"), None)

        issue = await eventually(reported, "the shortage to reach community as a regional issue")
        assert issue["reported_by"] == "participation" and issue["case_id"] == case_id


async def test_supports_csv_opens_in_excel(ui_suite: Suite) -> None:
    async with httpx.AsyncClient(headers=reader()) as client:
        case_id = await hand_over_from_outreach(ui_suite, client)
        await eventually(lambda: _support(client, ui_suite, case_id), "participation to start")
        response = await client.get(f"{ui_suite.url('participation')}/ui/supports.csv")
    assert response.content.startswith(b"\xef\xbb\xbf")
    lines = response.text.lstrip("\ufeff").split("\r\n")
    assert lines[0].startswith("ケース番号,紹介元,開始日,ニーズ")
    assert any(line.startswith(case_id) and "アウトリーチから" in line for line in lines[1:])


async def _support(client: httpx.AsyncClient, suite: Suite, case_id: str) -> bool:
    return (await client.get(f"{suite.url('participation')}/supports/{case_id}")).status_code == 200



async def test_the_supports_list_pages_and_its_filter_bar_narrows_it(ui_suite: Suite, page: Page) -> None:
    """The shared pager and filter bar on participation's list (issue 15): a second page, and the days narrow it."""
    participation = ui_suite.url("participation")
    today = datetime.now(timezone(timedelta(hours=9))).date()  # taken first: every support here starts on it or later
    async with httpx.AsyncClient(headers=reader()) as client:
        for _ in range(2):
            case_id = await hand_over_from_outreach(ui_suite, client)
            await eventually(lambda case_id=case_id: _support(client, ui_suite, case_id), "participation to start")

    await sign_in(page, participation, "sanka-002", LEAD, "participation_worker")
    await page.goto(f"{participation}/ui/?per_page=1")
    pager = page.get_by_role("navigation", name="参加支援のページ / pages")
    everything = int((await pager.locator(".count").inner_text()).split("件中")[0])
    assert everything >= 2
    await expect(pager).to_contain_text(f"{everything}件中 1–1件")
    await expect(page.locator("#supports tbody tr")).to_have_count(1)
    await pager.get_by_role("link", name="次へ / next").click()
    await expect(pager).to_contain_text(f"{everything}件中 2–2件")

    await page.goto(f"{participation}/ui/")
    filters = page.get_by_role("search", name="絞り込み / filters")
    await filters.get_by_label("期間（まで）/ to").fill((today - timedelta(days=1)).isoformat())
    await filters.get_by_role("button", name="絞り込む / filter").click()
    await expect(pager).to_contain_text("0件 / no items")  # every support here started today or later: none by yesterday
    await expect(page.locator("#supports")).to_contain_text("まだ参加支援はありません")
    await filters.get_by_role("link", name="すべて表示 / all").click()
    await expect(pager).to_contain_text(f"{everything}件中")
