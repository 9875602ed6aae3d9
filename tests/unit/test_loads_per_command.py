"""Issue 19: how many times a command or a read reads an aggregate's events from the store (one select and one
decode each, a kept aggregate aside): once per aggregate it needs. A count here that rises means a load came back
(the plan and its case loaded twice by a proposal, a sitting loaded twice by its page)."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import date
from typing import Any
from uuid import UUID, uuid4

import pytest
from support.municipality import ELDERLY

from services.collaboration.application import CollaborationApplication
from services.collaboration.domain import CaseNotHeld, StrandWithoutAgency
from services.meeting.application import MeetingApplication
from shared.kernel.app import ServiceApplication
from unit.builders import ATTENDEES, COORDINATOR, ROLES, SECRETARIAT, Upstream, in_memory
from unit.test_meeting import Feeds, decide


@contextmanager
def selects(app: ServiceApplication) -> Iterator[Counter[UUID]]:
    """Each aggregate's events read from the store while the block runs (aggregate id → how many times)."""
    counted: Counter[UUID] = Counter()
    store: Any = app.repository.event_store
    original = store.get

    def get(originator_id: UUID, **kwargs: Any) -> Any:
        counted[originator_id] += 1
        return original(originator_id, **kwargs)

    store.get = get
    try:
        yield counted
    finally:
        del store.get


def escalated(app: CollaborationApplication, intake: Upstream) -> UUID:
    case_id = uuid4()
    app.receive(*intake.emit("CaseEscalated", {"reason": "複合的な課題", "concerns": ["高齢・介護"],
                                               "primary_agency": ELDERLY.ja}, case_id))
    return case_id


@pytest.fixture
def collaboration() -> CollaborationApplication:
    return in_memory(CollaborationApplication)


def test_d4_d11_a_proposal_reads_its_plan_once_and_its_case_once(collaboration: CollaborationApplication) -> None:
    case_id = escalated(collaboration, Upstream("intake"))
    plan_id = collaboration.draft_plan(COORDINATOR, case_id, "方向性", ["目標"], ROLES)

    with selects(collaboration) as counted:
        assert collaboration.propose_plan(COORDINATOR, plan_id) == 1

    assert counted == {plan_id: 1, case_id: 1}  # was 2 and 2: the base's propose_plan and require_case loaded again


def test_d4_d11_a_proposal_refuses_an_unassigned_strand_first_then_a_case_not_held(
        collaboration: CollaborationApplication) -> None:
    """The refusals and their order are as they were: the strands (D4) first, then whether the case is held (D11)."""
    intake, meeting = Upstream("intake"), Upstream("meeting")
    case_id = escalated(collaboration, intake)
    plan_id = collaboration.draft_plan(COORDINATOR, case_id, "方向性", ["目標"], ROLES)
    strand_id = collaboration.add_strand(COORDINATOR, case_id, "高齢・介護", "母の介護", "")
    returned = {"meeting_id": str(uuid4()), "primary_agency": ELDERLY.ja, "reason": "窓口で支援を継続"}
    collaboration.receive(*meeting.emit("CaseReturnedToIntake", returned, case_id))

    with pytest.raises(StrandWithoutAgency):
        collaboration.propose_plan(COORDINATOR, plan_id)

    collaboration.receive(*intake.emit("CaseEscalated", {"reason": "再び複合化", "concerns": ["高齢・介護"],
                                                         "primary_agency": ELDERLY.ja}, case_id))
    collaboration.change_strand(COORDINATOR, case_id, strand_id, "高齢・介護", "母の介護", ELDERLY.ja, "working")
    collaboration.receive(*meeting.emit("CaseReturnedToIntake", returned, case_id))
    with pytest.raises(CaseNotHeld):
        collaboration.propose_plan(COORDINATOR, plan_id)
    assert collaboration.plan_view(plan_id)["status"] == "draft"


def test_d10_a_sittings_page_after_a_decision_reads_the_meeting_once() -> None:
    """The division scope of a sitting (its type and attendees, which never change) is read once; the page reads
    the meeting itself (it was read twice: the scope's row was made again after each decision)."""
    meeting = in_memory(MeetingApplication)
    feeds = Feeds(meeting)
    case_id = uuid4()
    feeds.consent(case_id)
    plan_id = feeds.propose(case_id)
    sitting = meeting.convene(SECRETARIAT, "jusou_shien_kaigi", date(2025, 5, 20), ATTENDEES)
    readers = meeting.meeting_readers(sitting)

    decide(meeting, sitting, plan_id, "revision_requested")
    with selects(meeting) as counted:
        assert meeting.meeting_readers(sitting) == readers
        view = meeting.meeting_view(SECRETARIAT, sitting)

    assert counted == {sitting: 1}
    assert [m["decision"] for m in view["minutes"]] == ["revision_requested"]
    assert meeting.meeting_readers(uuid4()) is None  # no such sitting: the route's 404, nothing kept


def test_d10_a_shien_kaigi_stays_closed_to_a_non_member_after_its_scope_is_kept() -> None:
    meeting = in_memory(MeetingApplication)
    sitting = meeting.convene(SECRETARIAT, "shien_kaigi", date(2025, 5, 20), ATTENDEES[:2])
    assert meeting.meeting_readers(sitting) is None  # D10: the route refuses a non-member itself, saying why
    assert meeting.redact([{"aggregate_id": str(sitting), "event": "Meeting.Decided",
                            "fields": {"reasons": "非公開"}}], "no-such-division")[0]["fields"].get("reasons") is None


def test_d4_a_cases_plans_load_only_that_cases_plans(collaboration: CollaborationApplication) -> None:
    intake = Upstream("intake")
    one, two = escalated(collaboration, intake), escalated(collaboration, intake)
    first = collaboration.draft_plan(COORDINATOR, one, "方向性", ["目標"], ROLES)
    others = [collaboration.draft_plan(COORDINATOR, two, "方向性", ["目標"], ROLES) for _ in range(3)]
    second = collaboration.draft_plan(COORDINATOR, one, "方向性2", ["目標"], ROLES)

    with selects(collaboration) as counted:
        assert [p["plan_id"] for p in collaboration.plans(one)] == [str(first), str(second)]

    assert counted == {first: 1, second: 1}  # was every plan of the program
    assert [p["plan_id"] for p in collaboration.plans(two)] == [str(o) for o in others]
    assert len(collaboration.plans()) == 5


def test_d4_a_revision_answers_the_plan_as_saved_reading_it_once(collaboration: CollaborationApplication) -> None:
    case_id = escalated(collaboration, Upstream("intake"))
    plan_id = collaboration.draft_plan(COORDINATOR, case_id, "方向性", ["目標"], ROLES)

    with selects(collaboration) as counted:
        view = collaboration.revise_plan(COORDINATOR, plan_id, "方向性（修正）", ["目標", "目標2"], ROLES)

    assert counted == {plan_id: 1}  # the route loaded the plan again for its answer
    assert view == collaboration.plan_view(plan_id)
    assert (view["support_direction"], view["goals"]) == ("方向性（修正）", ["目標", "目標2"])
