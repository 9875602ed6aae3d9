"""axe-core over every page (issue 15): no `serious` or `critical` violation.

Every whole page of every division (tests/ui/every_page.py), as the program's own staff and as a
supervisor (who reads every list) see it, and the error pages. Fragments that htmx swaps into a
page (`-table`, a plan's status) are checked inside their page. A page whose violation comes from a
service's own template, not fixed yet, is marked xfail (strict) naming the finding
(/tmp/h/pages_findings.md); a shared template's violation is never marked.
"""

from __future__ import annotations

from typing import Any

import pytest
from axe_playwright_python.async_playwright import Axe
from security.seed import seed

from jusou.runner import Suite

from .every_page import SERVICES, filled, pages, role_cookie

#: The staff who use each program's pages every day (shared/web/policy.py ROLES).
OWN_ROLE = {"intake": "counselor", "collaboration": "coordinator", "meeting": "secretariat",
            "outreach": "outreach_worker", "participation": "participation_worker", "community": "community_worker"}
BLOCKING = ("serious", "critical")
#: Pages whose violation comes from a service's own template, not fixed yet: (service, route) → the finding.
FINDINGS: dict[tuple[str, str], str] = {}
AXE = Axe()


def _params() -> list[Any]:
    return [pytest.param(service, path, id=f"{service}{path}",
                         marks=[pytest.mark.xfail(strict=True, reason=FINDINGS[service, path])]
                         if (service, path) in FINDINGS else [])
            for service in SERVICES for path in pages(service)]


@pytest.fixture(scope="module")
def journey(ui_suite: Suite) -> dict[str, str]:
    return {k: str(v) for k, v in seed({name: ui_suite.url(name) for name in SERVICES}).items()}


def _described(violation: dict[str, Any]) -> str:
    where = "; ".join(" ".join(node.get("target", [])) for node in violation.get("nodes", [])[:3])
    return f"{violation['impact']} {violation['id']}: {violation['help']} at {where}"


@pytest.mark.parametrize(("service", "path"), _params())
async def test_axe_finds_no_serious_or_critical_violation_on_the_page(
        service: str, path: str, ui_suite: Suite, journey: dict[str, str], browser: Any) -> None:
    base = ui_suite.url(service)
    url = base + filled(path, journey, service)
    problems: list[str] = []
    checked = 0
    for role in (OWN_ROLE[service], "supervisor"):
        context = await browser.new_context(locale="ja-JP", viewport={"width": 1280, "height": 800})
        try:
            await context.add_cookies([role_cookie(role, base)])
            page = await context.new_page()
            response = await page.goto(url, wait_until="load")
            assert response is not None and response.status < 500, (role, url, response and response.status)
            text = await response.text()
            if not text.lstrip().lower().startswith("<!doctype html"):
                # a fragment htmx swaps into its page: checked on its own markup, inside a bare document
                await page.set_content('<!doctype html><html lang="ja"><head><meta charset="utf-8">'
                                       f"<title>{path}</title></head><body><main>{text}</main></body></html>")
            checked += 1
            results = await AXE.run(page)
            assert results.response["url"] == page.url, "axe ran on another document"
            problems += [f"{role}: {_described(v)}" for v in results.response["violations"]
                         if v.get("impact") in BLOCKING]
        finally:
            await context.close()
    assert checked == 2, f"{service} {path}: checked as {checked} of 2 roles"
    assert not problems, f"{service} {path}:\n" + "\n".join(problems)
