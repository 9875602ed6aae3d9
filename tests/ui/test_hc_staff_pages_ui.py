"""The staff pages as the city's staff use them (HC's review, session 17):

- a case's 経過 (経過を見る) listed every one of the reader's own openings of the case page as a step of the journey
  (each opening records a disclosure of the person to the reader, D9 D15): after a morning's work on a case its
  real steps were lost among 「個人情報の開示 — (me)」 rows. The reader's own views are now summarised apart, folded
  (`<details>`), and stay in the audit; others' views of the person stay steps;
- an engagement a meeting's decision started showed, as its 理由・状況, the meeting's whole id
  (「connected by meeting 5f0c…-…」): it now says 会議番号 with the id's first eight characters and links to the
  meeting's page (for those who may open it), on the page, the plan's heading and the CSV;
- a 支援会議's decision form offered 承認 and 「全員賛成で承認」, both refused once sent (D10): it offers what the
  meeting may record, walked by keyboard alone.
"""

from __future__ import annotations

import re
from typing import Any
from uuid import uuid4

import httpx
from playwright.async_api import Browser, Page, expect
from support.auth import ROLE_STAFF, reader
from support.journey import (
    COORDINATOR,
    COUNTER_STAFF,
    OUTREACH_WORKER,
    PARTICIPATION_STAFF,
    SECRETARIAT,
    Journey,
)
from support.municipality import ELDERLY, LEAD_NAME
from support.poll import eventually

from jusou.runner import Suite

from .conftest import shoot
from .every_page import role_cookie
from .upstream import COMMUNITY_STAFF, post


async def test_d15_the_journey_folds_the_reader_s_own_views_of_the_person_apart_from_its_steps(
        ui_suite: Suite, browser: Browser) -> None:
    intake = ui_suite.url("intake")
    async with httpx.AsyncClient(timeout=30) as client:
        answer = await client.post(f"{intake}/consultations", headers=COUNTER_STAFF, json={
            "counter": ELDERLY.code, "channel": "窓口", "concerns": ["高齢・介護"], "confirm_new_person": True,
            "person": {"name": "深大寺 紀子", "birth_date": "1948-08-08"}})
        assert answer.status_code == 201, answer.text
        case_id = answer.json()["case_id"]
    me = ROLE_STAFF["counselor"][0]
    context = await browser.new_context(locale="ja-JP", viewport={"width": 1366, "height": 768})
    try:
        await context.add_cookies([role_cookie("counselor", intake)])
        page = await context.new_page()
        for _ in range(3):  # a caseworker's morning: the case page opened again and again, each a recorded showing
            await page.goto(f"{intake}/ui/cases/{case_id}")
            await expect(page.locator("#person")).to_contain_text("深大寺 紀子")
        await page.get_by_role("link", name="経過を見る / journey").click()
        steps = page.get_by_role("list", name="経過")
        await expect(steps.locator("li[data-event='Case.Received']")).to_have_count(1)
        await expect(steps.locator("li")).to_have_count(1)  # the reception; none of the reader's own views
        own = page.locator("#own-views")
        await expect(own.locator("summary")).to_contain_text(re.compile(r"あなた自身による個人情報の表示 [3-9]件"))
        await expect(own.locator("li").first).not_to_be_visible()  # folded until asked for
        await own.locator("summary").click()
        await expect(own.locator("li").first).to_be_visible()
        await shoot(page, "journey-own-views-folded")
    finally:
        await context.close()
    async with httpx.AsyncClient(timeout=30, headers=reader()) as client:  # the audit keeps every showing
        history = (await client.get(f"{intake}/cases/{case_id}/history")).json()
    shown = [r for r in history if r["event"] == "Case.PersonDisclosed" and r["actor"]["staff_id"] == me]
    assert len(shown) >= 3, history


async def test_an_engagement_a_meeting_started_names_the_meeting_by_a_short_number_and_links_to_it(
        ui_suite: Suite, browser: Browser) -> None:
    urls = {name: ui_suite.url(name) for name in ui_suite.services}
    async with httpx.AsyncClient(timeout=30, headers=reader()) as client:
        journey = Journey(urls, client)
        case_id = await journey.receive_and_escalate()
        plan_id = await journey.draft_and_propose(case_id)
        meeting_id = await journey.convene()
        await journey.decide(meeting_id, plan_id, 1, "approved", connect_to=["outreach"])
        await journey.get_when("outreach", f"/engagements/{case_id}", lambda e: True, "outreach to start from the decision")
    outreach = urls["outreach"]
    context = await browser.new_context(locale="ja-JP", viewport={"width": 1366, "height": 768})
    try:
        await context.add_cookies([role_cookie("coordinator", outreach)])  # reads outreach and the meeting's pages
        page = await context.new_page()
        await page.goto(f"{outreach}/ui/engagements/{case_id}")
        reason = page.locator("#reason")
        await expect(reason).to_contain_text(f"会議番号 {meeting_id[:8]}")
        assert meeting_id not in await page.inner_text("main"), "the meeting's whole id is no reference for staff"
        link = reason.get_by_role("link", name=re.compile("会議の記録を開く"))
        await expect(link).to_have_attribute("href", f"{urls['meeting']}/ui/meetings/{meeting_id}")
        await shoot(page, "outreach-engagement-by-meeting")
        exported = await context.request.get(f"{outreach}/ui/engagements.csv")
        assert exported.status == 200 and f"会議番号 {meeting_id[:8]}" in await exported.text()
        assert meeting_id not in await exported.text()
    finally:
        await context.close()


async def _tab_to(page: Page, selector: str, limit: int = 300) -> None:
    """Tab (as a keyboard user does) until the element `selector` names has the focus; fails naming it after `limit`."""
    for _ in range(limit):
        await page.keyboard.press("Tab")
        if await page.evaluate("s => document.activeElement && document.activeElement.matches(s)", selector):
            return
    raise AssertionError(f"{selector} never took the focus in {limit} presses of Tab")


async def test_d10_a_support_meeting_offers_no_approval_and_records_a_revision_by_keyboard_alone(
        ui_suite: Suite, browser: Browser) -> None:
    """The 支援会議's decision form offered 承認 and 「全員賛成で承認」, which the meeting then refused (D10: only the
    重層的支援会議 approves a plan): the secretariat, working by keyboard, met the refusal after filling the whole form.
    The form at a 支援会議 now offers what it may record (修正依頼, 相談窓口へ戻す) and says why; the walk is keyboard only."""
    urls = {name: ui_suite.url(name) for name in ui_suite.services}
    async with httpx.AsyncClient(timeout=30, headers=reader()) as client:
        journey = Journey(urls, client)
        case_id = await journey.receive_and_escalate()
        plan_id = await journey.draft_and_propose(case_id)
        sitting = await journey.post("meeting", "/meetings", {
            "meeting_type": "shien_kaigi", "held_on": "2026-12-04", "attendees": [LEAD_NAME, ELDERLY.ja]}, SECRETARIAT)
        await journey.get_when("meeting", f"/agenda/{plan_id}", lambda r: r["status"] == "proposed", "the agenda")
    meeting = urls["meeting"]
    context = await browser.new_context(locale="ja-JP", viewport={"width": 1366, "height": 768})
    try:
        await context.add_cookies([role_cookie("secretariat", meeting)])
        page = await context.new_page()
        # the item's own address (the agenda of a busy sitting holds many): Tab starts from its section
        await page.goto(f"{meeting}/ui/meetings/{sitting['meeting_id']}#plan-{plan_id[:8]}")
        form = page.locator(f"section[data-plan='{plan_id}']").get_by_role("form")
        await expect(form.get_by_role("radio", name="修正依頼 / ask for a revision")).to_be_visible()
        await expect(form.get_by_role("radio", name="承認 / approve")).to_have_count(0)
        await expect(form.get_by_role("button", name=re.compile("全員賛成で承認"))).to_have_count(0)
        await expect(form).to_contain_text("支援会議ではプランを承認しません")
        pfx = f"d{plan_id[:8]}"
        for j in range(2):  # each attendee's 賛成: the first radio of its group, chosen with Space
            await _tab_to(page, f"#{pfx}-agree-{j}")
            await page.keyboard.press("Space")
        await _tab_to(page, f"#plan-{plan_id[:8]} [name='decision']")  # its first choice: 修正依頼 at a 支援会議
        await page.keyboard.press("Space")
        await expect(form.get_by_role("radio", name="修正依頼 / ask for a revision")).to_be_checked()
        await _tab_to(page, f"#{pfx}-reasons")
        await page.keyboard.type("本人同意を得てから重層的支援会議へ")
        await _tab_to(page, f"section[data-plan='{plan_id}'] button[type='submit']")
        await page.keyboard.press("Enter")
        await expect(page.get_by_role("alert").filter(has_text="決定を記録しました")).to_contain_text("修正依頼")
        await shoot(page, "support-meeting-revision-by-keyboard")
    finally:
        await context.close()


async def test_a_sitting_saved_from_a_tab_opened_before_another_save_is_refused_with_the_form_kept(
        ui_suite: Suite, browser: Browser) -> None:
    """開催の記録 replaced the whole record (people present, chair, recorder) from whichever tab saved last: a second
    tab opened before the first saved undid it without a word (HB's finding). It is now refused (409) with the form as
    typed, as a plan's and a support's needs are; saved again from that page, it replaces the other save."""
    urls = {name: ui_suite.url(name) for name in ui_suite.services}
    async with httpx.AsyncClient(timeout=30, headers=reader()) as client:
        sitting = await Journey(urls, client).post("meeting", "/meetings", {
            "meeting_type": "jusou_shien_kaigi", "held_on": "2026-12-04", "attendees": [LEAD_NAME, ELDERLY.ja]},
            SECRETARIAT)
    meeting = urls["meeting"]
    page_of = f"{meeting}/ui/meetings/{sitting['meeting_id']}"
    context = await browser.new_context(locale="ja-JP", viewport={"width": 1366, "height": 768})
    try:
        await context.add_cookies([role_cookie("secretariat", meeting)])
        first, second = await context.new_page(), await context.new_page()
        for tab in (first, second):  # both opened before either saves
            await tab.goto(page_of)
            await expect(tab.locator("#place")).to_be_visible()
        await first.locator("#place").fill("第1会議室")
        await first.locator("#name-0").fill("調布 一")
        await first.locator("#agency-0").select_option(LEAD_NAME)
        await first.locator("#chair").fill("調布 一")
        await first.locator("#recorder").fill("調布 一")
        await first.locator("#starts_at").fill("13:30")
        await first.locator("#ends_at").fill("15:00")
        await first.get_by_role("button", name=re.compile("開催の記録を保存")).click()
        await expect(first.get_by_role("alert").filter(has_text="開催の記録を保存しました")).to_be_visible()

        await second.locator("#place").fill("第2会議室")
        await second.locator("#name-0").fill("調布 二")
        await second.locator("#agency-0").select_option(LEAD_NAME)
        for field, value in (("#chair", "調布 二"), ("#recorder", "調布 二"), ("#starts_at", "14:00"), ("#ends_at", "16:00")):
            await second.locator(field).fill(value)
        await second.get_by_role("button", name=re.compile("開催の記録を保存")).click()
        refused = second.locator("#error-sitting")
        await expect(refused).to_contain_text("開催の記録を保存していません")
        await expect(second.locator("#place")).to_have_value("第2会議室")  # what was typed is kept
        async with httpx.AsyncClient(timeout=30) as client:
            kept = (await client.get(f"{meeting}/meetings/{sitting['meeting_id']}", headers=SECRETARIAT)).json()
        assert kept["sitting"]["place"] == "第1会議室" and kept["sitting"]["chair"] == "調布 一", kept["sitting"]
        await shoot(second, "sitting-second-tab-refused")

        await second.get_by_role("button", name=re.compile("開催の記録を保存")).click()  # compared: saved on purpose
        await expect(second.get_by_role("alert").filter(has_text="開催の記録を保存しました")).to_be_visible()
        async with httpx.AsyncClient(timeout=30) as client:
            kept = (await client.get(f"{meeting}/meetings/{sitting['meeting_id']}", headers=SECRETARIAT)).json()
        assert kept["sitting"]["place"] == "第2会議室", kept["sitting"]
    finally:
        await context.close()


async def test_d4_a_strand_saved_from_a_tab_opened_before_another_change_is_refused_with_the_form_kept(
        ui_suite: Suite, browser: Browser) -> None:
    """A strand's page (分野, 課題の内容, 担当機関, 状態) replaced the strand from whichever tab saved last: a tab
    opened before a colleague named the agency took it away again without a word (HB's finding). Now 409, the form
    as typed; saved again from that page, it replaces the other change."""
    urls = {name: ui_suite.url(name) for name in ui_suite.services}
    async with httpx.AsyncClient(timeout=30, headers=reader()) as client:
        journey = Journey(urls, client)
        case_id = await journey.receive_and_escalate()
        await journey.get_when("collaboration", f"/cases/{case_id}", lambda c: c["status"] == "open", "the case")
        strand = await journey.post("collaboration", f"/cases/{case_id}/strands",
                                    {"concern": "高齢・介護", "description": "母の介護"}, COORDINATOR)
    collaboration = urls["collaboration"]
    page_of = f"{collaboration}/ui/cases/{case_id}/strands/{strand['strand_id']}"
    context = await browser.new_context(locale="ja-JP", viewport={"width": 1366, "height": 768})
    try:
        await context.add_cookies([role_cookie("coordinator", collaboration)])
        first, second = await context.new_page(), await context.new_page()
        for tab in (first, second):
            await tab.goto(page_of)
            await expect(tab.locator("#strand-agency")).to_be_visible()
        await first.locator("#strand-agency").fill(ELDERLY.ja)
        await first.get_by_role("button", name="保存 / save").click()
        await expect(first.get_by_role("alert").filter(has_text="課題を更新しました")).to_be_visible()

        await second.locator("#strand-description").fill("母の介護と通院")
        await second.get_by_role("button", name="保存 / save").click()
        await expect(second.locator("#strand-error")).to_contain_text("保存していません")
        await expect(second.locator("#strand-description")).to_have_value("母の介護と通院")
        async with httpx.AsyncClient(timeout=30) as client:
            case = (await client.get(f"{collaboration}/cases/{case_id}", headers=COORDINATOR)).json()
        kept = next(s for s in case["strands"] if s["strand_id"] == strand["strand_id"])
        assert kept["agency"] == ELDERLY.ja and kept["description"] == "母の介護", kept
    finally:
        await context.close()


async def test_a_resource_s_details_saved_from_a_tab_opened_before_another_save_are_refused_with_the_form_kept(
        ui_suite: Suite, browser: Browser) -> None:
    """資源の案内情報 (開催日時, 連絡先, 利用料) replaced the entry's details from whichever tab saved last: a tab opened
    before a colleague wrote the schedule cleared it again without a word (HB's finding). Now 409, the form as typed."""
    participation, community = ui_suite.url("participation"), ui_suite.url("community")
    provider = f"NPO法人ひだまり{uuid4().hex[:6]}"
    async with httpx.AsyncClient(timeout=30) as client:
        await post(client, f"{community}/resources", {"kind": "ibasho", "name": "居場所「ひだまり」", "provider": provider,
                                                      "area": "調布市東部", "capacity": 5}, COMMUNITY_STAFF)

        async def entry() -> dict[str, Any] | None:
            entries = (await client.get(f"{participation}/catalogue", headers=PARTICIPATION_STAFF)).json()
            return next((e for e in entries if e["provider"] == provider), None)

        await eventually(entry, "the resource in participation's catalogue")
        context = await browser.new_context(locale="ja-JP", viewport={"width": 1366, "height": 768})
        try:
            await context.add_cookies([role_cookie("participation_worker", participation)])
            first, second = await context.new_page(), await context.new_page()
            rows = []
            for tab in (first, second):
                await tab.goto(f"{participation}/ui/catalogue?provider={provider}")
                row = tab.locator("#catalogue-table tbody tr", has_text="居場所「ひだまり」")
                await row.get_by_text("記入 / edit").click()
                rows.append(row)
            await rows[1].get_by_label("利用料 / fee").fill("無料")  # being written in: the live list keeps it as typed
            await rows[0].get_by_label("開催日時・曜日 / schedule").fill("毎週火 10:00〜15:00")
            await rows[0].get_by_role("button", name="保存 / save").click()
            await expect(first.get_by_role("alert").filter(has_text="案内情報を保存しました")).to_be_visible()

            await rows[1].get_by_role("button", name="保存 / save").click()
            await expect(second.get_by_role("alert").filter(has_text="保存していません")).to_contain_text("案内情報")
            row = second.locator("#catalogue-table tbody tr", has_text="居場所「ひだまり」")
            await expect(row.get_by_label("利用料 / fee")).to_have_value("無料")  # what was typed is kept
            kept = await entry()
            assert kept and kept["schedule"] == "毎週火 10:00〜15:00" and not kept["fee"], kept
        finally:
            await context.close()


async def test_d5_on_a_phone_each_attendee_s_position_shows_its_name_every_choice_and_a_reason_field(
        ui_suite: Suite, browser: Browser) -> None:
    """At 360 px the decision form's rows kept three columns: each agency's name stood one character a line, the fourth
    choice (意見) was cut off at the card's edge and the reason's field had no width left (the page itself did not
    scroll sideways, so tests/ui/test_narrow_screen_ui.py saw nothing). Each row is now a column on a phone."""
    urls = {name: ui_suite.url(name) for name in ui_suite.services}
    async with httpx.AsyncClient(timeout=30, headers=reader()) as client:
        journey = Journey(urls, client)
        case_id = await journey.receive_and_escalate()
        plan_id = await journey.draft_and_propose(case_id)
        meeting_id = await journey.convene()
        await journey.get_when("meeting", f"/agenda/{plan_id}", lambda r: r["status"] == "proposed", "the agenda")
    meeting = urls["meeting"]
    context = await browser.new_context(locale="ja-JP", viewport={"width": 360, "height": 800})
    try:
        await context.add_cookies([role_cookie("secretariat", meeting)])
        page = await context.new_page()
        await page.goto(f"{meeting}/ui/meetings/{meeting_id}#plan-{plan_id[:8]}")
        rows = page.locator(f"section[data-plan='{plan_id}'] .position")
        await expect(rows).to_have_count(3)
        for i in range(3):
            row = rows.nth(i)
            box = await row.bounding_box()
            assert box, i
            name = await row.locator(".agency").bounding_box()
            assert name and name["width"] >= 96, ("the agency's name has no room", i, name)
            for choice in await row.get_by_role("radio").all():
                seen = await choice.locator("xpath=..").bounding_box()  # the radio with its label
                assert seen and seen["x"] + seen["width"] <= box["x"] + box["width"] + 1, ("a choice is cut off", i, seen)
            field = await row.get_by_role("textbox").bounding_box()
            assert field and field["width"] >= 200, ("the reason's field has no width", i, field)
        await shoot(page, "decision-form-on-a-phone")
    finally:
        await context.close()


async def test_d12_a_referral_of_a_case_the_counter_holds_is_received_from_its_link_on_that_case(
        ui_suite: Suite, browser: Browser) -> None:
    """Outreach hands back to the counter a person whose case intake holds (HE's bf0693e: the case is taken up again,
    no second case; a person's details are refused 409). The counter's 受け付ける link opened an empty person form:
    the counselor typed the name and was refused. The link now brings the case's person (person_ref), said on the form."""
    urls = {name: ui_suite.url(name) for name in ui_suite.services}
    async with httpx.AsyncClient(timeout=30, headers=reader()) as client:
        journey = Journey(urls, client)
        case_id = await journey.receive_and_escalate()
        plan_id = await journey.draft_and_propose(case_id)
        meeting_id = await journey.convene()
        await journey.decide(meeting_id, plan_id, 1, "approved", connect_to=["outreach"])
        await journey.get_when("outreach", f"/engagements/{case_id}", lambda e: True, "outreach to start")
        await journey.post("outreach", f"/engagements/{case_id}/hand-over", {
            "to_program": "intake", "reason": "本人が窓口で就労の相談をしたいと話した", "counter": ELDERLY.code},
            OUTREACH_WORKER)

        async def waiting() -> bool:
            answer = await client.get(f"{urls['intake']}/referrals", headers=COUNTER_STAFF)
            return any(r["case_id"] == case_id for r in answer.json())

        await eventually(waiting, "the referral to wait at the counter")
    intake = urls["intake"]
    context = await browser.new_context(locale="ja-JP", viewport={"width": 1366, "height": 768})
    try:
        await context.add_cookies([role_cookie("counselor", intake)])
        page = await context.new_page()
        await page.goto(f"{intake}/ui/?counter={ELDERLY.code}")
        row = page.locator("tr", has_text=case_id[:8]).filter(has=page.get_by_role("link", name="受け付ける"))
        await row.get_by_role("link", name="受け付ける").click()
        await expect(page.locator("#known-person")).to_contain_text("紹介のケースの相談者")
        await expect(page.get_by_label("氏名 / name")).to_have_count(0)  # no person to type: the case's own
        await page.get_by_label("ひきこもり").check()
        await page.get_by_role("button", name="受け付ける / receive").click()
        await expect(page.get_by_role("alert").filter(has_text="相談を受け付けました")).to_be_visible()
        assert f"/ui/cases/{case_id}" in page.url, page.url  # the held case, taken up again: no second case
    finally:
        await context.close()
