"""D3 D11 D12: outreach hands back to a counter the person of a case intake already holds (HB's review, HE).

A legitimate road: intake escalates the case, the meeting connects it to outreach (connect_to), outreach hands the
person on to intake (OutreachHandedOver, to_program=intake, a counter). Receiving that referral made a second case with
the same id: the store refused it (409 「同時に別の更新がありました」 for ever) and the referral stayed waiting. Now the
counter takes the case it holds up again: the referral leaves the waiting list, the receiving counter is the case's
primary (D11, on the bus too: ConsultationReceived, as a referral of a new case), and it closes the case where it is
(D3: 対応終了) once the plan the case was escalated under has ended (D7: the meeting ends it;
tests/unit/test_hd_d7_closing_a_taken_up_case.py); no second case. A person other than the case's own is refused with 409, naming the case's person_ref."""

from __future__ import annotations

from uuid import UUID

import pytest
from support.municipality import ELDERLY, HARDSHIP, concern

from services.intake.application import HeldCaseOfAnotherPerson, IntakeApplication
from services.intake.translate import translate
from shared.domain.primary import primary_after
from shared.kernel.journey import DomainError
from unit.builders import COUNTER_STAFF, PERSON, Upstream, in_memory, published
from unit.test_hd_d7_closing_a_taken_up_case import plan_event

ACTOR = {**COUNTER_STAFF, "division": ELDERLY.division}


@pytest.fixture
def intake() -> IntakeApplication:
    return in_memory(IntakeApplication)


def escalated_then_handed_back(app: IntakeApplication, primary: str = HARDSHIP.ja) -> UUID:
    """Received at the elderly counter, escalated with `primary`, connected to outreach by the meeting, handed back."""
    case_id = app.receive_consultation(ACTOR, ELDERLY.code, ELDERLY.division, "窓口", [concern("elderly-care"), concern("hikikomori")],
                                       dict(PERSON), None, confirm_new_person=True,
                                       reception={"main_complaint": "母の介護", "summary": "息子がひきこもり"})
    app.escalate_case(ACTOR, case_id, "介護とひきこもりが重なる", primary)
    app.receive(*Upstream("outreach").emit("OutreachHandedOver", {
        "to_program": "intake", "reason": "本人が窓口に来られるようになった", "counter": ELDERLY.code}, case_id))
    return case_id


def take_up(app: IntakeApplication, case_id: UUID, person: dict[str, str] | None = None,
            person_ref: str | None = None, **reception: str) -> UUID:
    return app.receive_consultation(ACTOR, ELDERLY.code, ELDERLY.division, "窓口", [concern("employment")], person, person_ref,
                                    referral=case_id, reception=reception)


def test_d3_a_referral_of_a_case_intake_holds_takes_it_up_again_and_the_counter_closes_it(
        intake: IntakeApplication) -> None:
    case_id = escalated_then_handed_back(intake)
    waiting = [r for r in intake.referrals() if r["case_id"] == str(case_id)]
    assert waiting and waiting[0]["person_ref"] == intake.case_view(case_id)["person_ref"], waiting

    assert take_up(intake, case_id) == case_id  # the same case, no second one

    assert intake.referrals() == []
    case = intake.case_view(case_id)
    assert (case["status"], case["primary"]) == ("open", ELDERLY.ja), case
    assert case["concerns"] == [concern("elderly-care"), concern("hikikomori"), concern("employment")]
    assert case["taken_up"] == [{"counter": ELDERLY.code, "division": ELDERLY.division, "status_before": "escalated"}]
    assert len(intake.cases()) == 1
    with pytest.raises(DomainError, match="既に受け付けています") as again:  # received once: the same refusal as before
        take_up(intake, case_id)
    assert again.value.status == 409
    intake.receive(*Upstream("meeting").emit("PlanClosed", plan_event("PlanClosed"), case_id))  # D7: the meeting's
    intake.close_case(ACTOR, case_id, "resolved", "就労支援につながった")
    assert intake.case_view(case_id)["status"] == "closed"


def test_d11_the_counter_taking_a_held_case_up_again_is_its_primary_on_the_bus(intake: IntakeApplication) -> None:
    case_id = escalated_then_handed_back(intake, primary=HARDSHIP.ja)
    take_up(intake, case_id, person_ref=intake.case_view(case_id)["person_ref"])

    received = published(intake, translate, "ConsultationReceived")
    assert len(received) == 2 and received[1].case_id == case_id, received
    assert received[1].payload["counter"] == ELDERLY.code and received[1].payload["person_ref"] == received[0].payload[
        "person_ref"]
    assert primary_after(published(intake, translate)) == ELDERLY.ja  # no longer the escalation's 生活福祉課


def test_d12_a_referral_of_a_held_case_refuses_another_person_with_409_naming_its_own(
        intake: IntakeApplication) -> None:
    case_id = escalated_then_handed_back(intake)
    own = intake.case_view(case_id)["person_ref"]

    with pytest.raises(HeldCaseOfAnotherPerson) as refused:
        take_up(intake, case_id, person={**PERSON, "name": "別の 人"})
    assert refused.value.status == 409 and own in str(refused.value)
    assert [r["case_id"] for r in intake.referrals()] == [str(case_id)]  # still waiting, nothing recorded
    assert intake.case_view(case_id)["status"] == "escalated"

    assert take_up(intake, case_id, person_ref=own) == case_id


def test_d12_the_reception_texts_heard_again_are_recorded_on_the_held_case(intake: IntakeApplication) -> None:
    case_id = escalated_then_handed_back(intake)

    take_up(intake, case_id, main_complaint="仕事を探したい", summary="アウトリーチの同行で来所")

    assert intake._reception_texts(case_id) == {"main_complaint": "仕事を探したい", "summary": "アウトリーチの同行で来所"}
    reader = type("R", (), {"division": ELDERLY.division, "roles": frozenset({"counselor"}), "staff_id": "s1"})()
    shown = intake.persons_in_view(reader, [case_id], "case")
    assert shown[str(case_id)]["reception"]["main_complaint"] == "仕事を探したい"
    again = [n for n in intake.notifications() if n.topic.endswith("Reception.RecordedAgain")]
    assert len(again) == 1 and b'"sealed"' in again[0].state  # sealed with the person's key, as the first texts


def test_d11_another_counter_taking_a_held_case_up_is_its_primary_and_closes_it(intake: IntakeApplication) -> None:
    """Outreach may hand the person to another division's counter than the one that first received them: that counter
    receives the referral, becomes primary, and may close the case (D3 D11); the case keeps its first counter, whose
    division still writes it (and the receiving counter's division reads the person on its own-counter basis too, D9:
    tests/unit/test_review_taken_up_scope.py)."""
    case_id = intake.receive_consultation(ACTOR, ELDERLY.code, ELDERLY.division, "窓口", [concern("elderly-care")],
                                          dict(PERSON), None, confirm_new_person=True)
    intake.escalate_case(ACTOR, case_id, "介護と家計が重なる", ELDERLY.ja)
    intake.receive(*Upstream("outreach").emit("OutreachHandedOver", {
        "to_program": "intake", "reason": "家計の相談を希望", "counter": HARDSHIP.code}, case_id))
    there = {"staff_id": "s9", "division": HARDSHIP.division}
    assert HARDSHIP.division != ELDERLY.division, "the test needs two divisions"

    intake.receive_consultation(there, HARDSHIP.code, HARDSHIP.division, "窓口", [concern("poverty")], None, None,
                                referral=case_id)

    case = intake.case_view(case_id)
    assert (case["status"], case["primary"], case["counter"]) == ("open", HARDSHIP.ja, ELDERLY.code), case
    intake.receive(*Upstream("meeting").emit("PlanClosed", plan_event("PlanClosed"), case_id))  # D7: the meeting's
    intake.close_case(there, case_id, "resolved", "家計の見直しができた")
    assert intake.case_view(case_id)["status"] == "closed"
