"""Households (世帯, D16), a household's cases to one plan, the plan's suspension and resumption followed at
intake (D7), what is due at intake (D18) and case notes erased with their person (D17) (issue 15)."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from uuid import UUID, uuid4

import pytest
from support.municipality import CHILDCARE, ELDERLY, HARDSHIP, LEAD

from services.intake.application import IntakeApplication
from services.intake.domain import (
    CONNECTION_ANSWER_DAYS,
    AlreadyInAHousehold,
    CaseAlreadyEscalated,
    CaseStillUnderPlan,
    HeadStays,
    Household,
    PersonErased,
    due_at_intake,
)
from services.intake.keys import NOTE_ERASED
from services.intake.translate import translate
from shared.contract.events import (
    CaseEscalatedV2,
    Evaluation,
    PlanResumedV1,
    PlanSuspendedV1,
    envelope_json,
    parse,
    upcast,
)
from shared.domain.access import OutOfScope
from shared.domain.casework import JST
from shared.kernel.journey import Invalid
from unit.builders import COUNTER_STAFF, PERSON, Upstream, in_memory, only, plan_proposed, published

MOTHER = {"name": "調布 花", "kana": "ちょうふ はな", "birth_date": "1941-05-05", "address": "調布市小島町2-35-1",
          "phone": "042-481-0001"}
SON = {"name": "調布 太郎", "kana": "ちょうふ たろう", "birth_date": "1974-08-08", "address": "調布市小島町2-35-1",
       "phone": "042-481-0002"}
ELDERLY_STAFF = {"staff_id": "s1", "division": ELDERLY.division}
LIFE = {"staff_id": "l1", "division": HARDSHIP.division}


@dataclass(frozen=True)
class Reader:
    division: str
    roles: frozenset[str] = field(default_factory=lambda: frozenset({"counselor"}))
    staff_id: str = "r1"


@pytest.fixture
def intake() -> IntakeApplication:
    return in_memory(IntakeApplication)


def consult(app: IntakeApplication, person: dict[str, str], counter: str = ELDERLY.code,
            division: str = ELDERLY.division, concerns: tuple[str, ...] = ("高齢・介護",)) -> UUID:
    return app.receive_consultation({"staff_id": "s1", "division": division}, counter, division, "来所",
                                    list(concerns), dict(person), None, True)


def household_of_two(app: IntakeApplication) -> tuple[UUID, UUID, UUID]:
    """8050: the mother's case at 地域包括, the son's at the same counter; a household of the two."""
    mother_case = consult(app, MOTHER)
    son_case = consult(app, SON, concerns=("ひきこもり",))
    household = app.form_household(ELDERLY_STAFF, mother_case)
    app.add_member(ELDERLY_STAFF, household, "child", person_ref=app.case_view(son_case)["person_ref"])
    return household, mother_case, son_case


def meeting(event_type: str, payload: object, case_id: UUID, upstream: Upstream) -> tuple[object, object]:
    return upstream.emit(event_type, payload, case_id)  # type: ignore[arg-type]


# -- the household ----------------------------------------------------------------------------------

def test_d16_a_household_is_formed_around_a_cases_person_and_members_join_with_their_relation(
        intake: IntakeApplication) -> None:
    household, mother_case, son_case = household_of_two(intake)

    view = intake.household_view(Reader(ELDERLY.division), household)

    assert [(m["name"], m["relation"], m["head"]) for m in view["members"]] == [
        (MOTHER["name"], "self", True), (SON["name"], "child", False)]
    assert [c["case_id"] for c in view["members"][1]["cases"]] == [str(son_case)]
    assert intake.household_of_case(mother_case) == intake.household_of_case(son_case) == household
    assert [(r["fields"]["shown_in"], r["fields"]["basis"]) for r in intake.person_rows(
        UUID(intake.case_view(son_case)["person_ref"])) if r["event"] == "Case.PersonDisclosed"] == [
        ("household", "own_counter")], "every member shown is a recorded disclosure, with its basis"


def test_d16_a_person_belongs_to_one_household_at_a_time(intake: IntakeApplication) -> None:
    household, _mother_case, son_case = household_of_two(intake)
    son = intake.case_view(son_case)["person_ref"]

    with pytest.raises(AlreadyInAHousehold):
        intake.form_household(ELDERLY_STAFF, son_case)
    other = intake.form_household(ELDERLY_STAFF, consult(intake, {**PERSON, "phone": "042-000-1111"}))
    with pytest.raises(AlreadyInAHousehold):
        intake.add_member(ELDERLY_STAFF, other, "other", person_ref=son)

    intake.remove_member(ELDERLY_STAFF, household, son)
    intake.add_member(ELDERLY_STAFF, other, "other", person_ref=son)

    assert intake.household_of(son) == other
    assert [m["person_ref"] for m in intake.household_view(Reader(ELDERLY.division), household)["former"]] == [son]


def test_d16_the_head_is_the_only_本人_and_does_not_leave(intake: IntakeApplication) -> None:
    household, mother_case, _son_case = household_of_two(intake)
    mother = intake.case_view(mother_case)["person_ref"]

    with pytest.raises(HeadStays):
        intake.remove_member(ELDERLY_STAFF, household, mother)
    with pytest.raises(Invalid, match="続柄"):
        intake.add_member(ELDERLY_STAFF, household, "self", person={**PERSON, "phone": "042-000-2222"})
    assert sum(1 for _ in intake.ids_of(Household)) == 1


def test_d16_a_new_member_is_registered_as_a_person_and_shown_to_the_division_that_added_them(
        intake: IntakeApplication) -> None:
    household, _, _ = household_of_two(intake)

    grandchild = intake.add_member(ELDERLY_STAFF, household, "other", person={
        "name": "調布 小春", "kana": "ちょうふ こはる", "birth_date": "2008-01-01", "address": None, "phone": None},
        confirm_new_person=True)

    members = intake.household_view(Reader(ELDERLY.division), household)["members"]
    assert [m["name"] for m in members if m["person_ref"] == grandchild] == ["調布 小春"]
    assert members[-1]["basis"] == "added_here" and members[-1]["cases"] == []
    assert [r["fields"]["purpose"] for r in intake.person_rows(UUID(grandchild)) if r["event"] == "Person.Shown"] == [
        "household"], "a member without a case: the showing is recorded on the person"


def test_d16_a_division_adds_and_sees_only_the_people_it_has_a_basis_for(intake: IntakeApplication) -> None:
    mother_case = consult(intake, MOTHER)
    daughter_case = consult(intake, {**SON, "name": "調布 真理", "phone": "042-481-0003"}, counter=HARDSHIP.code,
                            division=HARDSHIP.division, concerns=("生活困窮",))
    daughter = intake.case_view(daughter_case)["person_ref"]
    household = intake.form_household(ELDERLY_STAFF, mother_case)
    with pytest.raises(OutOfScope):  # the elderly counter has no basis for another counter's person
        intake.add_member(ELDERLY_STAFF, household, "child", person_ref=daughter)
    other = intake.form_household(LIFE, daughter_case)

    seen = intake.household_view(Reader(ELDERLY.division), household)
    with pytest.raises(OutOfScope):
        intake.household_view(Reader(CHILDCARE.division), other)

    assert [m["shown"] for m in seen["members"]] == [True]
    assert not [r for r in intake.person_rows(UUID(daughter)) if r["event"] == "Case.PersonDisclosed"]


def test_d16_a_member_another_counter_knows_shows_as_世帯員_without_a_name(intake: IntakeApplication) -> None:
    household, _mother_case, son_case = household_of_two(intake)
    intake.connect_case(ELDERLY_STAFF, son_case, HARDSHIP.ja, "就労の相談")  # livelihood reads the son's case
    intake.record_consent(ELDERLY_STAFF, son_case, "関係機関との情報共有", True, "書面", ["related_agencies"])

    seen = intake.household_view(Reader(HARDSHIP.division), household)

    assert [m["shown"] for m in seen["members"]] == [False, True]
    assert seen["members"][1]["name"] == SON["name"] and seen["members"][1]["basis"] == "consent"
    hidden = seen["members"][0]
    assert "name" not in hidden and "relation" not in hidden and hidden["case_count"] == 1


# -- a household's cases to one plan ----------------------------------------------------------------

def test_d16_escalating_a_households_cases_publishes_one_escalation_with_its_ref_and_the_other_cases(
        intake: IntakeApplication) -> None:
    household, mother_case, son_case = household_of_two(intake)

    done = intake.escalate_household(ELDERLY_STAFF, household, [mother_case, son_case], "8050: 介護とひきこもり",
                                     ELDERLY.ja)

    escalated = only(published(intake, translate, "CaseEscalated"))
    assert escalated.case_id == mother_case and done["related_case_ids"] == [str(son_case)]
    assert escalated.payload["household_ref"] == str(household)
    assert escalated.payload["related_case_ids"] == [str(son_case)]
    _, v2 = upcast(*parse(envelope_json(escalated)))
    assert isinstance(v2, CaseEscalatedV2) and v2.household_ref == household and v2.related_case_ids == [son_case], (
        "collaboration reads them on v2")
    body = escalated.model_dump_json()
    for personal in (MOTHER["name"], SON["name"], MOTHER["phone"], intake.case_view(son_case)["person_ref"]):
        assert personal not in body, "no personal identifiers on the bus"
    assert intake.case_view(son_case)["status"] == "linked"
    assert intake.case_view(son_case)["household_plan"]["lead"] == str(mother_case)
    assert LEAD in intake.case_divisions(son_case), "多機関協働 reads the case its plan holds"
    with pytest.raises(CaseStillUnderPlan):
        intake.close_case(ELDERLY_STAFF, son_case, "resolved", "")
    with pytest.raises(CaseAlreadyEscalated):
        intake.escalate_case(ELDERLY_STAFF, son_case, "別に", ELDERLY.ja)


def test_d16_only_a_current_members_cases_and_two_or_more_go_to_one_plan(intake: IntakeApplication) -> None:
    household, mother_case, _son_case = household_of_two(intake)
    stranger = consult(intake, {**PERSON, "phone": "042-000-3333"})

    with pytest.raises(Invalid, match="2件以上"):
        intake.escalate_household(ELDERLY_STAFF, household, [mother_case], "理由", ELDERLY.ja)
    with pytest.raises(Exception, match="この世帯の方の相談ではありません"):
        intake.escalate_household(ELDERLY_STAFF, household, [mother_case, stranger], "理由", ELDERLY.ja)
    assert intake.case_view(mother_case)["status"] == "open", "all or none"
    assert published(intake, translate, "CaseEscalated") == []


def test_d7_the_household_plans_suspension_resumption_and_end_reach_every_case_held_with_it(
        intake: IntakeApplication) -> None:
    household, mother_case, son_case = household_of_two(intake)
    intake.escalate_household(ELDERLY_STAFF, household, [mother_case, son_case], "8050", ELDERLY.ja)
    upstream, plan_id, meeting_id = Upstream("meeting"), uuid4(), uuid4()
    evaluation = Evaluation(course="入院で中断", outcome="未達成")

    intake.receive(*meeting("PlanSuspended", PlanSuspendedV1(plan_id=plan_id, meeting_id=meeting_id,
                                                             evaluation=evaluation, reason="入院"), mother_case,
                            upstream))  # type: ignore[arg-type]
    suspended = [intake.case_view(c)["status"] for c in (mother_case, son_case)]
    intake.receive(*meeting("PlanResumed", PlanResumedV1(plan_id=plan_id, meeting_id=meeting_id,
                                                         meeting_type="jusou_shien_kaigi", reason="退院"),
                            mother_case, upstream))  # type: ignore[arg-type]

    assert suspended == ["plan_suspended", "plan_suspended"]
    assert [intake.case_view(c)["status"] for c in (mother_case, son_case)] == ["escalated", "linked"]


def test_d7_a_resumed_plan_brings_a_case_shown_終結_back_under_its_plan(intake: IntakeApplication) -> None:
    case_id = consult(intake, MOTHER)
    intake.escalate_case(ELDERLY_STAFF, case_id, "複合", ELDERLY.ja)
    upstream, plan_id, meeting_id = Upstream("meeting"), uuid4(), uuid4()
    intake.receive(*meeting("PlanClosed", {"plan_id": str(plan_id), "meeting_id": str(meeting_id),
                                           "evaluation": {"course": "順調", "outcome": "目標達成"}}, case_id,
                            upstream))  # type: ignore[arg-type]
    assert intake.case_view(case_id)["status"] == "plan_closed"

    intake.receive(*meeting("PlanResumed", {"plan_id": str(plan_id), "meeting_id": str(meeting_id),
                                            "meeting_type": "jusou_shien_kaigi", "reason": "再開"}, case_id,
                            upstream))  # type: ignore[arg-type]

    assert intake.case_view(case_id)["status"] == "escalated"


# -- what is due at intake (D18) --------------------------------------------------------------------

def test_d18_due_at_intake_unanswered_connection_consent_awaited_and_review_date() -> None:
    today = date(2026, 12, 5)
    view = {"status": "escalated", "consent": None, "review_on": "2026-12-01",
            "connections": [{"to_agency": CHILDCARE.ja, "status": "pending"},
                            {"to_agency": HARDSHIP.ja, "status": "accepted"}]}

    items = due_at_intake(view, [today - timedelta(days=CONNECTION_ANSWER_DAYS + 1), today], today - timedelta(days=8),
                          today)

    assert items == [(f"つなぎの回答待ち: {CHILDCARE.ja}", date(2026, 12, 4), True),
                     ("本人同意の確認待ち（重層的支援会議の前に）", date(2026, 12, 4), True),
                     ("プランの見直し予定日", date(2026, 12, 1), True)]
    granted = due_at_intake({**view, "consent": {"granted": True}, "review_on": "2027-03-01"}, [today], today, today)
    assert granted == [], "a fresh connection, a consent given, a review months ahead: nothing due"
    assert due_at_intake({**view, "status": "closed"}, [today - timedelta(days=30)], None, today) == []


def test_d18_my_work_at_intake_lists_the_review_date_of_the_plan_a_case_follows(intake: IntakeApplication) -> None:
    case_id = consult(intake, MOTHER)
    intake.assign(ELDERLY_STAFF, case_id, "main", "s1")
    intake.escalate_case(ELDERLY_STAFF, case_id, "複合", ELDERLY.ja)
    review = datetime.now(JST).date() + timedelta(days=3)
    intake.receive(*Upstream("collaboration").emit("PlanProposed", {**plan_proposed(uuid4()),
                                                                    "review_on": review.isoformat()}, case_id))

    work = intake.my_work("s1", Reader(ELDERLY.division), on=review + timedelta(days=1))

    assert [(i.what, i.due, i.overdue) for i in work.items] == [
        ("プランの見直し予定日", review, True),
        ("本人同意の確認待ち（重層的支援会議の前に）", datetime.now(JST).date() + timedelta(days=7), False)]
    assert work.items[0].link == f"/ui/cases/{case_id}"


# -- case notes and erasure (D17) -------------------------------------------------------------------

def test_d17_a_persons_erasure_reaches_the_notes_on_their_case(intake: IntakeApplication) -> None:
    case_id = consult(intake, MOTHER)
    intake.write_note(ELDERLY_STAFF, case_id, datetime.now(JST) - timedelta(hours=1), "来所", "長男",
                      "介護の負担で眠れていない", "ケアマネと相談", "訪問", datetime.now(JST).date())
    stored = [n.state for n in intake.notifications() if n.topic.endswith("CaseFile.NoteWritten")]
    assert stored and all("眠れていない".encode() not in s for s in stored)
    assert intake.case_file(case_id).entries[0].content == "介護の負担で眠れていない"

    intake.erase_person(COUNTER_STAFF, UUID(intake.case_view(case_id)["person_ref"]), "person_request", "本人の請求")

    [entry] = intake.case_file(case_id).entries
    assert (entry.content, entry.counterpart, entry.agreed) == (NOTE_ERASED, "", "")
    with pytest.raises(PersonErased):
        intake.write_note(ELDERLY_STAFF, case_id, datetime.now(JST), "電話", "", "その後", "", "", None)
