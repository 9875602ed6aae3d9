"""Intake (包括的相談支援事業): consultations at any counter, consent, escalation, returns (D1–D3, D5, D9, D11)."""

from __future__ import annotations

from uuid import UUID, uuid4

import pytest
from pydantic import BaseModel
from support.municipality import ELDERLY, HARDSHIP

from services.intake.application import IntakeApplication
from services.intake.domain import CaseAlreadyEscalated, Person
from services.intake.translate import translate
from shared.contract.events import CaseReturnedToIntakeV1, Envelope, envelope_json
from shared.kernel.journey import Invalid, NotFound
from shared.organisation.municipality import DEFAULT_FILE
from shared.organisation.reference import CONCERN_FIELDS, COUNTERS, DIVISIONS, Counter, counters, in_force
from unit.builders import (
    COUNTER_STAFF,
    PERSON,
    Upstream,
    in_memory,
    only,
    published,
    stored_count,
)

ALL_CONCERNS = [c.ja for c in CONCERN_FIELDS.values()]
#: The oracle, written from the source (包括的相談支援事業) and DOMAIN.md's table, not read from shared/organisation/reference.py:
#: the six counters of Chofu's file (the default) that receive consultations, each with the division that runs it (D2).
SOURCE_COUNTERS = {
    "地域包括支援センター": "高齢者支援室", "障害者相談支援事業": "障害福祉課", "利用者支援事業【基本型】": "子ども政策課",
    "保育コンシェルジュ": "保育課", "ゆりかご調布事業": "健康推進課", "調布ライフサポート": "生活福祉課",
}
#: D2: the fields a consultation's concerns are tagged by (DOMAIN.md lists these, and says there are more).
D2_CONCERNS = ["高齢・介護", "障害", "子育て", "保育", "妊娠・出産", "生活困窮", "住まい", "就労", "ひきこもり", "精神保健",
               "家計・債務"]


#: The counters of the municipality file the tests run on (tests/support/municipality.py), by code.
FILE_COUNTERS = list(counters())


@pytest.fixture
def intake() -> IntakeApplication:
    return in_memory(IntakeApplication)


def consult(app: IntakeApplication, counter: Counter = ELDERLY, concerns: list[str] | None = None,
            person_ref: str | None = None) -> UUID:
    return app.receive_consultation(
        {**COUNTER_STAFF, "division": counter.division}, counter.code, counter.division, "電話", concerns or ["高齢・介護", "ひきこもり"],
        None if person_ref else dict(PERSON), person_ref,
    )


def returned_to_intake(case_id: UUID, primary: str = ELDERLY.ja) -> tuple[Envelope, BaseModel]:
    """CaseReturnedToIntake as the meeting publishes it (D5 D11)."""
    payload = CaseReturnedToIntakeV1(meeting_id=uuid4(), primary_agency=primary, reason="単独機関で対応できる")
    return Upstream("meeting").emit("CaseReturnedToIntake", payload, case_id)


def test_d2_consultation_records_counter_division_channel_and_concerns(intake: IntakeApplication) -> None:
    case_id = consult(intake, HARDSHIP, ["生活困窮", "住まい"])

    view = intake.case_view(case_id)

    assert (view["counter"], view["division"], view["channel"], view["concerns"]) == (
        HARDSHIP.code, HARDSHIP.division, "電話", ["生活困窮", "住まい"])


def test_d2_consultation_keeps_the_person_in_intake_under_person_ref(intake: IntakeApplication) -> None:
    case_id = consult(intake)

    person_ref = intake.case_view(case_id)["person_ref"]

    assert intake.person_view(UUID(person_ref))["name"] == PERSON["name"]


def test_consultation_for_a_known_person_reuses_their_person_ref(intake: IntakeApplication) -> None:
    first = intake.case_view(consult(intake))["person_ref"]

    second = intake.case_view(consult(intake, person_ref=first))["person_ref"]

    assert second == first
    assert len(intake.ids_of(Person)) == 1


def test_consultation_for_an_unknown_person_ref_is_not_found(intake: IntakeApplication) -> None:
    with pytest.raises(NotFound):
        consult(intake, person_ref=str(uuid4()))


def test_consultation_for_a_case_id_as_person_ref_is_not_found(intake: IntakeApplication) -> None:
    case_id = consult(intake)

    with pytest.raises(NotFound):
        consult(intake, person_ref=str(case_id))


def test_consultation_for_a_malformed_person_ref_is_invalid(intake: IntakeApplication) -> None:
    with pytest.raises(Invalid):
        consult(intake, person_ref="not-a-uuid")


def test_d2_chofus_file_has_the_six_counters_of_the_source_each_in_its_division() -> None:
    with in_force(DEFAULT_FILE):  # the default file, whichever file the tests run on
        assert {c.ja: DIVISIONS[c.division].ja for c in COUNTERS.values()} == SOURCE_COUNTERS


def test_d2_every_concern_field_domain_names_is_known_in_chofus_file() -> None:
    with in_force(DEFAULT_FILE):  # DOMAIN.md's names are Chofu's; another file names the same codes its own way
        known = {c.ja for c in CONCERN_FIELDS.values()}
    assert set(D2_CONCERNS) <= known, set(D2_CONCERNS) - known


@pytest.mark.parametrize("code", FILE_COUNTERS)
def test_d1_every_counter_receives_a_consultation_of_any_field(intake: IntakeApplication, code: str) -> None:
    fields = [*(c for c in D2_CONCERNS if c in ALL_CONCERNS), *(c for c in ALL_CONCERNS if c not in D2_CONCERNS)]
    case_id = consult(intake, COUNTERS[code], fields)

    assert intake.case_view(case_id)["concerns"] == fields


@pytest.mark.parametrize("code", FILE_COUNTERS)
def test_d2_consultation_received_carries_the_counters_division(intake: IntakeApplication, code: str) -> None:
    counter = COUNTERS[code]
    consult(intake, counter)

    envelope = only(published(intake, translate, "ConsultationReceived"))

    assert (envelope.payload["counter"], envelope.payload["division"]) == (counter.code, counter.division)


@pytest.mark.parametrize("code", FILE_COUNTERS)
def test_d2_consultation_received_carries_no_personal_information(intake: IntakeApplication, code: str) -> None:
    consult(intake, COUNTERS[code], ["高齢・介護"])

    wire = envelope_json(only(published(intake, translate, "ConsultationReceived"))).decode("utf-8")

    assert "高齢・介護" in wire  # Japanese travels unescaped, so a leaked name would show
    leaked = [field for field, value in PERSON.items() if value in wire]
    assert leaked == [], f"personal information on the wire: {leaked}"


def test_d15_consultation_received_names_the_staff_member_who_took_it(intake: IntakeApplication) -> None:
    consult(intake)

    envelope = only(published(intake, translate, "ConsultationReceived"))

    assert envelope.actor.model_dump(exclude_none=True) == COUNTER_STAFF


def test_d3_escalation_publishes_case_escalated_with_the_cases_concerns(intake: IntakeApplication) -> None:
    case_id = consult(intake, concerns=["高齢・介護", "ひきこもり", "家計・債務"])

    intake.escalate_case(COUNTER_STAFF, case_id, "母の介護と本人のひきこもりが重なる", ELDERLY.ja)

    envelope = only(published(intake, translate, "CaseEscalated"))
    assert envelope.payload["concerns"] == ["高齢・介護", "ひきこもり", "家計・債務"]
    assert envelope.case_id == case_id


def test_d11_escalation_names_the_primary_agency(intake: IntakeApplication) -> None:
    case_id = consult(intake)

    intake.escalate_case(COUNTER_STAFF, case_id, "複合的な課題", HARDSHIP.ja)

    assert intake.case_view(case_id)["primary"] == HARDSHIP.ja


def test_d3_escalating_twice_is_refused(intake: IntakeApplication) -> None:
    case_id = consult(intake)
    intake.escalate_case(COUNTER_STAFF, case_id, "複合的な課題", ELDERLY.ja)

    with pytest.raises(CaseAlreadyEscalated):
        intake.escalate_case(COUNTER_STAFF, case_id, "もう一度", ELDERLY.ja)


@pytest.mark.parametrize("granted", [True, False])
def test_d9_consent_is_published_as_consent_recorded(intake: IntakeApplication, granted: bool) -> None:
    case_id = consult(intake)

    intake.record_consent(COUNTER_STAFF, case_id, "重層的支援会議での情報共有", granted, "書面")

    envelope = only(published(intake, translate, "ConsentRecorded"))
    assert (envelope.case_id, envelope.payload["granted"]) == (case_id, granted)


def test_d5_case_returned_to_intake_makes_it_returned_with_the_new_primary(intake: IntakeApplication) -> None:
    case_id = consult(intake)
    intake.escalate_case(COUNTER_STAFF, case_id, "複合的な課題", ELDERLY.ja)

    applied = intake.receive(*returned_to_intake(case_id, primary=HARDSHIP.ja))

    view = intake.case_view(case_id)
    assert applied is True
    assert (view["status"], view["primary"]) == ("returned", HARDSHIP.ja)


def test_d5_case_returned_to_intake_delivered_twice_is_applied_once(intake: IntakeApplication) -> None:
    case_id = consult(intake)
    intake.escalate_case(COUNTER_STAFF, case_id, "複合的な課題", ELDERLY.ja)
    envelope, payload = returned_to_intake(case_id)
    intake.receive(envelope, payload)
    recorded = stored_count(intake)

    again = intake.receive(envelope, payload)

    assert again is False
    assert stored_count(intake) == recorded


def test_d12_case_returned_for_a_case_intake_never_saw_records_nothing(intake: IntakeApplication) -> None:
    applied = intake.receive(*returned_to_intake(uuid4()))

    assert applied is True
    assert stored_count(intake) == 0
