"""The city's figures (issue 16): the fiscal year and its quarters in Japan time, counting from events,
small-cell suppression, the targets file and the Excel-ready CSV."""

from __future__ import annotations

import csv
import io
from datetime import UTC, date, datetime

import pytest
from support.municipality import ELDERLY, LEAD_NAME

from shared.domain.figures import (
    SECRET,
    SMALL,
    Fact,
    fiscal_year_bounds,
    fiscal_year_label,
    fiscal_year_of,
    hidden_cells,
    merge,
    program_figures,
    quarter_bounds,
    quarter_of,
    read_targets,
    render_csv,
    render_text,
    shown,
    suppressed,
)

CASE = "00000000-0000-0000-0000-00000000000{}"


def fact(name: str, at: str, case: int = 1, public: str | None = None, **fields: object) -> Fact:
    return Fact(service="x", name=name, public=public, recorded_at=datetime.fromisoformat(at),
                case_id=CASE.format(case), aggregate_id=CASE.format(case), fields=dict(fields))


def received(at: str, case: int, counter: str = ELDERLY.code, person: str = "p", **fields: object) -> Fact:
    return fact("Case.Received", at, case, "ConsultationReceived", counter=counter, person_ref=person, **fields)


def rows_of(answer: list[dict], code: str) -> dict[str, dict]:
    return {r["key"]: r for r in next(i for i in answer if i["code"] == code)["rows"]}


@pytest.mark.parametrize(("day", "fy", "quarter"), [
    (date(2026, 4, 1), 2026, 1), (date(2026, 6, 30), 2026, 1), (date(2026, 7, 1), 2026, 2),
    (date(2026, 9, 30), 2026, 2), (date(2026, 10, 1), 2026, 3), (date(2026, 12, 31), 2026, 3),
    (date(2027, 1, 1), 2026, 4), (date(2027, 3, 31), 2026, 4), (date(2027, 4, 1), 2027, 1),
    (date(2026, 3, 31), 2025, 4),
])
def test_fiscal_year_runs_april_to_march_in_quarters(day: date, fy: int, quarter: int) -> None:
    assert (fiscal_year_of(day), quarter_of(day)) == (fy, quarter)
    first, last = quarter_bounds(fy, quarter)
    assert first <= day <= last


def test_fiscal_year_bounds_and_label() -> None:
    assert fiscal_year_bounds(2026) == (date(2026, 4, 1), date(2027, 3, 31))
    assert quarter_bounds(2026, 4) == (date(2027, 1, 1), date(2027, 3, 31))
    assert quarter_bounds(2026, 3) == (date(2026, 10, 1), date(2026, 12, 31))
    assert fiscal_year_label(2026) == "令和8年度（2026年度）"
    assert fiscal_year_label(2019) == "令和元年度（2019年度）"


def test_a_day_is_counted_in_japan_time() -> None:
    # 2026-03-31 15:30 UTC is 2026-04-01 00:30 in Japan: the new fiscal year's first quarter
    late = Fact(service="x", name="Case.Received", recorded_at=datetime(2026, 3, 31, 15, 30, tzinfo=UTC))
    assert late.day() == date(2026, 4, 1)
    early = Fact(service="x", name="Case.Received", recorded_at=datetime(2026, 3, 31, 14, 59, tzinfo=UTC))
    assert early.day() == date(2026, 3, 31)


def test_the_consultation_date_counts_not_the_recording() -> None:
    typed_late = received("2026-04-02T10:00:00+09:00", 1, consulted_on="2026-03-30")
    assert typed_late.day() == date(2026, 3, 30)
    answer = program_figures([typed_late], 2025, "intake")
    assert rows_of(answer, "consultations")[""]["quarters_shown"] == ["0", "0", "0", SMALL]


def test_small_cells_are_shown_under_three() -> None:
    assert [shown(v) for v in (0, 1, 2, 3, 10)] == ["0", SMALL, SMALL, "3", "10"]
    assert [suppressed(v) for v in (0, 1, 2, 3)] == [0, None, None, 3]


def test_consultations_per_counter_and_quarter_with_persons_and_suppression() -> None:
    facts = [received(f"2026-05-0{i}T10:00:00+09:00", i, person=f"p{i % 3}") for i in range(1, 6)]
    facts += [*(received(f"2026-08-0{i}T10:00:00+09:00", 5 + i, counter="yurikago") for i in (1, 2, 3)),
              received("2025-05-01T10:00:00+09:00", 7),  # another year
              fact("Case.Connected", "2026-05-10T10:00:00+09:00", 1, "CaseConnected", to_agency="a"),
              fact("Case.Escalated", "2026-11-10T10:00:00+09:00", 6, "CaseEscalated")]
    facts.append(received("2026-05-09T10:00:00+09:00", 9, counter="yurikago", consulted_on="2026-03-31"))  # FY2025
    answer = program_figures(facts, 2026, "intake")
    consultations = rows_of(answer, "consultations")
    assert consultations[ELDERLY.code]["quarters"] == [5, 0, 0, 0]
    assert consultations[ELDERLY.code]["year_shown"] == "5"
    assert consultations["yurikago"]["quarters"] == [0, 3, 0, 0]
    assert consultations[""]["year"] == 8
    assert rows_of(answer, "consultation_persons")[ELDERLY.code]["year"] == 3  # p0, p1, p2
    # つなぎ and escalations are counted at the case's receiving counter
    assert rows_of(answer, "connections")[ELDERLY.code]["year_shown"] == SMALL
    assert rows_of(answer, "escalations")["yurikago"]["quarters_shown"] == ["0", "0", SMALL, "0"]
    assert {i["service"] for i in answer} == {"intake"}


def test_plans_made_count_first_revisions_and_meetings_by_type() -> None:
    plans = [fact("Plan.Proposed", f"2026-06-0{i}T10:00:00+09:00", i, "PlanProposed", program="collaboration",
                  revision=1) for i in range(1, 4)]
    plans.append(fact("Plan.Proposed", "2026-06-09T10:00:00+09:00", 1, "PlanProposed", program="collaboration",
                      revision=2))
    made = rows_of(program_figures(plans, 2026, "collaboration"), "plans_made_collaboration")
    assert made["collaboration"]["year"] == 3
    meetings = [fact("Meeting.Convened", "2026-12-01T10:00:00+09:00", i, meeting_type="jusou_shien_kaigi",
                     held_on="2027-01-15") for i in range(3)]
    meetings += [fact("Meeting.Convened", "2026-12-01T10:00:00+09:00", 9, meeting_type="shien_kaigi",
                      held_on=f"2026-12-0{i}") for i in (1, 2, 3)]
    held = rows_of(program_figures(meetings, 2026, "meeting"), "meetings_held")
    assert held["jusou_shien_kaigi"]["quarters"] == [0, 0, 0, 3]  # counted on the day it sat
    assert held["shien_kaigi"]["quarters_shown"] == ["0", "0", "3", "0"]
    assert held["jusou_shien_kaigi"]["key_label"] == "重層的支援会議"


def test_community_places_sessions_and_organisations() -> None:
    facts = [
        fact("Place.Registered", "2026-04-01T10:00:00+09:00", 1, program="kaigo-yobo", ibasho=True,
             opened_on="2025-04-01"),
        fact("Place.Registered", "2026-04-01T10:00:00+09:00", 2, program="kaigo-yobo", ibasho=False,
             opened_on="2026-10-01"),
        fact("Place.Registered", "2026-04-01T10:00:00+09:00", 3, program="kaigo-yobo", ibasho=False,
             opened_on="2026-04-01"),
        fact("Place.Closed", "2026-08-01T10:00:00+09:00", 1, closed_on="2026-07-31"),
        *(fact("ActivitySession.Recorded", "2026-05-01T10:00:00+09:00", 10 + i, held_on=f"2026-05-1{i}",
               program="kaigo-yobo", participants=10, new_participants=1, volunteers=2,
               organisations=["A会", "B会"] if i else ["A会"]) for i in range(3)),
    ]
    answer = program_figures(facts, 2026, "community")
    places = rows_of(answer, "community_places")["kaigo-yobo"]
    # open some time in each quarter: 2 of them (「3未満」) in each; 3 over the year
    assert places["quarters_shown"] == [SMALL] * 4 and places["year"] == 3
    assert rows_of(answer, "community_sessions")["kaigo-yobo"]["quarters"] == [3, 0, 0, 0]
    assert rows_of(answer, "community_participants")[""]["year"] == 30
    assert rows_of(answer, "community_organisations")["kaigo-yobo"]["year_shown"] == SMALL  # A会, B会
    new = rows_of(answer, "community_new_places")[""]  # the one opened in 2025 is not new, though recorded in 2026
    assert new["year_shown"] == SMALL and new["quarters_shown"] == [SMALL, "0", SMALL, "0"]


def test_a_small_cell_cannot_be_worked_out_from_the_totals() -> None:
    # houkatsu 5 in Q1; yurikago 1 in Q2: the year's total (6) less houkatsu's (5) would give yurikago's 1,
    # so houkatsu's year is hidden too, and then what would give it away in turn (秘匿)
    facts = [received(f"2026-05-0{i}T10:00:00+09:00", i) for i in range(1, 6)]
    facts.append(received("2026-08-01T10:00:00+09:00", 6, counter="yurikago"))
    consultations = rows_of(program_figures(facts, 2026, "intake"), "consultations")
    assert consultations["yurikago"]["quarters_shown"] == ["0", SMALL, "0", "0"]
    assert consultations["yurikago"]["year_shown"] == SMALL
    assert consultations[ELDERLY.code]["quarters_shown"] == [SECRET, "0", "0", "0"]
    assert consultations[ELDERLY.code]["year_shown"] == SECRET and consultations[ELDERLY.code]["year"] is None
    assert consultations[""]["quarters_shown"] == [SECRET, SMALL, "0", "0"] and consultations[""]["year"] == 6
    # every sum now hides none or at least two of its cells
    for c in range(5):
        column = [r["quarters_shown"][c] if c < 4 else r["year_shown"] for r in consultations.values()]
        assert sum(v in (SMALL, SECRET) for v in column) != 1
    for r in consultations.values():
        assert sum(v in (SMALL, SECRET) for v in [*r["quarters_shown"], r["year_shown"]]) != 1


def test_hidden_cells_leave_no_single_unknown_in_a_sum() -> None:
    grid = [[4, 0, 7, 0, 11], [0, 1, 5, 0, 6], [4, 1, 12, 0, 17]]  # two keys and the total; Q1..Q4 and year
    hidden = hidden_cells(grid)
    assert {(1, 1), (2, 1)} <= hidden  # the 1 and the total of its quarter (also 1)
    assert (1, 2) in hidden  # its row: another cell (the year alone would give it away)
    assert not {(0, 1), (0, 3), (1, 0)} & hidden  # zeros are never hidden: they give nothing away
    sums = [[(r, c) for r in range(3)] for c in range(5)] + [[(r, c) for c in range(5)] for r in range(3)]
    assert all(sum(cell in hidden for cell in cells) != 1 for cells in sums)
    assert hidden_cells([[0, 0, 5, 0, 5]]) == set()  # nothing small: nothing hidden


def test_targets_file_and_merge_put_targets_beside_the_figures() -> None:
    targets = read_targets('[fy2026]\nconsultations = 1200\n[fy2026.meetings_held]\njusou_shien_kaigi = 12\n'
                           'total = 40\n[fy2025]\nconsultations = 1000\n')
    assert targets[2026] == {"consultations": {"": 1200}, "meetings_held": {"jusou_shien_kaigi": 12, "": 40}}
    answers = program_figures([received("2026-05-01T10:00:00+09:00", i) for i in range(1, 4)], 2026, "intake")
    document = merge(2026, answers, targets[2026], ["community"])
    first = document["indicators"][0]
    assert first["code"] == "consultations"
    assert {r["key"]: r["target"] for r in first["rows"]} == {ELDERLY.code: None, "": 1200}
    assert document["missing"] == ["community"] and document["label"].startswith("令和8年度")


@pytest.mark.parametrize(("text", "says"), [
    ("[fy2026]\nnot_an_indicator = 3\n", "指標ではありません"),
    ("[fy2026]\nconsultations = -1\n", "0以上の整数"),
    ("[year]\nconsultations = 1\n", r"\[fy2026\] の形"),
    ("[fy2026\n", "TOML"),
])
def test_targets_file_refuses_what_it_cannot_use(text: str, says: str) -> None:
    with pytest.raises(ValueError, match=says):
        read_targets(text)


def test_csv_is_excel_ready_with_small_cells_suppressed() -> None:
    answers = program_figures([received("2026-05-01T10:00:00+09:00", 1)], 2026, "intake")
    text = render_csv(merge(2026, answers, {"consultations": {"": 10}}, []))
    assert text.startswith("\ufeff") and "\r\n" in text
    rows = list(csv.reader(io.StringIO(text.removeprefix("\ufeff"))))
    assert rows[1][:4] == ["事業", "指標", "内訳", "単位"] and rows[1][8:] == ["年度計", "目標", "達成率（%）"]
    total = next(r for r in rows if len(r) > 2 and r[1] == "相談受付件数" and r[2] == "合計")
    assert total[4:11] == [SMALL, "0", "0", "0", SMALL, "10", ""]  # no rate from a suppressed count
    assert "1" not in total[4:9]


def test_the_shipped_example_targets_file_is_valid() -> None:
    from pathlib import Path

    example = Path(__file__).resolve().parents[2] / "deploy" / "targets.example.toml"
    targets = read_targets(example.read_text(encoding="utf-8"))
    assert targets[2026]["meetings_held"] == {"": 36, "jusou_shien_kaigi": 12, "shien_kaigi": 24}
    assert targets[2026]["consultations"][""] == 1200


def test_text_report_names_the_hidden_cells_and_the_missing() -> None:
    facts = [received(f"2026-05-0{i}T10:00:00+09:00", i) for i in range(1, 6)]
    facts.append(received("2026-08-01T10:00:00+09:00", 6, counter="yurikago"))
    text = render_text(merge(2026, program_figures(facts, 2026, "intake"), {"consultations": {"": 10}}, ["community"]))
    assert "相談受付件数 / 地域包括支援センター: Q1 秘匿  Q2 0  Q3 0  Q4 0  年度計 秘匿\n" in text
    assert "相談受付件数 / 合計: Q1 秘匿  Q2 3未満  Q3 0  Q4 0  年度計 6件  目標 10（60.0%）" in text
    assert "not answering: community" in text and "秘匿" in text.splitlines()[-1]


def test_text_report_names_each_program_once() -> None:
    """Every program's indicators under one heading (支援プラン作成件数 comes first in the plan's list for three programs)."""
    answers = [i for service in
               ("intake", "collaboration", "meeting", "outreach", "participation", "community")
               for i in program_figures([], 2026, service)]
    headings = [line for line in render_text(merge(2026, answers, {}, [])).splitlines() if line.startswith("■")]
    assert len(headings) == len(set(headings)) > 3, headings


def test_a_services_store_read_as_facts_once_then_only_what_is_new() -> None:
    """The door's adapter: the stored events through the relay's translate (public) and PRIVATE_FIELDS
    (a sitting's type and day), read again only from where it stopped."""
    from services.meeting.application import MeetingApplication
    from services.meeting.translate import translate
    from shared.web.figures_api import facts_of
    from unit.builders import SECRETARIAT, in_memory

    app = in_memory(MeetingApplication)
    for day in (1, 2, 3):
        app.convene(SECRETARIAT, "jusou_shien_kaigi", date(2026, 10, day), [LEAD_NAME, ELDERLY.ja])
    facts = facts_of(app, translate, "meeting")
    assert [f.name for f in facts] == ["Meeting.Convened"] * 3
    assert facts[0].fields == {"meeting_type": "jusou_shien_kaigi", "held_on": "2026-10-01"}  # codes, no attendees
    app.convene(SECRETARIAT, "jusou_shien_kaigi", date(2026, 10, 4), [ELDERLY.ja])
    again = facts_of(app, translate, "meeting")
    assert len(again) == 4 and again[:3] == facts
    held = rows_of(program_figures(again, 2026, "meeting"), "meetings_held")
    assert held["jusou_shien_kaigi"]["quarters_shown"] == ["0", "0", "4", "0"]
