"""A 担当者 recorded from a tab opened before another change is refused, not recorded over it (HC's review, session 20): a
caseworker's tab, open since the morning, showed the case with no one in charge; meanwhile the supervisor assigned it
to a colleague; 「担当者を記録」 from the old tab put the caseworker back in charge, and the colleague's assignment was undone
without anyone seeing it. The form now says what it showed, and a change since is refused (409) with the page as it
is now (the new 担当者 in view) and what was typed kept; sent again from there, it is recorded."""

from __future__ import annotations

import re
from uuid import uuid4

import httpx
from playwright.async_api import Browser, expect
from support.auth import account, token
from support.journey import COUNTER_STAFF
from support.municipality import ELDERLY, concern

from jusou.runner import Suite
from shared.web.auth import COOKIE


async def test_an_assignment_sent_from_a_tab_older_than_another_assignment_is_refused_then_recorded_from_the_page_now(
        ui_suite: Suite, browser: Browser) -> None:
    intake = ui_suite.url("intake")
    async with httpx.AsyncClient(timeout=30, headers=COUNTER_STAFF) as client:
        made = await client.post(f"{intake}/consultations", json={
            "counter": ELDERLY.code, "channel": "窓口", "concerns": [concern("elderly-care")],
            "person": {"name": f"担当 試験{uuid4().hex[:4]}", "birth_date": "1949-09-09"}, "confirm_new_person": True})
        assert made.status_code == 201, made.text
    case_id = made.json()["case_id"]
    for colleague in ("kouki-020", "kouki-031"):  # on the roster of staff who may hold the case (staff_roster.py)
        account(colleague, ELDERLY.division, "counselor")
    notes = f"{intake}/ui/cases/{case_id}/casework"
    context = await browser.new_context(locale="ja-JP", viewport={"width": 1280, "height": 900})
    try:
        await context.add_cookies([{"name": COOKIE, "url": intake,
                                    "value": token("kouki-012", ELDERLY.division, "counselor", "supervisor")}])
        old, new = await context.new_page(), await context.new_page()
        await old.goto(notes)
        await new.goto(notes)
        await new.locator("#main-staff").fill("kouki-020")
        await new.get_by_role("button", name="担当者を記録 / assign").click()
        await expect(new.locator("#casework-main")).to_have_text("kouki-020")

        await old.locator("#main-staff").fill("kouki-031")
        async with old.expect_response(lambda r: r.request.method == "POST") as answered:
            await old.get_by_role("button", name="担当者を記録 / assign").click()
        assert (await answered.value).status == 409
        await expect(old.locator("#error-assignment")).to_contain_text("この画面を開いた後に担当者がkouki-020に替わっています")
        await expect(old.locator("#casework-main")).to_have_text("kouki-020")
        await expect(old.locator("#main-staff")).to_have_value("kouki-031")

        await old.get_by_role("button", name="担当者を記録 / assign").click()  # from the page as it is now
        await expect(old.get_by_role("alert").filter(has_text=re.compile("担当を記録しました"))).to_be_visible()
        await expect(old.locator("#casework-main")).to_have_text("kouki-031")
    finally:
        await context.close()
