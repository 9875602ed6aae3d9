"""D14 at a year's volume: the trend (`GET /reports/trend`, /ui/trend, its CSV) decoded every event of intake's store
on every request (a year of a city's consultations, their disclosures and notes: seconds a visit, growing all year).
It now keeps its counts and reads only the counted events recorded since (bench/volume.py measures the time)."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any
from uuid import uuid4

from support.municipality import CHILDCARE, ELDERLY, concern

from services.intake.application import IntakeApplication
from shared.kernel.store import store_env
from shared.organisation.reference import COUNTERS
from shared.settings import Settings


def _app(tmp_path: Path) -> IntakeApplication:
    os.environ["JUSOU_DATA_DIR"] = str(tmp_path)
    return IntakeApplication(env=store_env(Settings.from_env("intake")))


def _consult(intake: IntakeApplication, counter: str) -> Any:
    staff = {"staff_id": "s-1", "division": COUNTERS[counter].division}
    return intake.receive_consultation(staff, counter, COUNTERS[counter].division, "窓口",
                                       [concern("childcare"), "高齢・介護"], {"name": f"n{uuid4()}"}, None)


def _decodes(intake: IntakeApplication) -> list[str]:
    """The topics the application's mapper decodes from now on."""
    seen: list[str] = []
    decode = intake.mapper.to_domain_event

    def counting(stored: Any) -> Any:
        seen.append(stored.topic)
        return decode(stored)

    intake.mapper.to_domain_event = counting  # type: ignore[method-assign,assignment]
    return seen


def _counted(rows: list[dict[str, Any]]) -> dict[str, tuple[int, int, int]]:
    return {r["counter"]: (r["consultations"], r["connections"], r["escalations"]) for r in rows}


def test_d14_trend_reads_each_counted_event_once_and_counts_what_came_since(tmp_path: Path) -> None:
    intake = _app(tmp_path)
    cases = [_consult(intake, CHILDCARE.code) for _ in range(3)]
    intake.escalate_case({"staff_id": "s-1", "division": CHILDCARE.division}, cases[0], "ダブルケア", CHILDCARE.ja)
    first = intake.trend()
    assert _counted(first)[CHILDCARE.code] == (3, 0, 1)

    decoded = _decodes(intake)
    assert intake.trend() == first
    assert decoded == [], f"a second look at the trend decoded the store again: {len(decoded)} events"

    _consult(intake, ELDERLY.code)  # a consultation: its case, its person (sealed), its reception texts
    after = intake.trend()
    assert _counted(after)[ELDERLY.code] == (1, 0, 0) and _counted(after)[CHILDCARE.code] == (3, 0, 1)
    assert [t.rsplit(".", 1)[-1] for t in decoded] == ["Received"], decoded

    fresh = _app(tmp_path)  # the same counts from the store afresh (a restart)
    assert fresh.trend() == after
    fresh.close()
    intake.close()
