"""The browser-safety measures in a real Chromium (issue 13, item 7): the pages work under the
Content-Security-Policy (nothing blocked), /docs works without a CDN, signing out is the top bar's
button and ends the session at every UI."""

from __future__ import annotations

import re

from playwright.async_api import ConsoleMessage, Page, expect
from support.municipality import ELDERLY, LEAD
from support.ui_ready import script_ready

from jusou.runner import Suite

from .conftest import shoot, sign_in


def blocked_by_csp(page: Page) -> list[str]:
    """Console messages of what the CSP refused (collected from now on)."""
    refused: list[str] = []

    def seen(message: ConsoleMessage) -> None:
        if "Content Security Policy" in message.text or "Content-Security-Policy" in message.text:
            refused.append(message.text)

    page.on("console", seen)
    return refused


async def test_csp_the_pages_and_their_scripts_run_with_nothing_blocked(ui_suite: Suite, page: Page) -> None:
    refused = blocked_by_csp(page)
    intake = ui_suite.url("intake")
    await sign_in(page, intake, "kouki-012", ELDERLY.division, "counselor")
    counter = page.get_by_label("窓口")
    await expect(counter).to_be_visible()
    await script_ready(page)  # the page after signing in: chosen before its script had run, the choice would stay put
    await counter.select_option(await counter.input_value())  # once an inline onchange: now jusou.js submits it
    await expect(page).to_have_url(re.compile(r"/ui/\?counter="))
    await page.goto(f"{intake}/ui/consultations/new")
    await page.goto(f"{intake}/ui/trend")
    await page.goto(ui_suite.url("meeting") + "/ui/")
    assert not refused, refused


async def test_docs_swagger_ui_runs_from_the_service_itself(ui_suite: Suite, page: Page) -> None:
    refused = blocked_by_csp(page)
    elsewhere: list[str] = []
    page.on("request", lambda r: elsewhere.append(r.url) if not r.url.startswith(ui_suite.url("intake")) else None)
    # Swagger UI asks for the API's description after the page has loaded, and the service makes it at the first ask:
    # at load 25 (架空市's UI run beside the default one, 2026-12-06) the operations were not drawn within expect's
    # 5 s ("loading"); with these waits the test took 29.9 s at load 18, 3.4 s at load 4 (answer 1.3 s, drawing 1.6 s).
    # Waited for: the description's answer, then its drawing, each bounded by 60 s (a hang's bound, not a speed's).
    async with page.expect_response(lambda r: r.url.endswith("/openapi.json"), timeout=60_000) as described:
        await page.goto(ui_suite.url("intake") + "/docs")
    assert (await described.value).status == 200
    await expect(page.locator(".opblock").first).to_be_visible(timeout=60_000)
    await expect(page.get_by_text("/consultations").first).to_be_visible()
    await shoot(page, "docs")
    assert not refused, refused
    assert not elsewhere, elsewhere


async def test_sessions_the_top_bars_button_signs_out_of_every_ui(ui_suite: Suite, page: Page) -> None:
    outreach, community = ui_suite.url("outreach"), ui_suite.url("community")
    await sign_in(page, outreach, "outreach-071", LEAD, "outreach_worker")
    await page.goto(f"{community}/ui/log")
    await expect(page.get_by_text("outreach-071")).to_be_visible()
    await page.goto(f"{outreach}/ui/logout")  # a link only asks
    await page.goto(f"{community}/ui/log")
    await expect(page.get_by_text("outreach-071")).to_be_visible()
    await page.get_by_role("button", name=re.compile("ログアウト")).click()
    await expect(page.get_by_role("alert")).to_contain_text("ログアウトしました")
    await page.goto(f"{outreach}/ui/log")
    await expect(page).to_have_url(re.compile(r"/ui/login"))
