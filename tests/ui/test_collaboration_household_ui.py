"""A household's cases escalated together arrive at collaboration as ONE case (issue 15, D16): the case page and
GET /cases/{id} say 「世帯で連携（他N件のケース）」 with links to intake's case pages, and the plan editor offers one
person line per related case (labelled by case: collaboration holds no personal information) so each member's goals
go in the one plan."""

from __future__ import annotations

import re
from typing import Any

import httpx
from playwright.async_api import Page, expect
from support.auth import reader
from support.journey import COUNTER_STAFF

from jusou.runner import Suite

from .conftest import sign_in

COORDINATOR = ("fukushi-003", "welfare-general", "coordinator")


async def household_escalated(intake: str) -> tuple[str, str]:
    """Upstream, over intake's API (its pages are tested in test_household_ui): a mother and her son consult, a
    household is formed around the mother, the son added, both cases escalated together (the mother's first)."""
    async with httpx.AsyncClient(headers=COUNTER_STAFF) as client:
        async def sent(url: str, body: dict[str, Any]) -> dict[str, Any]:
            response = await client.post(f"{intake}{url}", json=body)
            assert response.status_code in (200, 201), f"{url}: {response.status_code} {response.text}"
            result: dict[str, Any] = response.json()
            return result

        cases, refs = [], []
        for name, phone, concern in (("国領 トメ", "042-400-0201", "高齢・介護"), ("国領 次郎", "042-400-0202", "ひきこもり")):
            case = await sent("/consultations", {"counter": "houkatsu", "channel": "来所", "concerns": [concern],
                                                 "confirm_new_person": True, "person": {"name": name, "phone": phone}})
            cases.append(str(case["case_id"]))
            person = await client.get(f"{intake}/cases/{case['case_id']}/person", params={"basis": "own_counter"})
            assert person.status_code == 200, person.text
            refs.append(person.json()["person_ref"])
        await sent(f"/cases/{cases[0]}/household", {})
        await sent(f"/persons/{refs[0]}/household/members", {"relation": "child", "person_ref": refs[1]})
        await sent(f"/persons/{refs[0]}/household/escalation", {
            "case_ids": cases, "reason": "8050: 母の介護と次男のひきこもり", "primary_agency": "地域包括支援センター"})
    return cases[0], cases[1]


async def test_d16_a_household_escalation_is_one_case_whose_plan_covers_each_related_case(
        ui_suite: Suite, page: Page) -> None:
    collaboration, intake = ui_suite.url("collaboration"), ui_suite.url("intake")
    mother, son = await household_escalated(intake)

    # GET /cases/{id}: the one case, holding the son's case (the bus carried ids only).
    async with httpx.AsyncClient(headers=reader()) as client:
        for _ in range(100):
            response = await client.get(f"{collaboration}/cases/{mother}")
            if response.status_code == 200:
                break
            await page.wait_for_timeout(100)
        assert response.status_code == 200, response.text
        held = response.json()
        assert held["related_case_ids"] == [son] and held["household_ref"]
        assert (await client.get(f"{collaboration}/cases/{son}")).status_code == 404  # no second case

    await sign_in(page, collaboration, *COORDINATOR)
    await page.goto(f"{collaboration}/ui/cases/{mother}")
    household = page.locator("#household")
    await expect(household).to_contain_text("世帯で連携（他1件のケース）")
    link = household.get_by_role("link", name=f"ケース {son[:8]}")
    await expect(link).to_have_attribute("href", f"{intake}/ui/cases/{son}")

    # The plan editor offers the son's line; its goals go in the one plan, labelled by his case.
    await page.get_by_role("link", name=re.compile("プランを作成")).click()
    member = page.locator("#member-rows [data-row]")
    await expect(member).to_have_count(1)
    await expect(member.get_by_label("世帯員 / member")).to_have_value(f"世帯員（ケース {son[:8]}）")
    await page.locator("#support_direction").fill("母の介護と次男の社会参加を世帯で支える")
    await page.locator("#goal-1").fill("デイサービスを週2回利用する")
    await member.get_by_label(re.compile("目標（1行に1つ）")).fill("地域の居場所に月1回参加する")
    await page.locator("#role-rows [data-row]").first.get_by_role("textbox", name="役割").fill("母の介護サービスの調整")
    await page.get_by_role("button", name=re.compile("下書き保存")).click()
    await expect(page.get_by_role("alert")).to_contain_text("下書き保存しました")
    # the draft, open in the editor again: the son's line kept with his goal, no second empty line offered
    await expect(member).to_have_count(1)
    await expect(member.get_by_label("世帯員 / member")).to_have_value(f"世帯員（ケース {son[:8]}）")
    await expect(member.get_by_label(re.compile("目標（1行に1つ）"))).to_have_value("地域の居場所に月1回参加する")

