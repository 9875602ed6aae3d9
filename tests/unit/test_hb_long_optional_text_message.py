"""A bad input gets a message a person can act on (STYLE): a text that may be left out (`str | None` with a length, as
the 担当者's 職員番号, the meeting's 主担当機関, intake's known person) sent too long was refused 「100 件以内にしてください /
Value should have at most 100 items after validation, not 101」: 件 counts items of a list, and nothing said it was
the characters (pydantic checks the length of an optional text as a list's). It now says characters, in both halves,
as a text that may not be left out always did (「… 文字以内にしてください」). Found probing the JSON API of a `jusou up`
(HB's review)."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient

from services.intake.application import IntakeApplication
from shared.kernel.journey import Invalid
from shared.web.casework_api import AssignIn
from shared.web.limits import form_model
from unit import test_hc4_assignee_on_the_roster as assignee
from unit.test_intake import consult

#: the fixtures of the assignment's tests: the accounts they make, intake without its bus
roster_kept, served = assignee.roster_kept, assignee.served


def test_a_bad_input_an_optional_text_too_long_is_refused_in_characters_not_items(
        served: tuple[TestClient, IntakeApplication]) -> None:
    client, app = served
    case_id = consult(app)

    refused = client.post(f"/cases/{case_id}/casework/assignment", headers=assignee.HEADERS,
                          json={"role": "main", "staff_id": "a" * 101})

    assert refused.status_code == 422 and refused.json()["code"] == "invalid"
    [problem] = refused.json()["detail"]
    assert problem["loc"] == ["body", "staff_id"]
    assert problem["msg"] == "100 文字以内にしてください / String should have at most 100 characters", problem["msg"]


def test_a_bad_input_an_optional_text_too_long_on_a_form_says_characters() -> None:
    with pytest.raises(Invalid) as refused:
        form_model(AssignIn, {"role": "main", "staff_id": "a" * 101})

    said = str(refused.value)
    assert "100 文字以内にしてください" in said and "at most 100 characters" in said, said
    assert "件" not in said and "items" not in said
