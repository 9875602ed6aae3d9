"""Issue 18 in the browser: the 推進会議's page bears the council's name from the municipality file in force, and its
form for a gap brought by hand offers the file's 地区 (a select beside the free 地域, as the meeting's gap form and
participation's shortage form do); a refused form keeps the 地区 chosen, and the gap brought shows it."""

from __future__ import annotations

import re

from playwright.async_api import Page, expect
from support.municipality import LEAD

from jusou.runner import Suite
from shared.organisation import reference

from .conftest import sign_in

NEED = "坂の上の買い物支援（地区選択の確認）"


async def test_issue18_the_council_gap_form_offers_the_files_districts_and_keeps_the_one_chosen(
    ui_suite: Suite, page: Page
) -> None:
    collaboration = ui_suite.url("collaboration")
    district = next(a for a in reference.areas().values() if a.code != "citywide")
    await sign_in(page, collaboration, "csw-district-1", LEAD, "welfare_coordinator")
    await page.goto(f"{collaboration}/ui/council")

    await expect(page.get_by_role("heading", level=2).first).to_have_text(f"{reference.council_name()} / council")
    select = page.get_by_label(re.compile("地区"))
    await expect(select.locator("option")).to_have_count(len(reference.areas()) + 1)  # and 「選ばない」
    await select.select_option(label=district.ja)
    await page.get_by_role("button", name=re.compile("推進会議に挙げる")).click()  # the need left empty: refused
    await expect(page.locator("#gap-error")).to_contain_text("不足している資源")
    await expect(page.get_by_label(re.compile("地区"))).to_have_value(district.code)

    await page.get_by_label(re.compile("不足している資源")).fill(NEED)
    await page.get_by_role("button", name=re.compile("推進会議に挙げる")).click()
    await expect(page.locator("#gap-table tbody tr", has_text=NEED)).to_contain_text(district.ja)
