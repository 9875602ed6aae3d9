"""The race the UI tests wait out (tests/support/ui_ready.py), held open on purpose: the page's own script is kept from
the browser until the test lets it go, so what happens before it has run is seen, with no timing.

A page is shown, its heading seen by a test, before its deferred /ui/static/jusou.js has run: a choice made on the
counter's select then stays on the page (CI on 架空市's file, 2026-12-06). jusou.js marks <html data-jusou="ready"> at
its end; here the mark is absent while the script is held, and once it is there the same choice shows its page."""

from __future__ import annotations

import asyncio
import re
from typing import Any

from playwright.async_api import Page, Route, expect
from support.municipality import ELDERLY
from support.ui_ready import READY, script_ready

from jusou.runner import Suite

from .conftest import at_the_counter


async def test_the_page_is_marked_ready_only_once_its_script_has_run_and_a_choice_works_from_then(
        ui_suite: Suite, page: Page) -> None:
    intake = await at_the_counter(page, ui_suite, "kouki-051")
    counter = page.locator("#counter")
    options = await counter.locator("option").evaluate_all("os => os.map(o => o.value)")
    shown = await counter.input_value()
    chosen = next(value for value in options if value != shown)

    held: asyncio.Future[Route] = asyncio.get_running_loop().create_future()

    async def hold(route: Route, _: Any) -> None:  # the script's request waits here until the test lets it go
        if not held.done():
            held.set_result(route)
        else:
            await route.continue_()

    await page.route(re.compile(r"/ui/static/jusou\.js$"), hold)  # routing turns the browser's cache off: it is asked
    await page.goto(f"{intake}/ui/", wait_until="commit")
    script = await held
    # the page is there to be read and acted on, its script not run
    await expect(page.get_by_role("heading", name=re.compile(f"{re.escape(ELDERLY.ja)}の相談"))).to_be_visible()
    await expect(page.locator(READY)).to_have_count(0)
    await counter.select_option(chosen)  # chosen now, nothing listens: the page stays where it is
    await script.continue_()
    await script_ready(page)
    assert "counter=" not in page.url, page.url  # the choice made before the script ran was lost, as in CI

    await counter.select_option(chosen)  # the same choice once the page says it is ready: its page at once
    await expect(page).to_have_url(re.compile(rf"/ui/\?counter={re.escape(chosen)}$"))
    await script_ready(page)  # and the page it led to marks itself too
    await page.unroute(re.compile(r"/ui/static/jusou\.js$"))
