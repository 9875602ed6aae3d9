"""The counter's day in the browser (issue 15): search, a partial-match candidate chosen at reception, a 和暦
birth date, the reception form, the person on the case page and the counter's list (and not to a division
without a basis), 対応終了 of a case the meeting returned."""

from __future__ import annotations

import re

import httpx
import pytest
from playwright.async_api import Browser, Page, expect
from support.auth import reader, staff_headers
from support.journey import COUNTER_STAFF, Journey
from support.municipality import CHILDCARE, ELDERLY

from jusou.runner import Suite
from shared.domain.wareki import age_on

from .conftest import shoot, sign_in

pytestmark = pytest.mark.own_suite  # its people come to the counter under names other modules use; it expects no candidates

KOUKI = ("kouki-012", ELDERLY.division, "counselor")
HOIKU = ("hoiku-7", CHILDCARE.division, "counselor")


async def known_person(intake: str) -> str:
    """Upstream, over HTTP: 調布 花子 is already known at the counter (born 昭和25年3月3日)."""
    async with httpx.AsyncClient(headers=reader()) as client:
        response = await client.post(f"{intake}/consultations", json={
            "counter": ELDERLY.code, "channel": "窓口", "concerns": ["高齢・介護"], "confirm_new_person": True,
            "person": {"name": "調布花子", "kana": "ちょうふ はなこ", "birth_date": "1950-03-03", "phone": "042-444-1234"}},
            headers=COUNTER_STAFF)
        assert response.status_code == 201, response.text
        return str(response.json()["case_id"])


async def test_a_counselor_searches_receives_sees_the_person_and_closes_a_returned_case(
        ui_suite: Suite, page: Page, browser: Browser) -> None:
    intake = ui_suite.url("intake")
    await known_person(intake)
    await sign_in(page, intake, *KOUKI)

    # Search before reception: katakana, full-width space: found, with the 和暦 birth date and age.
    await page.get_by_role("link", name=re.compile("相談者の検索")).click()
    await page.get_by_label(re.compile("ふりがな")).fill("チョウフ　ハナコ")
    await page.get_by_role("button", name=re.compile("検索")).click()
    found = page.locator("#found tbody tr[data-person]")
    await expect(found).to_have_count(1)
    await expect(found).to_contain_text("調布花子")
    await expect(found).to_contain_text("昭和25年3月3日")
    await shoot(page, "intake-search")
    await found.get_by_role("link", name=re.compile("この方の相談を受け付ける")).click()
    await expect(page.locator("#known-person")).to_be_visible()
    await page.get_by_label("高齢・介護").check()
    await page.get_by_role("button", name=re.compile("受け付ける")).click()
    await expect(page.get_by_role("alert")).to_contain_text("相談を受け付けました")
    await expect(page.locator("#person")).to_contain_text("調布花子")

    # 「調布 花子」 without a birth date: offered as a candidate (same name), chosen: no second person.
    await page.goto(f"{intake}/ui/persons")
    await page.get_by_role("link", name=re.compile("新しい相談者として受け付ける")).click()
    await page.get_by_label(re.compile("経路")).select_option("電話")
    await page.get_by_label("高齢・介護").check()
    await page.get_by_label(re.compile("^氏名")).fill("調布 花子")
    await page.get_by_role("button", name=re.compile("受け付ける")).click()
    candidates = page.locator("#candidates")
    await expect(candidates).to_contain_text("氏名が同じ")
    await shoot(page, "intake-partial-match")
    await candidates.get_by_label(re.compile("この方です")).check()
    await expect(candidates.get_by_label(re.compile("別人として"))).not_to_be_checked()  # one exclusive choice
    await page.get_by_role("button", name=re.compile("受け付ける")).click()
    await expect(page.get_by_role("alert")).to_contain_text("相談を受け付けました")
    await expect(page.locator("#person")).to_contain_text("調布花子")
    await page.goto(f"{intake}/ui/persons?kana=ちょうふはなこ")
    await expect(found).to_have_count(1)  # still one person, now with three cases
    await expect(found.get_by_role("link", name=re.compile(ELDERLY.ja))).to_have_count(3)

    # A new person with a 和暦 birth date and the reception form as staff fill it in.
    await page.goto(f"{intake}/ui/consultations/new")
    await expect(page.get_by_label(re.compile("相談日"))).to_have_value(re.compile("^令和"))
    await page.get_by_label(re.compile("経路")).select_option("来所")
    await page.get_by_label("家族").check()
    await page.get_by_label("高齢・介護").check()
    await page.get_by_label("ひきこもり").check()
    await page.get_by_label(re.compile("主訴")).fill("母の介護で仕事を続けられない")
    await page.get_by_label(re.compile("相談概要")).fill("長男（50代）がひきこもり、母は要介護2")
    await page.get_by_label(re.compile("^氏名")).fill("国領 太郎")
    await page.get_by_label(re.compile("ふりがな")).fill("こくりょう たろう")
    await page.get_by_label(re.compile("生年月日")).fill("S35.2.3")
    await page.get_by_role("button", name=re.compile("受け付ける")).click()
    await expect(page.get_by_role("alert")).to_contain_text("相談を受け付けました")
    await expect(page.locator("#person")).to_contain_text("国領 太郎")
    await expect(page.locator("#person-birth")).to_contain_text(f"昭和35年2月3日（{age_on('1960-02-03')}歳）")
    await expect(page.locator("#main-complaint")).to_contain_text("母の介護")
    await shoot(page, "intake-case-person")
    case_id = re.search(r"/ui/cases/([0-9a-f-]{36})", page.url).group(1)  # type: ignore[union-attr]

    # The counter's list names the person.
    await page.goto(f"{intake}/ui/?counter={ELDERLY.code}")
    await expect(page.locator(f"#cases tr[data-case='{case_id}'] td.person")).to_contain_text("国領 太郎")
    await shoot(page, "intake-list-persons")

    # Connected to 保育コンシェルジュ without a consent that covers it: 保育課 reads the case, not the person.
    await page.goto(f"{intake}/ui/cases/{case_id}")
    await page.get_by_label("つなぎ先 / agency").fill(CHILDCARE.ja)
    await page.get_by_label(re.compile("^理由 / reason")).fill("孫の保育園の相談")
    await page.get_by_role("button", name="つなぐ / connect").click()
    await expect(page.get_by_role("alert")).to_contain_text("つなぎを記録しました")
    other = await browser.new_context(viewport={"width": 1280, "height": 800}, locale="ja-JP")
    try:
        theirs = await other.new_page()
        await sign_in(theirs, intake, *HOIKU)
        await theirs.goto(f"{intake}/ui/cases/{case_id}")
        await expect(theirs.locator("#person")).not_to_contain_text("国領")
        await expect(theirs.locator("#person")).to_contain_text("根拠に基づき閲覧")
        await expect(theirs.locator("#main-complaint")).to_have_count(0)
        await shoot(theirs, "intake-case-no-basis")
    finally:
        await other.close()

    # Escalated, then returned by the meeting: the counter closes it (対応終了) with an outcome.
    async with httpx.AsyncClient(timeout=10, headers=reader()) as client:
        journey = Journey({name: ui_suite.url(name) for name in ui_suite.services}, client)
        await journey.post("intake", f"/cases/{case_id}/consent",
                           {"scope": "重層的支援会議での情報共有", "granted": True, "method": "書面"}, COUNTER_STAFF)
        await journey.post("intake", f"/cases/{case_id}/escalate",
                           {"reason": "8050: 母の介護と本人のひきこもり", "primary_agency": ELDERLY.ja}, COUNTER_STAFF)
        await page.goto(f"{intake}/ui/cases/{case_id}")
        await expect(page.get_by_role("button", name=re.compile("対応終了を記録"))).to_have_count(0)  # plan active
        plan_id = await journey.draft_and_propose(case_id)
        meeting_id = await journey.convene()
        await journey.decide(meeting_id, plan_id, 1, "returned_to_intake", primary_agency=ELDERLY.ja)
        await journey.get_when("intake", f"/cases/{case_id}", lambda c: c["status"] == "returned",
                               "CaseReturnedToIntake to reach intake")
    await page.goto(f"{intake}/ui/cases/{case_id}")
    await page.get_by_label(re.compile("結果")).select_option("解決")
    await page.get_by_label(re.compile("経過のまとめ")).fill("介護サービスの利用が始まり、本人も就労相談へ")
    await page.get_by_role("button", name=re.compile("対応終了を記録")).click()
    await expect(page.get_by_role("alert")).to_contain_text("対応終了を記録しました")
    await expect(page.locator("#closure")).to_contain_text("解決")
    await expect(page.get_by_role("heading", name=re.compile("相談ケース"))).to_contain_text("対応終了")
    await expect(page.get_by_role("button", name="多機関協働事業へつなぐ")).to_have_count(0)  # only the forms that apply
    await expect(page.get_by_role("button", name="つなぐ / connect")).to_have_count(0)
    await shoot(page, "intake-case-closed")
    async with httpx.AsyncClient(headers=reader()) as client:
        hoiku = await client.get(f"{intake}/persons/find", params={"kana": "こくりょう"},
                                 headers=staff_headers(*HOIKU))
        assert hoiku.status_code == 200 and hoiku.json()["people"] == [], "保育課 reads the case, not the person"
