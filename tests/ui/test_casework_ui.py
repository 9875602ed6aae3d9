"""担当者, 支援経過記録 and 自分の担当 in the browser (issue 15), on outreach: assign and reassign, write a
dated note, see it in the printable 経過記録, find the overdue 次の対応 on 自分の担当 and the supervisor's
caseload; a counselor of another division is refused the notes (division scope)."""

from __future__ import annotations

import re
from datetime import datetime, timedelta
from typing import Any

import httpx
from playwright.async_api import Page, expect
from support.auth import account, staff_headers
from support.municipality import CHILDCARE, LEAD

from jusou.runner import Suite
from shared.domain.casework import JST

from .conftest import shoot, sign_in


async def new_page(browser: Any) -> Page:
    context = await browser.new_context(viewport={"width": 1280, "height": 800}, locale="ja-JP")
    page: Page = await context.new_page()
    return page


async def start_engagement(page: Page) -> str:
    await page.get_by_label("新しい方").check()
    await page.get_by_label("紹介元").select_option(label="民生委員・児童委員")
    await page.get_by_label("理由・状況").fill("40代女性、母の介護で外出できていない")
    await page.get_by_role("button", name="始める / start").click()
    await expect(page.get_by_role("alert")).to_contain_text("アウトリーチを始めました")
    return (await page.locator("#case-number").inner_text()).strip()


async def assign(page: Page, label: str, staff_id: str, button: str) -> None:
    await page.get_by_label(label).fill(staff_id)
    await page.get_by_role("button", name=button).click()
    await expect(page.get_by_role("alert")).to_contain_text("担当を記録しました")


async def test_casework_assign_reassign_write_a_note_print_it_and_find_it_overdue(
    ui_suite: Suite, page: Page, browser: Any
) -> None:
    outreach = ui_suite.url("outreach")
    await sign_in(page, outreach, "outreach-007", LEAD, "outreach_worker")
    case_id = await start_engagement(page)
    panel = page.locator("#casework")
    await expect(panel.locator("#casework-main")).to_contain_text("未定")
    await panel.get_by_role("link", name=re.compile("経過記録を開く")).click()
    await expect(page.get_by_role("heading", name=re.compile("支援経過記録"))).to_be_visible()

    # 担当者, then a reassignment (from whom is kept), then a 副担当.
    await assign(page, "担当者の職員番号", "outreach-007", "担当者を記録 / assign")
    await expect(page.locator("#casework-main")).to_have_text("outreach-007")
    account("outreach-008", LEAD, "outreach_worker")  # a colleague with an account: on the roster (staff_roster.py)
    await assign(page, "担当者の職員番号", "outreach-008", "担当者を記録 / assign")
    await assign(page, "副担当の職員番号", "outreach-007", "副担当を記録 / assign sub")
    await expect(page.locator("#casework-main")).to_have_text("outreach-008")
    await expect(page.locator("#casework-sub")).to_have_text("outreach-007")
    await expect(page.locator("#changes li")).to_have_count(3)
    await expect(page.locator("#changes li").nth(1)).to_contain_text("outreach-007 → outreach-008")
    # One person is not both: the domain says so in words.
    await page.get_by_label("副担当の職員番号").fill("outreach-008")
    await page.get_by_role("button", name="副担当を記録 / assign sub").click()
    await expect(page.get_by_role("alert")).to_contain_text("担当者と副担当は別の職員")

    # A note of a visit three days ago; its next step was due yesterday.
    contacted = (datetime.now(JST) - timedelta(days=3)).replace(hour=10, minute=30)
    yesterday = (datetime.now(JST) - timedelta(days=1)).date()
    await page.get_by_label("日時（接触した日時）").fill(contacted.strftime("%Y-%m-%dT%H:%M"))
    await page.get_by_label("方法 / how").select_option("訪問")
    await page.get_by_label("相手 / with whom").fill("本人と母")
    await page.get_by_label("内容 / what was discussed").fill("玄関先で20分。母の通院の付き添いが負担とのこと")
    await page.get_by_label("合意事項 / agreed").fill("地域包括支援センターに相談してよい")
    await page.get_by_label("次の対応 / next step").fill("包括へ連絡する")
    await page.get_by_role("button", name="経過記録を書く / write").click()
    # 次の対応 without its 期日: refused by the domain's rule, what was typed stays.
    await expect(page.get_by_role("alert")).to_contain_text("次の対応とその期日")
    await expect(page.get_by_label("相手 / with whom")).to_have_value("本人と母")
    await page.get_by_label("次の対応の期日").fill(yesterday.isoformat())
    await page.get_by_role("button", name="経過記録を書く / write").click()
    await expect(page.get_by_role("alert")).to_contain_text("経過記録を書きました")
    notes = page.locator("table.casework-record tbody tr[data-kind='note']")
    await expect(notes).to_have_count(1)
    await expect(notes.first).to_contain_text(contacted.strftime("%Y-%m-%d"))
    await expect(notes.first).to_contain_text("10:30")
    await expect(notes.first).to_contain_text("包括へ連絡する")
    await shoot(page, "casework-case")

    # The 経過記録 as the staff file: a print view.
    await page.get_by_role("link", name=re.compile("印刷用")).click()
    document = page.get_by_role("article", name="支援経過記録")
    await expect(document).to_contain_text("玄関先で20分")
    await expect(document).to_contain_text("outreach-008")
    await expect(document).to_contain_text("令和")
    await expect(page.get_by_role("button", name=re.compile("印刷する"))).to_be_visible()
    await shoot(page, "casework-print")

    # 自分の担当: the overdue next step, and the case as 副担当.
    await page.goto(f"{outreach}/ui/my-work")
    due = page.locator("#due tbody tr.overdue")
    await expect(due).to_have_count(1)
    await expect(due.first).to_contain_text("包括へ連絡する")
    await expect(due.first).to_contain_text("期限切れ")
    await expect(page.locator(f"#mine tbody tr[data-case='{case_id}']")).to_contain_text("副担当")
    await shoot(page, "casework-my-work")

    # The list filters by 担当者.
    await page.goto(f"{outreach}/ui/")
    await page.get_by_label("担当者 / in charge").fill("outreach-008")
    await page.get_by_role("button", name=re.compile("絞り込む")).click()
    await expect(page.locator(f"#engagements tr[data-case='{case_id}'] td.in-charge")).to_contain_text("outreach-008")
    await page.get_by_label("担当者 / in charge").fill("nobody-999")
    await page.get_by_role("button", name=re.compile("絞り込む")).click()
    await expect(page.locator(f"#engagements tr[data-case='{case_id}']")).to_have_count(0)

    # 管理職: the caseload per staff member with the overdue count.
    supervisor = await new_page(browser)
    await sign_in(supervisor, outreach, "kanri-001", LEAD, "supervisor")
    await supervisor.goto(f"{outreach}/ui/caseload")
    row = supervisor.locator("tr[data-staff='outreach-008']")
    await expect(row).to_contain_text("1件")
    await expect(row.locator(".badge.warn")).to_have_text("1件")
    await shoot(supervisor, "casework-caseload")

    # Another division's counselor is refused the notes, on the page and through the API.
    stranger = await new_page(browser)
    await sign_in(stranger, outreach, "hoiku-021", CHILDCARE.division, "counselor")
    response = await stranger.goto(f"{outreach}/ui/cases/{case_id}/casework")
    assert response is not None and response.status == 403
    await expect(stranger.get_by_role("heading", name=re.compile("権限がありません"))).to_be_visible()
    await expect(stranger.locator("body")).not_to_contain_text("玄関先で20分")
    async with httpx.AsyncClient(trust_env=False, timeout=30) as http:
        api = await http.get(f"{outreach}/cases/{case_id}/casework",  # the program's own role, another division
                             headers=staff_headers("hoiku-022", CHILDCARE.division, "outreach_worker"))
        counselor = await http.get(f"{outreach}/cases/{case_id}/casework",  # D17: no rights on outreach's cases
                                   headers=staff_headers("hoiku-021", CHILDCARE.division, "counselor"))
        mine = await http.get(f"{outreach}/cases/{case_id}/casework",
                              headers=staff_headers("outreach-008", LEAD, "outreach_worker"))
    assert api.status_code == 403 and api.headers["x-jusou-refused-by"] == "scope", api.text
    assert counselor.status_code == 403 and counselor.headers["x-jusou-refused-by"] == "policy", counselor.text
    assert "支援経過記録" in counselor.json()["detail"]
    assert mine.status_code == 200 and mine.json()["main"] == "outreach-008", mine.text
