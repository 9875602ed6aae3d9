"""Every whole page on a phone's width (360 CSS px, the narrowest common one): nothing wider than the screen, so the
page never scrolls sideways and a form's button or a table's last column is never off screen unseen. A wide table
scrolls inside its card; a chart shrinks to the card; a card's grid column is never wider than the screen.

The pages of tests/ui/every_page.py, as the program's own staff and as a supervisor, on the suite the walks share; a
fragment (htmx) is seen inside its page. Each page's test names the elements that stick out and by how much."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from jusou.runner import Suite

from .conftest import close_tab
from .every_page import SERVICES, filled, pages, role_cookie, selected
from .test_accessibility import OWN_ROLE

WIDTH, HEIGHT = 360, 740
AT_ONCE = 3
#: what sticks out of the screen: the outermost elements whose right edge is past it (inside a scrolling box is fine)
STICKING_OUT = """() => {
  const width = document.documentElement.clientWidth;
  const inScroller = el => { for (let p = el.parentElement; p; p = p.parentElement) {
    const s = getComputedStyle(p); if (s.overflowX === 'auto' || s.overflowX === 'scroll' || s.overflowX === 'hidden') return true; }
    return false; };
  const out = [];
  for (const el of document.body.querySelectorAll('*')) {
    const r = el.getBoundingClientRect();
    if (r.width === 0 || r.right <= width + 1 || inScroller(el)) continue;
    if (out.some(o => o.el.contains(el))) continue;
    out.push({el, text: `${el.tagName.toLowerCase()}${el.id ? '#' + el.id : ''}${el.className && typeof el.className === 'string' ? '.' + el.className.trim().split(/\\s+/).join('.') : ''} +${Math.round(r.right - width)}px`});
  }
  return {scroll: document.documentElement.scrollWidth, width, out: out.slice(0, 5).map(o => o.text)};
}"""


@pytest.fixture(scope="module")
async def measured(request: pytest.FixtureRequest, walk_suite: Suite, walk_ids: dict[str, str],
                   browser: Any) -> dict[tuple[str, str], list[str]]:
    """Every page (that this run tests) at WIDTH, as both roles: what sticks out, by page."""
    keys = selected(request, "test_the_page_fits_a_phones_width")
    jobs = [(service, path, role) for service, path in keys for role in (OWN_ROLE[service], "supervisor")]
    jobs.sort(key=lambda job: job[2])
    found: dict[tuple[str, str], list[str]] = {key: [] for key in keys}
    contexts: dict[str, Any] = {}

    async def context(role: str) -> Any:
        if role not in contexts:
            contexts[role] = await browser.new_context(locale="ja-JP", viewport={"width": WIDTH, "height": HEIGHT})
            await contexts[role].add_cookies([role_cookie(role, walk_suite.url(SERVICES[0]))])
        return contexts[role]

    async def tab_through() -> None:
        tab, tab_role = None, ""
        while jobs:
            service, path, role = jobs.pop(0)
            if tab is None or tab_role != role:
                if tab is not None:
                    await close_tab(tab)
                tab, tab_role = await (await context(role)).new_page(), role
            response = await tab.goto(walk_suite.url(service) + filled(path, walk_ids, service), wait_until="load")
            if response is None or not (await response.text()).lstrip().lower().startswith("<!doctype html"):
                continue  # a fragment: measured inside its page
            seen = await tab.evaluate(STICKING_OUT)
            if seen["scroll"] > seen["width"] + 1 or seen["out"]:
                found[service, path].append(f"{role}: page {seen['scroll']}px wide on a {seen['width']}px screen: "
                                            + ", ".join(seen["out"]))
        if tab is not None:
            await close_tab(tab)

    try:
        await asyncio.gather(*(tab_through() for _ in range(AT_ONCE)))
    finally:
        for made in contexts.values():
            await made.close()
    return found


@pytest.mark.parametrize(("service", "path"), [pytest.param(s, p, id=f"{s}{p}") for s in SERVICES for p in pages(s)])
def test_the_page_fits_a_phones_width(service: str, path: str, measured: dict[tuple[str, str], list[str]]) -> None:
    assert not measured[service, path], f"{service} {path}:\n" + "\n".join(measured[service, path])
