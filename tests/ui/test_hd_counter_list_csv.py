"""The counter's 相談一覧 CSV (intake's /ui/cases.csv) says each case's 相談日 and 担当者 (HD's review as staff): the list on the
page filters by both and shows 担当者, and the CSV follows the filters, but it had neither column, so a list exported
for 相談日 from/to could not be checked or sorted by day, nor shared out by who is in charge. Its columns are kept in
their order; the two are added at the end (相談日 as YYYY-MM-DD, as every CSV of the suite writes a date for Excel)."""

from __future__ import annotations

import csv
import io
from uuid import uuid4

import httpx
from support.auth import reader, staff_headers
from support.municipality import ELDERLY, concern

from jusou.runner import Suite

COUNSELOR = staff_headers("kouki-012", ELDERLY.division, "counselor")


async def test_the_counters_csv_gives_each_cases_consultation_day_and_who_is_in_charge(ui_suite: Suite) -> None:
    intake = ui_suite.url("intake")
    async with httpx.AsyncClient(timeout=30) as client:
        received = await client.post(f"{intake}/consultations", headers=COUNSELOR, json={
            "counter": ELDERLY.code, "channel": "窓口", "concerns": [concern("elderly-care")],
            "consulted_on": "令和8年12月1日", "person": {"name": f"一覧 出力{uuid4().hex[:6]}"},
            "confirm_new_person": True})
        assert received.status_code == 201, received.text
        case_id = received.json()["case_id"]
        assigned = await client.post(f"{intake}/cases/{case_id}/casework/assignment", headers=COUNSELOR,
                                     json={"role": "main", "staff_id": "kouki-012"})
        assert assigned.status_code == 200, assigned.text
        answer = await client.get(f"{intake}/ui/cases.csv", headers=reader(),
                                  params={"counter": ELDERLY.code, "from": "令和8年12月1日", "to": "令和8年12月1日"})

    rows = list(csv.reader(io.StringIO(answer.text.lstrip("\ufeff"))))
    assert rows[0] == ["ケース番号", "窓口", "経路", "相談内容", "状態", "主担当", "同意", "相談日", "担当者"], rows[0]
    mine = [dict(zip(rows[0], row, strict=True)) for row in rows[1:] if row[0] == case_id]
    assert mine and mine[0]["相談日"] == "2026-12-01" and mine[0]["担当者"] == "kouki-012", mine
