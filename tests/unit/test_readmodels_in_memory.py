"""The in-memory (POPO) read models rebuild like the SQLite and PostgreSQL ones (`jusou replay`)."""

from __future__ import annotations

from support.municipality import ELDERLY

from services.intake.application import IntakeApplication
from unit.builders import COUNTER_STAFF, PERSON, in_memory


def test_d15_in_memory_read_models_rebuild_equal_to_the_ones_followed_live() -> None:
    intake = in_memory(IntakeApplication)
    case_id = intake.receive_consultation(COUNTER_STAFF, ELDERLY.code, ELDERLY.division, "窓口", ["高齢・介護"],
                                          dict(PERSON), None)
    intake.escalate_case(COUNTER_STAFF, case_id, "複合", ELDERLY.ja)
    intake.readmodels.catch_up()
    live = intake.readmodels.view.dump()

    rebuilt = intake.readmodels.rebuild()  # cleared the tracking position too (was an AttributeError)

    assert rebuilt == len(list(intake.notifications()))
    assert intake.readmodels.view.dump() == live
    assert len(intake.history(case_id)) == 2
