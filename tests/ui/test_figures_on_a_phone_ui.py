"""The figures' tables on a phone (360 CSS px): the columns keep their width and the table scrolls sideways inside its
own box, the rows' names (the first columns) staying in view while it does; the page itself never scrolls sideways.
Before, the tables were squeezed into the screen's width, a column one or two characters wide, each label and
number broken over several lines. On a desktop's width nothing changes: the table fits its card, nothing sticks
(community's many columns still wrap their headers there, as before).

The city's figures (/ui/figures, every service's, as a supervisor) and community's 実績 (/ui/activities, its two
tables), on the shared suite (the tables are there with any counts)."""

from __future__ import annotations

import re
from typing import Any

import pytest
from playwright.async_api import Page, ViewportSize, expect
from support.municipality import ELDERLY, LEAD

from jusou.runner import Suite

from .conftest import shoot, sign_in

PHONE: ViewportSize = {"width": 360, "height": 740}
DESKTOP: ViewportSize = {"width": 1280, "height": 800}
SUPERVISOR = ("kanri-041", LEAD, "supervisor")
COMMUNITY_WORKER = ("kouki-041", ELDERLY.division, "community_worker")

#: Each table's cells as shown: a cell broken over more lines than it has (its <br>s + 1) is squeezed; a sticky cell
#: (a row's name, kept in view) may wrap its words inside its set width.
MEASURE = """(table) => {
  const box = (() => { for (let p = table.parentElement; p; p = p.parentElement) {
    const s = getComputedStyle(p).overflowX; if (s === 'auto' || s === 'scroll') return p; } return null; })();
  const lines = cell => {
    const rects = [];
    const walk = document.createTreeWalker(cell, NodeFilter.SHOW_TEXT);
    for (let n = walk.nextNode(); n; n = walk.nextNode()) {
      if (!n.textContent.trim()) continue;
      const range = document.createRange(); range.selectNodeContents(n);
      for (const r of range.getClientRects()) if (r.width > 0) rects.push(r);
    }
    rects.sort((a, b) => a.top - b.top);
    let count = 0, bottom = -Infinity;
    for (const r of rects) { if (r.top >= bottom - 1) { count += 1; bottom = r.bottom; } else bottom = Math.max(bottom, r.bottom); }
    return count;
  };
  const fontSize = parseFloat(getComputedStyle(table).fontSize);
  const squeezed = [], sticky = [], narrowSticky = [];
  for (const cell of table.querySelectorAll('th, td')) {
    const text = cell.textContent.trim().replace(/\\s+/g, ' ');
    if (!text) continue;
    if (getComputedStyle(cell).position === 'sticky') {
      sticky.push(cell);
      if (cell.getBoundingClientRect().width < 4.5 * fontSize) narrowSticky.push(text);
      continue;
    }
    const shown = lines(cell), has = cell.querySelectorAll('br').length + 1;
    if (shown > has) squeezed.push(`${text} (${shown} lines)`);
  }
  return {
    page: document.documentElement.scrollWidth, screen: document.documentElement.clientWidth,
    box: box ? {client: box.clientWidth, scroll: box.scrollWidth, right: box.getBoundingClientRect().right,
          keyboard: box.tabIndex >= 0} : null,
    squeezed: squeezed.slice(0, 8), squeezedCount: squeezed.length, sticky: sticky.length, narrowSticky,
  };
}"""

#: With the table's box scrolled to its end: is each row's name still in the box and on top (not under a number)?
ROW_NAMES_IN_VIEW = """(table) => {
  let box = table.parentElement;
  while (box && !['auto', 'scroll'].includes(getComputedStyle(box).overflowX)) box = box.parentElement;
  box.scrollLeft = box.scrollWidth;
  const edge = box.getBoundingClientRect();
  const hidden = [];
  for (const row of table.querySelectorAll('tbody tr, tfoot tr')) {
    const name = row.querySelector('th');
    if (!name) { hidden.push('a row without a name'); continue; }
    name.scrollIntoView({block: 'center', inline: 'nearest'});
    box.scrollLeft = box.scrollWidth;
    const r = name.getBoundingClientRect();
    const x = Math.max(r.left, edge.left) + 4, y = r.top + Math.min(r.height / 2, 10);
    const top = document.elementFromPoint(x, y);
    if (r.left < edge.left - 1 || r.right > edge.right + 1 || !top || !name.contains(top))
      hidden.push(`${name.textContent.trim().replace(/\\s+/g, ' ')} at ${Math.round(r.left)}..${Math.round(r.right)} (box ${Math.round(edge.left)}..${Math.round(edge.right)})`);
  }
  box.scrollLeft = 0;
  return {scrolled: box.scrollWidth - box.clientWidth, hidden: hidden.slice(0, 5)};
}"""

PAGES = [
    pytest.param("meeting", "/ui/figures", SUPERVISOR, "table.figures", id="figures"),
    pytest.param("intake", "/ui/figures", SUPERVISOR, "table.figures", id="figures-at-intake"),
    pytest.param("community", "/ui/activities", COMMUNITY_WORKER, "#figures-table, #quarters-table",
                 id="community-activities"),
]


async def _tables(page: Page, selector: str) -> list[Any]:
    tables = page.locator(selector)
    await expect(tables.first).to_be_visible()
    return [tables.nth(i) for i in range(await tables.count())]


@pytest.mark.parametrize(("service", "path", "staff", "selector"), PAGES)
async def test_the_figures_tables_keep_their_columns_on_a_phone_scrolling_inside_their_box_with_row_names_in_view(
        ui_suite: Suite, page: Page, service: str, path: str, staff: tuple[str, str, str], selector: str) -> None:
    base = ui_suite.url(service)
    await sign_in(page, base, *staff)
    await expect(page).to_have_url(re.compile(r"/ui/"))
    await page.set_viewport_size(PHONE)
    await page.goto(f"{base}{path}")
    tables = await _tables(page, selector)
    for table in tables:
        name = await table.evaluate("t => t.getAttribute('aria-label') || t.id")
        seen = await table.evaluate(MEASURE)
        assert seen["page"] <= seen["screen"] + 1, f"the page scrolls sideways: {seen['page']}px on {seen['screen']}px"
        assert not seen["squeezed"], (f"{name}: {seen['squeezedCount']} cells squeezed onto more lines than they have "
                                      f"on a {PHONE['width']}px screen: {seen['squeezed']}")
        box = seen["box"]
        assert box is not None and box["right"] <= seen["screen"] + 1, f"{name}: no box of its own to scroll in: {box}"
        assert box["keyboard"], f"{name}: its box scrolls, but not by keyboard (no tabindex): axe's scrollable-region-focusable"
        assert seen["sticky"] > 0, f"{name}: no row name stays in view when the table scrolls"
        assert not seen["narrowSticky"], f"{name}: row names squeezed: {seen['narrowSticky']}"
        if box["scroll"] > box["client"] + 1:  # wider than the screen: scrolled to its end, the row names stay
            kept = await table.evaluate(ROW_NAMES_IN_VIEW)
            assert not kept["hidden"], f"{name}: scrolled {kept['scrolled']}px, row names out of view: {kept['hidden']}"
    await shoot(page, f"figures-on-a-phone-{service}{path.replace('/', '-')}")

    await page.set_viewport_size(DESKTOP)  # the desktop's layout as before: the table fits its card, nothing sticks
    for table in tables:
        seen = await table.evaluate(MEASURE)
        assert seen["box"] is None or seen["box"]["scroll"] <= seen["box"]["client"] + 1, seen
        assert seen["sticky"] == 0, seen
