"""A meeting's 会議番号 is its id's first eight characters wherever staff read it, as outreach names a meeting
(HC's 32ed786: 「会議番号 xxxxxxxx」): the meeting's own page showed the whole UUID, and 会議一覧 and the home page's
latest sittings showed no number at all, so a number read out from another page could not be found among them. The
whole id stays on the number (its title, what a hover shows and a copy can take); the printed minutes, which have no
hover, give it in brackets after the short number. Served in-process (TestClient, the in-memory store): no browser."""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import date
from types import SimpleNamespace
from uuid import UUID

import pytest
from fastapi.testclient import TestClient
from support.auth import ROLE_STAFF, token
from unit.builders import ATTENDEES, SECRETARIAT, in_memory

from services.meeting.application import MeetingApplication
from shared.web.auth import COOKIE


@pytest.fixture
def served() -> Iterator[tuple[UUID, TestClient]]:
    from services.meeting.main import api

    app = in_memory(MeetingApplication)
    api.state.runtime = SimpleNamespace(app=app)  # no lifespan (no bus): this application only
    try:
        meeting_id = app.convene(SECRETARIAT, "jusou_shien_kaigi", date(2026, 5, 20), ATTENDEES)
        client = TestClient(api)
        client.cookies.set(COOKIE, token(*ROLE_STAFF["secretariat"], "secretariat"))
        yield meeting_id, client
    finally:
        del api.state.runtime


def shown(html: str) -> str:
    """The page's words as read (no tags, attributes or scripts)."""
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", re.sub(r"(?s)<script.*?</script>", "", html)))


def test_the_meeting_page_shows_its_number_short_with_the_whole_id_on_it(
        served: tuple[UUID, TestClient]) -> None:
    meeting_id, client = served
    page = client.get(f"/ui/meetings/{meeting_id}")
    assert page.status_code == 200, page.text
    cell = re.search(r'<th scope="row">会議番号</th>\s*<td[^>]*>(.*?)</td>', page.text, re.DOTALL)
    assert cell, page.text
    assert shown(cell.group(1)).strip() == str(meeting_id)[:8], cell.group(1)
    assert f'title="{meeting_id}"' in cell.group(1)
    assert str(meeting_id) not in shown(page.text)


@pytest.mark.parametrize("path", ["/ui/meetings", "/ui/meetings-list", "/ui/", "/ui/meetings-table"])
def test_the_meeting_lists_name_each_meeting_by_its_short_number(served: tuple[UUID, TestClient], path: str) -> None:
    meeting_id, client = served
    listed = client.get(path)
    assert listed.status_code == 200, listed.text
    row = re.search(rf'<tr data-meeting="{meeting_id}">(.*?)</tr>', listed.text, re.DOTALL)
    assert row, listed.text
    assert shown(row.group(1)).split()[0] == str(meeting_id)[:8], row.group(1)
    assert f'title="{meeting_id}"' in row.group(1) and str(meeting_id) not in shown(listed.text)
    assert "会議番号" in shown(listed.text)


def test_the_printed_minutes_give_the_short_number_and_the_whole_id_after_it(
        served: tuple[UUID, TestClient]) -> None:
    meeting_id, client = served
    printed = client.get(f"/ui/meetings/{meeting_id}/print")
    assert printed.status_code == 200, printed.text
    cell = re.search(r'<th scope="row">会議番号</th>\s*<td[^>]*>(.*?)</td>', printed.text, re.DOTALL)
    assert cell, printed.text
    assert shown(cell.group(1)).split() == [str(meeting_id)[:8], f"（{meeting_id}）"], cell.group(1)
