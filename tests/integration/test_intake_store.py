"""Intake on a real SQLite store: search before create, つなぎ answers, encryption at rest."""

from __future__ import annotations

import os
from pathlib import Path
from uuid import UUID

import pytest
from eventsourcing.persistence import MapperDeserialisationError
from support.municipality import CHILDCARE, HARDSHIP, SHAKYO, partner

from services.intake.application import IntakeApplication
from services.intake.domain import PossibleDuplicate
from services.intake.translate import translate
from shared.kernel.journey import DomainError, Invalid
from shared.kernel.store import store_env
from shared.settings import Settings

STAFF = {"staff_id": "s-014", "division": HARDSHIP.division}
PERSON = {"name": "布田 花子", "kana": "フダ ハナコ", "birth_date": "1948-03-09", "address": "調布市布田1-2-3",
          "phone": "042-481-0000"}


@pytest.fixture
def intake(tmp_path: Path) -> IntakeApplication:
    os.environ["JUSOU_DATA_DIR"] = str(tmp_path)
    return IntakeApplication(env=store_env(Settings.from_env("intake")))


def receive(app: IntakeApplication, person: dict[str, str] | None = None, person_ref: str | None = None,
            confirm: bool = False) -> UUID:
    return app.receive_consultation(STAFF, HARDSHIP.code, HARDSHIP.division, "電話", ["生活困窮", "住まい"],
                                    person, person_ref, confirm)


def test_d2_personal_information_is_encrypted_at_rest(intake: IntakeApplication, tmp_path: Path) -> None:
    receive(intake, PERSON)
    raw = (tmp_path / "intake.sqlite").read_bytes()
    for value in (PERSON["name"], PERSON["address"], PERSON["phone"], "布田"):
        assert value.encode("utf-8") not in raw
    person_ref = UUID(intake.cases()[0]["person_ref"])
    assert intake.person_view(person_ref)["name"] == PERSON["name"]
    # Compression alone would also hide the bytes: prove that the key is needed to read them.
    wrong_key = {**store_env(Settings.from_env("intake")), "CIPHER_KEY": "A" * 43 + "="}
    with pytest.raises(MapperDeserialisationError):
        IntakeApplication(env=wrong_key).person_view(person_ref)


def test_d2_search_before_create_offers_the_known_person(intake: IntakeApplication) -> None:
    receive(intake, PERSON)
    same_name_and_birth = {"name": "布田　花子", "birth_date": "1948-03-09"}  # full-width space
    with pytest.raises(PossibleDuplicate) as offered:
        receive(intake, same_name_and_birth)
    [candidate] = offered.value.extra["candidates"]
    assert candidate["name"] == PERSON["name"] and "address" not in candidate
    case_id = receive(intake, person_ref=candidate["person_ref"])
    assert intake.case_view(case_id)["person_ref"] == candidate["person_ref"]


def test_d2_search_before_create_matches_kana_and_phone(intake: IntakeApplication) -> None:
    receive(intake, PERSON)
    found = intake.find_people(STAFF, None, None, "ふだ はなこ", "0424810000")
    assert [p["name"] for p in found] == [PERSON["name"]]
    assert intake.find_people(STAFF, "布田 花子", "1950-01-01", None, None) == []


def test_d2_a_different_person_with_the_same_name_can_be_confirmed_new(intake: IntakeApplication) -> None:
    first = receive(intake, PERSON)
    second = receive(intake, {"name": PERSON["name"], "birth_date": PERSON["birth_date"]}, confirm=True)
    assert intake.case_view(first)["person_ref"] != intake.case_view(second)["person_ref"]
    assert len(intake.find_people(STAFF, PERSON["name"], PERSON["birth_date"], None, None)) == 2


def test_d3_connection_accepted_makes_the_agency_primary(intake: IntakeApplication) -> None:
    case_id = receive(intake, PERSON)
    intake.connect_case(STAFF, case_id, SHAKYO, "家計相談のため")
    intake.answer_connection(STAFF, case_id, 0, True, "")
    case = intake.case_view(case_id)
    assert case["primary"] == SHAKYO
    assert case["connections"][0]["status"] == "accepted"
    answered = [translate(intake.mapper.to_domain_event(n), n.id) for n in intake.notifications()][-1]
    assert answered is not None and answered.event_type == "CaseConnectionAnswered"
    assert answered.payload == {"to_agency": SHAKYO, "to_agency_code": "partner:shakyo", "accepted": True,
                                "reason": ""}  # the code beside the name (issue 18)


def test_d3_connection_declined_needs_a_reason_and_keeps_the_primary(intake: IntakeApplication) -> None:
    case_id = receive(intake, PERSON)
    intake.connect_case(STAFF, case_id, partner("hello-work"), "就労相談")
    with pytest.raises(Invalid):
        intake.answer_connection(STAFF, case_id, 0, False, " ")
    intake.answer_connection(STAFF, case_id, 0, False, "対象外の年齢のため")
    with pytest.raises(DomainError):
        intake.answer_connection(STAFF, case_id, 0, True, "")
    case = intake.case_view(case_id)
    assert case["primary"] == HARDSHIP.ja and case["connections"][0]["status"] == "declined"


def test_d3_concerns_in_two_fields_flag_an_escalation_candidate(intake: IntakeApplication) -> None:
    two = receive(intake, PERSON)
    one = intake.receive_consultation(STAFF, HARDSHIP.code, HARDSHIP.division, "窓口", ["生活困窮"], None,
                                      intake.case_view(two)["person_ref"])
    assert intake.case_view(two)["escalation_candidate"] is True
    assert intake.case_view(one)["escalation_candidate"] is False
    intake.escalate_case(STAFF, two, "住まいと生活困窮が重なる", HARDSHIP.ja)
    assert intake.case_view(two)["escalation_candidate"] is False


def test_d2_concerns_are_fields_of_the_city_list_by_code_or_name(intake: IntakeApplication) -> None:
    case_id = intake.receive_consultation(STAFF, HARDSHIP.code, HARDSHIP.division, "メール",
                                          ["poverty", "住まい", "生活困窮"], {"name": "x"}, None, True)
    assert intake.case_view(case_id)["concerns"] == ["生活困窮", "住まい"]
    with pytest.raises(Invalid) as refused:
        intake.receive_consultation(STAFF, HARDSHIP.code, HARDSHIP.division, "窓口", ["占い"], {"name": "y"}, None, True)
    assert "占い" in str(refused.value) and "ひきこもり" in str(refused.value)


def test_d10_each_search_candidate_shown_is_recorded_as_a_disclosure(intake: IntakeApplication) -> None:
    from shared.domain.audit import disclosure_rows

    case_id = receive(intake, PERSON)
    person_ref = intake.case_view(case_id)["person_ref"]
    searcher = {"staff_id": "s-099", "division": CHILDCARE.division}
    assert [p["person_ref"] for p in intake.find_people(searcher, None, None, "ふだ はなこ", "0424810000")] == [person_ref]
    assert intake.find_people(searcher, "誰 でもない", "1900-01-01", None, None) == []
    rows = disclosure_rows(intake.person_rows(UUID(person_ref)))
    assert [(r["staff_id"], r["division"], r["basis"]) for r in rows] == [("s-099", CHILDCARE.division, "search_before_create")]
