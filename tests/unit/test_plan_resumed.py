"""中断 → 再開 (D7 D9 D10): a suspended plan resumes by its own act at the 重層的支援会議, once the person's
consent to share there was given again after the suspension; its owner's plan is in force again."""

from __future__ import annotations

from uuid import UUID, uuid4

import pytest
from support.held import escalate
from support.municipality import ELDERLY

from services.collaboration.application import CollaborationApplication
from services.collaboration.domain import CollaborationCase
from services.collaboration.translate import translate as owner_translate
from services.meeting.application import MeetingApplication
from services.meeting.domain import ConsentMissing, NotForShienKaigi, NotOnAgenda
from services.meeting.translate import translate
from shared.kernel.journey import Invalid, acting
from unit.builders import COORDINATOR, SECRETARIAT, deliver, in_memory, only, published, stored_count
from unit.test_meeting import AGREE, GOAL, Feeds, awaiting_evaluation, convene, evaluate


@pytest.fixture
def meeting() -> MeetingApplication:
    return in_memory(MeetingApplication)


@pytest.fixture
def feeds(meeting: MeetingApplication) -> Feeds:
    return Feeds(meeting)


def suspended(meeting: MeetingApplication, feeds: Feeds) -> tuple[UUID, UUID, UUID]:
    case_id, plan_id, sitting = awaiting_evaluation(meeting, feeds)
    evaluate(meeting, sitting, plan_id, "suspended", reason="本人が同意を撤回")
    return case_id, plan_id, sitting


def test_d7_d9_a_suspended_plan_resumes_once_consent_is_given_again(meeting: MeetingApplication, feeds: Feeds) -> None:
    case_id, plan_id, sitting = suspended(meeting, feeds)
    feeds.consent(case_id)  # given again, after the suspension

    meeting.resume(SECRETARIAT, sitting, plan_id, "本人が再び同意し、転居先での支援を希望")

    resumed = only(published(meeting, translate, "PlanResumed"))
    assert (resumed.case_id, resumed.payload["plan_id"], resumed.payload["meeting_type"]) == (
        case_id, str(plan_id), "jusou_shien_kaigi")
    assert meeting.review(plan_id).status == "resumed"
    assert [m["kind"] for m in meeting.minutes(sitting)][-1] == "resumption"


def test_d9_a_plan_does_not_resume_on_the_consent_held_before_its_suspension(meeting: MeetingApplication,
                                                                             feeds: Feeds) -> None:
    _, plan_id, sitting = suspended(meeting, feeds)  # the consent heard before the suspension still covers it
    before = stored_count(meeting)

    with pytest.raises(ConsentMissing) as refused:
        meeting.resume(SECRETARIAT, sitting, plan_id, "再開")

    assert refused.value.status == 409 and "中断の後に本人同意" in str(refused.value)
    assert stored_count(meeting) == before
    assert [row["consent_again"] for row in meeting.suspended()] == [False]


def test_d9_a_plan_does_not_resume_when_consent_given_again_is_a_withdrawal(meeting: MeetingApplication,
                                                                           feeds: Feeds) -> None:
    case_id, plan_id, sitting = suspended(meeting, feeds)
    feeds.consent(case_id, granted=False)

    with pytest.raises(ConsentMissing):
        meeting.resume(SECRETARIAT, sitting, plan_id, "再開")


def test_d10_the_shien_kaigi_does_not_resume_a_plan(meeting: MeetingApplication, feeds: Feeds) -> None:
    case_id, plan_id, _ = suspended(meeting, feeds)
    feeds.consent(case_id)

    with pytest.raises(NotForShienKaigi):
        meeting.resume(SECRETARIAT, convene(meeting, "shien_kaigi"), plan_id, "再開")


def test_d7_only_a_suspended_plan_resumes(meeting: MeetingApplication, feeds: Feeds) -> None:
    _, plan_id, sitting = awaiting_evaluation(meeting, feeds)

    with pytest.raises(NotOnAgenda):
        meeting.resume(SECRETARIAT, sitting, plan_id, "再開")


def test_d7_a_resumption_says_why(meeting: MeetingApplication, feeds: Feeds) -> None:
    case_id, plan_id, sitting = suspended(meeting, feeds)
    feeds.consent(case_id)

    with pytest.raises(Invalid):
        meeting.resume(SECRETARIAT, sitting, plan_id, "  ")


def test_d7_the_owners_plan_is_in_force_again_after_plan_resumed(meeting: MeetingApplication, feeds: Feeds) -> None:
    """Everyone who follows the plan sees it active again: its owner reads PlanResumed off the bus."""
    owner = in_memory(CollaborationApplication)
    case_id = uuid4()
    with acting(COORDINATOR):
        owner.save(CollaborationCase(case_id=case_id, reason="8050", concerns=[], primary_agency=ELDERLY.ja))
    feeds.consent(case_id)
    escalate(meeting, case_id, feeds.intake)  # (the meeting hears the escalation that opened the owner's case, D4)
    plan_id = owner.draft_plan(COORDINATOR, case_id, "世帯の孤立を防ぐ", [GOAL],
                               [{"agency": ELDERLY.ja, "responsibility": "母の介護"}])
    owner.propose_plan(COORDINATOR, plan_id)
    seen = Seen(owner, meeting)
    seen.to_meeting("PlanProposed")
    sitting = convene(meeting)
    meeting.decide(SECRETARIAT, sitting, plan_id, "approved", "合議", AGREE, [], None)
    seen.to_owner("MeetingDecided")
    owner.request_plan_closure(COORDINATOR, plan_id, "本人が同意を撤回")
    seen.to_meeting("PlanClosureRequested")
    evaluate(meeting, sitting, plan_id, "suspended", reason="本人が同意を撤回")
    seen.to_owner("PlanSuspended")
    assert owner.plan_view(plan_id)["status"] == "suspended"
    feeds.consent(case_id)

    meeting.resume(SECRETARIAT, sitting, plan_id, "同意を得た")
    seen.to_owner("PlanResumed")

    assert owner.plan_view(plan_id)["status"] == "resumed"
    owner.request_plan_closure(COORDINATOR, plan_id, "再開後の経過")  # in force: it may be brought to closure again


class Seen:
    """Carries each newly published event of one side to the other, through the wire format."""

    def __init__(self, owner: CollaborationApplication, meeting: MeetingApplication) -> None:
        self.owner, self.meeting = owner, meeting

    def to_meeting(self, event_type: str) -> None:
        assert deliver(published(self.owner, owner_translate, event_type)[-1], self.meeting)

    def to_owner(self, event_type: str) -> None:
        assert deliver(published(self.meeting, translate, event_type)[-1], self.owner)
