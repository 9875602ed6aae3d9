"""A card in a grid column keeps its fields inside it (shared/web/static/jusou.css): intake's case page at 1280 px, the
consent card (a fieldset, a long choice, a select) beside the escalation card."""

from __future__ import annotations

import httpx
from playwright.async_api import Page
from support.auth import sign_in, staff_headers
from support.municipality import ELDERLY, concern

from jusou.runner import Suite

from .conftest import shoot


async def test_intake_case_page_the_consent_cards_fields_stay_inside_it_at_1280_px(ui_suite: Suite, page: Page) -> None:
    intake = ui_suite.url("intake")
    counter = staff_headers("kouki-012", ELDERLY.division, "counselor")
    async with httpx.AsyncClient(timeout=30) as http:
        made = await http.post(intake + "/consultations", headers=counter, json={
            "counter": ELDERLY.code, "channel": "窓口", "concerns": [concern("elderly-care"), concern("childcare")],
            "confirm_new_person": True, "person": {"name": "柴崎 一郎", "kana": "しばさき いちろう",
                                                   "birth_date": "1975-04-04", "phone": "042-000-0000",
                                                   "address": "調布市小島町2丁目"}})
        assert made.status_code == 201, made.text
    await sign_in(page, intake, "kouki-012", ELDERLY.division, "counselor")
    await page.goto(f"{intake}/ui/cases/{made.json()['case_id']}")
    card = page.locator("section.card", has=page.get_by_role("heading", name="本人同意 / consent"))
    box = await card.bounding_box()
    assert box is not None
    right = box["x"] + box["width"]
    for field in await card.locator("input:visible, select, textarea, fieldset, label").all():
        inner = await field.bounding_box()
        assert inner is not None and inner["x"] + inner["width"] <= right + 0.5, (await field.inner_text(), inner, box)
    await shoot(page, "intake-case-cards")
