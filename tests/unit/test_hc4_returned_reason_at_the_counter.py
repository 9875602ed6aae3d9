"""A case the meeting returned to intake (CaseReturnedToIntake, D5 D11) at the counter that takes it back (HC's review,
session 22). The counter's case page said only 「会議から戻り」 and the new 主担当: the staff who take the case back did
not see why the meeting returned it, nor from which meeting. The event carries both (reason, meeting_id); the case now
keeps each return, and its page says the meeting (its kind and 開催日, from the sitting that took the case up) and the
reason, the latest first, marked as the counter's to handle while the case stands returned."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date
from types import SimpleNamespace
from uuid import UUID, uuid4

import pytest
from fastapi.testclient import TestClient
from support.auth import staff_headers
from support.municipality import ELDERLY

from services.intake.application import IntakeApplication
from shared.contract.events import CaseReturnedToIntakeV1, MeetingCaseTakenUpV1
from unit.builders import COUNTER_STAFF, IN_MEMORY, Upstream
from unit.test_intake import consult

COUNSELOR = staff_headers("kouki-012", ELDERLY.division, "counselor")
REASON = "単独機関で対応できるため、窓口で継続して支援する"


@pytest.fixture
def served() -> Iterator[tuple[TestClient, IntakeApplication]]:
    from services.intake.main import api

    app = IntakeApplication(env=dict(IN_MEMORY))
    api.state.runtime = SimpleNamespace(app=app)  # no lifespan (no bus): the application only
    try:
        yield TestClient(api), app
    finally:
        del api.state.runtime
        app.close()


def _returned(app: IntakeApplication, reason: str = REASON, sat: bool = True,
              meeting: Upstream | None = None) -> tuple[UUID, UUID]:
    """A case escalated, taken up by a 重層的支援会議 held on 2026-12-04 (when `sat`), then returned to intake."""
    case_id = consult(app)
    app.escalate_case(COUNTER_STAFF, case_id, "複合的な課題", ELDERLY.ja)
    meeting = meeting or Upstream("meeting")
    meeting_id = uuid4()
    if sat:
        assert app.receive(*meeting.emit("MeetingCaseTakenUp", MeetingCaseTakenUpV1(
            meeting_id=meeting_id, meeting_type="jusou_shien_kaigi", held_on=date(2026, 12, 4),
            member_divisions=[ELDERLY.division]), case_id))
    assert app.receive(*meeting.emit("CaseReturnedToIntake", CaseReturnedToIntakeV1(
        meeting_id=meeting_id, primary_agency=ELDERLY.ja, reason=reason), case_id))
    return case_id, meeting_id


def test_d11_the_case_keeps_why_and_from_which_meeting_it_came_back(served: tuple[TestClient, IntakeApplication]) -> None:
    _, app = served
    case_id, meeting_id = _returned(app)

    view = app.case_view(case_id)

    assert view["status"] == "returned"
    assert view["returns"] == [{"meeting_id": str(meeting_id), "primary_agency": ELDERLY.ja, "reason": REASON}]


def test_d11_the_counters_case_page_says_why_and_from_which_meeting(served: tuple[TestClient, IntakeApplication]) -> None:
    client, app = served
    case_id, _ = _returned(app)

    page = client.get(f"/ui/cases/{case_id}", headers=COUNSELOR)

    assert page.status_code == 200
    assert 'id="returned"' in page.text
    row = page.text.split('id="returned"', 1)[1].split("</td>", 1)[0]
    assert REASON in row
    assert "重層的支援会議（令和8年12月4日" in row  # the meeting's kind and 開催日, in 和暦
    assert "いま窓口で対応" in row


def test_d11_a_return_whose_sitting_is_not_heard_yet_names_the_meeting_by_its_number(
        served: tuple[TestClient, IntakeApplication]) -> None:
    client, app = served
    case_id, meeting_id = _returned(app, sat=False)

    row = client.get(f"/ui/cases/{case_id}", headers=COUNSELOR).text.split('id="returned"', 1)[1].split("</td>", 1)[0]

    assert REASON in row and str(meeting_id)[:8] in row


def test_a_case_never_returned_shows_no_return(served: tuple[TestClient, IntakeApplication]) -> None:
    client, app = served
    case_id = consult(app)

    page = client.get(f"/ui/cases/{case_id}", headers=COUNSELOR)

    assert page.status_code == 200 and 'id="returned"' not in page.text
    assert app.case_view(case_id)["returns"] == []


@pytest.mark.parametrize("kept", ["0", "100"])
def test_d11_each_return_is_kept_whether_or_not_cases_are_kept_decoded(kept: str) -> None:
    """A second return (another meeting) is listed beside the first, the latest first on the page; with decoded cases
    kept between loads (`JUSOU_AGGREGATE_CACHE`) as without."""
    app = IntakeApplication(env={**IN_MEMORY, "JUSOU_AGGREGATE_CACHE": kept})
    try:
        meeting = Upstream("meeting")
        case_id, first = _returned(app, reason="一度目の理由", meeting=meeting)
        app.escalate_case(COUNTER_STAFF, case_id, "再び複合的な課題", ELDERLY.ja)
        second = uuid4()
        assert app.receive(*meeting.emit("CaseReturnedToIntake", CaseReturnedToIntakeV1(
            meeting_id=second, primary_agency=ELDERLY.ja, reason="二度目の理由"), case_id))

        returns = app.case_view(case_id)["returns"]

        assert [(r["meeting_id"], r["reason"]) for r in returns] == [(str(first), "一度目の理由"), (str(second), "二度目の理由")]
    finally:
        app.close()


def test_d11_the_counters_list_gives_a_returned_cases_reason_beside_its_status(
        served: tuple[TestClient, IntakeApplication]) -> None:
    """The counter's list (its home page and its live table) says why beside 「会議から戻り」, so the staff see it without
    opening each case; a case not returned shows none."""
    client, app = served
    case_id, _ = _returned(app)
    other = consult(app)

    for address in (f"/ui/?counter={ELDERLY.code}", f"/ui/cases-table?counter={ELDERLY.code}&view=v1"):
        listed = client.get(address, headers=COUNSELOR).text
        row = listed.split(f'data-case="{case_id}"', 1)[1].split("</tr>", 1)[0]
        assert "会議から戻り" in row and f"理由: {REASON}" in row, address
        assert "理由:" not in listed.split(f'data-case="{other}"', 1)[1].split("</tr>", 1)[0], address


def test_d10_a_return_by_a_shien_kaigi_says_its_reason_stays_with_its_members(
        served: tuple[TestClient, IntakeApplication]) -> None:
    """A 支援会議's reason never travels on the bus (D10: CaseReturnedToIntake carries it empty): the case page says
    the reason stays with the meeting's members instead of an empty reason, and the list gives no 「理由:」."""
    client, app = served
    case_id, _ = _returned(app, reason="")

    page = client.get(f"/ui/cases/{case_id}", headers=COUNSELOR).text
    row = page.split('id="returned"', 1)[1].split("</td>", 1)[0]
    assert "理由は会議の記録にあり、その会議の構成員だけが見られます" in row and "<strong></strong>" not in row
    listed = client.get(f"/ui/?counter={ELDERLY.code}", headers=COUNSELOR).text
    assert "理由:" not in listed.split(f'data-case="{case_id}"', 1)[1].split("</tr>", 1)[0]


def test_d11_the_json_api_gives_why_and_from_which_meeting_as_the_page_does(
        served: tuple[TestClient, IntakeApplication]) -> None:
    """`GET /cases/{id}` (what an integrator or another program's UI reads) carries the returns the page shows, and
    the OpenAPI declares them; a case never returned has none."""
    client, app = served
    case_id, meeting_id = _returned(app)
    other = consult(app)

    answer = client.get(f"/cases/{case_id}", headers=COUNSELOR)

    assert answer.status_code == 200, answer.text
    assert answer.json()["returns"] == [{"meeting_id": str(meeting_id), "primary_agency": ELDERLY.ja, "reason": REASON}]
    assert client.get(f"/cases/{other}", headers=COUNSELOR).json()["returns"] == []
    schema = client.get("/openapi.json").json()["components"]["schemas"]
    assert "returns" in schema["CaseOut"]["properties"] and "ReturnOut" in schema
