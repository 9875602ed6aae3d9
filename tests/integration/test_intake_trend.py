"""D14: the trend report per counter and fiscal quarter, from intake's own store (SQLite)."""

from __future__ import annotations

import os
from datetime import UTC, datetime
from pathlib import Path
from uuid import uuid4

import pytest
from support.municipality import CHILDCARE, ELDERLY, LEAD_NAME, SHAKYO, concern
from unit.builders import envelope_for

from services.intake.application import IntakeApplication
from services.intake.trend import fiscal_quarter
from shared.kernel.store import store_env
from shared.organisation.reference import COUNTERS
from shared.settings import Settings

STAFF = {"staff_id": "s-1", "division": CHILDCARE.division}


@pytest.mark.parametrize(
    ("day", "expected"),
    [("2026-04-01", (2026, 1)), ("2026-06-30", (2026, 1)), ("2026-07-01", (2026, 2)), ("2026-12-31", (2026, 3)),
     ("2027-01-01", (2026, 4)), ("2027-03-31", (2026, 4))],
)
def test_d14_fiscal_quarters_start_in_april(day: str, expected: tuple[int, int]) -> None:
    assert fiscal_quarter(datetime.fromisoformat(day).replace(tzinfo=UTC)) == expected


def test_d14_trend_counts_consultations_connections_escalations_and_meeting_cases(tmp_path: Path) -> None:
    os.environ["JUSOU_DATA_DIR"] = str(tmp_path)
    intake = IntakeApplication(env=store_env(Settings.from_env("intake")))

    def consult(counter: str) -> object:
        staff = {**STAFF, "division": COUNTERS[counter].division}  # each counter's own staff
        return intake.receive_consultation(staff, counter, COUNTERS[counter].division, "窓口", [concern("childcare"), "高齢・介護"],
                                           {"name": f"n{uuid4()}"}, None)

    double_care = [consult(CHILDCARE.code) for _ in range(3)]
    consult(ELDERLY.code)
    intake.connect_case(STAFF, double_care[0], SHAKYO, "子育て支援")
    intake.escalate_case(STAFF, double_care[1], "ダブルケア", CHILDCARE.ja)
    meeting_id = uuid4()
    for position, decision in ((1, "revision_requested"), (2, "approved")):  # one case, two decisions
        intake.receive(*envelope_for("meeting", position, "MeetingDecided", {
            "meeting_id": meeting_id, "meeting_type": "jusou_shien_kaigi", "plan_id": uuid4(), "decision": decision,
            "attendees": [LEAD_NAME], "reasons": "r"}, double_care[1]))
    year, quarter = fiscal_quarter(datetime.now(UTC))
    rows = {row["counter"]: row for row in intake.trend() if (row["fiscal_year"], row["quarter"]) == (year, quarter)}
    assert rows[CHILDCARE.code] == {
        "counter": CHILDCARE.code, "counter_ja": CHILDCARE.ja, "fiscal_year": year, "quarter": quarter,
        "period_ja": f"{year}年度 第{quarter}四半期", "consultations": 3, "connections": 1, "escalations": 1,
        "meeting_cases": 1,
    }
    assert (rows[ELDERLY.code]["consultations"], rows[ELDERLY.code]["meeting_cases"]) == (1, 0)
