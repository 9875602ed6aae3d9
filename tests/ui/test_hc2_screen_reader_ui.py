"""What a screen reader is told on the counter's pages in the states the walk over every page does not reach (HC's
review, session 20), by axe's rules whose impact is `minor` (the walk, tests/ui/test_accessibility.py, leaves those out):

- reception offering candidates (409): the radio group of candidates was a `fieldset` given role="alert", which takes its
  group away (aria-allowed-role): the choices were read without their question. The alert is now a line of its own before
  the group, which keeps its legend;
- a list's last column of links (受け付ける, 開く, この方の相談を受け付ける…) had an empty header (empty-table-header): a
  screen reader announced nothing for it. It says 操作 now: the search's results, the household, the referrals, the
  meetings and the plans.
"""

from __future__ import annotations

import re
from uuid import uuid4

import httpx
from axe_playwright_python.async_playwright import Axe
from playwright.async_api import Browser, Page, expect
from support.auth import reader
from support.journey import COUNTER_STAFF, SECRETARIAT, Journey
from support.municipality import ELDERLY, LEAD_NAME, concern

from jusou.runner import Suite

from .conftest import sign_in
from .every_page import role_cookie

RULES = ["aria-allowed-role", "empty-table-header"]
RUN = """async (rules) => (await axe.run(document, {runOnly: {type: "rule", values: rules}, resultTypes: ["violations"]}))
  .violations.map(v => v.id + ": " + v.nodes.map(n => n.target.join(" ")).join(", "))"""


async def _axe(page: Page) -> list[str]:
    await page.evaluate(Axe().axe_script)
    found: list[str] = await page.evaluate(RUN, RULES)
    return found


async def test_the_candidates_of_a_reception_and_the_search_s_results_are_read_as_what_they_are(
        ui_suite: Suite, page: Page) -> None:
    intake = ui_suite.url("intake")
    name = f"柴崎 {uuid4().hex[:4]}"
    async with httpx.AsyncClient(timeout=30, headers=COUNTER_STAFF) as client:
        made = await client.post(f"{intake}/consultations", json={
            "counter": ELDERLY.code, "channel": "窓口", "concerns": [concern("elderly-care")],
            "person": {"name": name, "birth_date": "1951-05-05"}, "confirm_new_person": True})
        assert made.status_code == 201, made.text
        case_id = made.json()["case_id"]
        assert (await client.post(f"{intake}/cases/{case_id}/household", json={})).status_code == 201
        person_ref = (await client.get(f"{intake}/cases/{case_id}")).json()["person_ref"]
    await sign_in(page, intake, "kouki-012", ELDERLY.division, "counselor")

    await page.goto(f"{intake}/ui/consultations/new?counter={ELDERLY.code}")
    await page.get_by_label(concern("elderly-care")).check()
    await page.get_by_label(re.compile("^氏名")).fill(name)  # the same name, no birth date: offered as a candidate
    async with page.expect_response(lambda r: r.request.method == "POST") as answered:
        await page.get_by_role("button", name=re.compile("受け付ける")).click()
    assert (await answered.value).status == 409
    group = page.get_by_role("group", name=re.compile("同じ方が登録されている可能性があります"))
    await expect(group.get_by_role("radio", name=re.compile("この方です"))).to_have_count(1)
    await expect(page.get_by_role("alert").filter(has_text="登録済みの方と一致するかもしれません")).to_be_visible()
    assert await _axe(page) == []

    await page.goto(f"{intake}/ui/persons?name={name}")
    await expect(page.locator("#found tbody tr[data-person]")).to_have_count(1)
    assert await _axe(page) == []

    await page.goto(f"{intake}/ui/persons/{person_ref}/household")
    await expect(page.get_by_role("columnheader", name="操作")).to_have_count(1)
    assert await _axe(page) == []


async def test_the_meetings_and_the_plans_lists_name_their_column_of_links(ui_suite: Suite, browser: Browser) -> None:
    urls = {name: ui_suite.url(name) for name in ui_suite.services}
    async with httpx.AsyncClient(timeout=30, headers=reader()) as client:
        journey = Journey(urls, client)
        case_id = await journey.receive_and_escalate()
        await journey.draft_and_propose(case_id)
        answer = await client.post(f"{urls['meeting']}/meetings", headers=SECRETARIAT, json={
            "meeting_type": "jusou_shien_kaigi", "held_on": "2026-11-28", "attendees": [LEAD_NAME, ELDERLY.ja]})
        assert answer.status_code == 201, answer.text
    for service, role, path in (("meeting", "secretariat", "/ui/"),
                                ("collaboration", "coordinator", f"/ui/cases/{case_id}")):
        context = await browser.new_context(locale="ja-JP", viewport={"width": 1280, "height": 800})
        try:
            await context.add_cookies([role_cookie(role, urls[service])])
            tab = await context.new_page()
            await tab.goto(urls[service] + path)
            await expect(tab.get_by_role("columnheader", name="操作").first).to_be_visible()
            assert await _axe(tab) == [], service
        finally:
            await context.close()
