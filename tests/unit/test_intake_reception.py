"""The caseworker's day at intake (issue 15): the person in view on a basis, search, partial-match
candidates, the reception form's fields, 対応終了 and the plan's 終結."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from uuid import UUID, uuid4

import pytest
from support.municipality import CHILDCARE, ELDERLY, HARDSHIP, LEAD

from services.intake.application import IntakeApplication
from services.intake.domain import (
    CLOSING_OUTCOMES,
    CONSULTED_BY,
    ROUTES,
    CaseAlreadyClosed,
    CaseStillUnderPlan,
    PossibleDuplicate,
    Reception,
)
from services.intake.translate import translate
from shared.contract.events import (
    CLOSING_OUTCOMES as CONTRACT_OUTCOMES,
)
from shared.contract.events import (
    CONSULTATION_ROUTES,
    CaseReturnedToIntakeV1,
    Evaluation,
    PlanClosedV1,
)
from shared.contract.events import (
    CONSULTED_BY as CONTRACT_CONSULTED_BY,
)
from shared.kernel.journey import Invalid
from shared.organisation.reference import COUNTERS
from unit.builders import COUNTER_STAFF, PERSON, Upstream, in_memory, only, published

HOIKU = {"staff_id": "h1", "division": CHILDCARE.division}
RECEPTION = {"consulted_on": "2026-12-01", "route": "phone", "consulted_by": "family",
             "main_complaint": "母の介護で仕事を辞めそう", "summary": "長男（50代）が同居。母は要介護2。"}


@dataclass(frozen=True)
class Reader:
    division: str
    roles: frozenset[str] = field(default_factory=lambda: frozenset({"counselor"}))
    staff_id: str = "r1"


@pytest.fixture
def intake() -> IntakeApplication:
    return in_memory(IntakeApplication)


def consult(app: IntakeApplication, person: dict[str, str | None] | None = None, counter: str = ELDERLY.code,
            **kwargs: object) -> UUID:
    where = COUNTERS[counter]
    return app.receive_consultation(
        {**COUNTER_STAFF, "division": where.division}, where.code, where.division, "電話", ["高齢・介護"],
        dict(person or PERSON), None, **kwargs)  # type: ignore[arg-type]


def upstream(event_type: str, payload: object, case_id: UUID) -> tuple[object, object]:
    return Upstream("meeting").emit(event_type, payload, case_id)  # type: ignore[arg-type]


def test_the_codes_of_the_reception_form_are_the_contracts() -> None:
    assert ROUTES == CONSULTATION_ROUTES and CONSULTED_BY == CONTRACT_CONSULTED_BY
    assert CLOSING_OUTCOMES == CONTRACT_OUTCOMES


# -- 1. the person, for those with a basis ----------------------------------------------------------

def test_d9_the_counter_sees_the_person_of_its_cases_and_each_showing_is_recorded(intake: IntakeApplication) -> None:
    case_id = consult(intake)

    shown = intake.persons_in_view(Reader(ELDERLY.division), [case_id], "case")

    assert shown[str(case_id)]["name"] == PERSON["name"] and shown[str(case_id)]["basis"] == "own_counter"
    assert intake.case_view(case_id)["disclosures"] == 1
    [row] = [r for r in intake.person_rows(UUID(intake.case_view(case_id)["person_ref"]))
             if r["event"] == "Case.PersonDisclosed"]
    assert row["fields"]["shown_in"] == "case" and row["actor"]["division"] == ELDERLY.division


def test_d9_another_division_without_a_basis_sees_no_person_and_nothing_is_recorded(intake: IntakeApplication) -> None:
    case_id = consult(intake)

    assert intake.persons_in_view(Reader(CHILDCARE.division), [case_id], "case") == {}
    assert intake.case_view(case_id)["disclosures"] == 0


def test_d9_a_consent_that_covers_the_related_agencies_is_a_basis_for_a_connected_division(
        intake: IntakeApplication) -> None:
    case_id = consult(intake)
    intake.connect_case(COUNTER_STAFF, case_id, CHILDCARE.ja, "保育園の相談")
    intake.record_consent(COUNTER_STAFF, case_id, "関係機関との情報共有", True, "書面", ["related_agencies"])

    shown = intake.persons_in_view(Reader(CHILDCARE.division), [case_id], "list")

    assert shown[str(case_id)]["basis"] == "consent"


def test_a_live_reload_of_the_same_list_view_records_nothing_more(intake: IntakeApplication) -> None:
    one, two = consult(intake), consult(intake, {**PERSON, "name": "調布 二郎", "phone": "042-000-0000"},
                                        confirm_new_person=True)
    first = intake.persons_in_view(Reader(ELDERLY.division), [one, two], "list")

    again = intake.persons_in_view(Reader(ELDERLY.division), [one, two], "list", recorded=frozenset(first))

    assert set(again) == {str(one), str(two)}
    assert [intake.case_view(c)["disclosures"] for c in (one, two)] == [1, 1]


# -- 2. search ------------------------------------------------------------------------------------

def test_search_ignores_width_kana_and_spaces_and_names_only_readable_people(intake: IntakeApplication) -> None:
    case_id = consult(intake)

    mine = intake.find_anyone(Reader(ELDERLY.division), kana="チョウフイチロウ")
    by_phone = intake.find_anyone(Reader(ELDERLY.division), phone="０４２４８１７１１１")
    by_name = intake.find_anyone(Reader(ELDERLY.division), name="調布　一郎", birth_date="1961-04-01")
    theirs = intake.find_anyone(Reader(CHILDCARE.division), kana="ちょうふ いちろう")

    assert [p["name"] for p in mine["people"]] == [PERSON["name"]]
    assert mine["people"][0]["cases"][0]["case_id"] == str(case_id)
    assert len(by_phone["people"]) == 1 and len(by_name["people"]) == 1
    assert theirs == {"people": [], "elsewhere": 1}, "another counter's person: counted, never named"


def test_a_search_that_shows_a_person_is_recorded_and_one_that_shows_none_is_not(intake: IntakeApplication) -> None:
    consult(intake)
    person_ref = UUID(intake.find_anyone(Reader(ELDERLY.division), kana="ちょうふ")["people"][0]["person_ref"])
    intake.find_anyone(Reader(CHILDCARE.division), kana="ちょうふ")

    shown = [r["fields"] for r in intake.person_rows(person_ref) if r["event"] == "Person.Shown"]

    assert [(s["division"], s["purpose"]) for s in shown] == [(ELDERLY.division, "search")]


def test_search_needs_something_to_search_by(intake: IntakeApplication) -> None:
    with pytest.raises(Invalid):
        intake.find_anyone(Reader(ELDERLY.division))


# -- 3. candidates on partial matches ---------------------------------------------------------------

def test_d2_the_same_name_without_a_birth_date_is_offered_not_silently_a_second_person(
        intake: IntakeApplication) -> None:
    consult(intake, {"name": "調布花子", "kana": "ちょうふ はなこ", "birth_date": "1950-03-03", "address": None,
                     "phone": None}, confirm_new_person=True)

    with pytest.raises(PossibleDuplicate) as offered:
        consult(intake, {"name": "調布 花子", "kana": "", "birth_date": None, "address": None, "phone": None},
                confirm_new_person=False, check_similar=True)

    [candidate] = offered.value.extra["candidates"]
    assert candidate["name"] == "調布花子" and "氏名が同じ" in candidate["why"]


@pytest.mark.parametrize(("partial", "why"), [
    ({"name": "別名 太郎", "kana": "ちょうふ いちろう", "birth_date": "1961-12-31"}, "ふりがなと生まれ年が同じ"),
    ({"name": "別名 太郎", "phone": "042-481-7111"}, "電話番号が同じ"),
    ({"name": "別名 太郎", "address": "調布市小島町 2-35-1"}, "住所が同じ"),
    ({"name": "調布 一朗"}, "氏名が似ている"),
])
def test_d2_partial_matches_are_offered_with_why(intake: IntakeApplication, partial: dict[str, str], why: str) -> None:
    consult(intake)
    person = {"kana": "", "birth_date": None, "address": None, "phone": None, **partial}

    with pytest.raises(PossibleDuplicate) as offered:
        consult(intake, person, confirm_new_person=False, check_similar=True)

    assert why in offered.value.extra["candidates"][0]["why"]


def test_d2_a_partial_match_held_by_another_counter_is_counted_not_named(intake: IntakeApplication) -> None:
    consult(intake)
    with pytest.raises(PossibleDuplicate) as offered:
        consult(intake, {"name": "調布 一郎", "kana": "", "birth_date": None, "address": None, "phone": None},
                counter=CHILDCARE.code, confirm_new_person=False, check_similar=True)

    assert offered.value.extra["candidates"] == [] and offered.value.extra["elsewhere"] == 1


# -- 5. the reception form -------------------------------------------------------------------------

def test_the_reception_codes_travel_and_its_texts_stay_sealed_in_intake(intake: IntakeApplication) -> None:
    case_id = consult(intake, reception=RECEPTION)

    envelope = only(published(intake, translate, "ConsultationReceived"))
    view = intake.case_view(case_id)
    texts = intake.persons_in_view(Reader(ELDERLY.division), [case_id], "case")[str(case_id)]["reception"]
    stored = [n for n in intake.notifications() if n.topic.endswith("Reception.Recorded")]

    assert (envelope.payload["route"], envelope.payload["consulted_by"]) == ("phone", "family")
    assert "2026-12-01" not in json.dumps(envelope.payload) and "介護で" not in json.dumps(envelope.payload)
    assert (view["consulted_on"], view["route"], view["consulted_by"]) == ("2026-12-01", "phone", "family")
    assert texts == {"main_complaint": RECEPTION["main_complaint"], "summary": RECEPTION["summary"]}
    assert len(stored) == 1 and RECEPTION["summary"].encode() not in stored[0].state, "sealed with the person's key"


def test_a_case_received_without_the_form_fields_publishes_as_before(intake: IntakeApplication) -> None:
    consult(intake)

    payload = only(published(intake, translate, "ConsultationReceived")).payload

    assert "route" not in payload and "consulted_by" not in payload


def test_an_unknown_route_is_refused(intake: IntakeApplication) -> None:
    with pytest.raises(Invalid):
        consult(intake, reception={"route": "fax"})


def test_erasing_the_person_erases_the_reception_texts_too(intake: IntakeApplication) -> None:
    case_id = consult(intake, reception=RECEPTION)
    person_ref = UUID(intake.case_view(case_id)["person_ref"])

    intake.erase_person({"staff_id": "sv", "division": ELDERLY.division}, person_ref, "person_request", "本人の請求")

    texts: Reception = intake.load(Reception.id_for(case_id), Reception, "相談受付票")
    assert texts.main_complaint is None and texts.summary is None


# -- 6. 対応終了 ------------------------------------------------------------------------------------

def test_intake_closes_a_case_it_handled_without_escalation_with_an_outcome(intake: IntakeApplication) -> None:
    case_id = consult(intake)

    intake.close_case(COUNTER_STAFF, case_id, "resolved", "家族で介護サービスを利用開始")

    view = intake.case_view(case_id)
    assert view["status"] == "closed" and view["closure"]["outcome"] == "resolved"
    assert "note" not in view["closure"], "the note shows with the person only"
    assert intake.persons_in_view(Reader(ELDERLY.division), [case_id], "case")[str(case_id)]["closing_note"] == (
        "家族で介護サービスを利用開始")
    envelope = only(published(intake, translate, "IntakeCaseClosed"))
    assert envelope.payload == {"outcome": "resolved"}, "the note stays in intake"


def test_intake_closes_a_returned_case_with_an_outcome(intake: IntakeApplication) -> None:
    case_id = consult(intake)
    intake.escalate_case(COUNTER_STAFF, case_id, "複合的な課題", ELDERLY.ja)
    intake.receive(*upstream("CaseReturnedToIntake", CaseReturnedToIntakeV1(
        meeting_id=uuid4(), primary_agency=ELDERLY.ja, reason="単独で対応できる"), case_id))  # type: ignore[arg-type]

    intake.close_case(COUNTER_STAFF, case_id, "handed_over", "")

    assert intake.case_view(case_id)["closure"]["status_before"] == "returned"
    assert LEAD in intake.case_divisions(case_id), "who read it while returned still reads it"


def test_intake_refuses_to_close_a_case_escalated_with_its_plan_active(intake: IntakeApplication) -> None:
    case_id = consult(intake)
    intake.escalate_case(COUNTER_STAFF, case_id, "複合的な課題", ELDERLY.ja)

    with pytest.raises(CaseStillUnderPlan) as refused:
        intake.close_case(COUNTER_STAFF, case_id, "resolved", "")

    assert refused.value.status == 409 and "プランで支援中" in str(refused.value)


def test_a_closed_case_is_closed_once_and_not_escalated(intake: IntakeApplication) -> None:
    case_id = consult(intake)
    intake.close_case(COUNTER_STAFF, case_id, "moved", "")

    with pytest.raises(CaseAlreadyClosed):
        intake.close_case(COUNTER_STAFF, case_id, "resolved", "")
    with pytest.raises(CaseAlreadyClosed):
        intake.escalate_case(COUNTER_STAFF, case_id, "複合的な課題", ELDERLY.ja)


def test_an_unknown_outcome_is_refused(intake: IntakeApplication) -> None:
    with pytest.raises(Invalid):
        intake.close_case(COUNTER_STAFF, consult(intake), "vanished", "")


def test_d7_after_its_plan_is_closed_the_intake_case_shows_its_end_not_escalated(intake: IntakeApplication) -> None:
    case_id = consult(intake)
    intake.escalate_case(COUNTER_STAFF, case_id, "複合的な課題", ELDERLY.ja)

    intake.receive(*upstream("PlanClosed", PlanClosedV1(
        plan_id=uuid4(), meeting_id=uuid4(), evaluation=Evaluation(course="順調", outcome="目標達成"),
        program="collaboration"), case_id))  # type: ignore[arg-type]

    assert intake.case_view(case_id)["status"] == "plan_closed"
    intake.close_case(COUNTER_STAFF, case_id, "resolved", "")  # no longer under an active plan
    assert intake.case_view(case_id)["status"] == "closed"


def test_d9_a_division_that_reads_a_connected_case_without_consent_is_not_shown_the_person_by_a_search(
        intake: IntakeApplication) -> None:
    case_id = consult(intake)
    intake.connect_case(COUNTER_STAFF, case_id, CHILDCARE.ja, "保育園の相談")

    before = intake.find_anyone(Reader(CHILDCARE.division), kana="ちょうふ")
    intake.record_consent(COUNTER_STAFF, case_id, "関係機関との情報共有", True, "書面", ["related_agencies"])
    after = intake.find_anyone(Reader(CHILDCARE.division), kana="ちょうふ")

    assert before == {"people": [], "elsewhere": 1}
    assert [p["name"] for p in after["people"]] == [PERSON["name"]]


def test_a_closed_case_is_connected_nowhere(intake: IntakeApplication) -> None:
    case_id = consult(intake)
    intake.connect_case(COUNTER_STAFF, case_id, CHILDCARE.ja, "保育園の相談")
    intake.close_case(COUNTER_STAFF, case_id, "handed_over", "")

    with pytest.raises(CaseAlreadyClosed):
        intake.connect_case(COUNTER_STAFF, case_id, HARDSHIP.ja, "家計相談")
    assert len(intake.case_view(case_id)["connections"]) == 1
