"""Intake's own access rules and the queries its routes and pages rely on (issue 14: intake's checks
live in the service, each rule checked once, in the application; every JSON answer has a model)."""

from __future__ import annotations

import json
from uuid import uuid4

import pytest
from support.municipality import CHILDCARE, DISABILITY, ELDERLY, division_name

from services.intake.access import case_readers, may_see_referral
from services.intake.application import IntakeApplication
from shared.kernel.journey import Invalid, NotFound
from shared.web.auth import Principal
from unit.builders import COUNTER_STAFF, PERSON, in_memory


@pytest.fixture
def intake() -> IntakeApplication:
    return in_memory(IntakeApplication)


def test_issue13_an_intake_case_scope_is_its_readers_not_the_divisions_its_history_names(intake: IntakeApplication) -> None:
    case_id = intake.receive_consultation(COUNTER_STAFF, ELDERLY.code, ELDERLY.division, "窓口", ["高齢・介護"],
                                          dict(PERSON), None, True)
    intake.connect_case(COUNTER_STAFF, case_id, division_name(DISABILITY.division), "障害の相談")

    assert intake.case_divisions(case_id) == case_readers(intake.case_view(case_id))
    assert intake.case_divisions(case_id) == {ELDERLY.division, DISABILITY.division}
    with pytest.raises(NotFound):  # the policy lets it through: the route answers 404
        intake.case_divisions(uuid4())


@pytest.mark.parametrize(("person", "person_ref"), [(None, None), (dict(PERSON), str(uuid4()))])
def test_a_consultation_names_either_a_new_person_or_a_known_one(
        intake: IntakeApplication, person: dict[str, str] | None, person_ref: str | None) -> None:
    with pytest.raises(Invalid, match="どちらか一方"):
        intake.receive_consultation(COUNTER_STAFF, ELDERLY.code, ELDERLY.division, "窓口", ["高齢・介護"], person,
                                    person_ref, True)


def test_d2_an_unknown_counter_is_refused_naming_the_counters(intake: IntakeApplication) -> None:
    with pytest.raises(Invalid, match="窓口 'nowhere' はありません") as refused:
        intake.receive_consultation(COUNTER_STAFF, "nowhere", "", "窓口", ["高齢・介護"], dict(PERSON), None, True)
    assert ELDERLY.code in str(refused.value)


def test_search_before_create_needs_name_and_birth_date_or_kana_and_phone(intake: IntakeApplication) -> None:
    with pytest.raises(Invalid, match="氏名と生年月日"):
        intake.search_people(COUNTER_STAFF, PERSON["name"], None, None, PERSON["phone"])
    assert intake.search_people(COUNTER_STAFF, PERSON["name"], PERSON["birth_date"], None, None) == []


def test_d12_a_referral_is_seen_by_its_counters_division_and_by_auditors() -> None:
    referral = {"case_id": str(uuid4()), "counter": ELDERLY.code, "reason": "", "status": "waiting"}

    def who(division: str, role: str) -> Principal:
        return Principal(staff_id="x", division=division, roles=frozenset({role}))

    assert may_see_referral(who(ELDERLY.division, "counselor"), referral)
    assert not may_see_referral(who(CHILDCARE.division, "counselor"), referral)
    assert may_see_referral(who(CHILDCARE.division, "auditor"), referral)


def test_every_intake_json_route_declares_the_model_of_its_answer() -> None:
    """Every JSON route of intake answers with a declared model (15, and the six of households, issue 15)."""
    from services.intake.main import api

    operations = [(path, op) for path, ops in api.openapi()["paths"].items() for op in ops.values()
                  if op.get("tags") == ["intake"]]
    unmodelled = [path for path, op in operations
                  if "$ref" not in json.dumps([r for c, r in op["responses"].items() if c.startswith("2")])]
    assert len(operations) == 21 and unmodelled == [], unmodelled
