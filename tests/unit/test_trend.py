"""D14: the trend of consultations, つなぎ, escalations and meeting cases per counter and fiscal quarter."""

from __future__ import annotations

from datetime import datetime
from uuid import UUID, uuid4

import pytest
from support.municipality import ELDERLY, HARDSHIP

from services.intake.application import IntakeApplication
from services.intake.trend import fiscal_quarter
from shared.contract.events import MeetingDecidedV1
from unit.builders import (
    ATTENDEES,
    COUNTER_STAFF,
    PERSON,
    Upstream,
    in_memory,
    stored_count,
)


@pytest.fixture
def intake() -> IntakeApplication:
    return in_memory(IntakeApplication)


def consult(intake: IntakeApplication, counter: str = ELDERLY.code, division: str = ELDERLY.division) -> UUID:
    return intake.receive_consultation({**COUNTER_STAFF, "division": division}, counter, division, "窓口", ["高齢・介護", "ひきこもり"],
                                       dict(PERSON), None)


def meeting_decided(case_id: UUID, decision: str = "approved") -> MeetingDecidedV1:
    return MeetingDecidedV1(meeting_id=uuid4(), meeting_type="jusou_shien_kaigi", plan_id=uuid4(), decision=decision,
                            attendees=ATTENDEES, reasons="合意", program="collaboration", revision=1)


@pytest.mark.parametrize("at, quarter", [
    (datetime(2025, 4, 1), (2025, 1)), (datetime(2025, 6, 30), (2025, 1)), (datetime(2025, 7, 1), (2025, 2)),
    (datetime(2025, 12, 31), (2025, 3)), (datetime(2026, 1, 1), (2025, 4)), (datetime(2026, 3, 31), (2025, 4)),
])
def test_d14_fiscal_year_starts_in_april(at: datetime, quarter: tuple[int, int]) -> None:
    assert fiscal_quarter(at) == quarter


def test_d14_trend_counts_consultations_connections_and_escalations_per_counter(intake: IntakeApplication) -> None:
    case_id = consult(intake)
    intake.connect_case(COUNTER_STAFF, case_id, HARDSHIP.ja, "家計の相談")
    intake.escalate_case(COUNTER_STAFF, case_id, "複合的な課題", ELDERLY.ja)
    consult(intake, HARDSHIP.code, HARDSHIP.division)

    rows = {row["counter"]: row for row in intake.trend()}

    assert {c: (r["consultations"], r["connections"], r["escalations"]) for c, r in rows.items()} == {
        ELDERLY.code: (1, 1, 1), HARDSHIP.code: (1, 0, 0)}


def test_d14_a_case_decided_twice_in_a_quarter_is_one_meeting_case(intake: IntakeApplication) -> None:
    case_id = consult(intake)
    meeting = Upstream("meeting")
    intake.receive(*meeting.emit("MeetingDecided", meeting_decided(case_id, "revision_requested"), case_id))
    intake.receive(*meeting.emit("MeetingDecided", meeting_decided(case_id, "approved"), case_id))

    assert [row["meeting_cases"] for row in intake.trend()] == [1]


def test_d14_meeting_decision_for_a_case_intake_never_saw_records_nothing(intake: IntakeApplication) -> None:
    case_id = uuid4()

    intake.receive(*Upstream("meeting").emit("MeetingDecided", meeting_decided(case_id), case_id))

    assert stored_count(intake) == 0
