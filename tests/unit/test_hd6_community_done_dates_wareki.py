"""地域づくり's pages said what they had recorded with the day in Western form only (HD's review, session 24): a session
typed 「R8.12.1」 came back 「開催を記録しました（2026-12-01・12人）」 and a place's closure 「閉所を記録しました
（2026-12-01）」, while the same pages list those days as 「令和8年12月1日」 and staff type them so. Now the message names
the day as the pages do, 「令和8年12月1日（2026-12-01）」 (shared/domain/wareki.py day_ja)."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from types import SimpleNamespace
from urllib.parse import parse_qs, urlsplit

import pytest
from fastapi.testclient import TestClient
from support.auth import token
from support.municipality import LEAD

from services.community.application import CommunityApplication, community_programs
from shared.domain.wareki import day_ja, today_in_japan
from shared.web.auth import COOKIE, csrf_token
from shared.web.ui import CSRF_FIELD
from unit.builders import IN_MEMORY

SESSION = token("chiiki-001", LEAD, "community_worker")  # signed in: the page's message is signed for the session
SIGNED = {CSRF_FIELD: csrf_token(SESSION)}


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


def _said(answer: object) -> str:
    """The message a form's redirect carries to the page it goes back to."""
    assert answer.status_code == 303, answer.text  # type: ignore[attr-defined]
    return parse_qs(urlsplit(answer.headers["location"]).query)["ok"][0]  # type: ignore[attr-defined]


def test_a_session_and_a_closure_recorded_name_their_day_in_wareki(
        served: tuple[TestClient, CommunityApplication]) -> None:
    client, app = served
    opened = today_in_japan() - timedelta(days=30)
    made = client.post("/ui/places", follow_redirects=False,
                       data={**SIGNED, "program": community_programs(today_in_japan())[0].code, "name": "サロン国領",
                             "area": "東部地区", "opened_on": opened.isoformat()})
    assert made.status_code == 303, made.text
    [place] = app.places()
    held = today_in_japan() - timedelta(days=7)
    era = day_ja(held).split("（")[0]  # 「令和8年12月1日」, as a staff member types it

    said = _said(client.post("/ui/sessions", follow_redirects=False,
                             data={**SIGNED, "place_id": place["place_id"], "held_on": era, "participants": "12"}))
    assert said.startswith(f"開催を記録しました（{day_ja(held)}・12人）"), said

    said = _said(client.post("/ui/places/closure", follow_redirects=False,
                             data={**SIGNED, "place_id": place["place_id"], "closed_on": today_in_japan().isoformat()}))
    assert said.startswith(f"閉所を記録しました（{day_ja(today_in_japan())}）"), said
