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
from support.decoding import decoded
from support.municipality import ELDERLY

from services.collaboration.application import CollaborationApplication
from services.collaboration.domain import CaseNotHeld, StrandWithoutAgency
from services.meeting.application import MeetingApplication
from shared.kernel.app import ServiceApplication
from shared.web.auth import Principal
from unit.builders import ATTENDEES, COORDINATOR, ROLES, SECRETARIAT, Upstream, in_memory
from unit.test_hd_d4_one_open_plan import closed_by_the_meeting
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


def consented_sitting(meeting: MeetingApplication) -> tuple[Feeds, UUID, UUID, UUID]:
    """A case whose person consented, its plan proposed, and a 重層的支援会議 convened: (feeds, case, plan, sitting)."""
    feeds = Feeds(meeting)
    case_id = uuid4()
    feeds.consent(case_id)
    plan_id = feeds.propose(case_id)
    return feeds, case_id, plan_id, meeting.convene(SECRETARIAT, "jusou_shien_kaigi", date(2025, 5, 20), ATTENDEES)


def test_d10_a_sittings_page_after_a_decision_reads_the_meeting_once() -> None:
    """The division scope of a sitting (its type and attendees, which never change) is read once; the page reads
    the meeting itself (it was read twice: the scope's row was made again after each decision)."""
    meeting = in_memory(MeetingApplication)
    _, _, plan_id, sitting = consented_sitting(meeting)
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
    meeting = Upstream("meeting")
    closed_by_the_meeting(collaboration, one, first, meeting)  # D4: a case's next plan comes once the one before has ended
    others = []
    for _ in range(3):
        others.append(collaboration.draft_plan(COORDINATOR, two, "方向性", ["目標"], ROLES))
        closed_by_the_meeting(collaboration, two, others[-1], meeting)
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


# -- issue 19, second pass: reads served from aggregates kept for reads (shared/domain/kept_reads.py), the sitting's
# scope known from its convening, the consent read only where D9 asks it ------------------------------------------




def test_d10_a_convened_sittings_scope_reads_nothing_from_the_store() -> None:
    """The secretariat convenes, then opens the sitting: its division scope (type and attendees, the `Convened`
    event's) is known from the convening; the page reads the meeting once."""
    meeting = in_memory(MeetingApplication)
    sitting = meeting.convene(SECRETARIAT, "jusou_shien_kaigi", date(2025, 5, 20), ATTENDEES)

    with selects(meeting) as counted:
        readers = meeting.meeting_readers(sitting)
    assert counted == {}  # was {sitting: 1}
    meeting._sittings.clear()
    assert readers is not None and readers == meeting.meeting_readers(sitting)  # what the meeting itself says

    shien = meeting.convene(SECRETARIAT, "shien_kaigi", date(2025, 5, 21), ATTENDEES[:2])
    with selects(meeting) as counted:
        assert meeting.meeting_readers(shien) is None  # D10: the 支援会議 refuses a non-member at its page, as before
    assert counted == {}


@pytest.mark.parametrize("decision", ["revision_requested", "returned_to_intake"])
def test_d9_d10_a_shien_kaigi_decision_reads_no_consent(decision: str) -> None:
    """D9 asks for the consent at the 重層的支援会議 only: a 支援会議's decision reads the sitting and the plan, not the
    consent (the same decision without any consent heard is recorded, as before)."""
    meeting = in_memory(MeetingApplication)
    feeds = Feeds(meeting)
    case_id = uuid4()
    plan_id = feeds.propose(case_id)  # no consent heard
    sitting = meeting.convene(SECRETARIAT, "shien_kaigi", date(2025, 5, 20), ATTENDEES)

    with selects(meeting) as counted:
        decide(meeting, sitting, plan_id, decision, primary_agency=ELDERLY.ja)

    assert counted == {sitting: 1, plan_id: 1}  # was also {case_id: 1}: the consent
    assert meeting.listed(plan_id).status == {"revision_requested": "revision_requested",
                                              "returned_to_intake": "returned"}[decision]


def test_d9_a_jusou_decision_still_reads_the_consent_and_refuses_without_it() -> None:
    from services.meeting.domain import ConsentMissing

    meeting = in_memory(MeetingApplication)
    feeds = Feeds(meeting)
    case_id = uuid4()
    plan_id = feeds.propose(case_id)
    sitting = meeting.convene(SECRETARIAT, "jusou_shien_kaigi", date(2025, 5, 20), ATTENDEES)
    with pytest.raises(ConsentMissing, match="本人同意がないため重層的支援会議では扱えません"):
        decide(meeting, sitting, plan_id)
    assert meeting.meeting_view(SECRETARIAT, sitting)["cases"] == []  # the refused command's copy: nothing kept of it
    assert meeting.listed(plan_id).status == "proposed"
    feeds.consent(case_id)

    with selects(meeting) as counted:
        decide(meeting, sitting, plan_id)
    assert counted == {sitting: 1, plan_id: 1, case_id: 1}


def test_d7_d9_the_suspended_list_reads_each_consent_once() -> None:
    from unit.test_meeting import evaluate

    meeting = in_memory(MeetingApplication)
    feeds, case_id, plan_id, sitting = consented_sitting(meeting)
    decide(meeting, sitting, plan_id)
    feeds.request_closure(case_id, plan_id)
    evaluate(meeting, sitting, plan_id, "suspended", reason="本人の入院")

    with selects(meeting) as counted:
        [row] = meeting.suspended()
    assert counted[case_id] == 1  # was 2: consent_of, then consent_view
    assert (row["consent"]["granted"], row["consent"]["heard"], row["consent_again"]) == (True, True, False)
    feeds.consent(case_id)
    assert meeting.suspended()[0]["consent_again"] is True


def test_d5_d9_the_polled_reads_decode_only_what_is_new(collaboration: CollaborationApplication) -> None:
    """A journey polls the agenda item, the consent, the sitting, the plan and the case until they change: a read
    decodes nothing when the store holds nothing newer than what this process kept (what it last recorded or read),
    one select to see that; a command (the proposal below) is given its own copy of the kept aggregate."""
    meeting = in_memory(MeetingApplication)
    feeds, case_id, plan_id, sitting = consented_sitting(meeting)
    first = (meeting.listed(plan_id).view(), meeting.consent_view(case_id), meeting.meeting_view(SECRETARIAT, sitting))

    with decoded(meeting) as counted:
        again = (meeting.listed(plan_id).view(), meeting.consent_view(case_id),
                 meeting.meeting_view(SECRETARIAT, sitting))
    assert counted == {} and again == first  # every event was decoded again at every read

    decide(meeting, sitting, plan_id, "revision_requested")
    with decoded(meeting) as counted:
        assert meeting.listed(plan_id).view()["status"] == "revision_requested"
        assert [m["decision"] for m in meeting.meeting_view(SECRETARIAT, sitting)["minutes"]] == ["revision_requested"]
    assert counted == {}  # the decision's plan and sitting, kept as it recorded them

    feeds.propose(case_id, plan_id, revision=2)  # an inbox handler's commit: kept as recorded too
    with decoded(meeting) as counted:
        assert meeting.listed(plan_id).view()["revision"] == 2
    assert counted == {}

    c_case = escalated(collaboration, Upstream("intake"))
    c_plan = collaboration.draft_plan(COORDINATOR, c_case, "方向性", ["目標"], ROLES)
    views = (collaboration.plan_view(c_plan), collaboration.case_view(c_case))
    with decoded(collaboration) as counted:
        assert (collaboration.plan_view(c_plan), collaboration.case_view(c_case)) == views
        assert collaboration.propose_plan(COORDINATOR, c_plan) == 1  # the command: its own copy of the kept plan
    assert counted == {}  # the plan and the case as the draft and the escalation recorded them: nothing decoded
    assert collaboration.plan_view(c_plan)["status"] == "proposed"


def test_d5_a_kept_read_follows_what_another_replica_records(tmp_path: Any) -> None:
    """Two replicas on one store: what one reads (kept) shows at once what the other records since."""
    env = {"PERSISTENCE_MODULE": "eventsourcing.sqlite", "SQLITE_DBNAME": str(tmp_path / "meeting.sqlite"),
           "JUSOU_READMODELS_FOLLOW": "0"}
    one, other = MeetingApplication(dict(env)), MeetingApplication(dict(env))
    try:
        feeds, case_id = Feeds(one), uuid4()
        feeds.consent(case_id, granted=False)
        plan_id = feeds.propose(case_id)
        sitting = one.convene(SECRETARIAT, "jusou_shien_kaigi", date(2025, 5, 20), ATTENDEES)
        assert other.listed(plan_id).status == "proposed" and other.consent_view(case_id)["granted"] is False
        assert other.meeting_view(SECRETARIAT, sitting)["minutes"] == []

        feeds.consent(case_id)
        decide(one, sitting, plan_id, "revision_requested")

        with decoded(other) as counted:
            assert other.consent_view(case_id)["granted"] is True
            assert other.listed(plan_id).status == "revision_requested"
            assert [m["decision"] for m in other.meeting_view(SECRETARIAT, sitting)["minutes"]] == ["revision_requested"]
        assert counted[plan_id] >= 2 and counted[sitting] >= 3 and counted[case_id] >= 2  # seen changed: decoded afresh
        feeds.propose(case_id, plan_id, revision=2)
        decide(other, sitting, plan_id, "approved")  # the other replica decides on what the first recorded
        assert one.listed(plan_id).view()["status"] == "approved"
    finally:
        one.close()
        other.close()


def test_d4_d8_collaborations_commands_answer_what_they_saved_reading_nothing_again(
        collaboration: CollaborationApplication) -> None:
    """The strand and council routes answer with the aggregate as the command saved it: each command reads what it
    changes once, and the route reads nothing again (they read the case, the gap or the sitting a second time)."""
    from services.collaboration import api

    case_id = escalated(collaboration, Upstream("intake"))
    with selects(collaboration) as counted:
        added = api.add_strand(case_id, api.StrandIn(concern="高齢・介護", description="母の介護"), collaboration,
                               COORDINATOR)
    assert counted == {case_id: 1}
    strand_id = UUID(added["strand_id"])
    assert added == collaboration.strand_view(case_id, strand_id)

    with selects(collaboration) as counted:
        changed = api.change_strand(case_id, strand_id, api.StrandIn(concern="高齢・介護", description="母の介護",
                                                                     agency=ELDERLY.ja, status="working"),
                                    collaboration, COORDINATOR)
    assert counted == {case_id: 1}
    assert changed == collaboration.strand_view(case_id, strand_id) and changed["status"] == "working"

    with selects(collaboration) as counted:
        gap = api.refer_gap(api.GapIn(need="居場所", area="東部", description="日中に通える場所がない"), collaboration,
                            COORDINATOR)
        sitting = api.hold_sitting(api.SittingIn(held_on=date.today().isoformat(), attendees=[ELDERLY.ja]),
                                   collaboration, COORDINATOR)
    assert counted == {}  # two new aggregates: nothing to read
    gap_id, sitting_id = UUID(gap["gap_id"]), UUID(sitting["sitting_id"])
    assert (gap, sitting) == (collaboration.gap_view(gap_id), collaboration.sitting_view(sitting_id))

    # the answer as the coordinator reads it (1ebc023: a gap's case_id by the reader's division scope)
    coordinator = Principal(COORDINATOR["staff_id"], COORDINATOR["division"], frozenset({"coordinator"}))
    with selects(collaboration) as counted:
        on_agenda = api.take_up_gap(sitting_id, api.AgendaIn(gap_id=gap_id), collaboration, COORDINATOR)
        decided = api.decide_gap(sitting_id, gap_id, api.CouncilDecisionIn(decision="initiative", summary="居場所づくり"),
                                 collaboration, COORDINATOR, coordinator)
    assert counted == {sitting_id: 2, gap_id: 2}  # each command loads both once (the routes read one again)
    assert on_agenda["agenda"] == [str(gap_id)] and decided == collaboration.gap_view(gap_id)
    assert decided["status"] == "initiative"


def test_d5_a_commit_the_store_refuses_leaves_nothing_kept_for_the_reads() -> None:
    """Two commands on the same plan at once: the store refuses the second (optimistic concurrency); the reads show
    the first's outcome, never the refused one's."""
    meeting = in_memory(MeetingApplication)
    feeds = Feeds(meeting)
    case_id = uuid4()
    plan_id = feeds.propose(case_id)
    first, second = meeting.review(plan_id), meeting.review(plan_id)
    from shared.kernel.journey import acting

    with acting(SECRETARIAT):
        first.settle("approved")
        second.settle("returned")
    meeting.save(first)
    with pytest.raises(Exception, match="already recorded"):  # (the library's IntegrityError)
        meeting.save(second)

    assert meeting.listed(plan_id).status == "approved"
    assert meeting.agenda() == []  # settled: off the agenda
