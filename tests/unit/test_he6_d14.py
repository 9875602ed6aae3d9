"""D14 (the trend per period) and the city's figures (issue 16): what a sitting decided counts on the day it sat.

A 重層的支援会議 sits on 3月31日, the last day of the fiscal year, and its secretariat records the decisions the next
morning (4月1日). The sitting (会議開催回数) and the cases it took up (会議で扱った事例数) count on its 開催日, in the year
that ends; its approvals (プラン承認件数) counted on the day they were typed in, in the next year: one sitting split across
two years' reports, and the year that ends short of what its meetings did. The meeting's real store is read as the
figures door reads it (shared/web/figures_api.py facts_of); only the moment of recording is moved to the next morning."""

from __future__ import annotations

import dataclasses
from datetime import date, datetime
from uuid import UUID, uuid4

from support.held import escalate

from services.meeting.application import MeetingApplication
from services.meeting.translate import translate
from shared.domain.figures import Fact, program_figures
from shared.web.figures_api import facts_of
from unit.builders import ATTENDEES, SECRETARIAT, Upstream, consent_recorded, in_memory, plan_proposed

LAST_DAY = date(2027, 3, 31)  # 令和8年度 (2026) ends
NEXT_MORNING = datetime.fromisoformat("2027-04-01T09:30:00+09:00")  # 令和9年度 (2027) begins


def sitting_with_three_approvals(meeting: MeetingApplication) -> list[UUID]:
    intake, collaboration = Upstream("intake"), Upstream("collaboration")
    sitting = meeting.convene(SECRETARIAT, "jusou_shien_kaigi", LAST_DAY, ATTENDEES)
    cases = []
    for _ in range(3):
        case_id, plan_id = uuid4(), uuid4()
        assert meeting.receive(*intake.emit("ConsentRecorded", consent_recorded(True), case_id))
        escalate(meeting, case_id, intake)
        assert meeting.receive(*collaboration.emit("PlanProposed", plan_proposed(plan_id), case_id))
        meeting.decide(SECRETARIAT, sitting, plan_id, "approved", "合議", [], [], None, all_agree=True)
        cases.append(case_id)
    return cases


def recorded_next_morning(fact: Fact) -> Fact:
    """The sitting's records typed in on 4月1日 (its 開催日 stays 3月31日)."""
    return dataclasses.replace(fact, recorded_at=NEXT_MORNING) if fact.name.startswith("Meeting.") else fact


def year(answer: list[dict], code: str, key: str) -> int | None:
    """The year's count of one row (0 when the indicator has no such row: nothing counted)."""
    indicator = next(i for i in answer if i["code"] == code)
    return next((r["year"] for r in indicator["rows"] if r["key"] == key), 0)


def test_d14_a_sittings_approvals_count_in_the_fiscal_year_it_sat_not_the_one_they_were_recorded_in() -> None:
    meeting = in_memory(MeetingApplication)
    sitting_with_three_approvals(meeting)
    facts = [recorded_next_morning(f) for f in facts_of(meeting, translate, "meeting")]

    ending, beginning = program_figures(facts, 2026, "meeting"), program_figures(facts, 2027, "meeting")

    assert year(ending, "cases_discussed", "jusou_shien_kaigi") == 3  # the cases it took up: on its 開催日
    assert year(ending, "plans_approved", "collaboration") == 3  # what it decided there: the same day
    assert year(beginning, "plans_approved", "collaboration") == 0
    assert year(beginning, "cases_discussed", "jusou_shien_kaigi") == 0


def test_d14_a_sittings_approvals_count_in_the_quarter_it_sat() -> None:
    meeting = in_memory(MeetingApplication)
    sitting_with_three_approvals(meeting)
    facts = [recorded_next_morning(f) for f in facts_of(meeting, translate, "meeting")]

    approved = next(i for i in program_figures(facts, 2026, "meeting") if i["code"] == "plans_approved")

    assert next(r for r in approved["rows"] if r["key"] == "collaboration")["quarters"] == [0, 0, 0, 3]  # 1〜3月
