"""The meeting's page queries (issue 14: the pages read the application, never the store) and its
command models as the pages' forms use them: the list of sittings, the agenda with consent, the
minutes with who and when; the lists kept in memory follow every change the store records, also a
change another replica made."""

from __future__ import annotations

from datetime import date, datetime
from pathlib import Path
from uuid import uuid4

import pytest

from services.meeting.api import EvaluationIn, GapIn, MeetingIn
from services.meeting.application import MeetingApplication
from shared.kernel.journey import Invalid
from shared.web.limits import form_model
from unit.builders import ATTENDEES, SECRETARIAT, in_memory
from unit.test_meeting import AGREE, Feeds, decide


@pytest.fixture
def meeting() -> MeetingApplication:
    return in_memory(MeetingApplication)


def test_d5_the_list_of_meetings_newest_first_counts_each_sittings_decisions(meeting: MeetingApplication) -> None:
    feeds = Feeds(meeting)
    earlier = meeting.convene(SECRETARIAT, "jusou_shien_kaigi", date(2025, 5, 20), ATTENDEES)
    later = meeting.convene(SECRETARIAT, "shien_kaigi", date(2025, 6, 3), ATTENDEES[:2])
    assert [(r.meeting_id, r.decisions) for r in meeting.meetings()] == [(str(later), 0), (str(earlier), 0)]

    case_id = uuid4()
    feeds.consent(case_id)
    decide(meeting, earlier, feeds.propose(case_id))  # after the list was read: its row is made again

    [shown_later, shown_earlier] = meeting.meetings()
    assert (shown_earlier.meeting_id, shown_earlier.decisions, shown_earlier.evaluations) == (str(earlier), 1, 0)
    assert (shown_later.meeting_type, shown_later.held_on, shown_later.attendees) == (
        "shien_kaigi", "2025-06-03", tuple(ATTENDEES[:2]))


def test_d5_d9_the_agenda_follows_plans_listed_and_settled_and_the_consent_heard(meeting: MeetingApplication) -> None:
    feeds = Feeds(meeting)
    case_id = uuid4()
    plan_id = feeds.propose(case_id)
    [item] = meeting.agenda_with_consent()
    assert (item["plan_id"], item["status"], item["consent"]["granted"]) == (str(plan_id), "proposed", False)

    feeds.consent(case_id)  # heard after the agenda was read
    [item] = meeting.agenda_with_consent()
    assert item["consent"]["granted"] is True

    decide(meeting, meeting.convene(SECRETARIAT, "jusou_shien_kaigi", date(2025, 5, 20), ATTENDEES), plan_id)
    assert meeting.agenda() == []  # decided: off the agenda


def test_d5_d8_minutes_say_what_was_recorded_by_whom_and_when(meeting: MeetingApplication) -> None:
    feeds = Feeds(meeting)
    case_id = uuid4()
    feeds.consent(case_id)
    sitting = meeting.convene(SECRETARIAT, "jusou_shien_kaigi", date(2025, 5, 20), ATTENDEES)
    plan_id = feeds.propose(case_id)
    decide(meeting, sitting, plan_id)
    meeting.identify_gap(SECRETARIAT, sitting, case_id, "居場所", "東部", "日中に通える場所がない")

    decision, gap = meeting.minutes(sitting)
    assert (decision["kind"], decision["plan_id"], decision["positions"], decision["who"]) == (
        "decision", str(plan_id), AGREE, SECRETARIAT["staff_id"])
    assert (gap["kind"], gap["case_id"], gap["need"], gap["area"]) == ("resource_gap", str(case_id), "居場所", "東部")
    assert isinstance(gap["at"], datetime) and gap["at"].tzinfo is not None and gap["at"] >= decision["at"]


def test_the_lists_follow_what_another_replica_records(tmp_path: Path) -> None:
    env = {"PERSISTENCE_MODULE": "eventsourcing.sqlite", "SQLITE_DBNAME": str(tmp_path / "meeting.sqlite"),
           "JUSOU_READMODELS_FOLLOW": "0"}
    one, other = MeetingApplication(dict(env)), MeetingApplication(dict(env))
    try:
        feeds, case_id = Feeds(one), uuid4()
        feeds.consent(case_id)
        plan_id = feeds.propose(case_id)
        sitting = one.convene(SECRETARIAT, "jusou_shien_kaigi", date(2025, 5, 20), ATTENDEES)
        assert [(r.meeting_id, r.decisions) for r in other.meetings()] == [(str(sitting), 0)]
        assert [i["plan_id"] for i in other.agenda()] == [str(plan_id)]

        decide(one, sitting, plan_id)
        one.convene(SECRETARIAT, "shien_kaigi", date(2025, 7, 1), ATTENDEES)

        assert [(r.held_on, r.decisions) for r in other.meetings()] == [("2025-07-01", 0), ("2025-05-20", 1)]
        assert other.agenda() == []
        assert [m["kind"] for m in other.minutes(sitting)] == ["decision"]
    finally:
        one.close()
        other.close()


def test_d5_a_meeting_form_without_attendees_is_refused_in_the_pages_words() -> None:
    with pytest.raises(Invalid, match="出席機関を1つ以上選んでください"):
        form_model(MeetingIn, {"meeting_type": "shien_kaigi", "held_on": date.today().isoformat()})


def test_d7_an_unrated_goal_is_named() -> None:
    goals = [{"goal": "会える関係をつくる", "result": "achieved"}, {"goal": "居場所に通う", "result": ""}]
    with pytest.raises(Invalid, match="目標ごとに達成度を選んでください: 居場所に通う"):
        form_model(EvaluationIn, {"plan_id": str(uuid4()), "outcome": "closed", "course": "c", "result": "r",
                                  "goal_results": goals})


def test_d8_a_gap_form_with_empty_fields_names_them() -> None:
    with pytest.raises(Invalid, match="すべて入力してください（未入力: 地域、内容）"):
        form_model(GapIn, {"case_id": str(uuid4()), "need": "居場所"})
