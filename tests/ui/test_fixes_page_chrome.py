"""The page chrome every service shares (shared/web/templates/base.html, static/): the login page opens no live-update
stream (it answers only a signed-in reader), and every page names its icon (no /favicon.ico asked for and refused)."""

from __future__ import annotations

import httpx
from playwright.async_api import Page
from support.auth import sign_in
from support.municipality import ELDERLY

from jusou.runner import Suite


async def test_the_login_page_opens_no_live_stream_a_signed_in_page_does_and_no_page_asks_for_favicon_ico(
        ui_suite: Suite, page: Page) -> None:
    intake = ui_suite.url("intake")
    asked: list[str] = []
    errors: list[str] = []
    page.on("request", lambda r: asked.append(r.url))
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    await page.goto(f"{intake}/ui/login")
    await page.wait_for_load_state("networkidle")
    assert not [u for u in asked if "/ui/events" in u or "favicon.ico" in u], asked
    assert not errors, errors
    icon = await page.locator("link[rel=icon]").get_attribute("href")
    async with httpx.AsyncClient(timeout=30) as http:
        served = await http.get(f"{intake}{icon}")
    assert served.status_code == 200 and served.headers["content-type"].startswith("image/svg+xml"), served.text

    await sign_in(page, intake, "kouki-012", ELDERLY.division, "counselor")
    async with page.expect_request(lambda r: "/ui/events" in r.url):
        await page.goto(f"{intake}/ui/")
    assert not [u for u in asked if "favicon.ico" in u], asked
