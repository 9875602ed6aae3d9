"""A sitting with no 議事次第 yet (HD's review, session 21): its page and its printed minutes read 「1. 未設定 / none yet」,
as if the agenda's first item were called 未設定 (the empty list drawn as an item of the numbered list); and the
meeting's home page, before any sitting, said 「最近の会議（開催日の新しい順に0件）です」. Now the agenda says 未設定
without a number, the home page says there is no sitting yet and where to convene one; an agenda with items is
numbered as before."""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import date
from types import SimpleNamespace

import pytest
from fastapi.testclient import TestClient
from support.auth import staff_headers
from support.municipality import ELDERLY, LEAD, LEAD_NAME

from services.meeting.application import MeetingApplication
from unit.builders import IN_MEMORY, SECRETARIAT

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


def _agenda_cell(page: str) -> str:
    found = re.search(r"議事次第 / agenda</th><td>(.*?)</td>", page, re.DOTALL)
    assert found, "no 議事次第 row"
    return found.group(1)


def test_a_sitting_without_an_agenda_says_none_yet_unnumbered_on_its_page_and_its_minutes(
        served: tuple[TestClient, MeetingApplication]) -> None:
    client, app = served
    meeting_id = app.convene(SECRETARIAT, "jusou_shien_kaigi", date(2026, 12, 7), [LEAD_NAME, ELDERLY.ja])

    for address in (f"/ui/meetings/{meeting_id}", f"/ui/meetings/{meeting_id}/print"):
        answer = client.get(address, headers=SECRETARY)
        assert answer.status_code == 200, (address, answer.text[:300])
        cell = _agenda_cell(answer.text)
        assert "未設定 / none yet" in cell, address
        assert "<li" not in cell and "<ol" not in cell, (address, cell)


def test_the_meetings_home_before_any_sitting_says_there_is_none_yet(
        served: tuple[TestClient, MeetingApplication]) -> None:
    client, app = served
    empty = client.get("/ui/", headers=SECRETARY).text
    assert "新しい順に0件" not in empty
    assert "まだ開催した会議はありません" in empty

    app.convene(SECRETARIAT, "jusou_shien_kaigi", date(2026, 12, 7), [LEAD_NAME, ELDERLY.ja])
    assert "最近の会議（開催日の新しい順に1件）です" in client.get("/ui/", headers=SECRETARY).text
