"""The printed 経過記録 keeps every column on the paper (HD's review, session 21). A note whose 相手 was a long phrase
(「本人の母（80代、足が悪く外出困難、近所の民生委員が時々訪問している）」, kept on one line with the date) or whose 内容
held a long unbroken run (a number, an address in letters) made the table wider than the page, and the table's
scrolling box cut it at the right edge on paper: 内容 half gone, 次の対応 and 記入 not printed at all. Now 相手 and long
runs wrap, and on paper a wide table's box shows all of it (D17)."""

from __future__ import annotations

from datetime import datetime, timedelta

import httpx
from playwright.async_api import Page, expect
from support.journey import COUNTER_STAFF
from support.municipality import ELDERLY, concern

from jusou.runner import Suite

from .conftest import at_the_counter

WITH_WHOM = "本人の母（80代、足が悪く外出困難、近所の民生委員が時々訪問している）"
CONTENT = "電話で近況を聞いた。" + "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789" * 4 + "\n" + "通院の予定を確かめた。" * 20


async def test_d17_the_printed_case_notes_keep_every_column_on_an_a4_page(ui_suite: Suite, page: Page) -> None:
    intake = ui_suite.url("intake")
    async with httpx.AsyncClient(timeout=30, headers=COUNTER_STAFF) as client:
        made = await client.post(f"{intake}/consultations", json={
            "counter": ELDERLY.code, "channel": "窓口", "concerns": [concern("elderly-care")],
            "person": {"name": "印刷 幅子", "birth_date": "1946-03-01"}, "confirm_new_person": True})
        assert made.status_code == 201, made.text
        case_id = made.json()["case_id"]
        at = (datetime.now().astimezone() - timedelta(hours=1)).isoformat(timespec="minutes")
        noted = await client.post(f"{intake}/cases/{case_id}/casework/notes", json={
            "contacted_at": at, "method": "電話", "counterpart": WITH_WHOM, "content": CONTENT,
            "next_step": "若者サポートステーションへ同行し、本人と一緒に登録を済ませる",
            "next_due": (datetime.now() + timedelta(days=14)).date().isoformat()})
        assert noted.status_code in (200, 201), noted.text

    await at_the_counter(page, ui_suite, "kouki-012")
    await page.set_viewport_size({"width": 794, "height": 1123})  # A4 at 96 dpi
    await page.emulate_media(media="print")
    await page.goto(f"{intake}/ui/cases/{case_id}/casework/print")
    table = page.locator("table.casework-record")
    await expect(table).to_contain_text(WITH_WHOM)
    page_width = await page.evaluate("document.documentElement.clientWidth")
    for header in ("日時・方法・相手", "内容・合意事項", "次の対応（期日）", "記入"):
        box = await table.get_by_role("columnheader", name=header).bounding_box()
        assert box is not None and box["x"] + box["width"] <= page_width + 1, (header, box, page_width)
    first = await table.get_by_role("columnheader", name="日時・方法・相手").bounding_box()
    content = await table.get_by_role("columnheader", name="内容・合意事項").bounding_box()
    assert first is not None and content is not None and content["width"] > first["width"], (first, content)
