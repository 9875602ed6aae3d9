"""A support's 「参加を始める」 offers only the matched resources it can start (HD's review, session 21): once the person
was placed at a resource, the form kept offering that same resource, and its only choice was refused (409 「この資源
への参加は続いています」). A resource with a placement not ended is no longer in the select; when none is left, the
page says so and what to do (match another resource, or review the placement as ended), and after 終了 it is
offered again (D13)."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date
from types import SimpleNamespace

import pytest
from fastapi.testclient import TestClient
from support.auth import staff_headers
from support.municipality import LEAD

from services.community.application import CommunityApplication
from services.participation.application import ParticipationApplication
from unit.builders import COORDINATOR, in_memory
from unit.test_community import matched

WORKER = staff_headers("sanka-009", LEAD, "participation_worker")


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


def test_d13_a_resource_with_an_open_placement_is_not_offered_to_start_again(
        served: tuple[TestClient, ParticipationApplication]) -> None:
    client, app = served
    case_id, resource_id = matched(in_memory(CommunityApplication), app)
    page = client.get(f"/ui/supports/{case_id}", headers=WORKER).text
    assert f'<option value="{resource_id}"' in page  # matched, not placed: offered

    index = app.start_placement(COORDINATOR, case_id, resource_id, date(2026, 12, 1))
    page = client.get(f"/ui/supports/{case_id}", headers=WORKER).text
    assert f'<option value="{resource_id}"' not in page
    assert 'id="no-placement-to-start"' in page and "「終了」と評価してください" in page

    app.review_placement(COORDINATOR, case_id, index, "ended", "通所を終えた")
    page = client.get(f"/ui/supports/{case_id}", headers=WORKER).text
    assert f'<option value="{resource_id}"' in page and 'id="no-placement-to-start"' not in page
