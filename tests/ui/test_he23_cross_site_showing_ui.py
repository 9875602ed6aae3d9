"""A case page opened from another site asks first and records nothing (HE's review, session 21; HE2's fix).

A page on another site links to a case at intake. Chromium sends the staff member's cookie on that top-level navigation
(SameSite=Lax) and says where it came from (`Sec-Fetch-Site: cross-site`): the case page used to open and record the
showing, whom the other site chose. Now the page that comes says opening records the viewing and shows nothing of the
person; its button opens the case from here, which records one showing (shared/web/showing.py)."""

from __future__ import annotations

from uuid import uuid4

import httpx
from playwright.async_api import Page, expect
from support.auth import reader
from support.journey import COUNTER_STAFF
from support.municipality import ELDERLY, concern

from jusou.runner import Suite

from .conftest import sign_in

ELSEWHERE = "http://elsewhere.example/"  # another site: its page is served by the browser's route, never by a server


async def _disclosures(intake: str, person_ref: str) -> list[dict[str, object]]:
    async with httpx.AsyncClient(timeout=30, trust_env=False) as client:
        got = await client.get(f"{intake}/audit/people/{person_ref}/disclosures?format=json&limit=200", headers=reader())
        assert got.status_code == 200, got.text
        return list(got.json())


async def test_d9_a_link_on_another_site_opens_a_page_that_asks_and_its_button_opens_the_case(
        ui_suite: Suite, page: Page) -> None:
    intake = ui_suite.url("intake")
    name = f"越境 閲子{uuid4().hex[:4]}"
    async with httpx.AsyncClient(timeout=30, headers=COUNTER_STAFF, trust_env=False) as client:
        made = await client.post(f"{intake}/consultations", json={
            "counter": ELDERLY.code, "channel": "窓口", "concerns": [concern("elderly-care")],
            "person": {"name": name}, "confirm_new_person": True})
        assert made.status_code == 201, made.text
        case_id = made.json()["case_id"]
        person_ref = (await client.get(f"{intake}/cases/{case_id}")).json()["person_ref"]
    await sign_in(page, intake, "kouki-012", ELDERLY.division, "counselor")
    before = await _disclosures(intake, person_ref)
    await page.route(f"{ELSEWHERE}**", lambda route: route.fulfill(
        content_type="text/html", body=f'<!doctype html><a id="lure" href="{intake}/ui/cases/{case_id}">see</a>'))
    await page.goto(ELSEWHERE)

    await page.click("#lure")

    await expect(page.locator("[data-showing-confirm]")).to_contain_text("この画面を開くと相談者の閲覧が記録されます")
    await expect(page.locator("[data-showing-confirm]")).to_contain_text(
        "Opening this page records that you viewed this person")
    assert page.url == f"{intake}/ui/cases/{case_id}"
    assert name not in await page.content()
    assert await _disclosures(intake, person_ref) == before

    await page.click("#open-here")

    await expect(page.locator("main")).to_contain_text(name)
    await expect(page.locator("[data-showing-confirm]")).to_have_count(0)
    after = await _disclosures(intake, person_ref)
    assert len(after) == len(before) + 1 and after[-1]["staff_id"] == "kouki-012", after[-3:]
