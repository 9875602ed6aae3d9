"""A case note's 日時 may be a moment after the page was opened (HD's review, session 21): the 経過記録 form's
「日時（接触した日時）」 carried the moment the page was drawn as its `max`, so a note about a call that ended after
the page was opened (a caseworker opens the case, takes the call, then writes it down) was stopped by the browser
itself (「Value must be … or earlier」 / 「…以前の値を指定してください」) and never sent, though the suite takes any moment
up to now. The field's limit is now the end of today: the day picker still greys out the days ahead, and a moment
ahead of now is refused by the suite in words (「日時が未来です」), the form kept (D17)."""

from __future__ import annotations

import re
from datetime import datetime, timedelta

import httpx
from playwright.async_api import Page, expect
from support.journey import COUNTER_STAFF
from support.municipality import ELDERLY, concern

from jusou.runner import Suite

from .conftest import at_the_counter


async def test_d17_a_note_timed_after_the_page_was_opened_is_sent_and_recorded(ui_suite: Suite, page: Page) -> None:
    intake = ui_suite.url("intake")
    async with httpx.AsyncClient(timeout=30, headers=COUNTER_STAFF) as client:
        made = await client.post(f"{intake}/consultations", json={
            "counter": ELDERLY.code, "channel": "窓口", "concerns": [concern("elderly-care")],
            "person": {"name": "時刻 確子", "birth_date": "1948-06-01"}, "confirm_new_person": True})
        assert made.status_code == 201, made.text
    case_id = made.json()["case_id"]
    await at_the_counter(page, ui_suite, "kouki-012")
    await page.goto(f"{intake}/ui/cases/{case_id}/casework")
    note = page.locator("#note form")
    opened = datetime.fromisoformat(await note.locator("#contacted_at").input_value())
    # the call ended after the page was drawn (on the same day: a page drawn at 23:58 takes 23:59)
    after = min(opened + timedelta(minutes=2), opened.replace(hour=23, minute=59)).strftime("%Y-%m-%dT%H:%M")
    await note.locator("#contacted_at").fill(after)
    await note.get_by_label(re.compile("^相手")).fill("本人")
    await note.get_by_label(re.compile("^内容")).fill("電話を受け、通院の予定を確認した")
    async with page.expect_response(lambda r: r.request.method == "POST" and r.url.endswith("/casework/notes")) as sent:
        await note.get_by_role("button", name=re.compile("経過記録を書く")).click()
    assert (await sent.value).status == 303
    await expect(page.locator("main")).to_contain_text("電話を受け、通院の予定を確認した")
