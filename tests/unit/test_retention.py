"""保存年限 (issue 17): which records of each program are past their retention period, from the configured years
(shared/domain/retention.py), on plain steps. The store reading, the pages and the erasure at expiry through intake
run against a real suite in tests/e2e/test_retention_live.py and tests/e2e/test_backup_restore.py."""

from __future__ import annotations

import json
from datetime import date
from pathlib import Path

import pytest

from jusou.retention import read_config
from shared.domain.retention import (
    DEFAULT_YEARS,
    KINDS,
    RULES,
    SERVICES,
    PeriodsInvalid,
    Step,
    add_years,
    past,
    people,
    people_due,
    person_due,
    read_periods,
    records,
    settle,
)

D = date(2026, 4, 1)
YEARS = dict(DEFAULT_YEARS)


def step(name: str, case: str | None, on: date = D, aggregate: str | None = None, person: str | None = None) -> Step:
    return Step(name, aggregate or f"{name.split('.')[0]}-{case}", case, on, person)


def one(service: str, *steps: Step) -> tuple[date | None, bool]:
    (record,) = records(service, steps)
    return record.closed_on, record.follows_case


def test_retention_every_program_has_a_record_kind_with_a_period_and_its_basis() -> None:
    assert set(RULES) == set(SERVICES)
    assert {KINDS[rule.kind].service for rule in RULES.values()} == set(SERVICES)
    assert all(k.years == 5 and "第61条" in k.basis and k.counted_from and k.after_erasure for k in KINDS.values())


def test_retention_a_case_closed_at_the_counter_is_past_its_period_from_its_closing_day() -> None:
    found = records("intake", [step("Case.Received", "c1"), step("Case.Closed", "c1", date(2026, 6, 1)),
                               step("Case.ConsentRecorded", "c1", date(2027, 1, 1))])  # read later: not a reopening
    assert [(r.kind, r.closed_on) for r in found] == [("case", date(2026, 6, 1))]
    assert past(found, YEARS, date(2031, 5, 31)) == []
    (due,) = past(found, YEARS, date(2031, 6, 1))
    assert (due.key, due.due_on, due.years) == ("c1", date(2031, 6, 1), 5)
    assert past(found, {**YEARS, "case": 10}, date(2035, 1, 1)) == []


def test_retention_an_open_record_is_never_past() -> None:
    found = records("intake", [step("Case.Received", "c1", date(2001, 1, 1)), step("Case.Escalated", "c1", date(2001, 2, 1))])
    assert found[0].closed_on is None and past(found, YEARS, date(2100, 1, 1)) == []


def test_retention_a_plan_continued_or_suspended_keeps_the_record_open_a_plan_closed_completes_it() -> None:
    opened = [step("CollaborationCase.Opened", "c1"), step("Plan.Drafted", "c1", aggregate="p1")]
    assert one("collaboration", *opened, step("Plan.Evaluated:continued", "c1", aggregate="p1")) == (None, False)
    assert one("collaboration", *opened, step("Plan.Evaluated:suspended", "c1", aggregate="p1")) == (None, False)
    done = step("Plan.Evaluated:closed", "c1", date(2027, 3, 1), aggregate="p1")
    assert one("collaboration", *opened, done) == (date(2027, 3, 1), False)
    assert one("collaboration", *opened, done, step("CollaborationCase.Reopened", "c1")) == (None, False)


def test_retention_a_case_returned_to_intake_completes_collaborations_record_even_with_a_draft_plan() -> None:
    assert one("collaboration", step("CollaborationCase.Opened", "c1"), step("Plan.Drafted", "c1", aggregate="p1"),
               step("CollaborationCase.ReturnedToIntake", "c1", date(2026, 9, 9))) == (date(2026, 9, 9), False)


def test_retention_an_engagement_handed_over_stays_open_while_its_own_plan_is() -> None:
    started = step("Engagement.Started", "c1")
    assert one("outreach", started, step("Engagement.HandedOver", "c1", date(2026, 5, 5))) == (date(2026, 5, 5), False)
    assert one("outreach", started, step("Plan.Drafted", "c1", aggregate="p1"),
               step("Engagement.HandedOver", "c1", date(2026, 5, 5)))[0] is None


def test_retention_a_case_with_several_regional_issues_completes_when_the_last_is_resolved() -> None:
    both = [step("RegionalIssue.Opened", "c1", aggregate="i1"), step("RegionalIssue.Opened", "c1", aggregate="i2"),
            step("RegionalIssue.Resolved", "c1", date(2026, 7, 1), aggregate="i1")]
    assert one("community", *both)[0] is None
    assert one("community", *both, step("RegionalIssue.Resolved", "c1", date(2026, 8, 1), aggregate="i2"))[0] == date(2026, 8, 1)


def test_retention_a_meetings_record_is_one_per_sitting_completed_by_its_last_entry() -> None:
    found = records("meeting", [step("Meeting.Convened", None, aggregate="m1"),
                                step("Meeting.CaseTakenUp", "c1", aggregate="m1"),
                                step("Meeting.CaseTakenUp", "c2", aggregate="m1"),
                                step("Meeting.Evaluated", "c1", date(2027, 2, 2), aggregate="m1")])
    assert [(r.key, r.case_ids, r.closed_on) for r in found] == [("m1", ("c1", "c2"), date(2027, 2, 2))]


def test_retention_a_support_without_a_plan_of_its_own_completes_with_the_case_at_intake() -> None:
    support = records("participation", [step("Support.Started", "c1", date(2026, 5, 1))])
    assert support[0].closed_on is None and support[0].follows_case
    intake = records("intake", [step("Case.Received", "c1"), step("Case.PlanEnded", "c1", date(2026, 10, 1))])
    (settled,) = settle(support, intake)
    assert settled.closed_on == date(2026, 10, 1)
    still = records("intake", [step("Case.Received", "c1")])
    assert settle(support, still)[0].closed_on is None and settle(support, [])[0].closed_on is None
    own_plan = records("participation", [step("Support.Started", "c1"), step("Plan.Drafted", "c1", aggregate="p1")])
    assert not own_plan[0].follows_case and settle(own_plan, intake)[0].closed_on is None


def test_retention_a_person_is_kept_while_any_program_holds_a_record_of_their_cases_open() -> None:
    intake = records("intake", [step("Case.Received", "c1", person="p1"), step("Case.Closed", "c1", date(2026, 6, 1)),
                                step("Case.Received", "c2", person="p2"), step("Case.Closed", "c2", date(2026, 6, 1))])
    outreach = records("outreach", [step("Engagement.Started", "c1")])
    cases, erased = people([step("Case.Received", "c1", person="p1"), step("Case.Received", "c2", person="p2"),
                            Step("Person.Erased", "p2", None, date.min)])
    assert cases == {"p1": ["c1"], "p2": ["c2"]} and erased == {"p2"}
    held = person_due("p1", ["c1"], [*intake, *outreach], 5)
    assert held.held == ("outreach:c1",) and not held.past(date(2100, 1, 1))
    assert people_due(cases, erased, [*intake, *outreach], 5, date(2100, 1, 1)) == []
    handed = records("outreach", [step("Engagement.Started", "c1"), step("Engagement.HandedOver", "c1", date(2028, 1, 1))])
    (due,) = people_due(cases, erased, [*intake, *handed], 5, date(2033, 1, 1))  # p2 erased: not listed
    assert (due.person_ref, due.closed_on, due.due_on) == ("p1", date(2028, 1, 1), date(2033, 1, 1))
    assert people_due(cases, erased, [*intake, *handed], 5, date(2032, 12, 31)) == []


def test_retention_add_years_keeps_29_february_in_a_common_year_as_28() -> None:
    assert add_years(date(2028, 2, 29), 5) == date(2033, 2, 28)
    assert add_years(date(2028, 2, 29), 4) == date(2032, 2, 29)


def test_retention_the_periods_come_from_the_configuration_file(tmp_path: Path) -> None:
    assert read_periods(None) == DEFAULT_YEARS and read_config(None) == DEFAULT_YEARS
    path = tmp_path / "retention.toml"
    path.write_text("[retention]\ncase = 10\nmeeting = 0\n")
    assert read_config(path) == {**DEFAULT_YEARS, "case": 10, "meeting": 0}
    for bad, said in (("[retention]\nminutes = 3\n", "minutes"), ("[retention]\ncase = -1\n", "0〜100"),
                      ("[retention]\ncase = 'five'\n", "0〜100"), ("[retention]\ncase = true\n", "0〜100"),
                      ("[retention]\ncase = 101\n", "0〜100"), ("[retention]\ncase = 99999999999999999999\n", "0〜100"),
                      ("[retention]\ncase = 1e9\n", "0〜100"), ("retention = 5\n", "表"), ("[retention\n", "読めません")):
        path.write_text(bad)
        with pytest.raises(PeriodsInvalid, match=said):
            read_config(path)
    with pytest.raises(PeriodsInvalid, match="読めません"):
        read_config(tmp_path / "missing.toml")


def test_retention_the_example_file_names_every_kind_with_its_default() -> None:
    example = Path(__file__).parents[2] / "deploy" / "retention.example.toml"
    assert read_periods(example.read_text(encoding="utf-8")) == DEFAULT_YEARS
    assert all(f"\n{code} = " in example.read_text(encoding="utf-8") for code in KINDS)


def test_retention_the_command_lists_every_programs_records_then_the_people(
        monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    import jusou.retention as command
    from jusou.cli import parser

    steps = {"intake": [step("Case.Received", "c1", person="p1"), step("Case.Closed", "c1", date(2020, 1, 1))],
             "meeting": [step("Meeting.CaseTakenUp", "c1", date(2020, 2, 2), aggregate="m1")],
             "participation": [step("Support.Started", "c1", date(2019, 5, 5))]}
    found = [r for service, s in steps.items() for r in records(service, s)]
    monkeypatch.setattr(command, "suite_records", lambda: (settle(found, found), *people(steps["intake"]), []))
    monkeypatch.setenv("JUSOU_DATA_DIR", str(tmp_path))
    args = parser().parse_args(["retention", "--as-of", "2025-06-01"])
    assert args.handler(args) == 0
    out = capsys.readouterr().out
    order = [line.split()[0] + ":" + line.split()[2] for line in out.splitlines()[1:-1]]
    assert order == ["intake:c1", "meeting:m1", "participation:c1", "intake:p1"], out
    assert "（ケース 1 件）" in out and "jusou retention --erase" in out
    args = parser().parse_args(["retention", "--as-of", "2025-01-01", "--json"])
    assert args.handler(args) == 0
    listed = json.loads(capsys.readouterr().out)["past"]
    assert [(r["service"], r["kind"], r["ref"], r["due_on"]) for r in listed] == [
        ("intake", "case", "c1", "2025-01-01"), ("participation", "support", "c1", "2025-01-01")]  # not yet the meeting
