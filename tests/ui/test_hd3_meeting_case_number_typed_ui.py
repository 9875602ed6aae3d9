"""The meeting's 「ケースを議題にする」 and 議事次第's 「またはケース番号」 say, as the number is typed, that they take the whole
case number (HD's review, session 21): the pages show a case as its first eight characters (「ケース 0231cc17」), a
secretary typed those, and the field said nothing until the server refused (and then in pydantic's words, d25743c).
Now the field says beside it, as outreach's does, that the number is 36 characters (8-4-4-4-12) to copy from the
case's page; the whole number takes it up."""

from __future__ import annotations

import re

import httpx
from playwright.async_api import Page, expect
from support.auth import reader
from support.journey import Journey
from support.municipality import LEAD

from jusou.runner import Suite

from .conftest import sign_in


async def test_a_case_number_typed_short_is_said_beside_the_field_and_the_whole_one_is_taken(
        ui_suite: Suite, page: Page) -> None:
    meeting = ui_suite.url("meeting")
    async with httpx.AsyncClient(timeout=30, headers=reader()) as client:
        journey = Journey({name: ui_suite.url(name) for name in ui_suite.services}, client)
        case_id = await journey.receive_and_escalate()
        meeting_id = await journey.convene()
        # D9: the 重層的支援会議 takes up a case once the person's consent reached it
        await journey.get_when("meeting", f"/consents/{case_id}", lambda c: c["granted"], "the consent at the meeting")
    await sign_in(page, meeting, "kaigi-001", LEAD, "secretariat")
    await page.goto(f"{meeting}/ui/meetings/{meeting_id}")

    field = page.locator("#take-up-case")
    await field.fill(case_id[:8])
    await field.blur()
    await expect(page.locator("#take-up-case-error")).to_contain_text("36文字の番号です")
    await expect(field).to_have_attribute("aria-invalid", "true")
    await page.locator("#agenda-case").fill(case_id[:8])
    await page.locator("#agenda-case").blur()
    await expect(page.locator("#agenda-case-error")).to_contain_text("36文字の番号です")

    await field.fill(case_id)
    await expect(page.locator("#take-up-case-error")).to_have_text("")
    await page.get_by_role("button", name=re.compile("議題にする")).click()
    await expect(page.get_by_role("alert").first).to_contain_text("ケースを議題にしました")
    await expect(page.locator("#taken-up")).to_contain_text(case_id[:8])
