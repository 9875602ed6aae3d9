"""D12 D11: a counter that takes up outreach's referral of a case intake already holds, first received at another
counter (HE's bf0693e: Case.take_up_referral, the receiving counter its primary), finds the case on its own home list
(services/intake/ui.py `_cases`, which the home page, its live table and its CSV read); it was listed only at the
counter that first received it, so the counter now holding the case could reach it only by its address. The division
scope stays: a division that may not read the case does not see it on that counter's list."""

from __future__ import annotations

from uuid import UUID

import pytest
from support.municipality import DISABILITY, ELDERLY, HARDSHIP, concern, division_without_counter

from services.intake.application import IntakeApplication
from services.intake.ui import _cases
from shared.web.auth import Principal
from unit.builders import PERSON, Upstream, in_memory

FIRST = {"staff_id": "s1", "division": ELDERLY.division}
NOW = {"staff_id": "s2", "division": DISABILITY.division}


@pytest.fixture
def intake() -> IntakeApplication:
    return in_memory(IntakeApplication)


def handed_to_another_counter(app: IntakeApplication) -> UUID:
    """Received at the elderly counter, escalated, connected to outreach, handed back to the disability counter."""
    case_id = app.receive_consultation(FIRST, ELDERLY.code, ELDERLY.division, "窓口",
                                       [concern("elderly-care"), concern("hikikomori")], dict(PERSON), None,
                                       confirm_new_person=True)
    app.escalate_case(FIRST, case_id, "介護とひきこもりが重なる", HARDSHIP.ja)
    app.receive(*Upstream("outreach").emit("OutreachHandedOver", {
        "to_program": "intake", "reason": "本人が障害の窓口に来られるようになった", "counter": DISABILITY.code}, case_id))
    return case_id


def test_d12_a_case_taken_up_at_another_counter_is_on_that_counters_home_list(intake: IntakeApplication) -> None:
    assert ELDERLY.code != DISABILITY.code and ELDERLY.division != DISABILITY.division
    case_id = handed_to_another_counter(intake)
    counselor = Principal("s2", DISABILITY.division, frozenset({"counselor"}))
    assert [c["case_id"] for c in _cases(intake, counselor, DISABILITY.code)] == []  # not taken up yet

    assert intake.receive_consultation(NOW, DISABILITY.code, DISABILITY.division, "窓口", [concern("disability")],
                                       None, None, referral=case_id) == case_id
    assert intake.case_view(case_id)["taken_up"][-1]["counter"] == DISABILITY.code

    assert [c["case_id"] for c in _cases(intake, counselor, DISABILITY.code)] == [str(case_id)]
    first = Principal("s1", ELDERLY.division, frozenset({"counselor"}))
    assert [c["case_id"] for c in _cases(intake, first, ELDERLY.code)] == [str(case_id)]  # its first counter keeps it
    stranger = Principal("s9", division_without_counter(), frozenset({"counselor"}))
    assert _cases(intake, stranger, DISABILITY.code) == []  # division scope: not a reader of the case
