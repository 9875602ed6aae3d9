"""A date of the JSON API is a date, never a Unix timestamp (HB's review from outside, session 24, item 3).

Found: pydantic's lax `date` read a JSON number or a string of digits as seconds since 1970: meeting's `POST /meetings`
with `"held_on": 1796256000` (or `"1796256000"`) was recorded as 2026-12-03 (201), a plan's 開始日 the same, and a
casework note's 日時 `"contacted_at": 1796256000` as 2026-12-03T00:00:00Z; while `"20261203"` — eight digits, which the
pages read as 2026-12-03 (shared/domain/wareki.py parse_date) — was refused with pydantic's English-only "Datetimes
provided to dates should have zero time". Now every date and date-time field of every JSON body refuses a number
(and a string of digits that is no date) with 422 naming the field, in Japanese with the English beside, saying what
to send (YYYY-MM-DD, e.g. 2026-12-01); eight digits are read as the pages read them; the OpenAPI still says
`format: date`. The query dates (a filter's 基準日 `as_of`, the person search's 生年月日) refused a number before and
still do.
"""

from __future__ import annotations

import importlib
from datetime import date, timedelta
from functools import cache
from types import SimpleNamespace
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from support.auth import ROLE_STAFF, WORKERS, staff_headers

from shared.web.policy import PUBLIC, ROLES, actions

SERVICES = ("intake", "collaboration", "meeting", "outreach", "participation", "community")
SOME_ID = "3f1e0c7a-5b8d-4c1e-9a2b-6d4f8e0a1b2c"
#: 2026-12-03T00:00:00Z in seconds since 1970: recorded as that day before
TIMESTAMP = 1796256000


@cache
def api_of(service: str) -> FastAPI:
    """The service's routes, in this process: no store, no bus (a refusal of the body comes before the route runs);
    the application the routes' dependency hands over is a bare instance of the service's own class."""
    main = importlib.import_module(f"services.{service}.main")
    kind = next(getattr(main, name) for name in dir(main) if name.endswith("Application") and name != "ServiceApplication")
    api: FastAPI = main.api
    api.state.runtime = SimpleNamespace(app=object.__new__(kind))
    return api


def concrete(path: str) -> str:
    for name in ("case_id", "plan_id", "meeting_id", "person_ref", "place_id"):
        path = path.replace("{" + name + "}", SOME_ID)
    return path.replace("{index}", "0")


def _dated(schema: dict[str, Any], defs: dict[str, Any]) -> list[tuple[str, str]]:
    """The top-level fields of a body schema that are a date or a date-time, with their format."""
    if "$ref" in schema:
        schema = defs[schema["$ref"].rsplit("/", 1)[-1]]
    found = []
    for name, field in schema.get("properties", {}).items():
        formats = {s.get("format") for s in [field, *field.get("anyOf", [])]}
        found += [(name, f) for f in ("date", "date-time") if f in formats]
    return found


def date_fields() -> list[tuple[str, str, str, str, str]]:
    """(service, method, path, field, format) of every JSON body field of the six services declared a date."""
    found = []
    for service in SERVICES:
        document = api_of(service).openapi()
        defs = document.get("components", {}).get("schemas", {})
        for path, methods in document["paths"].items():
            for method, operation in methods.items():
                body = operation.get("requestBody", {}).get("content", {}).get("application/json", {}).get("schema")
                found += [(service, method.upper(), path, name, kind) for name, kind in _dated(body or {}, defs)]
    return found


DATE_FIELDS = date_fields()
#: what a body needs besides its date for the date's refusal to be reached (a meeting without attendees is refused whole)
OTHER_FIELDS = {"/meetings": {"meeting_type": "shien_kaigi", "attendees": ["地域包括支援センター"]}}


def headers_for(service: str, method: str, path: str) -> dict[str, str]:
    """A staff member the policy lets call the route, who also reads every division (an auditor's role beside): the
    division scope of a case is judged by the running service, which these in-process calls do not start."""
    action = actions(api_of(service))[(method, path)]
    if action == PUBLIC:
        return {}
    staff_id, division, role = WORKERS[service]  # the program's own worker (a case's notes are theirs, D17)
    if action not in ROLES[role].actions:
        role = next(r for r in ROLE_STAFF if action in ROLES[r].actions)
        staff_id, division = ROLE_STAFF[role]
    return staff_headers(staff_id, division, role, "auditor")


@cache
def client_of(service: str) -> TestClient:
    return TestClient(api_of(service), raise_server_exceptions=False)  # no lifespan: a refusal comes before the route


def send(service: str, method: str, path: str, body: dict[str, Any]) -> Any:
    return client_of(service).request(method, concrete(path), json=body, headers=headers_for(service, method, path))


def refusal_of(answer: Any, field: str) -> str:
    assert answer.status_code == 422, (answer.status_code, answer.text[:300])
    messages = [e["msg"] for e in answer.json()["detail"] if e["loc"][-1] == field]
    assert messages, answer.json()["detail"]
    return str(messages[0])


def test_every_date_field_of_the_json_apis_is_found() -> None:
    fields = {(s, p, f) for s, _, p, f, _ in DATE_FIELDS}
    assert ("meeting", "/meetings", "held_on") in fields
    assert ("collaboration", "/cases/{case_id}/plans", "starts_on") in fields
    assert ("participation", "/supports/{case_id}/placements", "started_on") in fields
    assert ("outreach", "/cases/{case_id}/casework/notes", "contacted_at") in fields
    assert len(DATE_FIELDS) >= 30, DATE_FIELDS


@pytest.mark.parametrize(("service", "method", "path", "field", "kind"), DATE_FIELDS,
                         ids=[f"{s}-{m}-{p}-{f}" for s, m, p, f, _ in DATE_FIELDS])
@pytest.mark.parametrize("sent", [TIMESTAMP, str(TIMESTAMP), 1.5], ids=["number", "digits", "float"])
def test_a_number_in_a_date_field_is_refused_in_japanese_saying_what_to_send(service: str, method: str, path: str,
                                                                             field: str, kind: str, sent: Any) -> None:
    message = refusal_of(send(service, method, path, {**OTHER_FIELDS.get(path, {}), field: sent}), field)

    japanese, _, english = message.partition(" / ")
    # a plan's date typed as text is read as staff type it, and refused in the reader's words (例 2026-12-05)
    assert ("YYYY-MM-DD" in japanese or "2026-12-05" in japanese) if kind == "date" \
        else "2026-11-29T12:00:00+09:00" in japanese, message
    assert english and "seconds" not in english and "zero time" not in message, message


def test_a_meetings_held_on_as_a_timestamp_is_refused_naming_it() -> None:
    message = refusal_of(send("meeting", "POST", "/meetings", {
        "meeting_type": "shien_kaigi", "held_on": TIMESTAMP, "attendees": ["地域包括支援センター"]}), "held_on")

    assert message.startswith("日付は") and "数" in message and "例 2026-12-01" in message, message
    assert "held_on" in message.partition(" / ")[2], message


@pytest.mark.parametrize("field", ["starts_on", "review_on"])
def test_a_plans_dates_as_a_timestamp_are_refused(field: str) -> None:
    message = refusal_of(send("collaboration", "POST", "/cases/{case_id}/plans", {
        "support_direction": "見守り", "goals": ["外出"], "roles": [], field: TIMESTAMP}), field)

    assert "YYYY-MM-DD" in message and "例 2026-12-01" in message, message


def test_eight_digits_are_read_as_the_pages_read_them() -> None:
    from services.meeting.api import MeetingIn
    from shared.web.casework_api import NoteIn
    from shared.web.plan_api import PlanIn

    soon = date.today() + timedelta(days=3)
    digits = soon.strftime("%Y%m%d")
    meeting = MeetingIn.model_validate({"meeting_type": "shien_kaigi", "held_on": digits, "attendees": ["包括"]})
    plan = PlanIn.model_validate({"support_direction": "見守り", "goals": ["外出"], "roles": [],
                                  "starts_on": digits, "review_on": digits})
    note = NoteIn.model_validate({"contacted_at": soon.isoformat() + "T10:00:00+09:00", "method": "電話",
                                  "counterpart": "本人", "content": "電話", "next_due": digits})

    assert meeting.held_on == plan.starts_on == plan.review_on == note.next_due == soon


def test_a_string_of_eight_digits_that_is_no_day_is_refused_in_japanese() -> None:
    message = refusal_of(send("meeting", "POST", "/meetings", {
        "meeting_type": "shien_kaigi", "held_on": "20261345", "attendees": ["地域包括支援センター"]}), "held_on")

    assert "実在しない日付" in message and "zero time" not in message, message


def test_a_date_with_a_time_is_refused_in_japanese() -> None:
    message = refusal_of(send("meeting", "POST", "/meetings", {
        "meeting_type": "shien_kaigi", "held_on": "2026-12-03T10:00:00", "attendees": ["地域包括支援センター"]}), "held_on")

    assert message.startswith("日付は時刻を付けずに YYYY-MM-DD（例 2026-12-01）") and "zero time" in message, message


def test_a_birth_date_at_intake_as_a_number_is_refused_saying_what_to_send() -> None:
    message = refusal_of(send("intake", "POST", "/consultations", {"person": {"name": "番号 太郎",
                                                                             "birth_date": TIMESTAMP}}), "birth_date")

    assert "生年月日" in message and "例" in message, message


@pytest.mark.parametrize(("service", "path", "query"), [
    ("intake", "/persons/search", {"name": "番号 太郎", "birth_date": str(TIMESTAMP)}),
    ("intake", "/retention", {"as_of": str(TIMESTAMP)}),
    ("meeting", "/audit/cases/{case_id}", {"as_of": str(TIMESTAMP)}),
])
def test_a_query_date_as_a_timestamp_stays_refused(service: str, path: str, query: dict[str, str]) -> None:
    answer = client_of(service).get(concrete(path), params=query, headers=headers_for(service, "GET", path))

    field = next(k for k in query if k != "name")
    assert " / " in refusal_of(answer, field)


@pytest.mark.parametrize(("service", "schema", "field"), [
    ("meeting", "MeetingIn", "held_on"), ("collaboration", "PlanIn", "starts_on"),
    ("participation", "PlacementIn", "started_on")])
def test_the_openapi_still_declares_a_date(service: str, schema: str, field: str) -> None:
    schemas = api_of(service).openapi()["components"]["schemas"]
    declared = schemas[schema]["properties"][field]

    assert "date" in {s.get("format") for s in [declared, *declared.get("anyOf", [])]}, declared
