"""axe-core over every page (issue 15): no `serious` or `critical` violation.

Every whole page of every division (tests/ui/every_page.py), as the program's own staff and as a
supervisor (who reads every list) see it, and the error pages. Fragments that htmx swaps into a
page (`-table`, a plan's status) are checked inside their page. A page whose violation comes from a
service's own template, not fixed yet, is marked xfail (strict) naming the finding
(written out in the issue note for the service's engineer); a shared template's violation is never marked.

For CI's time the pages are checked a few at a time in one module fixture, on the suite the walks share
(conftest.py `walk_suite`), and axe runs once for both roles where the supervisor's markup is the
own staff's but for the reader's name and the form token (the DOM axe reads is then the same).
"""

from __future__ import annotations

import asyncio
import re
from dataclasses import dataclass, field
from typing import Any

import pytest
from axe_playwright_python.async_playwright import Axe
from support.auth import ROLE_STAFF

from jusou.runner import Suite
from shared.organisation.reference import DIVISIONS

from .every_page import SERVICES, filled, pages, role_cookie, selected

#: The staff who use each program's pages every day (shared/web/policy.py ROLES).
OWN_ROLE = {"intake": "counselor", "collaboration": "coordinator", "meeting": "secretariat",
            "outreach": "outreach_worker", "participation": "participation_worker", "community": "community_worker"}
BLOCKING = ("serious", "critical")
#: Pages whose violation comes from a service's own template, not fixed yet: (service, route) → the finding.
FINDINGS: dict[tuple[str, str], str] = {}
AXE = Axe()
#: How many pages are checked at once (each in its own browser contexts)
AT_ONCE = 3


def _params() -> list[Any]:
    return [pytest.param(service, path, id=f"{service}{path}",
                         marks=[pytest.mark.xfail(strict=True, reason=FINDINGS[service, path])]
                         if (service, path) in FINDINGS else [])
            for service in SERVICES for path in pages(service)]


@pytest.fixture(scope="module")
def journey(walk_ids: dict[str, str]) -> dict[str, str]:
    return walk_ids


def _described(violation: dict[str, Any]) -> str:
    where = "; ".join(" ".join(node.get("target", [])) for node in violation.get("nodes", [])[:3])
    return f"{violation['impact']} {violation['id']}: {violation['help']} at {where}"


def _as_markup(html: str, role: str) -> str:
    """The page's markup without what names its reader (the header's staff id and division, the form token):
    two roles that get the same markup get the same axe findings, so axe runs once for both."""
    staff_id, division = ROLE_STAFF[role]
    return _TOKEN.sub("", html).replace(staff_id, "").replace(DIVISIONS[division].ja, "")


_TOKEN = re.compile(r'name="csrf_token" value="[^"]*"')


@dataclass
class Checked:
    """What axe found on one page, as each of the two roles sees it."""

    problems: list[str] = field(default_factory=list)
    roles: int = 0  # how many of the two roles' pages were checked (by an axe run, or as the same markup)
    axe_runs: int = 0


async def _check(browser: Any, base: str, service: str, path: str, url: str) -> Checked:
    """axe over the page as the program's own staff, then as a supervisor, each in a fresh context; the second
    role's page is run through axe only when its markup differs from the first's."""
    checked = Checked()
    seen: set[int] = set()
    for role in (OWN_ROLE[service], "supervisor"):
        context = await browser.new_context(locale="ja-JP", viewport={"width": 1280, "height": 800})
        try:
            await context.add_cookies([role_cookie(role, base)])
            page = await context.new_page()
            response = await page.goto(url, wait_until="load")
            assert response is not None and response.status < 500, (role, url, response and response.status)
            text = await response.text()
            markup = hash(_as_markup(text, role))
            checked.roles += 1
            if markup in seen:
                continue
            seen.add(markup)
            if not text.lstrip().lower().startswith("<!doctype html"):
                # a fragment htmx swaps into its page: checked on its own markup, inside a bare document
                await page.set_content('<!doctype html><html lang="ja"><head><meta charset="utf-8">'
                                       f"<title>{path}</title></head><body><main>{text}</main></body></html>")
            results = await AXE.run(page)
            checked.axe_runs += 1
            assert results.response["url"] == page.url, "axe ran on another document"
            checked.problems += [f"{role}: {_described(v)}" for v in results.response["violations"]
                                 if v.get("impact") in BLOCKING]
        finally:
            await context.close()
    return checked


@pytest.fixture(scope="module")
async def checked(request: pytest.FixtureRequest, walk_suite: Suite, journey: dict[str, str],
                  browser: Any) -> dict[tuple[str, str], Checked | str]:
    """Every page (that this run tests) checked, AT_ONCE pages at a time, each page's check in its own contexts; a
    check that could not finish is kept as its error, for that page's test to report."""
    gate = asyncio.Semaphore(AT_ONCE)

    async def one(service: str, path: str) -> Checked | str:
        base = walk_suite.url(service)
        async with gate:
            try:
                return await _check(browser, base, service, path, base + filled(path, journey, service))
            except Exception as exc:  # noqa: BLE001 - reported by the page's own test
                return f"{exc!r}"

    keys = selected(request, "test_axe_finds_no_serious_or_critical_violation_on_the_page")
    return dict(zip(keys, await asyncio.gather(*(one(*key) for key in keys)), strict=True))


@pytest.mark.parametrize(("service", "path"), _params())
def test_axe_finds_no_serious_or_critical_violation_on_the_page(
        service: str, path: str, checked: dict[tuple[str, str], Checked | str]) -> None:
    found = checked[service, path]
    assert isinstance(found, Checked), f"{service} {path}: {found}"
    assert found.roles == 2, f"{service} {path}: checked as {found.roles} of 2 roles"
    assert not found.problems, f"{service} {path}:\n" + "\n".join(found.problems)
