"""A whole journey through the UIs only: a counter receives a consultation, the coordinator plans,
the meeting decides and closes the plan, participation picks the person up, and each program's page
shows the case — no API call, no reading of code."""

from __future__ import annotations

import re

from playwright.async_api import Page, expect
from support.municipality import ELDERLY, LEAD, concern

from jusou.runner import Suite

from .conftest import shoot, sign_in
from .test_meeting_ui import journey


async def receive_and_escalate_at_the_counter(page: Page, intake: str) -> str:
    await sign_in(page, intake, "kouki-031", ELDERLY.division, "counselor")
    await page.get_by_role("link", name=re.compile("新しい相談")).click()
    await page.get_by_label("経路").select_option("来所")
    for field in ("elderly-care", "hikikomori", "debt"):  # by code: the names are the municipality file's
        await page.get_by_label(concern(field)).check()
    await page.get_by_label("氏名").fill("雲雀 朔")  # a name no other module uses: the suite is shared (D2 would offer a namesake)
    await page.get_by_label("生年月日").fill("1943-08-15")
    await page.get_by_role("button", name=re.compile("受け付ける")).click()
    await expect(page.get_by_role("alert")).to_contain_text("相談を受け付けました")
    found = re.search(r"/ui/cases/([0-9a-f-]{36})", page.url)
    assert found, page.url
    case_id = found.group(1)
    await page.get_by_role("button", name=re.compile("同意を記録")).click()
    await expect(page.locator("#consent")).to_contain_text("あり")
    await page.get_by_label(re.compile("理由（複雑化")).fill("8050世帯: 母の介護、息子のひきこもり、家計")
    await page.get_by_role("button", name="多機関協働事業へつなぐ").click()
    await expect(page.get_by_role("alert")).to_contain_text("多機関協働事業へつなぎました")
    return case_id


async def test_a_case_from_the_counter_to_closure_in_the_browser_only(ui_suite: Suite, page: Page) -> None:
    counter_desk = await page.context.browser.new_context(viewport={"width": 1280, "height": 800}, locale="ja-JP")  # type: ignore[union-attr]
    coordinator_desk = await page.context.browser.new_context(viewport={"width": 1280, "height": 800}, locale="ja-JP")  # type: ignore[union-attr]
    try:
        counter = await counter_desk.new_page()
        case_id = await receive_and_escalate_at_the_counter(counter, ui_suite.url("intake"))
        # collaboration → meeting → revision → approval (connect to participation) → closure → 終結
        await journey(ui_suite, page, await coordinator_desk.new_page(), case_id)
        # The counter sees the meeting's decisions reach its case (D14: know-how flows back).
        await counter.goto(f"{ui_suite.url('intake')}/ui/cases/{case_id}/timeline")
        timeline = counter.get_by_role("list", name="経過")
        for service in ("intake", "collaboration", "meeting", "participation"):
            await expect(timeline.locator(f"li[data-service='{service}']").first).to_be_visible()
        await expect(timeline.locator("li[data-event='Meeting.Evaluated']")).to_be_visible()
        await shoot(counter, "journey-timeline")
        # Participation, outreach and community pages: the case reached participation from connect_to.
        participation = await counter_desk.new_page()
        await sign_in(participation, ui_suite.url("participation"), "sanka-2", LEAD, "participation_worker")
        await expect(participation.locator(f"#supports tr[data-case='{case_id}']")).to_be_visible(timeout=10_000)
        await shoot(participation, "journey-participation")
        for service in ("outreach", "community"):
            await participation.goto(f"{ui_suite.url(service)}/ui/")
            await expect(participation.get_by_role("navigation", name=re.compile("事業"))).to_be_visible()
            await shoot(participation, f"journey-{service}")
    finally:
        await counter_desk.close()
        await coordinator_desk.close()
