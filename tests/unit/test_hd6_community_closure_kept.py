"""地域づくり's 閉所 form lost what was typed when refused (HD's review, session 24, on a jusou up as demo-community): a
closure dated before the place opened came back with the refusal, but the place chosen had gone back to the list's
first and the 閉所日 typed to today, so a worker with several places could send the wrong place's closure next. And the
form (like the activities' 開催日 and 結成日) offered today as 「2026-12-08」 where the counters' and outreach's date
fields offer 「令和8年12月8日」. Now a refused closure keeps the place and the day as sent, and the fields offer today
in 和暦 (each reads 和暦 or Western, as before)."""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import timedelta
from types import SimpleNamespace

import pytest
from fastapi.testclient import TestClient
from support.auth import token
from support.municipality import LEAD

from services.community.application import CommunityApplication, community_programs
from shared.domain.wareki import today_in_japan, wareki
from shared.web.auth import COOKIE, csrf_token
from shared.web.ui import CSRF_FIELD
from unit.builders import IN_MEMORY

SESSION = token("chiiki-001", LEAD, "community_worker")
SIGNED = {CSRF_FIELD: csrf_token(SESSION)}
TODAY = wareki(today_in_japan(), with_gregorian=False)


@pytest.fixture
def served() -> Iterator[tuple[TestClient, CommunityApplication]]:
    from services.community.main import api

    app = CommunityApplication(env=dict(IN_MEMORY))
    api.state.runtime = SimpleNamespace(app=app)  # no lifespan (no bus): the application only
    try:
        client = TestClient(api)
        client.cookies.set(COOKIE, SESSION)
        yield client, app
    finally:
        del api.state.runtime
        app.close()


def _value(page: str, field: str) -> str:
    found = re.search(rf'<input id="{field}"[^>]*value="([^"]*)"', page)
    assert found, f"no field {field}"
    return found.group(1)


def test_a_refused_closure_keeps_the_place_and_the_day_typed(served: tuple[TestClient, CommunityApplication]) -> None:
    client, app = served
    program = community_programs(today_in_japan())[0].code
    for name, days_ago in (("サロン国領", 60), ("サロン布田", 10)):
        made = client.post("/ui/places", follow_redirects=False, data={
            **SIGNED, "program": program, "name": name, "area": "東部地区",
            "opened_on": (today_in_japan() - timedelta(days=days_ago)).isoformat()})
        assert made.status_code == 303, made.text
    later = next(p for p in app.places() if p["name"] == "サロン布田")
    before_it_opened = wareki(today_in_japan() - timedelta(days=20), with_gregorian=False)

    refused = client.post("/ui/places/closure", follow_redirects=False,
                          data={**SIGNED, "place_id": later["place_id"], "closed_on": before_it_opened})

    assert refused.status_code == 422, refused.text[:300]
    assert "開設日" in refused.text
    assert re.search(rf'<option value="{later["place_id"]}" selected>', refused.text), "the place chosen is lost"
    assert _value(refused.text, "closed_on") == before_it_opened
    assert [p["closed_on"] for p in app.places()] == [None, None]


def test_the_date_fields_offer_today_in_wareki(served: tuple[TestClient, CommunityApplication]) -> None:
    client, _app = served
    program = community_programs(today_in_japan())[0].code
    made = client.post("/ui/places", follow_redirects=False, data={
        **SIGNED, "program": program, "name": "サロン国領", "area": "東部地区",
        "opened_on": (today_in_japan() - timedelta(days=30)).isoformat()})
    assert made.status_code == 303, made.text

    assert _value(client.get("/ui/places").text, "closed_on") == TODAY
    activities = client.get("/ui/activities").text
    assert _value(activities, "held_on") == TODAY
    assert _value(activities, "formed_on") == TODAY
