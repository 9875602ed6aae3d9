"""保存年限 (issue 17): which records are past their retention period, from the configured years.

The store reading and the erasure through intake are exercised against a real suite in
tests/e2e/test_backup_restore.py (the restored suite); here the rules, on plain rows.
"""

from __future__ import annotations

from datetime import date
from pathlib import Path

import pytest

from jusou.retention import DEFAULT_YEARS, RetentionConfigError, add_years, past_records, read_config

TODAY = date(2031, 6, 1)


def case(case_id: str, person: str, status: str, last_on: date) -> dict[str, object]:
    return {"case_id": case_id, "person_ref": person, "status": status, "last_on": last_on}


def test_a_completed_case_is_past_its_period_from_the_day_it_was_completed() -> None:
    rows = [case("c1", "p1", "closed", date(2026, 6, 1)), case("c2", "p2", "plan_closed", date(2026, 6, 2))]
    found = past_records(rows, set(), {"case": 5, "person": 5}, TODAY)
    assert [(r.kind, r.ref, r.due_on) for r in found] == [("case", "c1", "2031-06-01"), ("person", "p1", "2031-06-01")]


def test_an_open_case_is_never_past_and_keeps_its_person() -> None:
    rows = [case("c1", "p1", "closed", date(2001, 1, 1)), case("c2", "p1", "escalated", date(2001, 1, 1)),
            case("c3", "p2", "open", date(2001, 1, 1))]
    found = past_records(rows, set(), {"case": 5, "person": 5}, TODAY)
    assert [(r.kind, r.ref) for r in found] == [("case", "c1")]


def test_a_person_counts_from_their_last_completed_case_and_an_erased_one_is_left_out() -> None:
    rows = [case("c1", "p1", "closed", date(2020, 1, 1)), case("c2", "p1", "closed", date(2027, 1, 1)),
            case("c3", "p2", "closed", date(2020, 1, 1))]
    found = past_records(rows, {"p2"}, {"case": 5, "person": 5}, TODAY)
    assert [(r.kind, r.ref) for r in found] == [("case", "c1"), ("case", "c3")]
    found = past_records(rows, {"p2"}, {"case": 5, "person": 3}, TODAY)
    assert [(r.kind, r.ref, r.cases, r.completed_on) for r in found if r.kind == "person"] == [
        ("person", "p1", 2, "2027-01-01")]


def test_add_years_keeps_29_february_in_a_common_year_as_28() -> None:
    assert add_years(date(2028, 2, 29), 5) == date(2033, 2, 28)
    assert add_years(date(2028, 2, 29), 4) == date(2032, 2, 29)


def test_the_periods_come_from_the_configuration_file(tmp_path: Path) -> None:
    assert read_config(None) == DEFAULT_YEARS
    path = tmp_path / "retention.toml"
    path.write_text("[retention]\ncase = 10\n")
    assert read_config(path) == {"case": 10, "person": DEFAULT_YEARS["person"]}
    for bad, said in (("[retention]\nminutes = 3\n", "minutes"), ("[retention]\ncase = -1\n", "0〜100"),
                      ("[retention]\ncase = 'five'\n", "0〜100"), ("[retention\n", "読めません")):
        path.write_text(bad)
        with pytest.raises(RetentionConfigError, match=said):
            read_config(path)
