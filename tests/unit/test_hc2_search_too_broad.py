"""A search that matches more people than a page can sensibly show shows none and records nothing (HC's review, session
20): the counter's search for 「田」 listed every 田中 the division may see, each recorded as a disclosure (Person.Shown): at a
city's scale, thousands of people shown to one clerk at once. Beyond MOST_FOUND_SHOWN it answers their number only
(`too_many`), to narrow the search; up to it, as before. Reception's own same-person check is another look-up (similar)."""

from __future__ import annotations

from dataclasses import dataclass, field
from uuid import UUID

import pytest
from support.municipality import ELDERLY

from services.intake.application import MOST_FOUND_SHOWN, IntakeApplication
from shared.organisation.reference import COUNTERS
from unit.builders import COUNTER_STAFF, in_memory


@dataclass(frozen=True)
class Reader:
    division: str
    roles: frozenset[str] = field(default_factory=lambda: frozenset({"counselor"}))
    staff_id: str = "r1"


@pytest.fixture
def intake() -> IntakeApplication:
    return in_memory(IntakeApplication)


def _people(app: IntakeApplication, how_many: int) -> list[UUID]:
    refs = []
    for i in range(how_many):
        case_id = app.receive_consultation(COUNTER_STAFF, ELDERLY.code, COUNTERS[ELDERLY.code].division, "窓口",
                                           ["高齢・介護"], {"name": f"田中 {i}郎", "birth_date": "1950-01-01"}, None)
        refs.append(UUID(app.case_view(case_id)["person_ref"]))
    return refs


def _shown(app: IntakeApplication, refs: list[UUID]) -> int:
    return sum(1 for ref in refs for r in app.person_rows(ref) if r["event"] == "Person.Shown")


def test_a_search_matching_more_than_the_most_shown_shows_none_records_none_and_says_how_many(
        intake: IntakeApplication) -> None:
    refs = _people(intake, MOST_FOUND_SHOWN + 1)

    found = intake.find_anyone(Reader(ELDERLY.division), name="田")

    assert found["people"] == [] and found["too_many"] == MOST_FOUND_SHOWN + 1
    assert _shown(intake, refs) == 0


def test_a_search_narrowed_to_the_most_shown_shows_them_as_before(intake: IntakeApplication) -> None:
    refs = _people(intake, MOST_FOUND_SHOWN + 1)

    found = intake.find_anyone(Reader(ELDERLY.division), name="田中 1")  # 田中 1郎, 10郎…19郎: 11 people

    assert len(found["people"]) == 11 and not found.get("too_many")
    assert _shown(intake, refs) == 11
