"""Issue 19: a decision, an evaluation or a resumption of the meeting checks the sitting, the plan and the case's consent
it keeps in one statement on SQLite (shared/domain/kept_reads.py `checked_together`, shared/kernel/lean.py `newer_of`),
where it made three (one per use), and collaboration's proposal its plan and case in one, where it made two: each is
still checked against the store before it is used, so what another replica recorded meanwhile (a withdrawn consent,
a decision on the same plan, a case returned to intake) is seen, as before."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date
from pathlib import Path
from typing import Any
from uuid import UUID, uuid4

import pytest
from support.municipality import ELDERLY

from services.collaboration.application import CollaborationApplication
from services.collaboration.domain import CaseNotHeld
from services.meeting.application import MeetingApplication
from services.meeting.domain import ConsentMissing, NotOnAgenda
from shared.kernel import lean
from unit.builders import ATTENDEES, COORDINATOR, ROLES, SECRETARIAT, Upstream
from unit.test_meeting import Feeds, decide, evaluate

LEAN = {"PERSISTENCE_MODULE": "eventsourcing.sqlite", "PROCESS_RECORDER_TOPIC": "shared.kernel.store:LeanSQLiteProcessRecorder",
        "JUSOU_READMODELS_FOLLOW": "0"}


def on_sqlite(path: Path) -> MeetingApplication:
    """The meeting on a SQLite file with the services' recorder (shared/kernel/store.py `store_env`)."""
    return MeetingApplication({"PERSISTENCE_MODULE": "eventsourcing.sqlite", "SQLITE_DBNAME": str(path),
                               "PROCESS_RECORDER_TOPIC": "shared.kernel.store:LeanSQLiteProcessRecorder",
                               "JUSOU_READMODELS_FOLLOW": "0"})


@pytest.fixture
def meeting(tmp_path: Path) -> Iterator[MeetingApplication]:
    app = on_sqlite(tmp_path / "meeting.sqlite")
    yield app
    app.close()


@pytest.fixture
def reads(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Each statement the store's reads run (shared/kernel/lean.py `read_alone`: an aggregate's events, `newer_of`)."""
    statements: list[str] = []
    real = lean.read_alone

    def counted(datastore: Any, statement: str, params: Any, **kwargs: Any) -> list[Any]:
        statements.append(statement)
        return real(datastore, statement, params, **kwargs)

    monkeypatch.setattr(lean, "read_alone", counted)
    return statements


def sitting_with_plan(meeting: MeetingApplication, feeds: Feeds) -> tuple[UUID, UUID, UUID]:
    case_id = uuid4()
    feeds.consent(case_id)
    plan_id = feeds.propose(case_id)
    return case_id, plan_id, meeting.convene(SECRETARIAT, "jusou_shien_kaigi", date(2025, 5, 20), ATTENDEES)


def test_d5_d9_a_decision_checks_its_sitting_plan_and_consent_in_one_statement(
        meeting: MeetingApplication, reads: list[str]) -> None:
    feeds = Feeds(meeting)
    case_id, plan_id, sitting = sitting_with_plan(meeting, feeds)
    reads.clear()

    decide(meeting, sitting, plan_id, "revision_requested")

    assert len(reads) == 1 and reads[0].count("EXISTS") == 3  # was three selects, one per aggregate
    assert meeting.listed(plan_id).status == "revision_requested"
    feeds.propose(case_id, plan_id, revision=2)
    decide(meeting, sitting, plan_id, "approved")
    feeds.request_closure(case_id, plan_id)
    reads.clear()
    evaluate(meeting, sitting, plan_id, "closed")
    assert len(reads) == 1 and meeting.listed(plan_id).status == "closed"


def test_d9_a_consent_another_replica_withdrew_is_seen_by_the_check_together(tmp_path: Path) -> None:
    """The consent, the plan and the sitting are kept by one replica; the other withdraws the consent: the decision
    checked together refuses (D9), and a decision the other recorded on the plan is seen too (D5)."""
    one, other = on_sqlite(tmp_path / "m.sqlite"), on_sqlite(tmp_path / "m.sqlite")
    try:
        feeds = Feeds(one)
        case_id, plan_id, sitting = sitting_with_plan(one, feeds)
        assert one.consent_granted(case_id) and one.listed(plan_id).status == "proposed"  # all three kept by one

        other_feeds = Feeds(other)
        other_feeds.intake = feeds.intake  # (intake's positions go on)
        other_feeds.consent(case_id, granted=False)
        with pytest.raises(ConsentMissing):
            decide(one, sitting, plan_id)

        feeds.consent(case_id)
        decide(other, sitting, plan_id, "revision_requested")
        with pytest.raises(NotOnAgenda):
            decide(one, sitting, plan_id)  # the plan as the other replica left it: decided
        assert [m["decision"] for m in one.meeting_view(SECRETARIAT, sitting)["minutes"]] == ["revision_requested"]
    finally:
        one.close()
        other.close()


def test_a_check_together_serves_one_use_of_each_and_only_the_aggregate_it_checked(
        meeting: MeetingApplication, reads: list[str]) -> None:
    feeds = Feeds(meeting)
    case_id, plan_id, sitting = sitting_with_plan(meeting, feeds)
    decide(meeting, sitting, plan_id, "revision_requested", primary_agency=ELDERLY.ja)
    reads.clear()

    with meeting.checked_together(sitting, plan_id, case_id):
        assert len(reads) == 1
        meeting.listed(plan_id)
        meeting.consent_of(case_id)
        assert len(reads) == 1  # served by the check together
        meeting.listed(plan_id)
        assert len(reads) == 2  # a second use: checked again
        assert meeting.reads_kept is not None
        fresh = meeting.repository.get(sitting)
        meeting.reads_kept.put(sitting, fresh)  # what is kept replaced (as by another thread's commit)
        before = len(reads)
        meeting._meeting(sitting)
        assert len(reads) == before + 1  # not what was checked: checked again
    meeting.consent_of(case_id)
    assert len(reads) == before + 2  # after the block: each use checks, as before

    with meeting.checked_together(sitting, plan_id, case_id):
        pass
    before = len(reads)
    meeting.listed(plan_id)
    assert len(reads) == before + 1  # what a block checked and never used is not used after it


def test_a_check_together_of_one_kept_aggregate_is_its_own_select(meeting: MeetingApplication,
                                                                    reads: list[str]) -> None:
    feeds = Feeds(meeting)
    _, plan_id, _ = sitting_with_plan(meeting, feeds)
    reads.clear()
    with meeting.checked_together(plan_id, uuid4(), None):
        assert reads == []
        meeting.listed(plan_id)
    assert len(reads) == 1 and "EXISTS" not in reads[0]


def test_d4_d11_a_proposal_checks_its_plan_and_case_in_one_statement_and_sees_a_return_recorded_elsewhere(
        tmp_path: Path, reads: list[str]) -> None:
    env = {**LEAN, "SQLITE_DBNAME": str(tmp_path / "collaboration.sqlite")}
    one, other = CollaborationApplication(dict(env)), CollaborationApplication(dict(env))
    try:
        intake, meeting = Upstream("intake"), Upstream("meeting")
        case_id = uuid4()
        assert one.receive(*intake.emit("CaseEscalated", {"reason": "複合的な課題", "concerns": ["高齢・介護"],
                                                          "primary_agency": ELDERLY.ja}, case_id))
        plan_id = one.draft_plan(COORDINATOR, case_id, "方向性", ["目標"], ROLES)
        reads.clear()
        assert one.propose_plan(COORDINATOR, plan_id) == 1
        assert len(reads) == 1 and reads[0].count("EXISTS") == 2  # was two selects: the plan's, the case's

        returned = {"meeting_id": str(uuid4()), "primary_agency": ELDERLY.ja, "reason": "窓口で支援を継続"}
        assert other.receive(*meeting.emit("CaseReturnedToIntake", returned, case_id))  # the case, elsewhere
        with pytest.raises(CaseNotHeld):
            one.propose_plan(COORDINATOR, plan_id)  # D11: seen, though `one` kept the case as it was before
    finally:
        one.close()
        other.close()
