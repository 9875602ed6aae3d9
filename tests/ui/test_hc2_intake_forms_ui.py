"""Intake's case page and reception form as the counter uses them (HC's review, session 20):

- a supervisor's 消去 refused (a reason of a full-width space only) went back to the case page with the reason at its
  top and the form empty: the basis was chosen again. The form now comes back as sent, the refusal beside it;
- 世帯をつくる refused (a day more than a year back) went back with today's date in the field, not the day typed;
- 本人同意 refused (a granted consent that covers neither 会議 nor 関係機関) came back with 会議 ticked again, 書面 and
  同意あり, whatever had been chosen: sent again as it stood, it recorded what the counselor had not chosen;
- the reception form for a referral of a case the counter holds said 「紹介のケースの相談者 9fec9102」, a reference,
  to the very counter that received the person, and the home page's list of referrals named no one: both say their
  name now to a division with a legal basis (D9 D10; the showing recorded), and still only the reference to one without.
"""

from __future__ import annotations

import re
from uuid import uuid4

import httpx
from playwright.async_api import Browser, Page, expect
from support.auth import reader, token
from support.journey import COUNTER_STAFF, OUTREACH_WORKER, Journey
from support.municipality import CHILDCARE, ELDERLY, concern
from support.poll import eventually

from jusou.runner import Suite
from shared.web.auth import COOKIE

from .conftest import sign_in

SUPERVISOR = ("kanri-002", ELDERLY.division, "supervisor")
COUNSELOR = ("kouki-012", ELDERLY.division, "counselor")


async def _case(intake: str, name: str) -> tuple[str, str]:
    """A new consultation at the elderly counter: (case id, person ref)."""
    async with httpx.AsyncClient(timeout=30, headers=COUNTER_STAFF) as client:
        made = await client.post(f"{intake}/consultations", json={
            "counter": ELDERLY.code, "channel": "窓口", "concerns": [concern("elderly-care")],
            "person": {"name": name, "birth_date": "1950-04-04"}, "confirm_new_person": True})
        assert made.status_code == 201, made.text
        case_id = made.json()["case_id"]
        person_ref = (await client.get(f"{intake}/cases/{case_id}")).json()["person_ref"]
    return case_id, person_ref


async def _sent(page: Page, button: re.Pattern[str]) -> int:
    async with page.expect_response(lambda r: r.request.method == "POST") as answered:
        await page.get_by_role("button", name=button).click()
    return (await answered.value).status


async def test_an_erasure_refused_keeps_its_basis_and_reason_beside_the_form(ui_suite: Suite, page: Page) -> None:
    intake = ui_suite.url("intake")
    case_id, _ = await _case(intake, f"消去 試験{uuid4().hex[:4]}")
    await sign_in(page, intake, *SUPERVISOR)
    await page.goto(f"{intake}/ui/cases/{case_id}")
    await page.locator("#erase-basis").select_option("retention_expired")
    await page.locator("#erase-reason").fill("\u3000")  # a full-width space from the IME: passes `required`

    assert await _sent(page, re.compile("消去する")) == 422

    await expect(page.locator("#error-erasure")).to_contain_text("理由を入力してください")
    await expect(page.locator("#erase-basis")).to_have_value("retention_expired")
    await expect(page.locator("#person")).not_to_contain_text("消去済み")  # nothing was erased


async def test_a_household_refused_keeps_the_day_typed(ui_suite: Suite, page: Page) -> None:
    intake = ui_suite.url("intake")
    case_id, _ = await _case(intake, f"世帯 試験{uuid4().hex[:4]}")
    await sign_in(page, intake, *COUNSELOR)
    await page.goto(f"{intake}/ui/cases/{case_id}")
    await page.locator("#household-since").fill("R5.4.1")  # more than a year back

    assert await _sent(page, re.compile("この方の世帯をつくる")) == 422

    await expect(page.locator("#error-household")).to_contain_text("世帯として把握した日")
    await expect(page.locator("#household-since")).to_have_value("R5.4.1")


async def test_a_consent_refused_comes_back_as_it_was_chosen(ui_suite: Suite, page: Page) -> None:
    intake = ui_suite.url("intake")
    case_id, _ = await _case(intake, f"同意 試験{uuid4().hex[:4]}")
    await sign_in(page, intake, *COUNSELOR)
    await page.goto(f"{intake}/ui/cases/{case_id}")
    scope = "本人に説明した範囲（家族への連絡のみ）"
    await page.locator("#scope").fill(scope)
    await page.get_by_label("重層的支援会議での情報共有", exact=True).uncheck()  # covers neither: refused (D9)
    await page.locator("#method").select_option("口頭")

    assert await _sent(page, re.compile("同意を記録")) == 422

    await expect(page.locator("#error-consent")).to_be_visible()
    await expect(page.locator("#scope")).to_have_value(scope)
    await expect(page.locator("#method")).to_have_value("口頭")
    for covered in ("重層的支援会議での情報共有", "関係機関（つなぎ先・プランの役割機関）との情報共有"):
        await expect(page.get_by_label(covered, exact=True)).not_to_be_checked()
    await expect(page.locator("#consent")).to_have_text("未確認")


async def test_d9_the_referral_form_names_the_person_to_the_counter_that_received_them_and_to_no_other(
        ui_suite: Suite, browser: Browser) -> None:
    urls = {name: ui_suite.url(name) for name in ui_suite.services}
    async with httpx.AsyncClient(timeout=30, headers=reader()) as client:
        journey = Journey(urls, client)
        case_id = await journey.receive_and_escalate()
        plan_id = await journey.draft_and_propose(case_id)
        meeting_id = await journey.convene()
        await journey.decide(meeting_id, plan_id, 1, "approved", connect_to=["outreach"])
        await journey.get_when("outreach", f"/engagements/{case_id}", lambda e: True, "outreach to start")
        await journey.post("outreach", f"/engagements/{case_id}/hand-over", {
            "to_program": "intake", "reason": "本人が窓口で相談したいと話した", "counter": ELDERLY.code}, OUTREACH_WORKER)

        async def waiting() -> bool:
            answer = await client.get(f"{urls['intake']}/referrals", headers=COUNTER_STAFF)
            return any(r["case_id"] == case_id for r in answer.json())

        await eventually(waiting, "the referral to wait at the counter")
        person_ref = (await client.get(f"{urls['intake']}/cases/{case_id}", headers=COUNTER_STAFF)).json()["person_ref"]
    intake = urls["intake"]
    address = f"{intake}/ui/consultations/new?counter={{counter}}&referral={case_id}&person_ref={person_ref}"
    context = await browser.new_context(locale="ja-JP", viewport={"width": 1366, "height": 768})
    try:
        await context.add_cookies([{"name": COOKIE, "url": intake,
                                    "value": token(COUNSELOR[0], COUNSELOR[1], "counselor")}])
        page = await context.new_page()
        await page.goto(f"{intake}/ui/?counter={ELDERLY.code}")
        row = page.locator(f"tr[data-referral='{case_id}']")
        await expect(row.locator("td.person")).to_contain_text("調布 一郎（ちょうふ いちろう）")  # whom it is, at a glance
        await row.get_by_role("link", name="受け付ける").click()
        await expect(page.locator("#known-person")).to_contain_text("紹介のケースの相談者 調布 一郎（ちょうふ いちろう）")
        await expect(page.locator("#known-person")).not_to_contain_text(person_ref[:8])
        await expect(page.locator("#referral-reason")).to_contain_text("本人が窓口で相談したいと話した")  # why, on the form

        await context.clear_cookies()  # a counter of another division, sent the same address by hand: no basis
        await context.add_cookies([{"name": COOKIE, "url": intake,
                                    "value": token("kosodate-090", CHILDCARE.division, "counselor")}])
        await page.goto(address.format(counter=CHILDCARE.code))
        await expect(page.locator("#known-person")).to_contain_text(person_ref[:8])
        assert "調布 一郎" not in await page.content()
        assert "ちょうふ" not in await page.content()
    finally:
        await context.close()
    async with httpx.AsyncClient(timeout=30) as client:  # the other division was shown nothing, so nothing recorded
        answer = await client.get(f"{intake}/audit/people/{person_ref}/disclosures?format=json", headers=reader())
    assert answer.status_code == 200, answer.text
    assert {r["staff_id"] for r in answer.json()} >= {COUNSELOR[0]}
    assert "kosodate-090" not in {r["staff_id"] for r in answer.json()}
