"""The meeting's pages told staff who may not convene or record to do so (HD's review, session 22, probed on a running
suite as demo-coordinator, demo-supervisor and demo-auditor): the home page before any sitting said 「下の「会議を開催す
る」から始めます」 with no such form below (only the 会議事務局 may convene), and a sitting that had decided a plan said
under 事例の学び 「この会議で決定・終結評価をしたプランについて記録できます」 to staff with no form to record one. Now each
says who does it (the 会議事務局); the secretariat reads the pages as before."""

from __future__ import annotations

from collections.abc import Iterator
from types import SimpleNamespace
from typing import Any

import pytest
from fastapi.testclient import TestClient
from markupsafe import Markup
from support.auth import staff_headers
from support.municipality import LEAD

from services.meeting.application import MeetingApplication
from services.meeting.ui import ui
from unit.builders import IN_MEMORY

SECRETARY = staff_headers("k1", LEAD, "secretariat")
COORDINATOR = staff_headers("c1", LEAD, "coordinator")
AUDITOR = staff_headers("a1", LEAD, "auditor")
CONVENE_BELOW = "下の「会議を開催する」から始めます"


@pytest.fixture
def client() -> Iterator[TestClient]:
    from services.meeting.main import api

    app = MeetingApplication(env=dict(IN_MEMORY))
    api.state.runtime = SimpleNamespace(app=app)  # no lifespan (no bus): the application only
    try:
        yield TestClient(api)
    finally:
        del api.state.runtime
        app.close()


@pytest.mark.parametrize("reader", [COORDINATOR, AUDITOR], ids=["coordinator", "auditor"])
def test_the_home_before_any_sitting_sends_no_one_to_a_form_they_do_not_have(client: TestClient,
                                                                           reader: dict[str, str]) -> None:
    page = client.get("/ui/", headers=reader)
    assert page.status_code == 200, page.text[:300]
    assert 'id="convene"' not in page.text
    assert CONVENE_BELOW not in page.text
    assert "まだ開催した会議はありません。会議は会議事務局が開催します" in page.text


def test_the_secretariat_is_still_sent_to_the_form_below(client: TestClient) -> None:
    page = client.get("/ui/", headers=SECRETARY).text
    assert 'id="convene"' in page and CONVENE_BELOW in page


def learnings_card(may_decide: bool, learnings: list[Any] | None = None) -> str:
    return ui.templates.env.get_template("meeting_learning_form.html").render(
        may=lambda action: may_decide or action != "meeting.decide", settled=["plan-1"], learnings=learnings or [],
        meeting={"meeting_id": "m-1", "attendees": [LEAD]}, forms={}, errors={}, concern_choices={},
        concern_fields={}, idempotency_field=lambda: Markup(""))


def test_a_sitting_that_decided_a_plan_tells_a_reader_without_the_form_who_records_its_learning() -> None:
    read_only = learnings_card(may_decide=False)
    assert "について記録できます" not in read_only
    assert "まだ記録はありません。事例の学びは会議事務局が記録します" in read_only
    assert "<form" not in read_only
    secretary = learnings_card(may_decide=True)
    assert "事例の学びを記録 / record the learning" in secretary and "会議事務局が記録します" not in secretary
