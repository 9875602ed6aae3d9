"""The city's figures over a running suite (issue 16): journeys run, then every program's counts for the
fiscal year exactly, gathered by any service, with targets, small cells as 「3未満」, CSV, xlsx, `jusou report`."""

from __future__ import annotations

import asyncio
import csv
import io
import os
import sys
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
from support.auth import staff_headers
from support.journey import COUNTER_STAFF, SECRETARIAT, Journey
from support.municipality import ELDERLY, LEAD, LEAD_NAME

from jusou.runner import Suite
from shared.domain.figures import SMALL, fiscal_year_of
from shared.domain.wareki import today_in_japan

PLANNER = staff_headers("fukushi-010", LEAD, "coordinator")
COUNSELOR = COUNTER_STAFF
COMMUNITY = staff_headers("chiiki-001", LEAD, "community_worker")
#: what is recorded today (consultations, plans…) counts in this fiscal year; the sittings and sessions
#: below have their own days, in FY2026 (2026-04-01 .. 2027-03-31)
#: (read as the suite starts, not as the module is collected: a run crossing 1 April JST wrote last year's targets
#: and asked for last year's figures while the services recorded today's in the new year)
NOW = fiscal_year_of(today_in_japan())


def targets() -> str:
    return f"[fy{NOW}]\nconsultations = 10\n[fy2026.meetings_held]\njusou_shien_kaigi = 12\n"


@pytest.fixture(scope="module")
def running_suite(tmp_path_factory: pytest.TempPathFactory) -> Any:
    """The suite with a targets file (JUSOU_TARGETS_FILE is read by the services when asked)."""
    from support.servers import free_port, nats_server

    global NOW
    NOW = fiscal_year_of(today_in_japan())
    root = tmp_path_factory.mktemp("figures")
    targets_file = root / "targets.toml"
    targets_file.write_text(targets(), encoding="utf-8")
    os.environ["JUSOU_TARGETS_FILE"] = str(targets_file)
    try:
        ports = {name: free_port() for name in ("intake", "collaboration", "meeting", "outreach", "participation",
                                                 "community")}
        with nats_server(root / "nats") as nats, Suite(root / "data", nats_url=nats.url, ports=ports) as running:
            yield running
    finally:
        os.environ.pop("JUSOU_TARGETS_FILE", None)


def row(document: dict[str, Any], code: str, key: str = "") -> dict[str, Any]:
    indicator = next(i for i in document["indicators"] if i["code"] == code)
    return next(r for r in indicator["rows"] if r["key"] == key)


async def jusou(suite: Suite, *args: str) -> tuple[int, bytes, str]:
    env = dict(os.environ)
    for name in suite.services:
        env[f"JUSOU_{name.upper()}_PORT"] = str(urlsplit(suite.url(name)).port)
    process = await asyncio.create_subprocess_exec(
        str(Path(sys.executable).parent / "jusou"), *args, env=env,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
    out, err = await asyncio.wait_for(process.communicate(), timeout=60)
    return process.returncode or 0, out, err.decode()


async def test_figures_count_the_years_journeys_exactly(journey: Journey, running_suite: Suite) -> None:
    # one whole journey (consultation → escalation → plan r1, r2 → 重層的支援会議 on 2026-11-28 → closed) …
    await journey.whole()
    # … three more consultations at the same counter, and sittings on other days
    for day in range(3):
        await journey.post("intake", "/consultations", {
            "counter": ELDERLY.code, "channel": "電話", "concerns": ["高齢・介護"],
            "person": {"name": "多摩 花子", "kana": "たま はなこ", "birth_date": f"1950-01-0{day + 2}"},
            "confirm_new_person": True}, COUNTER_STAFF)
    for held_on, kind in (("2026-11-30", "jusou_shien_kaigi"), ("2026-12-01", "jusou_shien_kaigi"),
                          ("2026-05-10", "shien_kaigi"), ("2026-05-11", "shien_kaigi"), ("2026-06-30", "shien_kaigi"),
                          ("2026-03-31", "shien_kaigi")):
        await journey.post("meeting", "/meetings", {"meeting_type": kind, "held_on": held_on,
                                                    "attendees": [LEAD_NAME, ELDERLY.ja]}, SECRETARIAT)

    # 地域づくり: a 居場所 opened on 2026-04-01, three sessions in October with their participants and groups
    place = await journey.post("community", "/places", {"program": "chiiki-zukuri", "name": "ふれあいの家",
                                                        "area": "国領町", "ibasho": True, "opened_on": "2026-04-01"},
                               COMMUNITY)
    for day, people, groups in ((10, 12, ["A会", "B会"]), (11, 8, ["A会"]), (12, 10, ["C会"])):
        await journey.post("community", "/sessions", {"place_id": place["place_id"], "held_on": f"2026-10-{day}",
                                                      "participants": people, "organisations": groups}, COMMUNITY)

    response = await journey.http.get(journey.urls["community"] + "/figures", params={"fy": NOW}, headers=PLANNER)
    assert response.status_code == 200, response.text
    document = response.json()
    assert document["missing"] == [] and document["fy"] == NOW
    fy2026 = (await journey.http.get(journey.urls["intake"] + "/figures", params={"fy": 2026}, headers=PLANNER)).json()
    assert fy2026["label"] == "令和8年度（2026年度）"
    consultations = row(document, "consultations", ELDERLY.code)
    # the 相談日 defaults to today
    assert consultations["year"] == 4 and sum(consultations["quarters"]) == 4
    assert row(document, "consultations")["target"] == 10
    assert row(document, "consultation_persons", ELDERLY.code)["year_shown"] == "4"  # four people
    assert row(document, "escalations", ELDERLY.code)["year_shown"] == SMALL
    assert row(document, "plans_made_collaboration")["year_shown"] == SMALL  # revision 2 is not a new plan
    assert row(document, "plans_closed")["year_shown"] == SMALL
    assert row(document, "participation_persons")["year_shown"] == SMALL
    assert row(document, "resources_developed", "ibasho")["year_shown"] == SMALL  # the 居場所, offered to participation
    held = row(fy2026, "meetings_held", "jusou_shien_kaigi")  # on the days they sat
    assert held["quarters_shown"] == ["0", "0", "3", "0"] and held["target"] == 12
    assert row(fy2026, "meetings_held", "shien_kaigi")["quarters_shown"] == ["3", "0", "0", "0"]
    assert row(fy2026, "meetings_held")["year"] == 6
    assert row(fy2026, "community_sessions", "chiiki-zukuri")["quarters_shown"] == ["0", "0", "3", "0"]
    assert row(fy2026, "community_participants")["year"] == 30
    assert row(fy2026, "community_organisations", "chiiki-zukuri")["year"] == 3  # A会, B会, C会
    assert row(fy2026, "community_places")["quarters_shown"] == [SMALL] * 4  # open all year
    assert row(fy2026, "community_ibasho")["year_shown"] == SMALL
    # any past year is counted again from the events: the sitting of 2026-03-31 is FY2025's
    earlier = (await journey.http.get(journey.urls["intake"] + "/figures/program", params={"fy": 2025},
                                      headers=PLANNER)).json()
    assert earlier and all(r["year"] == 0 for i in earlier for r in i["rows"])  # intake had nothing then
    last_year = (await journey.http.get(journey.urls["meeting"] + "/figures", params={"fy": 2025},
                                        headers=PLANNER)).json()
    assert row(last_year, "meetings_held", "shien_kaigi")["quarters_shown"] == ["0", "0", "0", SMALL]

    # the CSV for Excel: BOM, Japanese headers, no small count as a number
    csv_answer = await journey.http.get(journey.urls["outreach"] + "/figures", params={"fy": NOW, "format": "csv"},
                                        headers=PLANNER)
    assert csv_answer.headers["content-type"].startswith("text/csv")
    assert csv_answer.content.startswith("\ufeff".encode())
    rows = list(csv.reader(io.StringIO(csv_answer.content.decode("utf-8-sig"))))
    assert rows[1][:3] == ["事業", "指標", "内訳"]
    escalated = next(r for r in rows if len(r) > 8 and r[1] == "多機関協働事業への移行件数" and r[2] == "合計")
    assert escalated[8] == SMALL and "1" not in escalated[4:9]

    # xlsx through openpyxl
    xlsx = await journey.http.get(journey.urls["intake"] + "/figures", params={"fy": NOW, "format": "xlsx"},
                                  headers=PLANNER)
    from openpyxl import load_workbook

    sheet = load_workbook(io.BytesIO(xlsx.content)).active
    values = [[c.value for c in r] for r in sheet.iter_rows()]
    assert values[1][0] == "事業" and any(r[1] == "相談受付件数" and r[8] == 4 for r in values if len(r) > 8)

    # who may not: a counselor reads no figures (403, the policy)
    refused = await journey.http.get(journey.urls["intake"] + "/figures", params={"fy": NOW}, headers=COUNSELOR)
    assert refused.status_code == 403

    # `jusou report`: the same door, as text
    code, out, err = await jusou(running_suite, "report", "--fy", str(NOW))
    assert code == 0, err
    text = out.decode()
    assert "年度（" in text and f"相談受付件数 / {ELDERLY.ja}" in text and "年度計 4件" in text
