"""A real browser for the UI tests: Debian's chromium driven by Playwright (never a downloaded build).

`.ci/run` installs the `chromium` package; where it is missing the UI tests fail under CI and are
skipped elsewhere, saying why. One chromium serves the whole run (`browser`, session scope); each test has
its own browser context (`page`). Screenshots of each page go to `test-artifacts/screenshots/`.

A UI test that hangs (a page that never comes, a click that waits for ever) fails on its own after `UI_TEST_TIMEOUT`
seconds, named, and the run goes on (pytest-timeout, its signal method: the session's event loop and chromium survive
it); before, the run waited until CI's 80-minute limit stopped everything. `JUSOU_UI_TEST_TIMEOUT` changes it
(0: none); a test's own `@pytest.mark.timeout(n)` wins. Without pytest-timeout installed, nothing is marked.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import shutil
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from playwright.async_api import Error as PlaywrightError
from security.seed import seed
from support import auth

from jusou.runner import Suite

SERVICES = ("intake", "collaboration", "meeting", "outreach", "participation", "community")
ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts" / "screenshots"


#: seconds a UI test may take, its fixtures' setup and teardown included (a walk's module fixture, the suite's start)
UI_TEST_TIMEOUT = 600  # the axe walk's module fixture took 203 s (setup of its first test) at load 11.8 on two cores
_HERE = Path(__file__).resolve().parent


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Each test under tests/ui without a timeout of its own gets UI_TEST_TIMEOUT (this hook sees the session's every
    item: only this folder's are marked)."""
    seconds = float(os.environ.get("JUSOU_UI_TEST_TIMEOUT") or UI_TEST_TIMEOUT)
    if seconds <= 0 or not config.pluginmanager.hasplugin("timeout"):
        return
    for item in items:
        if item.path.is_relative_to(_HERE) and item.get_closest_marker("timeout") is None:
            item.add_marker(pytest.mark.timeout(seconds))


def chromium_path() -> str | None:
    return os.environ.get("JUSOU_CHROMIUM") or shutil.which("chromium") or shutil.which("chromium-browser")


@pytest.fixture(scope="module")
def ui_suite(module_suite: Suite) -> Suite:
    """The running suite (tests/conftest.py): the run's shared one, or the module's own where it is marked `own_suite`.
    Tests on the shared suite make their own records (fresh names, ids) and assert on those."""
    return module_suite


@pytest.fixture(scope="package")
def walk_suite(shared_suite: Suite) -> Suite:
    """The suite the walks over every page read (test_office_language.py, test_accessibility.py): the shared one,
    with a journey seeded into it once (`walk_ids`)."""
    return shared_suite


@pytest.fixture(scope="package")
def walk_ids(walk_suite: Suite) -> dict[str, str]:
    """The ids of the journey seeded once into `walk_suite` (tests/security/seed.py), by path-parameter name."""
    return {k: str(v) for k, v in seed({name: walk_suite.url(name) for name in SERVICES}).items()}


@pytest.fixture(scope="session")
async def browser() -> AsyncIterator[object]:
    executable = chromium_path()
    if executable is None:
        if os.environ.get("CI"):
            pytest.fail("Debian's chromium is required for the UI tests in CI (apt-get install chromium)")
        pytest.skip("no chromium on this machine (apt-get install chromium): UI tests skipped")
    from playwright.async_api import async_playwright

    async with async_playwright() as playwright:
        browser = await playwright.chromium.launch(
            executable_path=executable,
            args=["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
                  "--disable-component-update", "--disable-sync"],
        )
        yield browser
        await browser.close()


@pytest.fixture
async def page(browser: object) -> AsyncIterator[object]:
    context = await browser.new_context(viewport={"width": 1280, "height": 800}, locale="ja-JP")  # type: ignore[attr-defined]
    page = await context.new_page()
    yield page
    for left in [context, *browser.contexts]:  # type: ignore[attr-defined]
        # the test's own and any it opened beside it and left open: chromium serves the whole run, and a page left
        # open keeps its live connections to a suite that may be about to stop. A context's close has no timeout of
        # Playwright's either: bounded here, it fails naming itself instead of waiting for the test's 600 s.
        try:
            await asyncio.wait_for(left.close(), CLOSE_SECONDS * 3)
        except TimeoutError:
            pytest.fail(f"chromium did not close a browser context in {CLOSE_SECONDS * 3} s")


#: seconds a tab's close may take before chromium is asked again (it closes a tab at once, or never: see close_tab)
CLOSE_SECONDS = 10.0
#: how long close_tab lets a tab finish loading what it is loading before closing it
SETTLE_MS = 15_000


async def close_tab(tab: Any, *, settle: bool = True, seconds: float = CLOSE_SECONDS) -> bool:
    """Close a tab (a Page) a test opened beside its own; True when chromium had to be asked a second time.

    Playwright's `page.close()` has no timeout, and chromium (156, Debian's) acknowledges a close that comes while the
    tab is committing or loading a navigation, then never closes the tab (crbug.com/536385539, microsoft/playwright
    #42366, unfixed in Playwright 1.65): the call never answers. A tab closed right after its sign-in's POST and
    redirect waited so until pytest-timeout's 600 s in 架空市's run (2026-12-06; 15 of 200 such closes on this machine,
    none of 300 closed after the load event). So the tab's load comes first (`settle`), then the close, bounded; if it
    is not closed in `seconds`, the tab's own Page.close (`run_before_unload`, which chromium carries out) closes it;
    if even that does not, the test fails saying so. tests/ui/test_closing_a_tab_ui.py holds it to that."""
    if settle:
        with contextlib.suppress(PlaywrightError):  # a page that fails to load is still closed
            await tab.wait_for_load_state("load", timeout=SETTLE_MS)
    closing = asyncio.ensure_future(tab.close())
    try:
        await asyncio.wait_for(asyncio.shield(closing), seconds)
        return False
    except TimeoutError:
        pass
    try:
        await asyncio.wait_for(tab.close(run_before_unload=True), seconds)
        await asyncio.wait_for(closing, seconds)
    except TimeoutError:
        pytest.fail(f"chromium did not close the tab at {tab.url} in {seconds} s, asked twice")
    return True


async def shoot(page: object, name: str) -> Path:
    """Keep a screenshot of the page as a test artifact."""
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    path = ARTIFACTS / f"{name}.png"
    await page.screenshot(path=str(path), full_page=True)  # type: ignore[attr-defined]
    return path


sign_in = auth.sign_in  # the account is made, then the sign-in page filled in as a person would


async def at_the_counter(page: Any, suite: Suite, staff_id: str, query: str = "") -> str:
    """Signed in as `staff_id`, a counselor of the elderly counter's division, on intake's list of the counter's cases
    (`query`: the address's, e.g. ``?counter=…``); intake's address."""
    from support.municipality import ELDERLY

    intake = suite.url("intake")
    await sign_in(page, intake, staff_id, ELDERLY.division, "counselor")
    await page.goto(f"{intake}/ui/{query}")
    return intake
