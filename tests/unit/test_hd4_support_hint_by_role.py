"""A support with no match yet told every reader 「まだマッチングはありません。上の資源一覧から選びます」 (HD's review,
session 22, on a jusou up as demo-coordinator and demo-auditor), while the 資源一覧 and its マッチング buttons are shown
only to those who may write supports: there was nothing above to choose from. Now a reader who may not match is told
who does (参加支援員); a participation worker reads the page as before."""

from __future__ import annotations

from collections.abc import Iterator
from types import SimpleNamespace

import pytest
from fastapi.testclient import TestClient
from support.auth import staff_headers
from support.municipality import LEAD

from services.participation.application import ParticipationApplication
from unit.builders import in_memory
from unit.test_community import supported

WORKER = staff_headers("sanka-009", LEAD, "participation_worker")
COORDINATOR = staff_headers("c-009", LEAD, "coordinator")
AUDITOR = staff_headers("a-009", LEAD, "auditor")
CHOOSE_ABOVE = "上の資源一覧から選びます"


@pytest.fixture
def served() -> Iterator[tuple[TestClient, ParticipationApplication]]:
    from services.participation.main import api

    app = in_memory(ParticipationApplication)
    api.state.runtime = SimpleNamespace(app=app)  # no lifespan (no bus): the application only
    try:
        yield TestClient(api), app
    finally:
        del api.state.runtime
        app.close()


@pytest.mark.parametrize("reader", [COORDINATOR, AUDITOR], ids=["coordinator", "auditor"])
def test_a_reader_who_may_not_match_is_not_sent_to_a_catalogue_they_are_not_shown(
        served: tuple[TestClient, ParticipationApplication], reader: dict[str, str]) -> None:
    client, app = served
    case_id = supported(app)
    page = client.get(f"/ui/supports/{case_id}", headers=reader)
    assert page.status_code == 200, page.text[:300]
    assert 'id="catalogue"' not in page.text
    assert CHOOSE_ABOVE not in page.text
    assert "まだマッチングはありません。参加支援員が資源一覧から選びます" in page.text


def test_the_participation_worker_is_still_sent_to_the_catalogue_above(
        served: tuple[TestClient, ParticipationApplication]) -> None:
    client, app = served
    page = client.get(f"/ui/supports/{supported(app)}", headers=WORKER).text
    assert 'id="catalogue"' in page and CHOOSE_ABOVE in page
