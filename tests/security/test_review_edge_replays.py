"""A replayed staff page's form post answers as a form post does, not in JSON (outside review): after a crash between
the commit and the answer, the browser that sends the form again (same hidden idempotency key) was given the API's
JSON. Now it goes back to its page (303, PRG) with the message 「既に記録されています」; a refusal whose page was not
kept, a conflict and a concurrent duplicate likewise; the API's replays stay JSON.

The idempotency dependency and middleware as a service has them (shared/kernel/idempotency.py), on a small app whose
store is a fake holding the first request's record.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import parse_qs, urlsplit
from uuid import UUID, uuid4

import pytest
from fastapi import Depends, FastAPI, Request
from fastapi.responses import JSONResponse, RedirectResponse, Response
from fastapi.testclient import TestClient

from shared.kernel.idempotency import (
    FORM_FIELD,
    HEADER,
    RECORDED_BUT_UNANSWERED,
    REFUSED_BEFORE,
    AlreadyRecorded,
    Idempotency,
    IdempotentRequest,
    Replayed,
    answer_of,
    fingerprint_of,
    idempotent,
    request_id_of,
)
from shared.web.ui import COOKIE, csrf_guard, flash_of

FORM_PATH = "/ui/cases/c-1/notes"
API_PATH = "/cases/c-1/notes"
PAGE = "/ui/cases/c-1?tab=notes"  # the page the form was on
STAFF = "kouki-012"


class Keeper:
    """The application as answer_of sees it: the first request's record, found from the `found_after`-th look on."""

    def __init__(self) -> None:
        self.records: dict[UUID, IdempotentRequest] = {}
        self.looks = 0
        self.found_after = 0
        self.finished: list[list[UUID]] = []

    def idempotent_record(self, request_id: UUID) -> IdempotentRequest | None:
        self.looks += 1
        return self.records.get(request_id) if self.looks > self.found_after else None

    def finish_recorded(self, recorded: list[UUID]) -> None:
        self.finished.append(recorded)

    def recorded(self, path: str, route: str, key: str, body: bytes, form: list[tuple[str, str]] | None,
                 answer: dict[str, Any] | None) -> None:
        request_id = request_id_of("intake", STAFF, "POST", route, key)
        record = IdempotentRequest(request_id=request_id, route=f"POST {route}",
                                   fingerprint=fingerprint_of("POST", path, body, form), recorded=[str(uuid4())])
        if answer is not None:
            record.give_answer(**answer)
        self.records[request_id] = record


def app_with(keeper: Keeper, command_raises: bool = False) -> FastAPI:
    api = FastAPI()
    api.state.runtime = type("Runtime", (), {"app": keeper})()

    async def signed_in(request: Request) -> None:
        request.state.principal = type("Principal", (), {"staff_id": STAFF})()

    checks = [Depends(signed_in), Depends(csrf_guard("intake")), Depends(idempotent("intake"))]

    def command() -> Response:
        if command_raises:  # saved at the same moment by the other request: the store's unique key refused this one
            here = next(iter(keeper.records.values()))
            raise AlreadyRecorded(here.id, here.fingerprint)
        return RedirectResponse("/ui/cases/c-1?ok=noted", status_code=303)

    api.post(FORM_PATH, dependencies=checks)(command)
    api.post(API_PATH, dependencies=checks)(lambda: JSONResponse({"noted": True}, status_code=201))

    @api.exception_handler(Replayed)
    async def replayed(_: Request, exc: Replayed) -> Response:  # as shared/web/http.py
        return exc.response

    @api.exception_handler(AlreadyRecorded)
    async def already_recorded(request: Request, exc: AlreadyRecorded) -> Response:  # as shared/web/http.py
        return await answer_of(keeper, exc.request_id, exc.fingerprint)

    api.add_middleware(Idempotency)
    return api


def post_form(client: TestClient, key: str, referer: str | None = f"http://testserver{PAGE}") -> Any:
    headers = {"Authorization": "Bearer not-read-here", **({"Referer": referer} if referer else {})}
    client.cookies.set(COOKIE, "the-session")
    return client.post(FORM_PATH, data={"content": "電話で確認", FORM_FIELD: key}, headers=headers,
                       follow_redirects=False)


FORM = [("content", "電話で確認")]


def message_of(location: str) -> str | None:
    """The page's message the redirect carries, as the page would show it (signed for the session)."""
    query = parse_qs(urlsplit(location).query)
    scope = {"type": "http", "path": urlsplit(location).path, "query_string": urlsplit(location).query.encode(),
             "headers": [(b"cookie", f"{COOKIE}=the-session".encode())]}
    assert query.get("sig"), location
    return flash_of(Request(scope))[0]


def test_a_form_post_replayed_after_a_crash_goes_back_to_its_page_saying_it_was_recorded() -> None:
    keeper = Keeper()
    key = str(uuid4())
    keeper.recorded(FORM_PATH, FORM_PATH, key, b"", FORM, answer=None)  # committed, then the process stopped
    client = TestClient(app_with(keeper))

    again = post_form(client, key)

    assert again.status_code == 303, again.text
    assert not again.headers.get("content-type", "").startswith("application/json")
    assert again.headers["idempotent-replayed"] == "true"
    location = again.headers["location"]
    assert location.startswith(PAGE + "&ok=")
    assert message_of(location) == RECORDED_BUT_UNANSWERED
    assert len(keeper.finished) == 1  # the work after the commit is finished, as for the API


def test_a_form_post_replayed_without_a_page_to_go_back_to_goes_to_the_start_page() -> None:
    keeper = Keeper()
    key = str(uuid4())
    keeper.recorded(FORM_PATH, FORM_PATH, key, b"", FORM, answer=None)
    client = TestClient(app_with(keeper))

    for referer in (None, "https://elsewhere.example/ui/cases/c-1", f"http://testserver{FORM_PATH}"):
        again = post_form(client, key, referer)
        assert again.status_code == 303 and again.headers["location"].startswith("/ui/?ok="), referer


def test_a_form_post_whose_refusal_page_was_not_kept_goes_back_with_the_refusal() -> None:
    keeper = Keeper()
    key = str(uuid4())
    keeper.recorded(FORM_PATH, FORM_PATH, key, b"", FORM,
                    answer={"status": 409, "content_type": "text/html; charset=utf-8", "location": "", "body": ""})
    again = post_form(TestClient(app_with(keeper)), key)

    assert again.status_code == 303 and message_of(again.headers["location"]) == REFUSED_BEFORE


def test_a_form_post_kept_answer_is_replayed_as_it_was() -> None:
    keeper = Keeper()
    key = str(uuid4())
    keeper.recorded(FORM_PATH, FORM_PATH, key, b"", FORM,
                    answer={"status": 303, "content_type": "", "location": "/ui/cases/c-1?ok=noted", "body": ""})
    again = post_form(TestClient(app_with(keeper)), key)

    assert again.status_code == 303 and again.headers["location"] == "/ui/cases/c-1?ok=noted"


def test_a_form_post_sent_twice_at_once_answers_the_other_ones_answer_as_a_page() -> None:
    """The duplicate found no record when it looked (the first had not committed), then lost the race at its save."""
    keeper = Keeper()
    key = str(uuid4())
    keeper.recorded(FORM_PATH, FORM_PATH, key, b"", FORM, answer=None)
    keeper.found_after = 1
    again = post_form(TestClient(app_with(keeper, command_raises=True)), key)

    assert again.status_code == 303, again.text
    assert message_of(again.headers["location"]) == RECORDED_BUT_UNANSWERED


@pytest.mark.parametrize("answer", [None, {"status": 409, "content_type": "application/json", "location": "",
                                           "body": ""}])
def test_the_api_replays_stay_json(answer: dict[str, Any] | None) -> None:
    keeper = Keeper()
    key = str(uuid4())
    body = b'{"content": "x"}'
    keeper.recorded(API_PATH, API_PATH, key, body, None, answer=answer)
    again = TestClient(app_with(keeper)).post(API_PATH, content=body, headers={
        HEADER: key, "content-type": "application/json"})

    assert again.headers["content-type"].startswith("application/json") and again.json()["detail"] in (
        RECORDED_BUT_UNANSWERED, REFUSED_BEFORE)
