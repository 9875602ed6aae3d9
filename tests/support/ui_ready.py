"""Waiting, in a UI test, for the page's own script to have run: the race it closes.

base.html loads htmx and /ui/static/jusou.js `defer`: they run after the page has been read, and the page's text is
shown (and seen by a test's `expect`) before. A test that acts right after a navigation (a link or a button clicked,
Enter pressed, a form sent) on something the script does (a select that sends its form when chosen, a row added by a
button, what was typed kept in sessionStorage on submit, a draft put back, 和暦 beside a date, a message as you type,
a live part that htmx refreshes) could act before the script was there: the choice stayed on the page, the click did
nothing (CI on 架空市's file, 2026-12-06, the counter's select). jusou.js marks <html data-jusou="ready"> when it has run
to its end, after the page's load and htmx's reading of the page; these wait for that mark on the page now shown.

Call them once the new page is the one shown (its address or one of its headings seen): the mark of the page before a
navigation would otherwise answer at once. `page.goto`, `reload` and `go_back` wait for the load event by themselves,
but not for the draft put back after it; where a test needs only the script's listeners after a goto it needs nothing.
"""

from __future__ import annotations

import re
from typing import Any

from playwright.async_api import expect

#: the attribute jusou.js sets at its end (shared/web/static/jusou.js, "Ready")
READY = "html[data-jusou='ready']"
#: where signing in (support/auth.py sign_in) leads: the program's start page
SIGNED_IN = re.compile(r"/ui/\?ok=signed_in$")


async def script_ready(page: Any, *, url: str | re.Pattern[str] | None = None, timeout: float = 30_000) -> None:
    """Wait until the page shown (at `url`, when given: the navigation's destination) has run jusou.js to its end."""
    if url is not None:
        await expect(page).to_have_url(url, timeout=timeout)
    await expect(page.locator(READY)).to_be_attached(timeout=timeout)
