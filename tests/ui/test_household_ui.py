"""A household at the counter in the browser (issue 15, D16): formed from a case's person, a known member found
by the search and added with their 続柄, a new member, the household view, two of its cases escalated together
(one CaseEscalated carrying the other; the other 「世帯で連携中」), the counter's list filtered to it, and the
consent awaited on the 担当者's 自分の担当."""

from __future__ import annotations

import re

import httpx
import pytest
from axe_playwright_python.async_playwright import Axe
from playwright.async_api import Page, expect
from support.auth import reader
from support.journey import COUNTER_STAFF
from support.municipality import ELDERLY
from support.ui_ready import script_ready

from jusou.runner import Suite

from .conftest import shoot, sign_in
from .every_page import codes_in, reading

pytestmark = pytest.mark.own_suite  # its people come to the counter under names other modules use; it expects no candidates

KOUKI = ("kouki-012", ELDERLY.division, "counselor")


async def received(intake: str, name: str, kana: str, birth: str, phone: str, concern: str) -> str:
    """Upstream, over HTTP: a consultation at 地域包括支援センター."""
    async with httpx.AsyncClient(headers=reader()) as client:
        response = await client.post(f"{intake}/consultations", json={
            "counter": ELDERLY.code, "channel": "来所", "concerns": [concern], "confirm_new_person": True,
            "person": {"name": name, "kana": kana, "birth_date": birth, "phone": phone}}, headers=COUNTER_STAFF)
        assert response.status_code == 201, response.text
        return str(response.json()["case_id"])


async def test_a_household_is_formed_a_member_added_and_two_of_its_cases_escalated_together(
        ui_suite: Suite, page: Page) -> None:
    intake = ui_suite.url("intake")
    mother = await received(intake, "染地 ハナ", "そめち はな", "1944-02-02", "042-400-0101", "高齢・介護")
    son = await received(intake, "染地 一郎", "そめち いちろう", "1972-07-07", "042-400-0102", "ひきこもり")
    await sign_in(page, intake, *KOUKI)

    # Formed from the mother's case page: she heads it (本人).
    await page.goto(f"{intake}/ui/cases/{mother}")
    await page.get_by_role("button", name=re.compile("この方の世帯をつくる")).click()
    await expect(page.get_by_role("alert")).to_contain_text("世帯をつくりました")
    members = page.locator("#members tbody tr[data-member]")
    await expect(members).to_have_count(1)
    await expect(members.first).to_contain_text("染地 ハナ")
    await expect(members.first).to_contain_text("本人")

    # The son, already known, found by the search (kana, any width) and added as 子.
    await page.locator("#member-kana").fill("ソメチ　イチロウ")
    await page.get_by_role("button", name=re.compile("検索")).click()
    found = page.locator("#member-found tbody tr[data-person]")
    await expect(found).to_have_count(1)
    await found.get_by_label("続柄").select_option("child")
    await found.get_by_role("button", name=re.compile("世帯に加える")).click()
    await expect(page.get_by_role("alert")).to_contain_text("世帯員を加えました")
    # A grandchild with no consultation of her own: a new person.
    await page.locator("#new-name").fill("染地 さくら")
    await page.locator("#new-birth").fill("平成20年4月1日")
    await page.locator("#new-relation").select_option("other")
    await page.get_by_role("button", name=re.compile("新しい方を世帯に加える")).click()
    await expect(page.get_by_role("alert")).to_contain_text("世帯員を加えました")

    # The household view: every member, their cases with status and 担当.
    await expect(members).to_have_count(3)
    son_row = page.locator("#members tr", has_text="染地 一郎")
    await expect(son_row).to_contain_text("子")
    await expect(son_row.locator(f"[data-case='{son}']")).to_contain_text("対応中")
    await expect(page.locator("#members tr", has_text="染地 さくら")).to_contain_text("相談なし")
    await shoot(page, "intake-household")

    # The mother's and the son's cases to one plan.
    await page.locator(f"[data-case='{mother}'] input[name=case_ids]").check()
    await page.locator(f"[data-case='{son}'] input[name=case_ids]").check()
    await page.get_by_label(re.compile("^理由（複雑化・複合化）")).fill("8050: 母の介護と長男のひきこもり")
    await page.get_by_role("button", name=re.compile("選んだケースを一緒につなぐ")).click()
    await expect(page.get_by_role("alert")).to_contain_text("一緒に多機関協働事業へつなぎました")
    await expect(son_row.locator(f"[data-case='{son}']")).to_contain_text("世帯で連携中")
    await expect(page.locator(f"#members [data-case='{mother}']")).to_contain_text("多機関協働で支援中")
    await shoot(page, "intake-household-escalated")
    await script_ready(page)  # read and checked as staff see it: with what the page's script adds (和暦 readings)
    # The household page with its members speaks the office's language and has no serious axe finding.
    words, _ = reading(await page.content())
    assert codes_in(words) == []
    violations = (await Axe().run(page)).response["violations"]
    assert [v["id"] for v in violations if v.get("impact") in ("serious", "critical")] == []

    # The son's case page says which case's plan holds it; the counter's list filters to those cases.
    await page.goto(f"{intake}/ui/cases/{son}")
    await expect(page.locator("#household-plan")).to_contain_text(f"ケース {mother[:8]}")
    await expect(page.get_by_role("button", name="多機関協働事業へつなぐ")).to_have_count(0)
    await page.goto(f"{intake}/ui/?counter={ELDERLY.code}&status=linked")
    await expect(page.locator("#cases tbody tr[data-case]")).to_have_count(1)
    await expect(page.locator(f"#cases tr[data-case='{son}']")).to_contain_text("世帯で連携中")
    await expect(page.locator("#cases nav.pager")).to_contain_text("1件中")

    # What is due at intake: the mother's case, escalated without a consent, on her 担当者's 自分の担当.
    async with httpx.AsyncClient(headers=reader()) as client:
        assigned = await client.post(f"{intake}/cases/{mother}/casework/assignment",
                                     json={"role": "main", "staff_id": KOUKI[0]}, headers=COUNTER_STAFF)
        assert assigned.status_code == 200, assigned.text
    await page.goto(f"{intake}/ui/my-work")
    await expect(page.locator(f"#due tr[data-case='{mother}']")).to_contain_text("本人同意の確認待ち")
