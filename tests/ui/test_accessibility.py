"""axe-core over every page (issue 15): no `serious` or `critical` violation.

Every whole page of every division (tests/ui/every_page.py), as the program's own staff and as a
supervisor (who reads every list) see it, and the error pages. Fragments that htmx swaps into a
page (`-table`, a plan's status) are checked inside their page. A page whose violation comes from a
service's own template, not fixed yet, is marked xfail (strict) naming the finding
(written out in the issue note for the service's engineer); a shared template's violation is never marked.

For CI's time (the walk was CI's slowest step), on the suite the walks share (conftest.py `walk_suite`):
- every page is opened in chromium as each of the two roles and its status checked; axe runs once per markup a
  service gave: pages and roles whose markup is the same but for the reader's name and the forms' tokens
  (the DOM axe reads is then the same) share one run;
- one browser context per role (its sign-in cookie, axe's script added once: `add_init_script`), a few tabs that
  go from page to page instead of a fresh context and tab for each;
- axe leaves out only the rules whose impact is declared `minor` or `moderate` (axe gives every finding of such a
  rule that impact: they can never fail this test); every other rule runs as axe's defaults say.
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
from shared.kernel.idempotency import FORM_FIELD
from shared.organisation.reference import DIVISIONS

from .conftest import close_tab
from .every_page import SERVICES, filled, pages, role_cookie, selected

#: The staff who use each program's pages every day (shared/web/policy.py ROLES).
OWN_ROLE = {"intake": "counselor", "collaboration": "coordinator", "meeting": "secretariat",
            "outreach": "outreach_worker", "participation": "participation_worker", "community": "community_worker"}
BLOCKING = ("serious", "critical")
#: Pages whose violation comes from a service's own template, not fixed yet: (service, route) → the finding.
FINDINGS: dict[tuple[str, str], str] = {}
AXE_SCRIPT = Axe().axe_script
#: axe with its default rules, but for those whose declared impact is below BLOCKING (axe sets every finding of a
#: rule with a declared impact to that impact); how many rules were left out comes back with the findings.
RUN_AXE = """async (blocking) => {
  const below = axe._audit.rules.filter(r => r.impact && !blocking.includes(r.impact)).map(r => r.id);
  const results = await axe.run(document, {resultTypes: ["violations"],
                                           rules: Object.fromEntries(below.map(id => [id, {enabled: false}]))});
  return {url: results.url, violations: results.violations, left_out: below.length, rules: axe._audit.rules.length};
}"""
#: How many tabs go through the pages at once (two cores in CI: chromium, the six services and this process share them)
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


_TOKENS = re.compile(rf'name="(?:csrf_token|{FORM_FIELD})" value="[^"]*"')


def _as_markup(html: str, role: str) -> str:
    """The page's markup without what names its reader (the header's staff id and division) and the hidden fields'
    tokens (CSRF, a fresh idempotency key per form): the same markup gives the same axe findings, so axe runs once."""
    staff_id, division = ROLE_STAFF[role]
    return _TOKENS.sub("", html).replace(staff_id, "").replace(DIVISIONS[division].ja, "")


@dataclass
class Checked:
    """What axe found on one page, as each of the two roles sees it."""

    problems: list[str] = field(default_factory=list)
    roles: int = 0  # how many of the two roles' pages were opened and checked (by an axe run, or as the same markup)


class _Walk:
    """The pages' checks: a browser context per role, AT_ONCE tabs, one axe run per (service, markup)."""

    def __init__(self, browser: Any, suite: Suite) -> None:
        self.browser, self.suite = browser, suite
        self.contexts: dict[str, Any] = {}
        self.runs: dict[tuple[str, int], asyncio.Future[list[str]]] = {}
        self.axe_runs = 0
        self.left_out: set[tuple[int, int]] = set()

    async def context(self, role: str) -> Any:
        if role not in self.contexts:
            context = await self.browser.new_context(locale="ja-JP", viewport={"width": 1280, "height": 800})
            # the services share 127.0.0.1 (a cookie is not per port): one cookie signs the role in to all of them
            await context.add_cookies([role_cookie(role, self.suite.url(SERVICES[0]))])
            await context.add_init_script(script=AXE_SCRIPT)
            self.contexts[role] = context
        return self.contexts[role]

    async def check(self, tab: Any, service: str, path: str, role: str, url: str) -> list[str]:
        """Open the page as the role; axe over it, unless the service gave this markup before (its findings then)."""
        response = await tab.goto(url, wait_until="load")
        assert response is not None and response.status < 500, (role, url, response and response.status)
        text = await response.text()
        key = (service, hash(_as_markup(text, role)))
        if key in self.runs:
            return await self.runs[key]
        self.runs[key] = run = asyncio.get_running_loop().create_future()
        try:
            if not text.lstrip().lower().startswith("<!doctype html"):
                # a fragment htmx swaps into its page: checked on its own markup, inside a bare document
                await tab.set_content('<!doctype html><html lang="ja"><head><meta charset="utf-8">'
                                      f"<title>{path}</title></head><body><main>{text}</main></body></html>")
            if not await tab.evaluate("typeof axe !== 'undefined'"):
                await tab.evaluate(AXE_SCRIPT)
            results = await tab.evaluate(RUN_AXE, list(BLOCKING))
            self.axe_runs += 1
            self.left_out.add((results["left_out"], results["rules"]))
            assert results["url"] == tab.url, "axe ran on another document"
            found = [f"{role}: {_described(v)}" for v in results["violations"] if v.get("impact") in BLOCKING]
        except BaseException as exc:
            run.set_exception(exc)
            run.exception()  # retrieved here: the pages that share the markup re-raise it
            raise
        run.set_result(found)
        return found

    async def all(self, keys: list[tuple[str, str]], journey: dict[str, str]) -> dict[tuple[str, str], Checked | str]:
        """Every (page, role) checked by AT_ONCE tabs, in role order (a tab stays in one role's context for long); a
        check that could not finish is kept as its error, for that page's test to report."""
        jobs = sorted(((service, path, role) for service, path in keys for role in (OWN_ROLE[service], "supervisor")),
                      key=lambda job: job[2])
        found: dict[tuple[str, str], Checked | str] = {key: Checked() for key in keys}

        async def tab_through() -> None:
            tab, tab_role = None, ""
            while jobs:
                service, path, role = jobs.pop(0)
                try:
                    if tab is None or tab_role != role:
                        if tab is not None:
                            await close_tab(tab)
                        tab, tab_role = await (await self.context(role)).new_page(), role
                    url = self.suite.url(service) + filled(path, journey, service)
                    problems = await self.check(tab, service, path, role, url)
                except Exception as exc:  # noqa: BLE001 - reported by the page's own test
                    found[service, path] = f"{role}: {exc!r}"
                    if tab is not None:
                        await close_tab(tab)
                    tab = None
                    continue
                if isinstance(checked := found[service, path], Checked):
                    checked.problems += problems
                    checked.roles += 1
            if tab is not None:
                await close_tab(tab)

        try:
            await asyncio.gather(*(tab_through() for _ in range(AT_ONCE)))
        finally:
            for context in self.contexts.values():
                await context.close()
        return found


@pytest.fixture(scope="module")
async def checked(request: pytest.FixtureRequest, walk_suite: Suite, journey: dict[str, str],
                  browser: Any) -> dict[tuple[str, str], Checked | str]:
    """Every page (that this run tests) checked as both roles."""
    walk = _Walk(browser, walk_suite)
    found = await walk.all(selected(request, "test_axe_finds_no_serious_or_critical_violation_on_the_page"), journey)
    # axe's rules as this run knew them: some left out (below BLOCKING), most run
    assert all(0 < left_out < rules / 2 for left_out, rules in walk.left_out), walk.left_out
    return found


@pytest.mark.parametrize(("service", "path"), _params())
def test_axe_finds_no_serious_or_critical_violation_on_the_page(
        service: str, path: str, checked: dict[tuple[str, str], Checked | str]) -> None:
    found = checked[service, path]
    assert isinstance(found, Checked), f"{service} {path}: {found}"
    assert found.roles == 2, f"{service} {path}: checked as {found.roles} of 2 roles"
    assert not found.problems, f"{service} {path}:\n" + "\n".join(found.problems)
