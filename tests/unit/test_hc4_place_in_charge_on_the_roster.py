"""A place's 担当職員 typed by hand (HC's review, session 22), as the case's 担当者 was (test_hc4_assignee_on_the_roster.py):
地域づくり's 拠点の登録 recorded whatever 職員番号 was typed as the place's 担当職員 ('chiiki-01' for chiiki-001), and the
places' list then filtered by an id nobody signs in as. Where Jusou keeps the staff's accounts, an id that is not one
of the staff who may write places (resource.write at community) is refused, 422 `staff_not_listed`, naming those who
may, on the page (the form kept, 「名簿にない番号のまま記録する」 offered) and in the JSON API (`unlisted: true`)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
from fastapi.testclient import TestClient
from support.auth import AUTH_DIR, staff_headers
from support.municipality import ELDERLY, LEAD

from services.community.application import CommunityApplication, community_programs
from shared.domain.wareki import today_in_japan
from shared.web.auth import Accounts
from unit.builders import IN_MEMORY

ME = ("chiiki-001", LEAD, "community_worker")
COLLEAGUE = ("chiiki-002", LEAD, "community_worker")
COUNSELOR = ("kouki-012", ELDERLY.division, "counselor")  # a staff member who writes no places
HEADERS = staff_headers(*ME)


@pytest.fixture
def served() -> Iterator[tuple[TestClient, CommunityApplication]]:
    from services.community.main import api

    path = Path(AUTH_DIR) / "staff.json"
    before = path.read_bytes() if path.exists() else None
    path.unlink(missing_ok=True)
    for staff_id, division, role in (ME, COLLEAGUE, COUNSELOR):
        Accounts(Path(AUTH_DIR)).add(staff_id, division, [role], "test-password-1")
    app = CommunityApplication(env=dict(IN_MEMORY))
    api.state.runtime = SimpleNamespace(app=app)  # no lifespan (no bus): the application only
    try:
        yield TestClient(api), app
    finally:
        del api.state.runtime
        app.close()
        if before is None:
            path.unlink(missing_ok=True)
        else:
            path.write_bytes(before)


def _place(in_charge: str, **more: Any) -> dict[str, Any]:
    return {"program": community_programs(today_in_japan())[0].code, "name": f"サロン {in_charge}",
            "area": "東部地区", "opened_on": today_in_japan().replace(day=1).isoformat(), "in_charge": in_charge, **more}


def test_a_mistyped_place_in_charge_is_refused_naming_who_may(served: tuple[TestClient, CommunityApplication]) -> None:
    client, app = served

    refused = client.post("/places", headers=HEADERS, json=_place("chiiki-01"))

    assert refused.status_code == 422, refused.text
    assert refused.json()["code"] == "staff_not_listed"
    detail = refused.json()["detail"]
    assert "職員番号「chiiki-01」は、この拠点を担当できる職員に見当たりません" in detail
    assert "chiiki-002" in detail and "kouki-012" not in detail
    assert app.places() == []


def test_a_colleague_oneself_nobody_and_an_id_meant_are_recorded(served: tuple[TestClient, CommunityApplication]) -> None:
    client, app = served

    for in_charge, more in (("chiiki-002", {}), ("ｃｈｉｉｋｉ－００２", {}), ("chiiki-001", {}), ("", {}),
                            ("chiiki-099", {"unlisted": True})):
        made = client.post("/places", headers=HEADERS, json=_place(in_charge, **more))
        assert made.status_code == 201, (in_charge, made.text)

    assert sorted(p["in_charge"] for p in app.places()) == ["chiiki-001", "chiiki-001", "chiiki-002", "chiiki-002",
                                                             "chiiki-099"]


def test_a_staff_member_who_writes_no_places_is_told_why(served: tuple[TestClient, CommunityApplication]) -> None:
    client, _ = served

    refused = client.post("/places", headers=HEADERS, json=_place("kouki-012"))

    assert refused.status_code == 422 and "この拠点の担当になれません" in refused.json()["detail"]


def test_the_places_page_refuses_it_beside_the_form_and_offers_to_record_it_anyway(
        served: tuple[TestClient, CommunityApplication]) -> None:
    client, app = served
    assert '<option value="chiiki-002">' in client.get("/ui/places", headers=HEADERS).text

    refused = client.post("/ui/places", headers=HEADERS, data=_place("chiiki-01"), follow_redirects=False)

    assert refused.status_code == 422
    assert "職員番号「chiiki-01」" in refused.text and 'name="unlisted"' in refused.text
    assert 'value="chiiki-01"' in refused.text  # what was typed is kept
    meant = client.post("/ui/places", headers=HEADERS, data={**_place("chiiki-01"), "unlisted": "1"},
                        follow_redirects=False)
    assert meant.status_code == 303, meant.text
    assert [p["in_charge"] for p in app.places()] == ["chiiki-01"]
