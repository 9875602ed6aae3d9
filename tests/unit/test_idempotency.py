"""A command's Idempotency-Key record is saved with its effect, in one transaction, and stays private
(shared/kernel/idempotency.py; the HTTP side is tests/e2e/test_idempotency.py)."""

from __future__ import annotations

import importlib
import json
from uuid import UUID, uuid4

import pytest
from support.municipality import ELDERLY, LEAD

from services.intake.application import IntakeApplication
from shared.kernel.idempotency import (
    AlreadyRecorded,
    IdempotentRequest,
    fingerprint_of,
    kept,
    marking,
    request_id_of,
)
from shared.settings import PORTS
from unit.builders import COUNTER_STAFF, PERSON, in_memory, stored_count


@pytest.fixture
def intake() -> IntakeApplication:
    return in_memory(IntakeApplication)


def consult(app: IntakeApplication) -> str:
    return str(app.receive_consultation(COUNTER_STAFF, ELDERLY.code, ELDERLY.division, "電話", ["高齢・介護"],
                                        dict(PERSON), None))


def test_the_record_is_saved_in_the_same_transaction_as_the_effect(intake: IntakeApplication) -> None:
    request_id = request_id_of("intake", "kouki-012", "POST", "/consultations", "k1")
    before = stored_count(intake)
    with marking(request_id, "POST /consultations", "f1"):
        case_id = consult(intake)
    record = intake.idempotent_record(request_id)
    assert record is not None and record.version == 1 and record.answer is None
    assert case_id in record.recorded and record.fingerprint == "f1"
    notifications = intake.recorder.select_notifications(start=before + 1, limit=10)
    assert [n.topic.rsplit(":", 1)[-1] for n in notifications][-1] == "IdempotentRequest.Requested"
    assert len(notifications) == 3  # the person, the case and the record: one put


def test_a_duplicate_saved_after_the_first_records_nothing(intake: IntakeApplication) -> None:
    request_id = request_id_of("intake", "kouki-012", "POST", "/consultations", "k2")
    with marking(request_id, "POST /consultations", "f"):
        consult(intake)
    before = stored_count(intake)
    with marking(request_id, "POST /consultations", "f"), pytest.raises(AlreadyRecorded):
        consult(intake)  # a duplicate sent at the same time: its own case would be a second effect
    assert stored_count(intake) == before


def test_only_the_first_save_of_a_command_carries_the_record(intake: IntakeApplication) -> None:
    request_id = request_id_of("intake", "kouki-012", "POST", "/consultations", "k3")
    with marking(request_id, "POST /consultations", "f"):
        case_id = consult(intake)
        intake.record_consent(COUNTER_STAFF, UUID(case_id), "関係機関との情報共有", True, "書面")  # no AlreadyRecorded
    assert intake.idempotent_record(request_id) is not None


def test_the_answer_is_kept_once(intake: IntakeApplication) -> None:
    request_id = request_id_of("intake", "kouki-012", "POST", "/consultations", "k4")
    with marking(request_id, "POST /consultations", "f"):
        consult(intake)
    intake.answer_request(request_id, 201, "application/json", "", '{"case_id": "x"}')
    intake.answer_request(request_id, 500, "text/plain", "", "other")
    record = intake.idempotent_record(request_id)
    assert record is not None and record.version == 2
    assert record.answer == {"status": 201, "content_type": "application/json", "location": "",
                             "body": '{"case_id": "x"}'}


def test_without_a_key_nothing_is_added(intake: IntakeApplication) -> None:
    before = stored_count(intake)
    consult(intake)
    assert stored_count(intake) == before + 2


@pytest.mark.parametrize("service", list(PORTS))
def test_no_service_publishes_the_record(service: str) -> None:
    translate = importlib.import_module(f"services.{service}.translate").translate
    record = IdempotentRequest(request_id=uuid4(), route="POST /x", fingerprint="f", recorded=[])
    record.give_answer(201, "application/json", "", "{}")
    assert [translate(e, i) for i, e in enumerate(record.collect_events(), start=1)] == [None, None]


def test_d9_a_refusal_keeps_its_message_but_not_the_people_it_listed() -> None:
    body = json.dumps({"detail": "同じ方が既に登録されている可能性があります", "candidates": [{"name": "調布 花子"}]},
                      ensure_ascii=False).encode()
    assert json.loads(kept(409, "application/json", body)) == {"detail": "同じ方が既に登録されている可能性があります"}
    assert kept(409, "text/html; charset=utf-8", "<p>調布 花子</p>".encode()) == ""
    assert kept(201, "application/json", b'{"case_id": "c"}') == '{"case_id": "c"}'


def test_the_fingerprint_is_of_the_content_not_its_layout() -> None:
    assert fingerprint_of("POST", "/p", b'{"a": 1, "b": 2}') == fingerprint_of("POST", "/p", b'{"b":2,"a":1}')
    assert fingerprint_of("POST", "/p", b'{"a": 1}') != fingerprint_of("POST", "/q", b'{"a": 1}')
    assert fingerprint_of("POST", "/p", b'{"a": 1}') != fingerprint_of("POST", "/p", b'{"a": 2}')


def test_a_retried_erasure_that_stopped_before_deleting_the_key_deletes_it(intake: IntakeApplication) -> None:
    from services.intake.domain import Person

    person_ref = UUID(intake.case_view(UUID(consult(intake)))["person_ref"])
    person = intake.load(person_ref, Person, "相談者")
    person.erase("kanri-001", LEAD, "person_request", "本人の請求")
    request_id = request_id_of("intake", "kanri-001", "POST", "/persons/{person_ref}/erasure", "k5")
    with marking(request_id, "POST /persons/{person_ref}/erasure", "f"):
        intake.save(person)  # recorded; the process stops here, before the key is deleted
    assert intake.keys.get(person_ref) is not None
    record = intake.idempotent_record(request_id)
    assert record is not None and str(person_ref) in record.recorded
    intake.finish_recorded([UUID(i) for i in record.recorded])  # what the key's retry does
    assert intake.keys.get(person_ref) is None
