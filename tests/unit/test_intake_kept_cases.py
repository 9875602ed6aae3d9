"""Issue 19 (seventh pass): intake keeps its cases as it recorded or read them, checked against the store at every use
(shared/domain/kept_reads.py `KeptReads`), as the meeting and collaboration do. A journey's inbox handlers at intake
(a sitting, two decisions, two proposals, the plan's closure) and its reads of the case decoded every event of the
case again each time: about 30 events a journey. Now a case is decoded only when the store holds an event the kept
one has not (another replica's, another process's). Nothing personal is kept: no person, reception texts, household
or sealed note (D9 D10 D17), nor a case closed here with its note; a command is never handed the kept case itself."""

from __future__ import annotations

import contextvars
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import date
from typing import Any
from uuid import UUID, uuid4

from support.decoding import decoded
from support.municipality import ELDERLY, LEAD, LEAD_NAME

from services.intake.application import IntakeApplication, _Actor
from services.intake.domain import Case, Person, Reception
from shared.kernel import decoded_once
from unit.builders import COUNTER_STAFF, PERSON, ROLES, Upstream, in_memory


@contextmanager
def selects(app: IntakeApplication) -> Iterator[Counter[UUID]]:
    """Each aggregate's events read from the store while the block runs (a kept one's check included)."""
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


def escalated_case(app: IntakeApplication, reception: dict[str, str] | None = None) -> UUID:
    case_id = app.receive_consultation(COUNTER_STAFF, ELDERLY.code, ELDERLY.division, "窓口",
                                       ["高齢・介護", "ひきこもり"], dict(PERSON), None, True, reception=reception)
    app.record_consent(COUNTER_STAFF, case_id, "重層的支援会議での情報共有", True, "書面")
    app.escalate_case(COUNTER_STAFF, case_id, "複合", ELDERLY.ja)
    return case_id


def the_journeys_inbox(app: IntakeApplication, case_id: UUID, meeting: Upstream, collaboration: Upstream) -> None:
    """What a bench journey delivers to intake, each event a run of its own (receive_many), as at the bench's load."""
    meeting_id, plan_id = uuid4(), uuid4()
    plan = {"plan_id": str(plan_id), "program": "collaboration", "revision": 1, "support_direction": "方向",
            "goals": ["目標"], "roles": ROLES, "review_on": "2027-03-01"}
    decided = {"meeting_id": str(meeting_id), "meeting_type": "jusou_shien_kaigi", "plan_id": str(plan_id),
               "attendees": [LEAD_NAME], "reasons": "合議", "program": "collaboration"}
    for run in ([collaboration.emit("PlanProposed", plan, case_id)],
                [meeting.emit("MeetingCaseTakenUp", {"meeting_id": str(meeting_id), "meeting_type": "jusou_shien_kaigi",
                                                     "held_on": "2026-11-28",
                                                     "member_divisions": [ELDERLY.division, LEAD]}, case_id)],
                [meeting.emit("MeetingDecided", {**decided, "decision": "revision_requested", "revision": 1}, case_id)],
                [collaboration.emit("PlanProposed", {**plan, "revision": 2, "review_on": "2027-04-01"}, case_id)],
                [meeting.emit("MeetingDecided", {**decided, "decision": "approved", "revision": 2}, case_id),
                 meeting.emit("PlanClosed", {"plan_id": str(plan_id), "meeting_id": str(meeting_id),
                                             "evaluation": {"course": "順調", "outcome": "目標達成"}}, case_id)]):
        assert all(app.receive_many(run))


def test_d9_d10_the_journeys_inbox_and_reads_at_intake_decode_no_case_event_this_process_recorded() -> None:
    intake = in_memory(IntakeApplication)
    case_id = escalated_case(intake)

    with decoded(intake) as counted:
        the_journeys_inbox(intake, case_id, Upstream("meeting"), Upstream("collaboration"))
        view = intake.case_view(case_id)
        again = intake.case_view(case_id)

    assert counted[case_id] == 0, f"the case's events decoded {counted[case_id]} times (every handler replayed it)"
    assert view == again and view["status"] == "plan_closed" and view["review_on"] == "2027-04-01"
    assert [m["decision"] for m in view["meetings"]] == ["revision_requested", "approved"]
    assert view["sittings"][0]["member_divisions"] == sorted([ELDERLY.division, LEAD])


def test_d2_a_case_request_reads_the_kept_case_at_its_scope_check_and_its_command_changes_only_its_own_copy() -> None:
    """The scope check reads the kept case itself (one look at the store); the request's command (consent) is given its
    own copy of it, never the kept one, which stays as recorded until the commit keeps what the command recorded."""
    intake = in_memory(IntakeApplication)
    case_id = intake.receive_consultation(COUNTER_STAFF, ELDERLY.code, ELDERLY.division, "窓口", ["高齢・介護"],
                                          dict(PERSON), None, True)
    kept = intake.read(case_id, Case, "ケース")

    def request() -> None:
        decoded_once.open_slot()
        intake.case_divisions(case_id)
        intake.record_consent(COUNTER_STAFF, case_id, "重層的支援会議での情報共有", True, "書面")

    with decoded(intake) as counted, selects(intake) as looked:
        contextvars.copy_context().run(request)

    assert counted[case_id] == 0
    assert looked[case_id] == 1, "the command looked at the store again after its scope check"
    assert kept.version == 1 and kept.consent is None and not kept.pending_events  # untouched by the command
    assert intake.read(case_id, Case, "ケース").consent["granted"] is True  # the commit's case, kept


def test_d3_d11_a_read_after_a_command_in_the_same_request_shows_what_the_command_recorded() -> None:
    """The answer route reads the case after its command: the kept case the scope check left is not given to that
    read (it would show the connection unanswered)."""
    intake = in_memory(IntakeApplication)
    case_id = intake.receive_consultation(COUNTER_STAFF, ELDERLY.code, ELDERLY.division, "窓口", ["高齢・介護"],
                                          dict(PERSON), None, True)
    intake.connect_case(COUNTER_STAFF, case_id, ELDERLY.ja, "介護の相談")

    def request() -> dict[str, Any]:
        decoded_once.open_slot()
        intake.case_divisions(case_id)
        intake.answer_connection(COUNTER_STAFF, case_id, 0, True, "")
        return intake.case_view(case_id)

    answered = contextvars.copy_context().run(request)

    assert answered["connections"][0]["status"] == "accepted"


def test_d9_d17_nothing_personal_is_kept_nor_a_case_closed_here_with_its_note() -> None:
    intake = in_memory(IntakeApplication)
    case_id = escalated_case(intake, reception={"main_complaint": "母の介護", "summary": "同居の息子が外出しない"})
    person_ref = UUID(intake.case_view(case_id)["person_ref"])
    kept = intake.reads_kept
    assert kept is not None
    for aggregate_id, kind in ((person_ref, Person), (Reception.id_for(case_id), Reception)):
        found = intake.load(aggregate_id, kind, "x")
        assert not intake.keeps_decoded(found)
        assert aggregate_id not in kept.cache  # neither recorded nor read: kept

    closed = intake.receive_consultation(COUNTER_STAFF, ELDERLY.code, ELDERLY.division, "窓口", ["高齢・介護"],
                                         dict(PERSON), None, True)
    assert closed in kept.cache
    intake.close_case(COUNTER_STAFF, closed, "resolved", "本人の家族の事情（個人の話）")
    assert intake.case_view(closed)["status"] == "closed"
    assert intake.persons_in_view(_Actor(ELDERLY.division, ()), [closed], "case")[str(closed)]["closing_note"]
    kept_now = [link[3] for link in kept.cache.values()]  # (the library's LRU links: the value is the fourth)
    assert kept_now and all(isinstance(a, Case) for a in kept_now)
    assert not [a for a in kept_now if a.closing_note], "a case with its closing note was kept"


def test_d10_a_kept_case_follows_what_another_replica_records(tmp_path: Any) -> None:
    """Two replicas on one store: a handler at one, on a case the other recorded since it kept it, decides on the
    case as the store holds it (the sitting the other noted is a basis to read the person at once)."""
    env = {"PERSISTENCE_MODULE": "eventsourcing.sqlite", "SQLITE_DBNAME": str(tmp_path / "intake.sqlite"),
           "JUSOU_READMODELS_FOLLOW": "0"}
    one, other = IntakeApplication(dict(env)), IntakeApplication(dict(env))
    try:
        case_id = escalated_case(one)
        assert other.case_view(case_id)["status"] == "escalated"  # kept by the other
        meeting, meeting_id = Upstream("meeting"), uuid4()
        assert one.receive_many([meeting.emit("MeetingCaseTakenUp", {
            "meeting_id": str(meeting_id), "meeting_type": "shien_kaigi", "held_on": date.today().isoformat(),
            "member_divisions": [LEAD]}, case_id)])

        with decoded(other) as counted:
            view = other.case_view(case_id)
        assert counted[case_id] >= 4, "the other replica served the case it kept, without the sitting"
        assert [s["meeting_id"] for s in view["sittings"]] == [str(meeting_id)]
        assert other.receive_many([meeting.emit("MeetingDecided", {
            "meeting_id": str(meeting_id), "meeting_type": "shien_kaigi", "plan_id": str(uuid4()),
            "decision": "approved", "attendees": [LEAD_NAME], "reasons": "", "program": "collaboration"}, case_id)])
        assert [m["decision"] for m in one.case_view(case_id)["meetings"]] == ["approved"]
        assert one.case_view(case_id)["sittings"] == view["sittings"]
    finally:
        one.close()
        other.close()
