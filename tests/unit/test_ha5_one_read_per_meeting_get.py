"""Issue 19: the meeting's `GET /meetings/{meeting_id}` reads the meeting once, the `ETag` and the minutes from the same
read, as collaboration's case and participation's support do since 589fd6e (tests/unit/test_hb4_one_read_per_get.py).
Before, it read the meeting for the tag (`meeting_version`) and again for the view (`meeting_view`, where the D10 check
lives): two selects a request, two of the journey's (the secretariat reads the meeting before each decision). One read
also cannot give the minutes of one version under the tag of another. A 支援会議's minutes are still refused to a
non-member (D10) with the same message, and given to a member."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
from fastapi.testclient import TestClient
from support.auth import staff_headers
from support.municipality import ELDERLY, HARDSHIP, LEAD, LEAD_NAME

from services.meeting.application import MeetingApplication
from shared.web.if_match import etag_of
from unit.builders import SECRETARIAT
from unit.test_loads_per_command import selects

SECRETARY = staff_headers(SECRETARIAT["staff_id"], LEAD, "secretariat")
SITTING = {"starts_at": "14:00", "ends_at": "15:30", "place": "市役所 8階 特別会議室",
           "present": [{"name": "調布 花子", "agency": LEAD_NAME}, {"name": "深大寺 太郎", "agency": ELDERLY.ja}],
           "chair": "調布 花子", "recorder": "深大寺 太郎"}


@pytest.fixture
def served(tmp_path: Path) -> Iterator[tuple[TestClient, MeetingApplication]]:
    from services.meeting.main import api

    app = MeetingApplication(env={"PERSISTENCE_MODULE": "eventsourcing.sqlite", "JUSOU_READMODELS_FOLLOW": "0",
                                  "SQLITE_DBNAME": str(tmp_path / "meeting.sqlite")})
    api.state.runtime = SimpleNamespace(app=app)  # no lifespan (no bus): the application only
    try:
        yield TestClient(api), app
    finally:
        del api.state.runtime
        app.close()


def _counted_get(client: TestClient, app: MeetingApplication, url: str, headers: dict[str, str]) -> tuple[Any, Any]:
    assert client.get(url, headers=headers).status_code in (200, 403)  # warm: kept as read
    with selects(app) as counted:
        answered = client.get(url, headers=headers)
    return answered, counted


def test_the_meetings_get_reads_the_meeting_once_its_tag_and_minutes_of_that_read(
        served: tuple[TestClient, MeetingApplication]) -> None:
    client, app = served
    meeting_id = app.convene(SECRETARIAT, "jusou_shien_kaigi", date(2026, 12, 7), [LEAD_NAME, ELDERLY.ja])

    answered, counted = _counted_get(client, app, f"/meetings/{meeting_id}", SECRETARY)

    assert answered.status_code == 200, answered.text
    assert counted == {meeting_id: 1}, counted  # was 2: the version for the ETag, then the view
    kept: Any = app.repository.get(meeting_id)
    assert answered.headers["etag"] == etag_of(kept.version)
    assert answered.json()["meeting_id"] == str(meeting_id) and answered.json()["confidential"] is False
    assert answered.json() == {**answered.json(), **app.meeting_view(SECRETARIAT, meeting_id)}

    app.record_sitting(SECRETARIAT, meeting_id, SITTING)  # a new version: a new tag, new minutes
    again = client.get(f"/meetings/{meeting_id}", headers=SECRETARY)
    assert again.headers["etag"] == etag_of(app.repository.get(meeting_id).version) != answered.headers["etag"]
    assert again.json()["sitting"]["place"] == SITTING["place"]


def test_a_shien_kaigi_read_once_by_a_member_and_refused_to_others_as_before(
        served: tuple[TestClient, MeetingApplication]) -> None:
    client, app = served
    meeting_id = app.convene(SECRETARIAT, "shien_kaigi", date(2026, 12, 7), [LEAD_NAME])
    url = f"/meetings/{meeting_id}"

    member, counted = _counted_get(client, app, url, SECRETARY)
    assert member.status_code == 200, member.text
    assert counted == {meeting_id: 1}, counted
    assert member.json()["confidential"] is True
    assert member.headers["etag"] == etag_of(app.repository.get(meeting_id).version)

    outsider_division = next(d for d in (ELDERLY.division, HARDSHIP.division) if d != LEAD)
    outsider = staff_headers("someone-001", outsider_division, "secretariat")
    refused = client.get(url, headers=outsider)
    assert refused.status_code == 403, refused.text
    assert "守秘義務のある構成員のみ閲覧できます" in refused.text
    assert "etag" not in refused.headers
