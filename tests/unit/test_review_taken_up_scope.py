"""D9 D11: a counter of another division that takes up outreach's referral of a case intake holds (Case.take_up_referral)
received the person itself: its division reads the person on its own-counter basis and keeps reading and writing the
case as the first counter's division does, also after it escalates the case again naming another primary agency.

Before: the own-counter basis was the first counter's alone, so the counter handling the person saw the case without
the person's name (no consent on file covering it), and once it escalated the case with another agency as primary its
division lost the case altogether (neither the first counter's nor the primary's). A division with no part in the case
still reads nothing."""

from __future__ import annotations

from typing import Any
from uuid import UUID

import pytest
from support.municipality import CHILDCARE, ELDERLY, HARDSHIP, concern

from services.intake.access import case_readers, case_writers, may_read_case
from services.intake.application import IntakeApplication
from shared.domain.access import OutOfScope
from shared.kernel.journey import DomainError
from unit.builders import COUNTER_STAFF, PERSON, Upstream, in_memory

FIRST = {**COUNTER_STAFF, "division": ELDERLY.division}
THERE = {"staff_id": "s9", "division": HARDSHIP.division}


def reader(division: str) -> Any:
    return type("R", (), {"division": division, "roles": frozenset({"counselor"}), "staff_id": "s9"})()


@pytest.fixture
def intake() -> IntakeApplication:
    return in_memory(IntakeApplication)


def taken_up_at_another_division(app: IntakeApplication) -> UUID:
    """Received at the elderly counter, escalated, connected to outreach, handed to the 生活困窮 counter, taken up there."""
    assert len({ELDERLY.division, HARDSHIP.division, CHILDCARE.division}) == 3, "the test needs three divisions"
    case_id = app.receive_consultation(FIRST, ELDERLY.code, ELDERLY.division, "窓口", [concern("elderly-care")],
                                       dict(PERSON), None, confirm_new_person=True)
    app.escalate_case(FIRST, case_id, "介護と家計が重なる", ELDERLY.ja)
    app.receive(*Upstream("outreach").emit("OutreachHandedOver", {
        "to_program": "intake", "reason": "家計の相談を希望", "counter": HARDSHIP.code}, case_id))
    app.receive_consultation(THERE, HARDSHIP.code, HARDSHIP.division, "窓口", [concern("poverty")], None, None,
                             referral=case_id)
    return case_id


def test_d9_the_counter_that_took_the_case_up_reads_the_person_on_its_own_counter_basis(
        intake: IntakeApplication) -> None:
    case_id = taken_up_at_another_division(intake)

    shown = intake.persons_in_view(reader(HARDSHIP.division), [case_id], "case")

    assert shown[str(case_id)]["name"] == PERSON["name"] and shown[str(case_id)]["basis"] == "own_counter", shown
    intake.disclose_person(THERE, case_id, "own_counter", None)  # the API's basis, checked as the page's is
    assert intake.case_view(case_id)["taken_up"][0]["division"] == HARDSHIP.division


def test_d11_the_counter_that_took_the_case_up_keeps_it_after_escalating_it_with_another_primary(
        intake: IntakeApplication) -> None:
    case_id = taken_up_at_another_division(intake)

    intake.escalate_case(THERE, case_id, "家計と介護が再び重なる", ELDERLY.ja)  # primary: the elderly counter's agency

    view = intake.case_view(case_id)
    assert view["status"] == "escalated" and view["primary"] == ELDERLY.ja, view
    assert HARDSHIP.division in case_readers(view) and HARDSHIP.division in case_writers(view)
    assert may_read_case(reader(HARDSHIP.division), view)
    assert intake.persons_in_view(reader(HARDSHIP.division), [case_id], "case")[str(case_id)]["basis"] == "own_counter"


def test_d9_a_division_with_no_part_in_the_case_still_reads_nothing(intake: IntakeApplication) -> None:
    case_id = taken_up_at_another_division(intake)
    outsider = {"staff_id": "s5", "division": CHILDCARE.division}

    assert not may_read_case(reader(CHILDCARE.division), intake.case_view(case_id))
    assert intake.persons_in_view(reader(CHILDCARE.division), [case_id], "case") == {}
    with pytest.raises(DomainError):
        intake.disclose_person(outsider, case_id, "own_counter", None)
    with pytest.raises(OutOfScope):
        intake.escalate_case(outsider, case_id, "関係のない課", CHILDCARE.ja)
