"""What a new member of staff met walking the caseworker's day through the pages (review, session 16):

- a case note (or a consent, or an outreach contact) typed as the session ends was lost at signing in again, although
  the README promises it back: those forms have a field named `method` (方法), which is what `form.method` names then,
  so jusou.js failed on their submit and kept nothing;
- a field's `pattern` that chromium cannot read (it reads patterns with the `v` flag, where `(`, `)` and `-` in a class
  need their backslash) checks nothing, and the as-you-type message failed on it: the phone of the reception form;
- the counter's and collaboration's start pages did not lead to 自分の担当 (my work), which the README names as the
  caseworker's list of what is due: it was reachable only from a case's notes.
"""

from __future__ import annotations

import re
from pathlib import Path

import httpx
from playwright.async_api import Browser, Page, expect
from support.auth import account
from support.journey import COUNTER_STAFF
from support.municipality import ELDERLY, LEAD

from jusou.runner import Suite

from .conftest import shoot, sign_in

ROOT = Path(__file__).resolve().parents[2]
COUNSELOR = ("kouki-041", ELDERLY.division, "counselor")
COORDINATOR = ("fukushi-041", LEAD, "coordinator")


async def _a_case_at_the_counter(intake: str, name: str) -> str:
    async with httpx.AsyncClient() as client:
        response = await client.post(f"{intake}/consultations", headers=COUNTER_STAFF, json={
            "counter": ELDERLY.code, "channel": "窓口", "concerns": ["高齢・介護"], "confirm_new_person": True,
            "person": {"name": name, "birth_date": "1946-07-07"}})
        assert response.status_code == 201, response.text
        return str(response.json()["case_id"])


async def test_a_case_note_typed_as_the_session_ends_comes_back_after_signing_in_again(
        ui_suite: Suite, page: Page) -> None:
    intake = ui_suite.url("intake")
    case_id = await _a_case_at_the_counter(intake, "柴崎 朋恵")
    failures: list[str] = []
    page.on("pageerror", lambda error: failures.append(str(error)))
    await sign_in(page, intake, *COUNSELOR)
    await page.goto(f"{intake}/ui/cases/{case_id}/casework")
    note = page.locator("form[action$='/casework/notes']")
    await note.get_by_label("方法 / how").select_option("電話")
    await note.get_by_label("相手 / with whom").fill("長女")
    await note.get_by_label("内容 / what was discussed").fill("母の通院の付き添いについて。来週もう一度電話する。")
    await page.context.clear_cookies()  # the session ran out while the note was being written
    await note.get_by_role("button", name=re.compile("経過記録を書く")).click()

    await expect(page).to_have_url(re.compile(r"/ui/login\?next="))
    assert not failures, failures  # jusou.js failed on the form's submit: `form.method` was the 方法 select
    password = account(*COUNSELOR)
    await page.get_by_label("職員番号").fill(COUNSELOR[0])
    await page.get_by_label("パスワード").fill(password)
    await page.get_by_role("button", name="ログイン").click()

    await expect(page).to_have_url(re.compile(rf"/ui/cases/{case_id}/casework\?ok=signed_in$"))
    await expect(page.get_by_role("status").filter(has_text="まだ送信していません")).to_be_visible()
    await expect(note.get_by_label("内容 / what was discussed")).to_have_value("母の通院の付き添いについて。来週もう一度電話する。")
    await expect(note.get_by_label("相手 / with whom")).to_have_value("長女")
    await expect(note.get_by_label("方法 / how")).to_have_value("電話")
    await shoot(page, "staff-walk-case-note-restored")
    await note.get_by_role("button", name=re.compile("経過記録を書く")).click()
    await expect(page.get_by_role("alert")).to_contain_text("経過記録を書きました")


#: a field's pattern as a template writes it (those with a template expression inside are left out)
PATTERN = re.compile(r'\bpattern="([^"]*)"')


def _patterns() -> list[tuple[str, str]]:
    found = []
    for template in sorted([*ROOT.glob("services/*/templates/*.html"), *ROOT.glob("shared/web/templates/*.html")]):
        found += [(str(template.relative_to(ROOT)), pattern) for pattern in PATTERN.findall(template.read_text())
                  if "{{" not in pattern and "{%" not in pattern]
    return found


async def test_every_fields_pattern_is_one_chromium_reads_and_the_phone_says_what_it_wants(
        ui_suite: Suite, browser: Browser, page: Page) -> None:
    patterns = _patterns()
    assert len(patterns) >= 5, patterns  # the walk found them: a change of the markup must not empty this test
    # HTML compiles a pattern as ^(?:pattern)$ with the `v` flag; one it cannot compile is ignored (and throws in JS)
    unread = [(where, pattern, error) for where, pattern in patterns
              if (error := await page.evaluate(
                  "p => { try { new RegExp('^(?:' + p + ')$', 'v'); return '' } catch (e) { return String(e) } }",
                  pattern))]
    assert not unread, unread

    intake = ui_suite.url("intake")
    failures: list[str] = []
    page.on("pageerror", lambda error: failures.append(str(error)))
    await sign_in(page, intake, *COUNSELOR)
    await page.goto(f"{intake}/ui/consultations/new?counter={ELDERLY.code}")
    phone = page.get_by_label("電話 / phone")
    await phone.fill("０４２－４８１－００００")  # as a Japanese IME types it: full-width digits and hyphens
    await phone.blur()
    await expect(phone).to_have_attribute("aria-invalid", "false")
    await phone.fill("042-481-0000（自宅）")
    await phone.blur()
    await expect(page.locator("#phone-error")).to_have_text("数字とハイフンで入力してください / digits and hyphens")
    await expect(phone).to_have_attribute("aria-invalid", "true")
    assert not failures, failures


async def test_the_counters_and_collaborations_start_pages_lead_to_my_work(ui_suite: Suite, page: Page) -> None:
    for service, staff in (("intake", COUNSELOR), ("collaboration", COORDINATOR)):
        base = ui_suite.url(service)
        await sign_in(page, base, *staff)
        await page.goto(f"{base}/ui/")
        await page.get_by_role("link", name=re.compile("自分の担当")).click()
        await expect(page).to_have_url(f"{base}/ui/my-work")
        await expect(page.get_by_role("heading", name=re.compile("期日の来ている対応"))).to_be_visible()
        await page.get_by_role("button", name=re.compile("ログアウト")).click()
