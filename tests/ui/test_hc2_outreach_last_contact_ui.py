"""The outreach list's 最終接触 and the CSV's 最終接触日 are the latest contact by its 接触日 (HC's review, session 20): they
said the day the last contact was recorded, and took the last one recorded: a visit two days ago, then a letter of nine days
ago entered late, showed 「最終接触 今日・手紙・会えず」 — a contact that never happened today, and not the visit. The
engagement's own log (outreach_log.html) said each contact's 接触日 already."""

from __future__ import annotations

import csv
import io
from datetime import timedelta

import httpx
from playwright.async_api import Page, expect
from support.auth import reader
from support.journey import OUTREACH_WORKER
from support.municipality import LEAD

from jusou.runner import Suite
from shared.domain.wareki import today_in_japan, wareki

from .conftest import sign_in


async def test_the_last_contact_is_the_latest_by_the_day_it_happened_not_the_last_recorded(
        ui_suite: Suite, page: Page) -> None:
    outreach = ui_suite.url("outreach")
    today = today_in_japan()
    visited, written = today - timedelta(days=2), today - timedelta(days=9)
    async with httpx.AsyncClient(timeout=30, headers=OUTREACH_WORKER) as client:
        started = await client.post(f"{outreach}/engagements", json={"referred_by": "近隣住民", "reason": "最終接触の確認"})
        assert started.status_code == 201, started.text
        case_id = started.json()["case_id"]
        for method, reached, on in (("訪問", True, visited), ("手紙", False, written)):  # the letter entered late
            contact = await client.post(f"{outreach}/engagements/{case_id}/contacts", json={
                "method": method, "reached": reached, "note": "", "stage": "接触", "on": on.isoformat()})
            assert contact.status_code == 201, contact.text
        sheet = await client.get(f"{outreach}/ui/engagements.csv", headers=reader())
    rows = {r["ケース番号"]: r for r in csv.DictReader(io.StringIO(sheet.text.lstrip("\ufeff")))}
    assert (rows[case_id]["最終接触日"], rows[case_id]["最終接触の方法"], rows[case_id]["会えたか"]) == (
        visited.isoformat(), "訪問", "会えた")

    await sign_in(page, outreach, "outreach-007", LEAD, "outreach_worker")
    await page.goto(f"{outreach}/ui/")
    last = page.locator(f"tr[data-case='{case_id}'] td").nth(3)
    await expect(last).to_contain_text(wareki(visited))
    await expect(last).to_contain_text("訪問・会えた")
