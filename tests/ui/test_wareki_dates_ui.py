"""Date fields read in 和暦 (README "Pages"): beside each date field the page shows its date as staff think of it
(令和8年4月1日), on opening and as the date is typed or picked, the field still sending YYYY-MM-DD; a list's from/to
also read 和暦 typed as text (a browser that shows a date field as a text field, a bookmarked address)."""

from __future__ import annotations

import re
from urllib.parse import quote

from playwright.async_api import Page, expect
from support.auth import ROLE_STAFF
from support.municipality import ELDERLY

from jusou.runner import Suite
from shared.domain.wareki import today_in_japan, wareki

from .conftest import shoot, sign_in


async def test_a_lists_date_range_reads_in_wareki_as_it_is_picked_and_as_typed_text(ui_suite: Suite, page: Page) -> None:
    intake = ui_suite.url("intake")
    await sign_in(page, intake, "kouki-033", ELDERLY.division, "counselor")
    since = page.get_by_label(re.compile("相談日（から）"))
    await expect(since).to_have_value("")
    # the script gives the field its reading once it has run (CI at load read the attribute before it had: "#none")
    await expect(since).to_have_attribute("aria-describedby", re.compile(r"-wareki\b"))
    reading = page.locator("#" + (await since.get_attribute("aria-describedby") or "none").split()[-1])
    await expect(reading).to_have_text("")
    await since.fill("2026-04-01")
    await expect(reading).to_have_text("令和8年4月1日")  # as it is picked, before the list is filtered
    await since.fill("2019-04-30")
    await expect(reading).to_have_text("平成31年4月30日")
    await since.fill("2019-05-01")
    await expect(reading).to_have_text("令和元年5月1日")

    # 和暦 typed as text (the list's address): read as the days they are, said beside the fields, the list filtered
    await page.goto(f"{intake}/ui/?from={quote('令和8年4月1日')}&to=R8.4.30")
    await expect(page.get_by_label(re.compile("相談日（から）"))).to_have_value("2026-04-01")
    await expect(page.get_by_label(re.compile("相談日（まで）"))).to_have_value("2026-04-30")
    await expect(page.locator(".wareki-reading")).to_have_text(["令和8年4月1日", "令和8年4月30日"])
    await expect(page.get_by_text("日付として読めない")).to_have_count(0)
    await shoot(page, "wareki-beside-list-dates")


async def test_a_form_date_shows_its_wareki_on_opening_and_still_sends_the_date(ui_suite: Suite, page: Page) -> None:
    meeting = ui_suite.url("meeting")
    staff_id, division = ROLE_STAFF["secretariat"]
    await sign_in(page, meeting, staff_id, division, "secretariat")
    held_on = page.get_by_label(re.compile("開催日"))
    today = today_in_japan()
    await expect(held_on).to_have_value(today.isoformat())
    await expect(held_on).to_have_attribute("aria-describedby", re.compile(r"-wareki\b"))  # once the script has run
    described = (await held_on.get_attribute("aria-describedby") or "").split()
    assert any(d.endswith("-wareki") for d in described), described  # read with the field by a screen reader
    await expect(page.locator("#held_on-wareki")).to_have_text(wareki(today, with_gregorian=False))
    # the label still names the field as before; the reading is its description
    await expect(held_on).to_have_accessible_name(re.compile(r"^開催日 / date"))
    await expect(held_on).to_have_accessible_description(wareki(today, with_gregorian=False))
    await held_on.fill("1989-01-07")
    await expect(page.locator("#held_on-wareki")).to_have_text("昭和64年1月7日")
    await held_on.fill("1989-01-08")
    await expect(page.locator("#held_on-wareki")).to_have_text("平成元年1月8日")
    assert await held_on.input_value() == "1989-01-08"  # the field sends the date as before
