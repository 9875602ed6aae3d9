"""An auditor in the browser: a case's causation tree, each program's view as of a moment, disclosures."""

from __future__ import annotations

import re

import httpx
from playwright.async_api import Page, expect
from support.auth import reader, staff_headers
from support.journey import Journey
from support.municipality import HARDSHIP, LEAD

from jusou.runner import Suite

from .conftest import shoot, sign_in

AUDITOR = ("kansa-001", LEAD, "auditor")
# a division that sat in the 重層的支援会議 that took the case up: the person's consent covers it (D9)
OUTSIDER = staff_headers("seikatsu-1", HARDSHIP.division, "counselor")


async def test_an_auditor_reads_a_case_as_a_tree_and_as_it_stood_at_a_moment(ui_suite: Suite, page: Page) -> None:
    async with httpx.AsyncClient(timeout=10, headers=reader()) as client:
        journey = Journey({name: ui_suite.url(name) for name in ui_suite.services}, client)
        case_id, _ = await journey.whole()
        document = (await client.get(f"{ui_suite.url('meeting')}/audit/cases/{case_id}")).json()
        person_ref = (await client.get(f"{ui_suite.url('intake')}/cases/{case_id}")).json()["person_ref"]
        shown = await client.get(f"{ui_suite.url('intake')}/cases/{case_id}/person", params={"basis": "consent"},
                                 headers=OUTSIDER)
        assert shown.status_code == 200
    escalated = next(e for e in document["events"] if e["event"] == "Case.Escalated")

    intake = ui_suite.url("intake")
    await sign_in(page, intake, *AUDITOR)
    await page.goto(f"{intake}/ui/cases/{case_id}/timeline")
    await page.get_by_role("link", name=re.compile("監査")).click()
    tree = page.get_by_role("list", name="因果関係")
    opened = tree.locator("li[data-event='CollaborationCase.Opened']")
    await expect(opened).to_have_attribute("data-depth", "1")
    await expect(opened).to_contain_text("多機関協働")
    await expect(tree.locator("li[data-event='Case.PersonDisclosed']")).to_contain_text("本人同意")
    plan = page.locator("details.state[data-service='collaboration'][data-kind='Plan']")
    await expect(plan).to_contain_text("終結")  # the status in the office's words, not `closed`
    await shoot(page, "audit-case")

    # As the case stood just after the escalation (Japan time in the form): no plan yet, the case escalated.
    from datetime import datetime, timedelta

    from shared.domain.wareki import JST

    at = datetime.fromisoformat(escalated["occurred_at"]).astimezone(JST)
    at = at.replace(microsecond=at.microsecond // 1000 * 1000) + timedelta(milliseconds=1)  # just after it
    moment = at.strftime("%Y-%m-%dT%H:%M:%S.") + f"{at.microsecond // 1000:03d}"
    await page.get_by_label(re.compile("時点")).fill(moment)
    await page.get_by_role("button", name=re.compile("この時点")).click()
    await expect(page.locator("details.state[data-kind='Plan']")).to_have_count(0)
    await expect(tree.locator("li[data-event='Plan.Closed']")).to_have_count(0)
    await expect(page.locator("details.state[data-service='intake'][data-kind='Case']")).to_contain_text("多機関協働へ")
    await shoot(page, "audit-case-as-of")

    await page.goto(f"{intake}/ui/audit/people/{person_ref}")
    rows = page.get_by_role("table", name="開示記録").locator("tbody tr[data-basis]")
    await expect(rows).to_have_count(1)
    await expect(rows.first).to_contain_text("本人同意")
    await expect(rows.first).to_contain_text("seikatsu-1")
    await shoot(page, "audit-disclosures")
