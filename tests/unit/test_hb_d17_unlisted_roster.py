"""The 担当者 / 副担当 and a place's 担当職員 roster check (D17; 4630b80, 5d2b25a, d2c7abf, 833f89a) probed from outside
(HB's review, on a `jusou up` of one's own):

- `unlisted: true` ("a colleague without an account yet") recorded an account who may not hold the case all the same:
  the auditor `demo-auditor` (writes no case record) as 副担当 of a counter's case, answered 200; another counter's
  counselor likewise, and a counselor as a place's 担当職員. The refusal that says why they may not (5d2b25a) now
  stands with `unlisted` too, and the page no longer offers 「名簿にない番号のまま記録する」 for it (sending it again
  would be refused again).
- An id that only looks like a staff member's ('DEMO-COUNSELOR', a Cyrillic е in 'demo-counsеlor', a hyphen U+2010,
  the IME's ー) was refused as off the roster, and with `unlisted` recorded as another id that reads the same: the same
  person under two ids (what 833f89a meant to stop for full width). It is now the staff member's id.
- A staff member who may not hold the case typed in full width was told 「番号を確かめてください」 (the account was looked
  up as typed): now told why not, as when typed in ASCII."""

from __future__ import annotations

from typing import Any

import pytest
from fastapi.testclient import TestClient

from services.intake.application import IntakeApplication
from unit import test_hc4_assignee_on_the_roster as assignee
from unit import test_hc4_place_in_charge_on_the_roster as places
from unit.test_intake import consult

AUDITOR, OTHER_COUNTER, HEADERS = assignee.AUDITOR, assignee.OTHER_COUNTER, assignee.HEADERS
#: the fixtures of the tests of the check this review probed: the accounts they make, the service without its bus
roster_kept, served, place_served = assignee.roster_kept, assignee.served, places.served


def _assign(client: TestClient, case_id: object, staff_id: str, role: str = "main", **more: object) -> Any:
    return client.post(f"/cases/{case_id}/casework/assignment", headers=HEADERS,
                       json={"role": role, "staff_id": staff_id, **more})


@pytest.mark.parametrize("staff", [OTHER_COUNTER, AUDITOR])
def test_d17_unlisted_does_not_make_a_staff_member_who_may_not_hold_the_case_its_holder(
        served: tuple[TestClient, IntakeApplication], staff: tuple[str, str, str]) -> None:
    client, app = served
    case_id = consult(app)

    refused = _assign(client, case_id, staff[0], unlisted=True)

    assert refused.status_code == 422, refused.text
    assert refused.json()["code"] == "staff_not_listed"
    assert "このケースの担当になれません" in refused.json()["detail"]
    assert app.case_file(case_id).main is None  # nothing recorded
    # nor as 副担当 once a 担当者 is named
    assert _assign(client, case_id, "kouki-020").status_code == 200
    assert _assign(client, case_id, staff[0], role="sub", unlisted=True).status_code == 422
    assert app.case_file(case_id).sub is None


@pytest.mark.parametrize("typed", ["KOUKI-020", "Kouki-020", "kouki\u2010020", "kouki\u2212020", "kouki\u30fc020",
                                   "k\u043euki-020", " ｋｏｕｋｉ－０２０ "])
@pytest.mark.parametrize("unlisted", [False, True])
def test_d17_an_id_that_only_looks_like_a_staff_members_is_theirs(
        served: tuple[TestClient, IntakeApplication], typed: str, unlisted: bool) -> None:
    client, app = served
    case_id = consult(app)

    answered = _assign(client, case_id, typed, unlisted=unlisted)

    assert answered.status_code == 200, answered.text
    assert app.case_file(case_id).main == "kouki-020"


def test_d17_an_id_off_the_roster_that_looks_like_no_one_is_still_refused_or_meant(
        served: tuple[TestClient, IntakeApplication]) -> None:
    client, app = served
    case_id = consult(app)

    assert _assign(client, case_id, "kouki-021").status_code == 422
    assert _assign(client, case_id, "kouki-021", unlisted=True).status_code == 200
    assert app.case_file(case_id).main == "kouki-021"


def test_d17_a_staff_member_who_may_not_hold_the_case_typed_in_full_width_is_told_why(
        served: tuple[TestClient, IntakeApplication]) -> None:
    client, app = served
    case_id = consult(app)

    refused = _assign(client, case_id, "ｋａｎｓａ－００９")

    assert refused.status_code == 422
    detail = refused.json()["detail"]
    assert "このケースの担当になれません" in detail and "番号を確かめてください" not in detail, detail


def test_d17_the_page_does_not_offer_to_record_a_staff_member_who_may_not_hold_the_case(
        served: tuple[TestClient, IntakeApplication]) -> None:
    client, app = served
    case_id = consult(app)

    refused = client.post(f"/ui/cases/{case_id}/casework/assignment", headers=HEADERS,
                          data={"role": "main", "staff_id": AUDITOR[0], "shown": "", "unlisted": "1"},
                          follow_redirects=False)

    assert refused.status_code == 422, refused.text
    form_part = refused.text.split('id="assignment"', 1)[1]
    assert "このケースの担当になれません" in form_part
    assert f'value="{AUDITOR[0]}"' in form_part  # what was typed is kept
    assert 'name="unlisted"' not in form_part  # it would be refused again
    assert app.case_file(case_id).main is None


def test_d17_unlisted_does_not_make_a_staff_member_who_writes_no_places_a_places_holder(
        place_served: tuple[TestClient, Any]) -> None:
    client, app = place_served

    refused = client.post("/places", headers=places.HEADERS, json=places._place(places.COUNSELOR[0], unlisted=True))

    assert refused.status_code == 422, refused.text
    assert refused.json()["code"] == "staff_not_listed"
    assert app.places() == []
    made = client.post("/places", headers=places.HEADERS, json=places._place("CHIIKI-002", unlisted=True))
    assert made.status_code == 201 and [p["in_charge"] for p in app.places()] == ["chiiki-002"]


def test_d17_the_openapi_document_says_unlisted_does_not_name_a_staff_member_who_may_not_hold_it(
        served: tuple[TestClient, IntakeApplication]) -> None:
    client, _ = served
    document = client.get("/openapi.json").json()

    unlisted = document["components"]["schemas"]["AssignIn"]["properties"]["unlisted"]["description"]
    assert "refused all the same" in unlisted
    assert "unless it is a staff member who may not hold" in \
        document["paths"]["/cases/{case_id}/casework/assignment"]["post"]["description"]


def test_d17_an_id_alike_to_two_is_asked_to_be_checked_not_said_to_be_one_who_may_not_hold_it(
        served: tuple[TestClient, IntakeApplication]) -> None:
    """'Kouki-020' looks like kouki-020 (on the roster) and like 'KOUKI-020', recorded off the roster before ids that
    look alike were one: neither is chosen, and the refusal asks to check the id; it does not call kouki-020 one who
    may not hold the case."""
    client, app = served
    case_id = consult(app)
    app.assign({"staff_id": "kouki-012"}, case_id, "main", "KOUKI-020")  # as an unlisted id was recorded before

    refused = _assign(client, case_id, "Kouki-020", role="sub")

    assert refused.status_code == 422
    detail = refused.json()["detail"]
    assert "番号を確かめてください" in detail and "担当になれません" not in detail, detail
    assert app.case_file(case_id).sub is None


def test_d17_an_id_meant_stays_within_its_bound_once_folded(served: tuple[TestClient, IntakeApplication]) -> None:
    """The id is folded (NFKC) after its length (100) is checked: 100 × 'ﷺ' passed the bound and, with `unlisted`,
    was recorded as a 担当者 of 1800 characters (found on a `jusou up`). It is refused, nothing recorded."""
    client, app = served
    case_id = consult(app)

    refused = _assign(client, case_id, "\ufdfa" * 100, unlisted=True)

    assert refused.status_code == 422 and refused.json()["code"] == "invalid", refused.text
    assert "100文字以内" in refused.json()["detail"] and "1800" in refused.json()["detail"]
    assert app.case_file(case_id).main is None
    assert _assign(client, case_id, "ｋｏｕｋｉ－０９９", unlisted=True).status_code == 200  # shorter once folded: as before
    assert app.case_file(case_id).main == "kouki-099"
