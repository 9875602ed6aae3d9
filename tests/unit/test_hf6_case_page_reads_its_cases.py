"""A year's volume: `GET /cases?limit=50` at intake decoded every case of the store, then kept 50 (a page took as long
as the whole list: about 1 s at 5,000 cases, and a walk to the last case 10 s, bench/volume.py). A page now reads its
own cases and the next one, in the catalogue's order, the division scope applied as it goes; the pages, their order
and their cursors are those of the whole list."""

from __future__ import annotations

from collections.abc import Iterator
from types import SimpleNamespace
from typing import Any
from uuid import UUID, uuid4

import pytest
from fastapi.testclient import TestClient
from support.auth import staff_headers
from support.municipality import CHILDCARE, ELDERLY, concern

from services.intake.application import IntakeApplication
from shared.organisation.reference import COUNTERS
from unit.builders import IN_MEMORY

COUNSELOR = staff_headers("kouki-012", ELDERLY.division, "counselor")  # reads its own division's cases only


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


def _receive(app: IntakeApplication, counter: str) -> UUID:
    staff = {"staff_id": "s-1", "division": COUNTERS[counter].division}
    case_id: UUID = app.receive_consultation(staff, counter, COUNTERS[counter].division, "窓口",
                                             [concern("elderly-care")], {"name": f"n{uuid4()}"}, None)
    return case_id


def _cases_read(app: Any, cases: set[UUID]) -> list[UUID]:
    """The cases whose events the store is asked for from now on (a decode, or the check of a kept one)."""
    asked: list[UUID] = []
    get = app.events.get

    def counting(*args: Any, **kwargs: Any) -> Any:
        aggregate_id = args[0] if args else kwargs.get("originator_id")
        if aggregate_id in cases:
            asked.append(aggregate_id)
        return get(*args, **kwargs)

    app.events.get = counting
    return asked


def _walk(client: TestClient, limit: int) -> list[str]:
    seen: list[str] = []
    params: dict[str, Any] = {"limit": limit}
    while True:
        answer = client.get("/cases", params=params, headers=COUNSELOR)
        assert answer.status_code == 200, answer.text
        assert len(answer.json()) <= limit
        seen += [c["case_id"] for c in answer.json()]
        if "x-next-cursor" not in answer.headers:
            return seen
        params = {"limit": limit, "cursor": answer.headers["x-next-cursor"]}


def test_a_page_of_cases_reads_its_own_cases_not_every_case_of_the_year(
        served: tuple[TestClient, IntakeApplication]) -> None:
    client, app = served
    # the counselor's division's cases, with another division's among them (left out as the page is made)
    cases = [_receive(app, CHILDCARE.code if n % 4 == 1 else ELDERLY.code) for n in range(40)]
    asked = _cases_read(app, set(cases))

    first = client.get("/cases", params={"limit": 3}, headers=COUNSELOR)

    assert first.status_code == 200 and len(first.json()) == 3 and first.headers.get("x-next-cursor")
    assert len(set(asked)) <= 6, f"a page of 3 read {len(set(asked))} of the {len(cases)} cases"


def test_the_pages_walk_to_the_last_case_as_the_whole_list_gives_them(
        served: tuple[TestClient, IntakeApplication]) -> None:
    client, app = served
    for n in range(23):
        _receive(app, CHILDCARE.code if n % 3 == 2 else ELDERLY.code)
    whole = client.get("/cases", headers=COUNSELOR)
    assert whole.status_code == 200 and "x-next-cursor" not in whole.headers
    expected = [c["case_id"] for c in whole.json()]
    assert len(expected) == 16  # the other division's 7 are not the counselor's

    for limit in (1, 4, 16, 500):
        assert _walk(client, limit) == expected, limit


def test_a_cursor_that_is_not_this_lists_is_refused_in_words(served: tuple[TestClient, IntakeApplication]) -> None:
    client, app = served
    _receive(app, ELDERLY.code)
    for cursor in ("zzzz", "12", "WyJhIl0"):  # not base64 JSON; a position; ["a"] (another list's key)
        refused = client.get("/cases", params={"limit": 2, "cursor": cursor}, headers=COUNSELOR)
        assert refused.status_code == 422 and refused.json()["code"] == "cursor_unreadable", (cursor, refused.text)


# -- collaboration's GET /cases: the same, with the generic division scope (a division its cases name) --------------

@pytest.fixture
def collaboration() -> Iterator[tuple[TestClient, Any]]:
    from services.collaboration.application import CollaborationApplication
    from services.collaboration.main import api

    app = CollaborationApplication(env=dict(IN_MEMORY))
    api.state.runtime = SimpleNamespace(app=app)
    try:
        yield TestClient(api), app
    finally:
        del api.state.runtime
        app.close()


def test_a_page_of_collaborations_cases_reads_its_own_cases_and_walks_as_the_whole_list(
        collaboration: tuple[TestClient, Any]) -> None:
    from support.municipality import HARDSHIP

    from unit.builders import Upstream

    client, app = collaboration
    intake = Upstream("intake")
    cases = []
    for n in range(30):
        case_id = uuid4()
        agency = HARDSHIP.ja if n % 3 == 1 else ELDERLY.ja
        assert app.receive(*intake.emit("CaseEscalated", {"reason": "複合的な課題", "concerns": ["高齢・介護"],
                                                          "primary_agency": agency}, case_id))
        cases.append(case_id)
    elderly_supervisor = staff_headers("kanri-009", ELDERLY.division, "supervisor")  # the cases naming its division
    whole = client.get("/cases", headers=elderly_supervisor)
    assert whole.status_code == 200
    expected = [c["case_id"] for c in whole.json()]
    assert len(expected) == 20, len(expected)
    asked = _cases_read(app, set(cases))

    first = client.get("/cases", params={"limit": 3}, headers=elderly_supervisor)

    assert [c["case_id"] for c in first.json()] == expected[:3] and first.headers.get("x-next-cursor")
    assert len(set(asked)) <= 6, f"a page of 3 read {len(set(asked))} of the {len(cases)} cases"
    for limit in (1, 7, 500):
        seen: list[str] = []
        params: dict[str, Any] = {"limit": limit}
        while True:
            answer = client.get("/cases", params=params, headers=elderly_supervisor)
            seen += [c["case_id"] for c in answer.json()]
            if "x-next-cursor" not in answer.headers:
                break
            params = {"limit": limit, "cursor": answer.headers["x-next-cursor"]}
        assert seen == expected, limit


# -- participation's GET /supports: the same ----------------------------------------------------------------------

def test_a_page_of_supports_reads_its_own_supports_and_walks_as_the_whole_list() -> None:
    from support.municipality import LEAD

    from services.participation.application import ParticipationApplication
    from services.participation.main import api
    from unit.builders import Upstream

    app = ParticipationApplication(env=dict(IN_MEMORY))
    api.state.runtime = SimpleNamespace(app=app)
    try:
        client = TestClient(api)
        meeting = Upstream("meeting")
        cases = []
        for _ in range(20):
            case_id = uuid4()
            assert app.receive(*meeting.emit("MeetingDecided", {
                "meeting_id": str(uuid4()), "meeting_type": "shien_kaigi", "plan_id": str(uuid4()),
                "decision": "approved", "attendees": ["福祉総務課"], "reasons": "合議",
                "connect_to": ["participation"]}, case_id))
            cases.append(case_id)
        worker = staff_headers("sanka-002", LEAD, "participation_worker")
        whole = client.get("/supports", headers=worker)
        expected = [s["case_id"] for s in whole.json()]
        assert whole.status_code == 200 and expected == [str(c) for c in cases]
        asked = _cases_read(app, set(cases))

        first = client.get("/supports", params={"limit": 3}, headers=worker)

        assert [s["case_id"] for s in first.json()] == expected[:3] and first.headers.get("x-next-cursor")
        assert len(set(asked)) <= 4, f"a page of 3 read {len(set(asked))} of the {len(cases)} supports"
        for limit in (1, 6, 500):
            seen: list[str] = []
            params: dict[str, Any] = {"limit": limit}
            while True:
                answer = client.get("/supports", params=params, headers=worker)
                seen += [s["case_id"] for s in answer.json()]
                if "x-next-cursor" not in answer.headers:
                    break
                params = {"limit": limit, "cursor": answer.headers["x-next-cursor"]}
            assert seen == expected, limit
    finally:
        del api.state.runtime
        app.close()
