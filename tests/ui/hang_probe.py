"""UI tests for tests/ui/test_ui_test_timeout.py, run only by it (the name is not test_*): the first starts chromium
(its launch is the session's, not the hang's to time), the second hangs as a page that never shows what a test waits
for, the third uses chromium after it."""

from __future__ import annotations

from playwright.async_api import Page, expect


async def test_chromium_starts(page: Page) -> None:
    await page.set_content("<!doctype html><title>probe</title><p>ready</p>")
    await expect(page.get_by_text("ready")).to_be_visible()


async def test_a_click_that_waits_for_ever(page: Page) -> None:
    await page.set_content("<!doctype html><title>probe</title><p>nothing to click</p>")
    await page.get_by_role("button", name="never there").click(timeout=0)


async def test_chromium_still_serves_the_next_test(page: Page) -> None:
    await page.set_content("<!doctype html><title>probe</title><button>here</button>")
    await expect(page.get_by_role("button", name="here")).to_be_visible()
