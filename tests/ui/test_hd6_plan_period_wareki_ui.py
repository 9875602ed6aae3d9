"""The plan editor gave a saved plan's period back in Western form (HD's review, session 24, on a jusou up as
demo-coordinator): 開始日 typed 「R8.12.10」 and 見直し予定日 「R9.3.31」, the draft saved, and the editor showed
「2026-12-10」 and 「2027-03-31」 in those fields, while the plan's page above says 「令和8年12月10日」 and staff type and
read dates in 和暦. The editor now fills them as staff type them, 「令和8年12月10日」; saved again unchanged, the plan
keeps the same days."""

from __future__ import annotations

import re
from datetime import timedelta

import httpx
from playwright.async_api import Page, expect
from support.auth import reader
from support.journey import COORDINATOR, Journey
from support.municipality import LEAD

from jusou.runner import Suite
from shared.domain.wareki import today_in_japan, wareki

from .conftest import sign_in


async def test_the_plan_editor_gives_the_period_in_wareki_and_keeps_it(ui_suite: Suite, page: Page) -> None:
    collaboration = ui_suite.url("collaboration")
    starts, review = today_in_japan() + timedelta(days=3), today_in_japan() + timedelta(days=120)
    async with httpx.AsyncClient(timeout=30, headers=reader()) as client:
        journey = Journey({name: ui_suite.url(name) for name in ui_suite.services}, client)
        case_id = await journey.receive_and_escalate()
        await journey.get_when("collaboration", f"/cases/{case_id}", lambda c: c["status"] == "open", "the case")
        plan = await journey.post("collaboration", f"/cases/{case_id}/plans", {
            "support_direction": "母の介護と息子の社会参加", "goals": ["週2回デイサービスに通う"],
            "roles": [{"agency": "地域包括支援センター", "responsibility": "介護サービスの調整"}],
            "starts_on": starts.isoformat(), "review_on": review.isoformat()}, COORDINATOR)
    plan_id = plan["plan_id"]
    await sign_in(page, collaboration, "fukushi-003", LEAD, "coordinator")
    await page.goto(f"{collaboration}/ui/plans/{plan_id}")

    await expect(page.locator("#starts_on")).to_have_value(wareki(starts, with_gregorian=False))
    await expect(page.locator("#review_on")).to_have_value(wareki(review, with_gregorian=False))

    await page.get_by_role("button", name=re.compile("下書き保存")).click()
    await expect(page.get_by_role("alert").first).to_contain_text("プランを保存しました")
    await expect(page.locator("#starts_on")).to_have_value(wareki(starts, with_gregorian=False))
    async with httpx.AsyncClient(timeout=30, headers=COORDINATOR) as client:
        saved = (await client.get(f"{collaboration}/plans/{plan_id}")).json()
    assert (saved["starts_on"], saved["review_on"]) == (starts.isoformat(), review.isoformat())
