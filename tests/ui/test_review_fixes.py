"""What the review from outside (issue: review) found in the pages, as staff met it in the browser.

- intake's case page: a refused escalation came back with its fields empty (the reason typed at the counter lost), and
  a 主担当機関 the city does not know was taken (D11); the つなぎ card of a reader without its form was an empty heading;
- the meeting page open in a second tab: 「全員賛成で承認」 after the plan was decided elsewhere came back with no word at
  all (the refusal was put inside the decision form of a plan no longer on the agenda), or named the status in English;
- community's figures linked to the JSON API, which a browser's sign-in cannot open (a JSON 401).

Runs on the shared suite; each test makes its own records.
"""

from __future__ import annotations

import re
from uuid import uuid4

import httpx
from playwright.async_api import Page, expect
from support.auth import reader, sign_in, token
from support.journey import Journey
from support.municipality import DISABILITY, ELDERLY, LEAD, concern

from jusou.runner import Suite
from shared.web.auth import COOKIE

NOWHERE = "架空センター"


async def test_d11_a_refused_escalation_keeps_what_was_typed_and_says_why_beside_its_form(ui_suite: Suite, page: Page) -> None:
    intake = ui_suite.url("intake")
    async with httpx.AsyncClient(timeout=30) as http:
        received = await http.post(f"{intake}/consultations", headers={"Authorization": "Bearer " + token(
            "kouki-012", ELDERLY.division, "counselor")}, json={
            "counter": ELDERLY.code, "channel": "窓口", "concerns": [concern("elderly-care"), concern("hikikomori")],
            "person": {"name": f"審査 画面{uuid4().hex[:6]}"}, "confirm_new_person": True})
    assert received.status_code == 201, received.text
    case_id = received.json()["case_id"]
    reason = "母の介護と息子のひきこもり、家計の課題が重なっている（窓口で聞き取った経過を詳しく）"

    await sign_in(page, intake, "kouki-012", ELDERLY.division, "counselor")
    await page.goto(f"{intake}/ui/cases/{case_id}")
    await expect(page.locator("#no-connections")).to_contain_text("つなぎはありません")
    await page.locator("#escalate-reason").fill(reason)
    await page.locator("#primary_agency").fill(NOWHERE)
    async with page.expect_response(lambda r: r.url.endswith("/escalate")) as answered:
        await page.get_by_role("button", name="多機関協働事業へつなぐ").click()

    assert (await answered.value).status == 422
    await expect(page.locator("#error-escalate")).to_contain_text(f"主担当機関「{NOWHERE}」は機関の一覧にありません")
    await expect(page.locator("#escalate-reason")).to_have_value(reason)
    await expect(page.locator("#primary_agency")).to_have_value(NOWHERE)
    await page.locator("#primary_agency").fill(ELDERLY.ja)
    await page.get_by_role("button", name="多機関協働事業へつなぐ").click()
    await expect(page.get_by_role("alert").first).to_contain_text("多機関協働事業へつなぎました")


async def test_d5_a_decision_from_a_stale_page_says_why_it_was_not_recorded(ui_suite: Suite, page: Page) -> None:
    """The page open in a second tab (or at a colleague's desk) while the plan is decided elsewhere."""
    async with httpx.AsyncClient(timeout=30, headers=reader()) as client:
        journey = Journey({name: ui_suite.url(name) for name in ui_suite.services}, client)
        case_id = await journey.receive_and_escalate()
        plan_id = await journey.draft_and_propose(case_id)
        meeting_id = await journey.convene()
        await journey.get_when("meeting", f"/agenda/{plan_id}", lambda r: r["status"] == "proposed", "the agenda")
        meeting = ui_suite.url("meeting")
        await sign_in(page, meeting, "kaigi-001", LEAD, "secretariat")
        await page.goto(f"{meeting}/ui/meetings/{meeting_id}")
        item = page.locator(f"#plan-{plan_id[:8]}")
        await item.get_by_label(re.compile("決定の理由")).fill("合意")
        await journey.decide(meeting_id, plan_id, 1, "approved")  # decided in the other tab meanwhile

    async with page.expect_response(lambda r: r.url.endswith("/decisions")) as answered:
        await item.get_by_role("button", name=re.compile("全員賛成で承認")).click()

    assert (await answered.value).status == 409
    alert = page.locator("main > .flash.ng")
    await expect(alert).to_contain_text("このプランは審議できる状態ではありません（承認済み）")
    await expect(alert).to_contain_text("画面を開き直して")
    assert "approved）" not in await page.locator("main").inner_text()


async def test_every_link_of_communitys_figures_page_opens_for_the_signed_in_worker(ui_suite: Suite) -> None:
    community = ui_suite.url("community")
    cookie = {COOKIE: token("chiiki-001", LEAD, "community_worker")}
    async with httpx.AsyncClient(timeout=30, cookies=cookie, base_url=community) as browser_like:
        page = await browser_like.get("/ui/activities")
        assert page.status_code == 200, page.text
        links = {h for h in re.findall(r'href="(/[^"#]*)', page.text) if not h.startswith("/ui/static/")}
        assert links, page.text[:500]
        answers = {h: (await browser_like.get(h)).status_code for h in links}
    assert all(status < 400 for status in answers.values()), answers


async def test_a_supervisors_caseload_at_intake_lists_only_the_cases_of_their_division(ui_suite: Suite) -> None:
    """管理職 read their own division's cases: another counter's division (it runs intake too) sees none of them."""
    intake = ui_suite.url("intake")
    async with httpx.AsyncClient(timeout=30, base_url=intake) as http:
        received = await http.post("/consultations", headers={"Authorization": "Bearer " + token(
            "kouki-012", ELDERLY.division, "counselor")}, json={
            "counter": ELDERLY.code, "channel": "窓口", "concerns": [concern("elderly-care")],
            "person": {"name": f"審査 担当{uuid4().hex[:6]}"}, "confirm_new_person": True})
        assert received.status_code == 201, received.text
        short = received.json()["case_id"][:8]
        pages = {division: await http.get("/ui/caseload", cookies={COOKIE: token(f"kanri-{i}", division, "supervisor")})
                 for i, division in enumerate((ELDERLY.division, DISABILITY.division))}
    assert all(p.status_code == 200 for p in pages.values()), {d: p.text[:300] for d, p in pages.items()}
    assert short in pages[ELDERLY.division].text  # the check is not vacuous: its own supervisor sees it unassigned
    assert short not in pages[DISABILITY.division].text
