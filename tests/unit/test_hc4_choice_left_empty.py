"""A form's boxes to tick left empty (HC's review, session 22). The reception form sent with no 相談内容の分野 ticked
came back with 「相談内容の分野を入力してください」: nothing to type there, and no word of why a box is needed. A checkbox
group left empty (or with fewer ticked than it takes) now says which boxes, how many to tick and why, in both halves;
a field that is typed keeps 「…を入力してください」."""

from __future__ import annotations

import re
from collections.abc import Iterator
from types import SimpleNamespace
from uuid import uuid4

import pytest
from fastapi.testclient import TestClient
from support.auth import staff_headers
from support.municipality import ELDERLY

from services.collaboration.api import SittingIn
from services.intake.api import ConsultationIn, HouseholdEscalateIn
from services.intake.application import IntakeApplication
from shared.kernel.journey import Invalid
from shared.web.limits import form_model
from shared.web.plan_api import AccompanyIn
from unit.builders import IN_MEMORY


def _refusal(model: type, form: dict[str, object]) -> str:
    with pytest.raises(Invalid) as refused:
        form_model(model, form)
    return str(refused.value)


def test_concerns_left_unticked_say_which_how_many_and_why() -> None:
    said = _refusal(ConsultationIn, {"counter": ELDERLY.code, "channel": "窓口", "person_ref": "p-1"})

    assert "相談内容の分野が選ばれていません。1つ以上選んでください。" in said
    assert "つなぎ先" in said and "多機関協働" in said  # why: where to connect, and two fields or more
    assert "concerns: none ticked; tick at least 1:" in said
    assert "相談内容の分野を入力してください" not in said


def test_a_household_with_one_case_ticked_says_two_are_needed_and_why() -> None:
    said = _refusal(HouseholdEscalateIn, {"case_ids": [str(uuid4())], "reason": "世帯で複合的な課題",
                                          "primary_agency": ELDERLY.ja})

    assert "一緒につなぐケースは2つ以上選んでください。" in said and "世帯" in said
    assert "case ids: tick at least 2:" in said


def test_accompaniment_with_no_goal_ticked_says_why() -> None:
    said = _refusal(AccompanyIn, {"since": "2026-12-01"})

    assert "達成した目標が選ばれていません。1つ以上選んでください。伴走支援に移るのは" in said


def test_a_council_sitting_with_no_agency_ticked_says_why() -> None:
    said = _refusal(SittingIn, {"held_on": "2026-12-01"})

    assert "出席機関が選ばれていません。1つ以上選んでください。会議の記録には" in said


def test_a_field_that_is_typed_is_still_asked_for_by_its_name() -> None:
    said = _refusal(ConsultationIn, {"counter": ELDERLY.code, "concerns": ["高齢・介護"], "person_ref": "p-1"})

    assert "経路を入力してください" in said


@pytest.fixture
def served() -> Iterator[TestClient]:
    from services.intake.main import api

    app = IntakeApplication(env=dict(IN_MEMORY))
    api.state.runtime = SimpleNamespace(app=app)  # no lifespan (no bus): the application only
    try:
        yield TestClient(api)
    finally:
        del api.state.runtime
        app.close()


def test_the_reception_page_refused_for_no_concern_says_it_beside_the_form(served: TestClient) -> None:
    answer = served.post("/ui/consultations", headers=staff_headers("kouki-012", ELDERLY.division, "counselor"),
                         data={"counter": ELDERLY.code, "route": "visit", "consulted_by": "self",
                               "name": "試験 太郎", "confirm_new_person": "1"}, follow_redirects=False)

    assert answer.status_code == 422
    said = " ".join(re.findall(r'class="flash ng" role="alert">(.*?)</div>', answer.text, re.DOTALL))
    assert "相談内容の分野が選ばれていません。1つ以上選んでください。" in said, said
