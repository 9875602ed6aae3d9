"""The counter's list keeps its short cells on one line beside a long name (HC's review, session 20): a person registered
with a long name (「𠮷野 髙﨑 太郎右衛門…」, 和名 with the old forms of the ID card) took the table's width, and the short
cells were squeezed to a character a line — 担当者 「未\\n定」, 同意 「未\\n確\\n認」, 経路 「来\\n所」 — read as a column of single
characters down the row. They are kept whole now; the name wraps."""

from __future__ import annotations

import asyncio
from uuid import uuid4

import httpx
from playwright.async_api import Locator, Page, expect
from support.journey import COUNTER_STAFF
from support.municipality import ELDERLY, concern

from jusou.runner import Suite

from .conftest import sign_in

LONG = "𠮷野 髙﨑 太郎右衛門之助ノ介ジュゲムジュゲムゴコウノスリキレカイジャリスイギョノスイギョウマツウンライマツフウライマツ"

LINES = "e => { const r = document.createRange(); r.selectNodeContents(e); " \
        "return new Set(Array.from(r.getClientRects()).map(x => Math.round(x.top))).size }"


async def test_a_long_name_leaves_the_short_cells_of_its_row_on_one_line(ui_suite: Suite, page: Page) -> None:
    intake = ui_suite.url("intake")
    name = f"{LONG}{uuid4().hex[:4]}"
    async with httpx.AsyncClient(timeout=30, headers=COUNTER_STAFF) as client:
        made = await client.post(f"{intake}/consultations", json={
            "counter": ELDERLY.code, "channel": "関係機関から", "concerns": [concern("elderly-care")],
            "person": {"name": name, "kana": "よしの たかさき", "birth_date": "1960-02-03"}, "confirm_new_person": True})
        assert made.status_code == 201, made.text
    case_id = made.json()["case_id"]
    await sign_in(page, intake, "kouki-012", ELDERLY.division, "counselor")
    await page.goto(f"{intake}/ui/?counter={ELDERLY.code}")
    row = page.locator(f"tr[data-case='{case_id}']")
    await expect(row.locator("td.person")).to_contain_text(name)

    cells = row.locator("td")
    for index, says in ((2, "関係機関から"), (6, "未定"), (7, "未確認")):
        await expect(cells.nth(index)).to_have_text(says)
        assert await lines_of(cells.nth(index)) == 1, (says, "split over lines")
    assert await lines_of(row.locator("td.person")) > 1  # the name is what wraps


async def lines_of(cell: Locator) -> int:
    """The lines a cell's text takes, measured on the table as it stands: the list refreshes itself (htmx, on the
    case's own change event, which may come after the page loaded), and a cell measured as it is swapped out is
    detached (no lines at all: seen in CI's run); measured again on the table that replaced it."""
    lines = 0
    for _ in range(50):
        lines = await cell.evaluate(LINES)
        if lines:
            return int(lines)
        await asyncio.sleep(0.1)
    return int(lines)
