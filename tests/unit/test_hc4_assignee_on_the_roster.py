"""A 担当者 typed by hand (HC's review, session 22). `demo-counselr` for `demo-counselor` was recorded: the case was in
the charge of an id nobody signs in as, on nobody's 自分の担当, and the page said 「担当を記録しました」. Where Jusou keeps
the staff's accounts (the development issuer), an id that is not one of the staff who may hold the case (roles that
write this program's casework, a division that sees the case) is refused, 422 `staff_not_listed`, naming those who
may, on the page (the form kept, with 「名簿にない番号のまま記録する」 offered) and in the JSON API (`unlisted: true` to
mean it). The one assigning, and staff named on the case before, are always accepted; without a roster (the city's
IdP) nothing is checked."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from types import SimpleNamespace

import pytest
from fastapi.testclient import TestClient
from support.auth import AUTH_DIR, staff_headers
from support.municipality import CHILDCARE, ELDERLY, LEAD

from services.intake.application import IntakeApplication
from shared.web.auth import Accounts
from unit.builders import IN_MEMORY
from unit.test_intake import consult

ME = ("kouki-012", ELDERLY.division, "counselor")
COLLEAGUE = ("kouki-020", ELDERLY.division, "counselor")
OTHER_COUNTER = ("kodomo-003", CHILDCARE.division, "counselor")  # a counselor whose division does not see the case
AUDITOR = ("kansa-009", LEAD, "auditor")  # reads every division, writes no casework
HEADERS = staff_headers(*ME)


@pytest.fixture
def roster_kept() -> Iterator[None]:
    """The development issuer's accounts as this test makes them; the run's own put back after."""
    path = Path(AUTH_DIR) / "staff.json"
    before = path.read_bytes() if path.exists() else None
    path.unlink(missing_ok=True)
    accounts = Accounts(Path(AUTH_DIR))
    for staff_id, division, role in (ME, COLLEAGUE, OTHER_COUNTER, AUDITOR):
        accounts.add(staff_id, division, [role], "test-password-1")
    try:
        yield
    finally:
        if before is None:
            path.unlink(missing_ok=True)
        else:
            path.write_bytes(before)


@pytest.fixture
def served(roster_kept: None) -> Iterator[tuple[TestClient, IntakeApplication]]:
    from services.intake.main import api

    app = IntakeApplication(env=dict(IN_MEMORY))
    api.state.runtime = SimpleNamespace(app=app)  # no lifespan (no bus): the application only
    try:
        yield TestClient(api), app
    finally:
        del api.state.runtime
        app.close()


def _assign(client: TestClient, case_id: object, staff_id: str, role: str = "main", **more: object) -> object:
    return client.post(f"/cases/{case_id}/casework/assignment", headers=HEADERS,
                       json={"role": role, "staff_id": staff_id, **more})


def test_a_mistyped_staff_id_is_refused_naming_who_may_hold_the_case(
        served: tuple[TestClient, IntakeApplication]) -> None:
    client, app = served
    case_id = consult(app)

    refused = _assign(client, case_id, "kouki-21")

    assert refused.status_code == 422, refused.text
    body = refused.json()
    assert body["code"] == "staff_not_listed"
    assert "職員番号「kouki-21」" in body["detail"]
    assert "kouki-012（相談員" in body["detail"] and "kouki-020" in body["detail"]
    assert "kodomo-003" not in body["detail"]  # another counter's division does not see this case
    assert "kansa-009" not in body["detail"]  # an auditor writes no casework
    assert app.case_file(case_id).main is None  # nothing recorded


def test_staff_on_the_roster_the_one_assigning_and_an_id_meant_are_recorded(
        served: tuple[TestClient, IntakeApplication]) -> None:
    client, app = served
    case_id = consult(app)

    assert _assign(client, case_id, "kouki-020").status_code == 200
    assert _assign(client, case_id, "kouki-012", role="sub").status_code == 200  # oneself
    assert _assign(client, case_id, "kouki-099", unlisted=True).status_code == 200  # not on the list, and meant
    assert _assign(client, case_id, "kouki-020").status_code == 200  # named on the case before

    assert app.case_file(case_id).main == "kouki-020"


def test_without_a_roster_nothing_is_checked(served: tuple[TestClient, IntakeApplication],
                                             monkeypatch: pytest.MonkeyPatch) -> None:
    from shared.web import staff_roster

    client, app = served
    monkeypatch.setattr(staff_roster, "_accounts", lambda principal: None)  # the city's IdP: no accounts kept here
    case_id = consult(app)

    assert _assign(client, case_id, "kouki-21").status_code == 200


def test_the_page_refuses_it_beside_the_form_and_offers_to_record_it_anyway(
        served: tuple[TestClient, IntakeApplication]) -> None:
    client, app = served
    case_id = consult(app)
    page = client.get(f"/ui/cases/{case_id}/casework", headers=HEADERS)
    assert '<option value="kouki-020">' in page.text  # the roster offered as the id is typed
    assert page.text.count('<option value="kouki-012">') == 1  # the reader once, not again as one of the roster

    refused = client.post(f"/ui/cases/{case_id}/casework/assignment", headers=HEADERS,
                          data={"role": "main", "staff_id": "kouki-21", "shown": ""}, follow_redirects=False)

    assert refused.status_code == 422
    form_part = refused.text.split('id="assignment"', 1)[1]
    assert "職員番号「kouki-21」" in form_part and "kouki-020" in form_part
    assert 'value="kouki-21"' in form_part  # what was typed is kept
    assert 'name="unlisted"' in form_part and "名簿にない番号のまま記録する" in form_part

    meant = client.post(f"/ui/cases/{case_id}/casework/assignment", headers=HEADERS,
                        data={"role": "main", "staff_id": "kouki-21", "shown": "", "unlisted": "1"},
                        follow_redirects=False)
    assert meant.status_code == 303, meant.text
    assert app.case_file(case_id).main == "kouki-21"


def test_the_openapi_document_names_the_refusal_and_the_way_to_mean_it(served: tuple[TestClient, IntakeApplication]) -> None:
    client, _ = served
    document = client.get("/openapi.json").json()
    operation = document["paths"]["/cases/{case_id}/casework/assignment"]["post"]

    assert "422" in operation["responses"]
    assert "staff_not_listed" in operation["description"]
    schema = json.dumps(document["components"]["schemas"]["AssignIn"], ensure_ascii=False)
    assert "unlisted" in schema and "staff_not_listed" in schema


def test_an_id_typed_in_full_width_or_with_a_space_is_the_staff_members_own(
        served: tuple[TestClient, IntakeApplication]) -> None:
    """「ｋｏｕｋｉ－０２０」 from the IME, or 'kouki-020 ' pasted with a space, is kouki-020: recorded as that id, not as
    another id nobody signs in as (before, each was recorded as typed)."""
    client, app = served
    case_id = consult(app)

    assert _assign(client, case_id, "ｋｏｕｋｉ－０２０").status_code == 200
    assert app.case_file(case_id).main == "kouki-020"
    assert _assign(client, case_id, "ｋｏｕｋｉ－０１２ ", role="sub").status_code == 200  # oneself, full-width
    assert app.case_file(case_id).sub == "kouki-012"
    assert _assign(client, case_id, "kouki-0\u200b20").status_code == 200  # a zero-width space pasted inside
    assert app.case_file(case_id).main == "kouki-020"
    assert _assign(client, case_id, "ｋｏｕｋｉ－０\u200b９９", unlisted=True).status_code == 200  # meant, folded
    assert app.case_file(case_id).main == "kouki-099"


@pytest.mark.parametrize("staff", [OTHER_COUNTER, AUDITOR])
def test_a_staff_member_who_may_not_hold_the_case_is_told_why_not_to_check_the_id(
        served: tuple[TestClient, IntakeApplication], staff: tuple[str, str, str]) -> None:
    """Another counter's counselor (whose division does not see the case) and an auditor (who writes no case record)
    are staff members: the refusal says why they may not hold it, not 「番号を確かめてください」."""
    client, app = served
    case_id = consult(app)

    refused = _assign(client, case_id, staff[0])

    assert refused.status_code == 422 and refused.json()["code"] == "staff_not_listed"
    detail = refused.json()["detail"]
    assert f"職員番号「{staff[0]}」（" in detail and "このケースの担当になれません" in detail, detail
    assert "番号を確かめてください" not in detail and "kouki-012" in detail
