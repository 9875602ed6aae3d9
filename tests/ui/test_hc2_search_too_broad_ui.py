"""The counter's search page says when a search matches too many people to show (HC's review, session 20): a search for
「田」 listed every match, each recorded as a disclosure. Beyond MOST_FOUND_SHOWN the page shows none and says how many
match and how to narrow it (tests/unit/test_hc2_search_too_broad.py: nothing recorded); narrowed, it lists them."""

from __future__ import annotations

import asyncio
from uuid import uuid4

import httpx
from playwright.async_api import Page, expect
from support.journey import COUNTER_STAFF
from support.municipality import ELDERLY, concern

from jusou.runner import Suite
from services.intake.application import MOST_FOUND_SHOWN

from .conftest import sign_in


async def test_a_search_matching_too_many_says_how_many_and_how_to_narrow_it(ui_suite: Suite, page: Page) -> None:
    intake = ui_suite.url("intake")
    family = f"多数{uuid4().hex[:6]}"
    async with httpx.AsyncClient(timeout=60, headers=COUNTER_STAFF) as client:
        async def one(i: int) -> None:
            made = await client.post(f"{intake}/consultations", json={
                "counter": ELDERLY.code, "channel": "窓口", "concerns": [concern("elderly-care")],
                "person": {"name": f"{family} {i:02d}子", "birth_date": "1950-01-01"}, "confirm_new_person": True})
            assert made.status_code == 201, made.text

        for start in range(0, MOST_FOUND_SHOWN + 1, 8):
            await asyncio.gather(*(one(i) for i in range(start, min(start + 8, MOST_FOUND_SHOWN + 1))))
    await sign_in(page, intake, "kouki-012", ELDERLY.division, "counselor")

    await page.goto(f"{intake}/ui/persons")
    await page.get_by_label("氏名 / name").fill(family)
    await page.get_by_role("button", name="検索 / search").click()
    await expect(page.locator("#too-many")).to_contain_text(f"該当する方が{MOST_FOUND_SHOWN + 1}人と多いため、表示していません")
    await expect(page.locator("#too-many")).to_contain_text("絞り込んでください")
    await expect(page.locator("#found tbody tr[data-person]")).to_have_count(0)

    await page.get_by_label("氏名 / name").fill(f"{family} 1")  # 10子…19子
    await page.get_by_role("button", name="検索 / search").click()
    await expect(page.locator("#found tbody tr[data-person]")).to_have_count(10)
    await expect(page.locator("#too-many")).to_have_count(0)
