"""A working day on the staff's pages (the review of 2026-12-06): what a person met, each fixed and tested here.

- A form's date field whose command takes a plain date (会議の開催日, 次回の見直し日) read 和暦 typed as text only in a
  list's から/まで: a browser that shows a date field as a text field (or one put back after signing in again) sent
  「令和8年12月6日」, and the page asked for YYYY-MM-DD and dropped what was typed. Now read as its day, as the lists do;
  what is no date is refused naming the field and saying how to type it, the rest of the form kept. The same for a
  case note's 次の対応の期日.
- A list that updates by itself, open when the session ended (the cookie expired, or signed out in another tab): its
  next refresh was sent on to the sign-in page, and the whole sign-in page (its header, a password field) was put
  inside the list, under a top bar still naming the staff member, and the page went on saying 「更新しました」. Now the
  list stays as it was, the updates stop, and the page says the sign-in ended, with a link that signs in again and
  comes back to this page.
- A form sent from a duplicated tab (the same page, so the same idempotency key) with other content than the first tab
  sent is refused (the key was spent on the first). Its 「入力した内容を戻して元の画面へ」 put the input back with that
  same spent key, so sending it again was refused again, for ever. Now a form put back after a refusal of the request
  (4xx) goes with the page's fresh key; after a failure (5xx) it keeps its first key, as before.
- A case's 経過 at the counter said in red 「応答のない事業: アウトリーチ、参加支援 / not reachable」 on every escalated case:
  those programs answered, refusing the counselor's division (403). Now said apart, muted, as what the division may
  not read; 「応答のない事業」 only for a program that did not answer; an unknown case says it has no records.
- The 監査 page's view of a case showed the counter's code (「受付窓口 houkatsu」) and the view's yes/no as `true` /
  `false`, and some fields by their code (escalation_candidate, household_plan, related_case_ids, strands): now the
  counter's name, はい / いいえ and every field's Japanese name, as the rest of the page.
"""

from __future__ import annotations

import re
import uuid
from datetime import datetime, timedelta

from playwright.async_api import Page, expect
from support.auth import ROLE_STAFF, account
from support.municipality import ELDERLY, LEAD, concern

from jusou.runner import Suite
from shared.domain.wareki import JST, today_in_japan, wareki
from shared.web.labels import PROGRAM_LABELS

from .conftest import at_the_counter, shoot, sign_in
from .test_casework_ui import start_engagement
from .test_collaboration_ui import escalate_a_case


async def _as_text_field(page: Page, field_id: str) -> None:
    """The date field as a browser without a date picker shows it: a text field staff type into."""
    await page.locator(f"#{field_id}").evaluate("field => { field.type = 'text'; }")


async def test_a_meeting_convened_with_its_date_typed_in_wareki_is_held_on_that_day(ui_suite: Suite, page: Page) -> None:
    meeting = ui_suite.url("meeting")
    staff_id, division = ROLE_STAFF["secretariat"]
    await sign_in(page, meeting, staff_id, division, "secretariat")
    today = today_in_japan()
    typed = f"R{today.year - 2018}.{today.month}.{today.day}"  # 令和 as staff abbreviate it
    await page.goto(f"{meeting}/ui/#convene")
    attendee = page.locator("#convene input[name=attendees]").first
    await attendee.check()
    await _as_text_field(page, "held_on")
    await page.locator("#held_on").fill(typed)
    await page.get_by_role("button", name=re.compile("開催する")).click()
    await expect(page.get_by_role("alert")).to_contain_text("開催しました")
    await expect(page.locator("main h2").first).to_contain_text(wareki(today))
    assert re.search(r"/ui/meetings/[0-9a-f-]{36}", page.url), page.url


async def test_a_meetings_date_that_is_no_day_is_refused_saying_how_to_type_it_and_the_form_is_kept(
        ui_suite: Suite, page: Page) -> None:
    meeting = ui_suite.url("meeting")
    staff_id, division = ROLE_STAFF["secretariat"]
    await sign_in(page, meeting, staff_id, division, "secretariat")
    await page.goto(f"{meeting}/ui/#convene")
    await page.get_by_role("radio", name=re.compile("^支援会議")).check()
    attendee = page.locator("#convene input[name=attendees]").first
    chosen = await attendee.get_attribute("value")
    await attendee.check()
    await _as_text_field(page, "held_on")
    await page.locator("#held_on").fill("R8.13.1")
    await page.get_by_role("button", name=re.compile("開催する")).click()
    error = page.locator("#convene-error")
    await expect(error).to_contain_text("開催日「R8.13.1」は実在しない日付です")
    await expect(error).not_to_contain_text("YYYY-MM-DD")
    # what else was chosen is still chosen; the date field is back with the day to pick
    await expect(page.locator(f"#convene input[name=attendees][value='{chosen}']")).to_be_checked()
    await expect(page.get_by_role("radio", name=re.compile("^支援会議"))).to_be_checked()
    await shoot(page, "review-meeting-date-refused")


async def test_a_case_notes_next_step_due_typed_in_wareki_is_recorded_on_that_day(ui_suite: Suite, page: Page) -> None:
    outreach = ui_suite.url("outreach")
    await sign_in(page, outreach, "outreach-017", LEAD, "outreach_worker")
    await start_engagement(page)
    await page.locator("#casework").get_by_role("link", name=re.compile("経過記録を開く")).click()
    due = today_in_japan() + timedelta(days=7)
    await page.get_by_label("日時（接触した日時）").fill(datetime.now(JST).strftime("%Y-%m-%dT%H:%M"))
    await page.get_by_label("方法 / how").select_option("電話")
    await page.get_by_label("相手 / with whom").fill("本人")
    await page.get_by_label("内容 / what was discussed").fill("来週の訪問の約束")
    await page.get_by_label("次の対応 / next step").fill("訪問する")
    await _as_text_field(page, "next_due")
    await page.locator("#next_due").fill(wareki(due, with_gregorian=False))  # 令和8年12月13日
    await page.get_by_role("button", name="経過記録を書く / write").click()
    await expect(page.get_by_role("alert")).to_contain_text("経過記録を書きました")
    note = page.locator("table.casework-record tbody tr[data-kind='note']").first
    await expect(note).to_contain_text("訪問する")
    await expect(note).to_contain_text(wareki(due))


async def test_a_live_list_open_when_the_session_ends_says_so_instead_of_showing_the_sign_in_page_inside(
        ui_suite: Suite, page: Page) -> None:
    await at_the_counter(page, ui_suite, "kouki-037", f"?counter={ELDERLY.code}")
    listed = page.locator("#cases")
    await expect(listed.locator("table")).to_be_visible()
    rows_before = await listed.locator("table").inner_html()
    await page.context.clear_cookies()  # the session's cookie has expired; the page stays open
    # a change elsewhere: the live list refreshes (what the service's event stream makes the page do)
    await page.evaluate("document.body.dispatchEvent(new CustomEvent('jusou-changed', {detail: 'test'}))")
    note = page.locator("#stale-note")
    await expect(note).to_contain_text("ログインの有効期限が切れたため、この画面は更新されていません")
    await expect(page.get_by_role("alert").filter(has_text="ログインの有効期限")).to_be_visible()
    await expect(listed.locator("input[type=password]")).to_have_count(0)  # no sign-in page inside the list
    assert await listed.locator("table").inner_html() == rows_before
    await expect(page.locator("#live-status")).not_to_contain_text("更新しました")
    await shoot(page, "review-live-list-session-ended")
    # the link signs in again and comes back to this list
    await note.get_by_role("link", name=re.compile("ログインし直す")).click()
    await page.get_by_label("職員番号").fill("kouki-037")
    password = account("kouki-037", ELDERLY.division, "counselor")
    await page.get_by_label("パスワード").fill(password)
    await page.get_by_role("button", name="ログイン").click()
    await expect(page).to_have_url(re.compile(rf"/ui/\?counter={ELDERLY.code}&ok=signed_in$"))
    await expect(page.locator("#cases table")).to_be_visible()


async def test_a_form_refused_for_its_spent_key_in_a_duplicated_tab_can_be_sent_again_from_the_form_put_back(
        ui_suite: Suite, page: Page) -> None:
    intake = ui_suite.url("intake")
    await sign_in(page, intake, "kouki-038", ELDERLY.division, "counselor")
    await page.goto(f"{intake}/ui/consultations/new?counter={ELDERLY.code}")
    duplicate = await page.context.new_page()
    await duplicate.goto(page.url)
    key = await page.locator("input[name=idempotency_key]").first.input_value()
    # the browser's 「タブを複製」 copies the page as it is, its form's key with it
    await duplicate.locator("input[name=idempotency_key]").first.evaluate("(field, key) => { field.value = key; }", key)
    for tab, name, born in ((page, "砂原 鷹之", "S21.2.2"), (duplicate, "波多野 杏珠", "H1.5.5")):
        await tab.get_by_label(concern("elderly-care")).check()
        await tab.get_by_label("氏名").fill(name)
        await tab.get_by_label("生年月日").fill(born)
    await page.get_by_role("button", name=re.compile("受け付ける")).click()
    await expect(page.get_by_role("alert")).to_contain_text("相談を受け付けました")
    await duplicate.get_by_role("button", name=re.compile("受け付ける")).click()
    refusal = duplicate.locator("[data-error-page]")  # the key was spent on the first tab's
    await expect(refusal).to_contain_text("別のタブ")  # in the staff's words, not the API's 'Idempotency-Key'
    await expect(refusal).not_to_contain_text("Idempotency-Key")
    await duplicate.get_by_role("link", name=re.compile("入力した内容を戻して元の画面へ")).click()
    await expect(duplicate.get_by_label("氏名")).to_have_value("波多野 杏珠")
    await duplicate.get_by_role("button", name=re.compile("受け付ける")).click()  # unchanged: sent as a new command
    await expect(duplicate.get_by_role("alert")).to_contain_text("相談を受け付けました")
    await expect(duplicate.locator("main")).to_contain_text("波多野 杏珠")


async def test_a_cases_journey_at_the_counter_says_what_the_division_may_not_read_not_that_programs_are_down(
        ui_suite: Suite, page: Page) -> None:
    intake = ui_suite.url("intake")
    case_id = await escalate_a_case(intake, "経過 確認")
    await sign_in(page, intake, "kouki-039", ELDERLY.division, "counselor")
    await page.goto(f"{intake}/ui/cases/{case_id}/timeline")
    timeline = page.get_by_role("list", name="経過")
    await expect(timeline.locator("li[data-event='Case.Escalated']")).to_be_visible()
    await expect(page.locator("#not-answering")).to_have_count(0)  # every program answered
    await expect(page.get_by_text("応答のない事業")).to_have_count(0)
    withheld = page.locator("#withheld")
    await expect(withheld).to_contain_text("所属課の範囲外のため、この経過に含まれない事業")
    await expect(withheld).to_contain_text(PROGRAM_LABELS["outreach"])  # 403 to this division: not read, not down
    await shoot(page, "review-timeline-withheld")

    await page.goto(f"{intake}/ui/cases/{uuid.uuid4()}/timeline")
    await expect(page.locator("#no-records")).to_have_text("このケースの記録はありません / no records of this case")
    await expect(page.get_by_text("応答のない事業")).to_have_count(0)


async def test_the_audit_view_of_a_case_names_its_counter_and_says_yes_or_no(ui_suite: Suite, page: Page) -> None:
    intake = ui_suite.url("intake")
    case_id = await escalate_a_case(intake, "監査 表示")
    await sign_in(page, intake, "kansa-002", LEAD, "auditor")
    await page.goto(f"{intake}/ui/audit/cases/{case_id}")
    view = page.locator("details.state[data-service='intake'][data-kind='Case']")
    await expect(view.locator("tr").filter(has=page.locator("th[title='counter']")).locator("td")).to_have_text(ELDERLY.ja)
    await expect(view.locator("td").filter(has_text=re.compile(r"^(true|false)$"))).to_have_count(0)
    candidate = view.locator("tr").filter(has=page.locator("th[title='escalation_candidate']")).locator("td")
    await expect(candidate).to_have_text(re.compile(r"^(はい|いいえ)$"))
    # every field named in the office's words (the field's own name stays in the tooltip)
    await expect(page.locator("details.state th[scope=row]").filter(has_text=re.compile(r"^[a-z_]+$"))).to_have_count(0)
