"""Community (地域づくり) in the browser (D8): a resource gap found by the meeting arrives as a regional
issue; community takes it up, registers a resource answering it, and participation's catalogue shows
it; participation matches it and reviews the placement; community resolves the issue."""

from __future__ import annotations

import re
from typing import Any

import httpx
from playwright.async_api import Page, expect
from support.auth import reader
from support.municipality import LEAD
from support.poll import eventually
from support.ui_ready import script_ready

from jusou.runner import Suite

from .conftest import shoot, sign_in
from .upstream import COMMUNITY_STAFF, hand_over_from_outreach, post, resource_gap

NEED = "ひとり親家庭の子が放課後に過ごせる居場所"
RESOURCE = "放課後の居場所「こもれび食堂」"


async def test_community_takes_up_an_issue_and_grows_a_resource_participation_matches(ui_suite: Suite, page: Page) -> None:
    community, participation = ui_suite.url("community"), ui_suite.url("participation")
    await sign_in(page, community, "chiiki-001", LEAD, "community_worker")
    await expect(page.get_by_role("heading", name="地域の課題 / regional issues")).to_be_visible()
    await script_ready(page)  # the list's live part listens (htmx) before the issue it is to show arrives

    async with httpx.AsyncClient(headers=reader()) as client:  # upstream: a person with participation, and the meeting finds a gap
        case_id = await hand_over_from_outreach(ui_suite, client)
        await resource_gap(ui_suite, client, case_id, NEED, "調布市西部（深大寺・佐須）",
                           "夕方から夜まで子どもがひとりで過ごしている。近くに通える場がない")

    # The issue appears in the open list without reloading, saying where it came from.
    row = page.locator("#issues tr[data-issue]", has_text=NEED)
    await expect(row).to_be_visible(timeout=10_000)
    await expect(row).to_contain_text("会議（資源の不足）")
    await expect(row).to_contain_text("未着手")
    await row.get_by_role("link", name=NEED).click()

    # A blank forum is refused in words; the summary stays.
    await page.get_by_label("協議の場").fill("   ")
    await page.get_by_label("取り組みの概要").fill("子ども食堂の運営団体と、空き店舗の活用を話し合う")
    await page.get_by_role("button", name="取り組みを始める").click()
    await expect(page.get_by_role("alert")).to_contain_text("協議の場を入力してください")
    await expect(page.get_by_label("取り組みの概要")).to_have_value("子ども食堂の運営団体と、空き店舗の活用を話し合う")
    await page.get_by_label("協議の場").fill("生活支援体制整備事業の協議体")
    await page.get_by_role("button", name="取り組みを始める").click()
    await expect(page.get_by_role("alert")).to_contain_text("取り組みを記録しました")
    await expect(page.locator("#issue-status")).to_have_text("取り組み中")
    await expect(page.locator("#initiatives")).to_contain_text("令和")

    # Register a resource answering the issue.
    await page.get_by_role("link", name="この課題に応える資源を登録する").click()
    await expect(page.get_by_label("応える地域の課題").locator("option:checked")).to_contain_text(NEED)
    await script_ready(page)  # the message as 定員 is typed is jusou.js's: typed before it ran, none would come
    await page.get_by_label("種類 / kind").select_option(label="居場所（Place to belong）")
    await page.get_by_label("名称 / name").fill(RESOURCE)
    await page.get_by_label("運営主体").fill("NPO法人こもれび")
    await page.get_by_label("地域 / area").fill("調布市西部（深大寺）")
    await page.get_by_label("定員").fill("十五")  # checked as it is typed
    await expect(page.locator("#capacity-error")).to_contain_text("数字で入力してください")
    await page.get_by_label("定員").fill("15")
    await expect(page.locator("#capacity-error")).to_have_text("")
    await page.get_by_role("button", name="登録する").click()
    await expect(page.get_by_role("alert")).to_contain_text(f"社会資源「{RESOURCE}」を登録しました")
    resource_row = page.locator("#resources tr[data-resource]", has_text=RESOURCE)
    await expect(resource_row).to_contain_text(NEED)
    await expect(resource_row).to_contain_text("15人")
    await shoot(page, "community-resources")
    await page.set_viewport_size({"width": 768, "height": 1024})
    await shoot(page, "community-resources-tablet")
    await page.set_viewport_size({"width": 1280, "height": 800})

    # Participation's catalogue learns of it from community's event; participation matches and places.
    await sign_in(page, participation, "sanka-002", LEAD, "participation_worker")
    await page.goto(f"{participation}/ui/catalogue")
    await expect(page.get_by_role("cell", name=RESOURCE)).to_be_visible(timeout=10_000)
    answers = page.locator("#catalogue-table tr[data-resource]", has_text=RESOURCE).locator("td").nth(8)  # 応える地域の課題
    await expect(answers).to_have_text(re.compile(r"^あり（"))  # said in words, never an id's first characters
    await page.goto(f"{participation}/ui/supports/{case_id}")
    await page.get_by_role("button", name=f"{RESOURCE} をマッチングする").click()
    await expect(page.get_by_role("alert")).to_contain_text("資源をマッチングしました")
    await page.get_by_label("参加開始日").fill("2026-12-03")
    await page.get_by_role("button", name="参加を始める").click()
    await expect(page.locator("article[data-placement='0']")).to_contain_text("参加中")
    await page.get_by_label("参加の状況").select_option(label="継続中")
    await page.get_by_label("所見").fill("週3回、夕食まで過ごしている")
    await page.get_by_role("button", name="評価を記録").click()
    await expect(page.locator("article[data-placement='0'] [data-status]")).to_have_text("継続中")

    # Back in community: the issue is resolved.
    await sign_in(page, community, "chiiki-001", LEAD, "community_worker")
    await page.locator("#issues").get_by_role("link", name=NEED).click()
    await expect(page.locator("#resources")).to_contain_text(RESOURCE)
    await page.get_by_label("解決の内容").fill(f"{RESOURCE}が開設され、参加支援でつながった")
    await page.get_by_role("button", name="解決を記録").click()
    await expect(page.get_by_role("alert")).to_contain_text("解決を記録しました")
    await expect(page.locator("#issue-status")).to_have_text("解決済み")
    await expect(page.get_by_role("button", name="取り組みを始める")).to_have_count(0)
    await shoot(page, "community-issue")
    await page.get_by_role("link", name="一覧へ").click()
    row = page.locator("#issues tr[data-issue]", has_text=NEED)
    await expect(row).to_contain_text("解決済み")
    await expect(row).to_contain_text(RESOURCE)
    await shoot(page, "community-home")


async def test_issues_csv_opens_in_excel(ui_suite: Suite) -> None:
    async with httpx.AsyncClient(headers=reader()) as client:
        response = await client.get(f"{ui_suite.url('community')}/ui/issues.csv")
        resources = await client.get(f"{ui_suite.url('community')}/ui/resources.csv")
    for r in (response, resources):
        assert r.content.startswith(b"\xef\xbb\xbf")
        assert "\r\n" in r.text
    assert response.text.lstrip("\ufeff").startswith("課題番号,把握した日,きっかけ")
    assert resources.text.lstrip("\ufeff").startswith("資源番号,種類,名称")


async def test_the_issues_list_pages_and_its_filter_bar_narrows_it(ui_suite: Suite, page: Page) -> None:
    """The shared pager and filter bar on community's list (issue 15): a second page, and 状態 narrows it."""
    community = ui_suite.url("community")
    async with httpx.AsyncClient(headers=reader()) as client:
        case_id = await hand_over_from_outreach(ui_suite, client)
        for need in ("平日夜に通える学習の場（頁送り）", "高齢者の買い物の足（頁送り）"):
            await resource_gap(ui_suite, client, case_id, need, "調布市北部", "近くに通える場がない")

        async def ours() -> list[dict[str, Any]] | None:
            issues = [i for i in (await client.get(f"{community}/issues")).json() if i["case_id"] == case_id]
            return issues if len(issues) == 2 else None

        taken = (await eventually(ours, "both regional issues to reach community"))[0]
        await post(client, f"{community}/issues/{taken['issue_id']}/initiatives",
                   {"forum": "地域ケア会議", "summary": "送迎の担い手を探す"}, COMMUNITY_STAFF)
        everything = len((await client.get(f"{community}/issues")).json())
        under_way = sum(1 for i in (await client.get(f"{community}/issues")).json() if i["status"] == "taken_up")

    await sign_in(page, community, "chiiki-001", LEAD, "community_worker")
    await page.goto(f"{community}/ui/?per_page=1")
    pager = page.get_by_role("navigation", name="地域の課題のページ / pages")
    await expect(pager).to_contain_text(f"{everything}件中 1–1件")
    await expect(page.locator("#issues tr[data-issue]")).to_have_count(1)
    await pager.get_by_role("link", name="次へ / next").click()
    await expect(pager).to_contain_text(f"{everything}件中 2–2件")
    await expect(page.locator("#issues tr[data-issue]")).to_have_count(1)

    await page.goto(f"{community}/ui/")
    filters = page.get_by_role("search", name="絞り込み / filters")
    await filters.get_by_label("状態 / status").select_option(label="取り組み中")
    await filters.get_by_role("button", name="絞り込む / filter").click()
    await expect(page.locator("#issues tr[data-issue]")).to_have_count(under_way)
    await expect(page.locator("#issues")).to_contain_text(taken["need"])
    assert under_way < everything, "the filter narrows the list"
    await expect(pager).to_contain_text(f"{under_way}件中")
