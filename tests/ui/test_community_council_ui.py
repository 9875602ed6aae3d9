"""D8 (issue 16) in the browser: the 推進会議 (the municipality file's council forum) decides to start an initiative on a gap the
重層的支援会議 named; community's regional issue (opened from the same event) shows the council's decision and
the initiative it started, in the council's forum, and the API says the same."""

from __future__ import annotations

from typing import Any

import httpx
from playwright.async_api import Page, expect
from support.auth import reader, staff_headers
from support.municipality import LEAD, LEAD_NAME
from support.poll import eventually

from jusou.runner import Suite
from shared.organisation.reference import council_name

from .conftest import sign_in
from .upstream import hand_over_from_outreach, post, resource_gap

NEED = "夜間に通える見守りの場"
SUMMARY = "空き店舗を使った夜の見守りの場づくりを検討会で始める"
COORDINATOR = staff_headers("fukushi-003", LEAD, "coordinator")


async def test_d8_a_council_initiative_shows_on_the_regional_issue_page(ui_suite: Suite, page: Page) -> None:
    collaboration, community = ui_suite.url("collaboration"), ui_suite.url("community")
    async with httpx.AsyncClient(headers=reader(), timeout=30) as client:
        case_id = await hand_over_from_outreach(ui_suite, client)
        await resource_gap(ui_suite, client, case_id, NEED, "調布市北部", "夜に一人で過ごす高齢者の見守りがない")

        async def gap() -> str | None:
            gaps = (await client.get(f"{collaboration}/council/gaps", params={"status": "awaiting"})).json()
            return next((g["gap_id"] for g in gaps if g["need"] == NEED), None)

        async def issue() -> str | None:
            issues = (await client.get(f"{community}/issues")).json()
            return next((i["issue_id"] for i in issues if i["need"] == NEED), None)

        gap_id = await eventually(gap, "the gap to reach the council")
        issue_id = await eventually(issue, "the regional issue to reach community")
        sitting = await post(client, f"{collaboration}/council/sittings",
                             {"held_on": "R8.12.10", "attendees": [LEAD_NAME]}, COORDINATOR)
        await post(client, f"{collaboration}/council/sittings/{sitting['sitting_id']}/agenda", {"gap_id": gap_id},
                   COORDINATOR)
        await post(client, f"{collaboration}/council/sittings/{sitting['sitting_id']}/gaps/{gap_id}/decision",
                   {"decision": "initiative", "summary": SUMMARY}, COORDINATOR)

        async def taken_up() -> dict[str, Any] | None:
            found: dict[str, Any] = (await client.get(f"{community}/issues/{issue_id}")).json()
            return found if found["council"] else None

        found = await eventually(taken_up, "the council's decision to reach community")
        assert found["status"] == "taken_up"
        assert found["initiatives"] == [{"forum": council_name(), "summary": SUMMARY}]
        assert [(c["sitting_id"], c["decision"]) for c in found["council"]] == [(sitting["sitting_id"], "initiative")]

    await sign_in(page, community, "chiiki-001", LEAD, "community_worker")
    await page.goto(f"{community}/ui/issues/{issue_id}")
    await expect(page.locator("#issue-status")).to_have_text("取り組み中")
    council = page.locator("#council")
    await expect(council).to_contain_text("取り組みを始める / initiative")
    await expect(council).to_contain_text(SUMMARY)
    await expect(council).to_contain_text("令和")
    await expect(page.locator("#initiatives")).to_contain_text(council_name())
