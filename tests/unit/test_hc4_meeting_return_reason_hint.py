"""The meeting's decision form says where a return's reason goes (HC's review, session 22). Its 決定の理由 said only what
a 修正依頼 should say; a 相談窓口へ戻す's reason now reaches the counter's case page (「会議から戻った理由」,
test_hc4_returned_reason_at_the_counter.py), so the form says so beside the field: the secretariat writes it for the
counter that takes the case back."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date
from types import SimpleNamespace

import pytest
from fastapi.testclient import TestClient
from support.auth import staff_headers
from support.municipality import ELDERLY, LEAD, LEAD_NAME

from services.meeting.application import MeetingApplication
from unit.builders import IN_MEMORY, SECRETARIAT
from unit.test_meeting import Feeds, on_agenda_with_consent

SECRETARY = staff_headers(SECRETARIAT["staff_id"], LEAD, "secretariat")


@pytest.fixture
def served() -> Iterator[tuple[TestClient, MeetingApplication]]:
    from services.meeting.main import api

    app = MeetingApplication(env=dict(IN_MEMORY))
    api.state.runtime = SimpleNamespace(app=app)  # no lifespan (no bus): the application only
    try:
        yield TestClient(api), app
    finally:
        del api.state.runtime
        app.close()


def test_the_decision_form_says_a_returns_reason_reaches_the_counter(served: tuple[TestClient, MeetingApplication]) -> None:
    client, app = served
    on_agenda_with_consent(Feeds(app))
    meeting_id = app.convene(SECRETARIAT, "jusou_shien_kaigi", date(2026, 12, 7), [LEAD_NAME, ELDERLY.ja])

    page = client.get(f"/ui/meetings/{meeting_id}", headers=SECRETARY)

    assert page.status_code == 200
    assert "決定の理由 / reasons" in page.text, page.text[:500]
    assert "相談窓口へ戻すときは、戻す理由を書きます（受け取る窓口のケースの画面に「会議から戻った理由」として表示されます）" in page.text
