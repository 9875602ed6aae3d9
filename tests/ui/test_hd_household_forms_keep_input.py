"""The household page's forms keep what was typed when they are refused (HD's review as staff). Before, a new member
refused (a birth date that is no day, a possible duplicate to confirm) or an escalation together refused (one case
ticked, a case escalated meanwhile) went back to the page with the reason at its top and every field empty: the
member's name, kana and birth date, or the escalation's reason, typed again from nothing."""

from __future__ import annotations

import re
from uuid import uuid4

import httpx
from playwright.async_api import Page, expect
from support.auth import staff_headers
from support.municipality import ELDERLY, concern

from jusou.runner import Suite

from .conftest import sign_in

COUNSELOR = ("kouki-012", ELDERLY.division, "counselor")


async def _household_of_two(intake: str) -> tuple[str, str, str]:
    """A mother's case heading a household, her son's case a member of it: (mother's person_ref, her case, his case)."""
    headers = staff_headers(*COUNSELOR)
    async with httpx.AsyncClient(timeout=30, headers=headers) as client:
        cases = []
        for name, born in ((f"世帯 母{uuid4().hex[:4]}", "1944-05-01"), (f"世帯 子{uuid4().hex[:4]}", "1974-06-02")):
            answer = await client.post(f"{intake}/consultations", json={
                "counter": ELDERLY.code, "channel": "窓口", "concerns": [concern("elderly-care")],
                "person": {"name": name, "birth_date": born}, "confirm_new_person": True})
            assert answer.status_code == 201, answer.text
            cases.append(answer.json()["case_id"])
        refs = [(await client.get(f"{intake}/cases/{c}")).json()["person_ref"] for c in cases]
        formed = await client.post(f"{intake}/cases/{cases[0]}/household", json={})
        assert formed.status_code == 201, formed.text
        added = await client.post(f"{intake}/persons/{refs[0]}/household/members",
                                  json={"relation": "child", "person_ref": refs[1]})
        assert added.status_code in (200, 201), added.text
    return refs[0], cases[0], cases[1]


async def test_a_new_member_refused_for_a_birth_date_that_is_no_day_keeps_what_was_typed(
        ui_suite: Suite, page: Page) -> None:
    intake = ui_suite.url("intake")
    head, _, _ = await _household_of_two(intake)
    await sign_in(page, intake, *COUNSELOR)
    await page.goto(f"{intake}/ui/persons/{head}/household")
    await page.locator("#new-name").fill("世帯 孫子")
    await page.locator("#new-kana").fill("せたい まごこ")
    await page.locator("#new-birth").fill("H20.2.30")
    await page.locator("#new-relation").select_option("other")
    async with page.expect_response(lambda r: r.request.method == "POST") as answered:
        await page.get_by_role("button", name=re.compile("新しい方を世帯に加える")).click()

    assert (await answered.value).status == 422
    await expect(page.get_by_role("alert").first).to_contain_text("実在しない日付")
    await expect(page.locator("#new-name")).to_have_value("世帯 孫子")
    await expect(page.locator("#new-kana")).to_have_value("せたい まごこ")
    await expect(page.locator("#new-birth")).to_have_value("H20.2.30")
    await expect(page.locator("#new-relation")).to_have_value("other")


async def test_an_escalation_together_refused_keeps_its_reason_and_the_cases_ticked(ui_suite: Suite, page: Page) -> None:
    intake = ui_suite.url("intake")
    head, mother, _ = await _household_of_two(intake)
    await sign_in(page, intake, *COUNSELOR)
    await page.goto(f"{intake}/ui/persons/{head}/household")
    reason = "8050: 母の介護と長男のひきこもり、家計の課題（窓口で聞き取った経過を詳しく）"
    await page.locator(f"[data-case='{mother}'] input[name=case_ids]").check()  # one case only: refused
    await page.get_by_label(re.compile("^理由（複雑化・複合化）")).fill(reason)
    async with page.expect_response(lambda r: r.request.method == "POST") as answered:
        await page.get_by_role("button", name=re.compile("選んだケースを一緒につなぐ")).click()

    assert 400 <= (await answered.value).status < 500
    await expect(page.get_by_role("alert").first).to_be_visible()
    await expect(page.get_by_label(re.compile("^理由（複雑化・複合化）"))).to_have_value(reason)
    await expect(page.locator(f"[data-case='{mother}'] input[name=case_ids]")).to_be_checked()
