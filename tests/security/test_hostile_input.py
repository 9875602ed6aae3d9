"""Hostile input is refused clearly, breaks nothing, and loses nothing already recorded (issue 6).

Oversize bodies (413), wrong content types (415), invalid UTF-8 (400), and injection strings
(SQL, HTML/script, CRLF, NUL and bidi controls, formulas, very long text) in every text field of
every command of every service, sent to the running suite. Afterwards: no 5xx was answered, every
refusal said why, what was recorded before is still there, the consumers parked nothing, the
division UIs show the script as text (escaped), and the CSV exports keep formulas as text.

Issue 13 item 6 (bad input never stops a service): numbers, dates and names out of bounds are
refused with 422 at the API and in the division UIs' forms (a 401-digit capacity once broke two
services' read models for good); a non-numeric index is a 4xx; request headers over 64 KiB are
refused with 431 at once, and the service goes on answering.
"""

from __future__ import annotations

import csv
import io
import json
import re
import socket
import threading
import time
from collections.abc import Iterator
from datetime import date, timedelta
from typing import Any
from urllib.parse import urlsplit

import httpx
import pytest
from support.auth import (
    ANONYMOUS,
    PASSWORD,
    account,
    headers_for,
    reader,
    staff_headers,
    token,
    worker,
)
from support.municipality import ELDERLY, HARDSHIP, LEAD, LEAD_NAME

from jusou.runner import Suite
from security.conftest import SERVICES
from security.seed import wait_for
from security.test_schemathesis import why_refusal_fails
from shared.web.auth import COOKIE, csrf_token
from shared.web.limits import MAX_BODY_BYTES

SCRIPT = '<script>alert("jusou")</script><img src=x onerror=alert(1)>'
FORMULA = '=HYPERLINK("http://example.invalid/","開く")'
INJECTIONS = {
    "sql and templates": "'); DROP TABLE stored_events; -- \" OR 1=1 -- {{7*7}} ${7*7} %s%n {0}",
    "html": SCRIPT,
    "crlf": "一行目\r\nX-Injected: yes\r\n\r\n<b>二行目</b>\t後 \ufeff 𠮷",
    "nul and bidi": "一行目\x00後 \u202e逆向き\u2066",  # refused (422) in every field, issue 13 item 6
    "formula": FORMULA,
    "long": "長" * 5000,
}
#: Fields whose value must name something the city knows, so that the free text beside them is recorded.
KNOWN = {
    "counter": ELDERLY.code, "concerns": ["高齢・介護"], "kind": "ibasho", "agency": ELDERLY.ja,
    "attendees": [LEAD_NAME, ELDERLY.ja], "primary_agency": ELDERLY.ja,
    "to_agency": HARDSHIP.ja, "outcome": "ongoing", "person_ref": None, "referral": None,
    "birth_date": "1970-04-01", "capacity": 5,
}


@pytest.fixture(scope="module")
def urls(own_suite: Suite) -> dict[str, str]:
    return {name: own_suite.url(name) for name in SERVICES}


@pytest.fixture(scope="module")
def ids(seeded: dict[str, Any]) -> dict[str, Any]:
    return seeded


@pytest.fixture(scope="module")
def http() -> Iterator[httpx.Client]:
    with httpx.Client(timeout=30, trust_env=False, headers=reader()) as client:  # reads not the test's point
        yield client


def refusal(response: httpx.Response) -> str | None:
    if response.request.url.path.startswith("/ui/") and response.status_code >= 400:
        return page_refusal(response)
    try:
        body = response.json()
    except ValueError:
        body = None
    return why_refusal_fails(response.status_code, response.headers.get("content-type", ""), body)


def page_refusal(response: httpx.Response) -> str | None:
    """None if a page's refusal is acceptable (issue 15, shared/web/errors.py): not a 5xx, a Japanese HTML
    page whose message is in Japanese with English beside it, and the next step."""
    if response.status_code >= 500:
        return "server error"
    if not response.headers.get("content-type", "").startswith("text/html"):
        return "a page's refusal that is not a page"
    if '<html lang="ja">' not in response.text or "次にできること" not in response.text:
        return "a page's refusal without the next step"
    message = re.search(r'role="alert"[^>]*>(.*?)</p>', response.text, re.DOTALL)
    if message is None or not has_japanese_and_english(message.group(1)):
        return "a page's refusal whose message is not in Japanese with English beside it"
    return None


def has_japanese_and_english(detail: str) -> bool:
    return why_refusal_fails(400, "application/json", {"detail": detail}) is None


# -- size, type, encoding ---------------------------------------------------------------------

@pytest.mark.parametrize("service", SERVICES)
def test_a_body_over_the_limit_is_refused_with_413_before_it_is_read(
        service: str, urls: dict[str, str], http: httpx.Client) -> None:
    path = {"intake": "/consultations", "collaboration": "/cases/x/plans", "meeting": "/meetings",
            "outreach": "/engagements", "participation": "/supports/x/needs", "community": "/resources"}[service]
    body = b'{"text": "' + b"a" * MAX_BODY_BYTES + b'"}'

    declared = http.post(urls[service] + path, content=body, headers={**worker(service), "content-type": "application/json"})

    assert declared.status_code == 413, declared.text
    assert has_japanese_and_english(declared.json()["detail"]), declared.text
    assert http.get(urls[service] + "/readyz").status_code == 200


def test_a_form_over_the_limit_on_a_page_gets_a_page_not_json(urls: dict[str, str], http: httpx.Client) -> None:
    """Issue 15: a page's refusal is a Japanese page with the next step, also when the body limit answers
    before any route runs (the Content-Length is over the limit)."""
    form = {"counter": ELDERLY.code, "summary": "a" * (MAX_BODY_BYTES + 10)}

    response = http.post(urls["intake"] + "/ui/consultations", data=form,
                         headers=signed_in("kouki-012", ELDERLY.division, "counselor"))

    assert response.status_code == 413, response.text[:300]
    assert page_refusal(response) is None, (page_refusal(response), response.text[:500])
    assert http.get(urls["intake"] + "/readyz").status_code == 200


def test_a_chunked_body_over_the_limit_is_refused_while_it_is_read(urls: dict[str, str], http: httpx.Client) -> None:
    def chunks() -> Iterator[bytes]:
        yield b'{"counter": "'
        for _ in range(MAX_BODY_BYTES // 65536 + 2):
            yield b"a" * 65536
        yield b'"}'

    response = http.post(urls["intake"] + "/consultations", content=chunks(),
                         headers={**worker("intake"), "content-type": "application/json"})

    assert response.status_code == 413, response.text
    assert has_japanese_and_english(response.json()["detail"])


def test_a_body_just_under_the_limit_is_read_and_judged_on_its_content(urls: dict[str, str], http: httpx.Client) -> None:
    body = {"counter": ELDERLY.code, "channel": "窓口", "concerns": ["高齢・介護"],
            "person": {"name": "a" * (MAX_BODY_BYTES - 200)}}

    response = http.post(urls["intake"] + "/consultations", json=body, headers=worker("intake"))

    assert response.status_code == 422, response.text  # name longer than 200 characters, not too large a body
    assert response.json()["detail"][0]["loc"] == ["body", "person", "name"]


@pytest.mark.parametrize("content_type", ["text/plain", "application/x-www-form-urlencoded", "application/xml", None])
def test_a_command_that_is_not_json_is_refused_with_415(content_type: str | None, urls: dict[str, str],
                                                         http: httpx.Client) -> None:
    body = json.dumps({"meeting_type": "shien_kaigi", "held_on": "2026-12-01", "attendees": [LEAD_NAME]})
    headers = {**worker("meeting"), **({"content-type": content_type} if content_type else {})}

    response = http.post(urls["meeting"] + "/meetings", content=body.encode(), headers=headers)

    assert response.status_code == 415, response.text
    assert has_japanese_and_english(response.json()["detail"])


def test_auth_the_sign_in_form_still_posts_a_form_and_sets_a_signed_token(urls: dict[str, str]) -> None:
    account("kaigi-001", LEAD, "secretariat")
    response = httpx.post(urls["meeting"] + "/ui/login", trust_env=False,
                          data={"staff_id": "kaigi-001", "password": PASSWORD})

    assert response.status_code == 303, response.text
    cookie = response.headers["set-cookie"]
    assert "httponly" in cookie.lower() and "samesite=lax" in cookie.lower()
    signed = response.cookies[COOKIE]
    page = httpx.get(urls["outreach"] + "/ui/log", cookies={COOKIE: signed}, trust_env=False)  # one login, every UI
    assert page.status_code == 200 and "kaigi-001" in page.text


@pytest.mark.parametrize("body", [b'{"counter": "\xff\xfe"}', b'\xc3\x28'], ids=["latin-1 bytes", "broken sequence"])
def test_a_body_that_is_not_utf8_is_refused_with_400_saying_so(body: bytes, urls: dict[str, str],
                                                                http: httpx.Client) -> None:
    response = http.post(urls["intake"] + "/consultations", content=body,
                         headers={**worker("intake"), "content-type": "application/json"})

    assert response.status_code == 400, response.text
    assert "UTF-8" in response.json()["detail"] and has_japanese_and_english(response.json()["detail"])


def test_a_surrogate_encoded_in_utf8_is_refused_with_422_naming_the_field(urls: dict[str, str],
                                                                          http: httpx.Client) -> None:
    body = b'{"counter": "houkatsu", "channel": "\xed\xa0\x80", "concerns": ["x"]}'  # Python's json lets it pass

    response = http.post(urls["intake"] + "/consultations", content=body,
                         headers={**worker("intake"), "content-type": "application/json"})

    assert response.status_code == 422, response.text
    assert ["body", "channel"] in [e["loc"] for e in response.json()["detail"]]


def test_a_lone_surrogate_in_json_is_refused_with_422_not_500(urls: dict[str, str], http: httpx.Client) -> None:
    body = b'{"counter": "houkatsu", "channel": "\\ud800", "concerns": ["x"], "person": {"name": "\\udfff"}}'

    response = http.post(urls["intake"] + "/consultations", content=body,
                         headers={**worker("intake"), "content-type": "application/json"})

    assert response.status_code == 422, response.text
    assert {tuple(e["loc"]) for e in response.json()["detail"]} >= {("body", "channel"), ("body", "person", "name")}


@pytest.mark.parametrize("path", ["/reference/%ff%fe", "/persons/search?name=%ff&birth_date=%00", "/cases/%00",
                                  "/ui/cases/%ff", "/no/such/place"])
def test_invalid_bytes_in_a_path_or_query_are_refused_or_ignored_never_500(
        path: str, urls: dict[str, str], http: httpx.Client) -> None:
    response = http.get(urls["intake"] + path, headers=worker("intake"))

    assert response.status_code < 500, response.text
    if not path.startswith("/ui/"):
        assert refusal(response) is None, response.text


@pytest.mark.parametrize("staff_id", ["x" * 5000, "a\x7fb", "<script>alert(1)</script>"])
def test_auth_a_tokens_staff_id_is_judged_like_any_other_input(staff_id: str, urls: dict[str, str],
                                                               http: httpx.Client) -> None:
    body = {"meeting_type": "shien_kaigi", "held_on": "2026-12-01", "attendees": [LEAD_NAME]}

    response = http.post(urls["meeting"] + "/meetings", json=body,
                         headers=staff_headers(staff_id, LEAD, "secretariat"))

    if len(staff_id) > 100 or not staff_id.isprintable():
        assert response.status_code == 401 and has_japanese_and_english(response.json()["detail"]), response.text
    else:
        assert response.status_code == 201, response.text


@pytest.mark.parametrize("form", [
    {"staff_id": "a\r\nSet-Cookie: taken=1", "password": PASSWORD},
    {"staff_id": "tanaka", "password": PASSWORD, "next": "/ui/\r\nLocation: http://example.invalid/"},
    {"staff_id": "tanaka", "password": "wrong", "next": "/ui/\r\nLocation: http://example.invalid/"},
    {"staff_id": "tanaka", "password": PASSWORD, "next": "http://example.invalid/"},
    {"staff_id": "x" * 10_000, "password": PASSWORD},
], ids=["crlf in id", "crlf in next", "crlf in next, wrong password", "another site", "long id"])
def test_sign_in_never_lets_input_into_a_header(form: dict[str, str], urls: dict[str, str], http: httpx.Client) -> None:
    account("tanaka", ELDERLY.division, "counselor")
    response = httpx.post(urls["intake"] + "/ui/login", data=form, trust_env=False)  # no cookie kept

    assert response.status_code == 303, response.text
    location = response.headers["location"]
    assert location.startswith("/ui/") and "\r" not in location and "\n" not in location
    assert "taken" not in response.cookies and "x-injected" not in response.headers


# -- injection strings in every text field of every command -----------------------------------

def resolve(schema: dict[str, Any], components: dict[str, Any]) -> dict[str, Any]:
    while "$ref" in schema:
        schema = components[schema["$ref"].rsplit("/", 1)[-1]]
    return schema


def value_for(name: str, schema: dict[str, Any], text: str, components: dict[str, Any], ids: dict[str, Any]) -> Any:
    """A value for a field: its known value, a valid choice, or the hostile `text` where free text goes."""
    schema = resolve(schema, components)
    if name in KNOWN:
        return KNOWN[name]
    if "anyOf" in schema:
        options = [s for s in schema["anyOf"] if s.get("type") != "null"]
        return value_for(name, options[0], text, components, ids) if options else None
    if "enum" in schema or "const" in schema:
        return schema.get("enum", [schema.get("const")])[0]
    kind = schema.get("type")
    if kind == "object":
        return {k: value_for(k, v, text, components, ids) for k, v in schema.get("properties", {}).items()}
    if kind == "array":
        return [value_for(name, schema.get("items", {}), text, components, ids)]
    if kind == "boolean":
        return name != "accepted"  # a declined connection carries a reason (free text)
    if kind in ("integer", "number"):
        return 1
    if schema.get("format") == "uuid":
        return ids.get(name) or ids["case_id"]
    if schema.get("format") == "date":
        return "2026-12-01"
    if schema.get("format") == "date-time":
        return "2026-12-01T10:00:00+09:00"
    return text


def commands(openapi: dict[str, Any]) -> Iterator[tuple[str, str, dict[str, Any]]]:
    """Every operation that takes a JSON body: (method, path, body schema)."""
    for path, operations in openapi["paths"].items():
        for method, operation in operations.items():
            content = operation.get("requestBody", {}).get("content", {})
            if "application/json" in content:
                yield method.upper(), path, content["application/json"]["schema"]


def snapshot(http: httpx.Client, urls: dict[str, str], case_id: str) -> dict[str, Any]:
    """What each service has recorded of the seeded case, and how much each store holds."""
    return {name: {"history": [r["event_id"] for r in http.get(f"{url}/cases/{case_id}/history").json()],
                   "position": http.get(f"{url}/readyz").json()["store_position"]} for name, url in urls.items()}


def test_injection_strings_in_every_text_field_break_nothing_and_lose_nothing(
        urls: dict[str, str], ids: dict[str, Any], http: httpx.Client) -> None:
    before = snapshot(http, urls, ids["case_id"])
    problems: list[str] = []
    sent = accepted = 0
    engagements: dict[str, str] = {}
    for service, url in urls.items():
        openapi = http.get(url + "/openapi.json").json()
        components = openapi.get("components", {}).get("schemas", {})
        for method, template, schema in commands(openapi):
            path = template
            for name in ("case_id", "plan_id", "meeting_id", "issue_id", "index"):
                path = path.replace("{" + name + "}", str(ids[name]))
            for label, text in INJECTIONS.items():
                body = value_for("body", schema, text, components, ids)
                if template == "/engagements":
                    body["case_id"] = None  # a new case each time, to read back below
                    body["referred_by"] = "民生委員"  # a name is one line: the free text (reason) carries the string
                    body["address"] = None  # so is an address (one line; a CRLF in it is refused, 422)
                response = http.request(method, url + path, json=body, headers=headers_for(service, method, template))
                sent += 1
                accepted += response.status_code < 300
                why = refusal(response)
                if why:
                    problems.append(f"{service} {method} {template} [{label}]: {why}: {response.status_code} "
                                    f"{response.text[:200]}")
                elif template == "/engagements" and response.status_code == 201:
                    engagements[label] = response.json()["case_id"]

    assert not problems, f"{len(problems)} of {sent} hostile commands were answered badly:\n" + "\n".join(problems)
    assert accepted > len(INJECTIONS), "too few hostile commands were recorded to test storing and showing them"
    # the text is kept exactly as given, whatever it holds (NUL, CRLF, quotes)
    for label, case_id in engagements.items():
        assert http.get(f"{urls['outreach']}/engagements/{case_id}").json()["reason"] == INJECTIONS[label]
    assert set(engagements) == set(INJECTIONS) - {"long", "nul and bidi"}
    # nothing recorded before is lost, and every consumer went on
    after = snapshot(http, urls, ids["case_id"])
    for name in urls:
        assert after[name]["history"][: len(before[name]["history"])] == before[name]["history"], name
        assert after[name]["position"] >= before[name]["position"], name

    def consumers_caught_up() -> bool:
        states = [http.get(f"{url}/readyz").json() for url in urls.values()]
        return all(s["status"] == "ready" and s["relay_position"] == s["store_position"] for s in states)

    wait_for(consumers_caught_up, "every relay to publish what was recorded")
    parked = {name: http.get(f"{url}/readyz").json()["dead_lettered"] for name, url in urls.items()}
    assert sum(parked.values()) == 0, f"consumers parked hostile events: {parked}"


def test_the_division_uis_show_a_script_as_text(urls: dict[str, str], ids: dict[str, Any], http: httpx.Client) -> None:
    signed_in = {"cookie": f"{COOKIE}={token('ui-test', LEAD, 'outreach_worker')}"}
    made = http.post(urls["outreach"] + "/engagements", json={"referred_by": SCRIPT, "reason": SCRIPT},
                     headers=staff_headers(SCRIPT[:100], LEAD, "outreach_worker"))
    assert made.status_code == 201, made.text
    case_id = made.json()["case_id"]

    pages = [urls["outreach"] + f"/ui/engagements/{case_id}", urls["outreach"] + "/ui/", urls["outreach"] + "/ui/log"]
    for page in pages:
        html = http.get(page, headers=signed_in).text
        assert "&lt;script&gt;alert(" in html, f"{page} does not show the script as text"
        assert '<script>alert("jusou")' not in html and "<img src=x" not in html, f"{page} runs the injected script"


def test_csv_exports_keep_a_formula_as_text(urls: dict[str, str], http: httpx.Client) -> None:
    made = http.post(urls["outreach"] + "/engagements", json={"referred_by": FORMULA, "reason": "+1+1"},
                     headers=worker("outreach"))
    assert made.status_code == 201, made.text

    exported = http.get(urls["outreach"] + "/ui/engagements.csv",
                        headers={"cookie": f"{COOKIE}={token('ui-test', LEAD, 'outreach_worker')}"})

    rows = list(csv.reader(io.StringIO(exported.content.decode("utf-8-sig"))))
    row = next(r for r in rows if r[0] == made.json()["case_id"])
    assert row[1] == "'" + FORMULA and row[2] == "'+1+1"
    assert not [cell for r in rows for cell in r if cell[:1] in ("=", "+", "@")]


# -- issue 13 item 6: bad input never stops a service ---------------------------------------------

RESOURCE = {"kind": "ibasho", "name": "こども食堂", "provider": "NPO法人", "area": "深大寺"}
HUGE = int("9" * 401)


def signed_in(staff_id: str, division: str, role: str) -> dict[str, str]:
    """A division UI's sign-in cookie, and no bearer token (the client's reader token would win); with
    the session's CSRF token, as the page's form carries it."""
    signed = token(staff_id, division, role)
    return {**ANONYMOUS, "cookie": f"{COOKIE}={signed}", "X-CSRF-Token": csrf_token(signed)}


def community_ui() -> dict[str, str]:
    return signed_in("chiiki-001", LEAD, "community_worker")


def lists_answer(http: httpx.Client, urls: dict[str, str]) -> None:
    for service, path in (("community", "/resources"), ("participation", "/catalogue")):
        response = http.get(urls[service] + path)
        assert response.status_code == 200, f"{service} {path}: {response.status_code} {response.text[:300]}"
        assert http.get(urls[service] + "/readyz").json()["status"] == "ready"


@pytest.mark.parametrize("capacity", [HUGE, -HUGE, 100_001, 0, 5.5, 1e308, "5", True],
                         ids=["401 digits", "minus 401 digits", "over 100000", "zero", "fraction", "1e308", "text",
                              "boolean"])
def test_issue6_a_capacity_out_of_bounds_is_refused_and_the_lists_still_answer(
        capacity: Any, urls: dict[str, str], http: httpx.Client) -> None:
    response = http.post(urls["community"] + "/resources", json={**RESOURCE, "capacity": capacity},
                         headers=worker("community"))

    assert response.status_code == 422, response.text
    assert [e["loc"] for e in response.json()["detail"]] == [["body", "capacity"]]
    assert refusal(response) is None
    time.sleep(0.3)  # long enough for a recorded event to reach participation's catalogue
    lists_answer(http, urls)


def test_issue6_the_resource_form_refuses_a_huge_capacity_too(urls: dict[str, str], http: httpx.Client) -> None:
    response = http.post(urls["community"] + "/ui/resources", data={**RESOURCE, "capacity": "9" * 401},
                         headers=community_ui())

    assert response.status_code == 422, response.text[:300]
    assert "100000" in response.text
    lists_answer(http, urls)


def test_issue6_a_capacity_within_bounds_is_recorded(urls: dict[str, str], http: httpx.Client) -> None:
    response = http.post(urls["community"] + "/resources", json={**RESOURCE, "capacity": 100_000},
                         headers=worker("community"))

    assert response.status_code == 201, response.text
    lists_answer(http, urls)


def consultation(**person: Any) -> dict[str, Any]:
    return {"counter": ELDERLY.code, "channel": "窓口", "concerns": ["高齢・介護"], "confirm_new_person": True,
            "person": {"name": "調布 三郎", "kana": "ちょうふ さぶろう", **person}}


def tomorrow() -> str:
    return (date.today() + timedelta(days=2)).isoformat()


@pytest.mark.parametrize("birth_date", ["10000-01-01", "+10000-01-01", "tomorrow", "1899-12-31", "1960-02-30",
                                        "0001-01-01"])
def test_issue6_an_implausible_birth_date_is_refused(birth_date: str, urls: dict[str, str], http: httpx.Client) -> None:
    birth_date = tomorrow() if birth_date == "tomorrow" else birth_date
    response = http.post(urls["intake"] + "/consultations", json=consultation(birth_date=birth_date),
                         headers=worker("intake"))

    assert response.status_code == 422, response.text
    assert [e["loc"] for e in response.json()["detail"]] == [["body", "person", "birth_date"]]
    assert has_japanese_and_english(response.json()["detail"][0]["msg"]), response.text


@pytest.mark.parametrize("birth_date", ["10000-01-01", "tomorrow"])
def test_issue6_the_reception_form_refuses_an_implausible_birth_date(
        birth_date: str, urls: dict[str, str], http: httpx.Client) -> None:
    form = {"counter": ELDERLY.code, "channel": "窓口", "concerns": "高齢・介護", "name": "調布 四郎",
            "birth_date": tomorrow() if birth_date == "tomorrow" else birth_date, "confirm_new_person": "1"}

    response = http.post(urls["intake"] + "/ui/consultations", data=form,
                         headers=signed_in("kouki-012", ELDERLY.division, "counselor"))

    assert response.status_code == 422, response.text[:300]
    assert "生年月日" in response.text


def test_issue6_a_birth_date_from_1900_to_today_is_recorded(urls: dict[str, str], http: httpx.Client) -> None:
    for birth_date in ("1900-01-01", date.today().isoformat()):
        response = http.post(urls["intake"] + "/consultations", json=consultation(birth_date=birth_date),
                             headers=worker("intake"))
        assert response.status_code == 201, response.text


@pytest.mark.parametrize("name", ["山田\x00太郎", "山田\u202e郎太", "山田\u2066太郎", "山田\u200f太郎", "山田\x1b[31m太郎",
                                  "山田\n太郎"], ids=["NUL", "RLO", "LRI", "RLM", "ESC", "line break"])
def test_issue6_control_and_bidi_characters_in_a_name_are_refused(name: str, urls: dict[str, str],
                                                                   http: httpx.Client) -> None:
    response = http.post(urls["intake"] + "/consultations", json=consultation(name=name), headers=worker("intake"))

    assert response.status_code == 422, response.text
    assert [e["loc"] for e in response.json()["detail"]] == [["body", "person", "name"]]
    assert "U+" in response.json()["detail"][0]["msg"] and has_japanese_and_english(response.json()["detail"][0]["msg"])


def test_issue6_control_characters_in_a_form_are_refused(urls: dict[str, str], http: httpx.Client) -> None:
    response = http.post(urls["community"] + "/ui/resources", data={**RESOURCE, "name": "食堂\u202e"},
                         headers=community_ui())

    assert response.status_code == 422, response.text[:300]
    assert "U+202E" in response.text


@pytest.mark.parametrize("held_on", ["2100-01-01", "1900-01-01", "9999-12-31"])
def test_issue6_a_meeting_date_far_from_today_is_refused(held_on: str, urls: dict[str, str], http: httpx.Client) -> None:
    response = http.post(urls["meeting"] + "/meetings", json={"meeting_type": "shien_kaigi", "held_on": held_on,
                                                              "attendees": [LEAD_NAME]}, headers=worker("meeting"))

    assert response.status_code == 422, response.text
    assert [e["loc"] for e in response.json()["detail"]] == [["body", "held_on"]]


@pytest.mark.parametrize("as_of", ["0001-01-01T00:00:00+14:00", "9999-12-31T23:59:59-12:00"])
@pytest.mark.parametrize("path", ["/cases/{case_id}/state", "/audit/cases/{case_id}"])
def test_issue6_an_audit_moment_out_of_range_is_a_4xx(as_of: str, path: str, urls: dict[str, str],
                                                      ids: dict[str, Any], http: httpx.Client) -> None:
    response = http.get(urls["intake"] + path.format(case_id=ids["case_id"]), params={"as_of": as_of})

    assert response.status_code == 422, response.text[:300]
    assert refusal(response) is None, response.text[:300]


def test_issue6_a_non_numeric_form_index_is_a_4xx(urls: dict[str, str], ids: dict[str, Any], http: httpx.Client) -> None:
    counselor = signed_in("kouki-012", ELDERLY.division, "counselor")
    participation = signed_in("sanka-002", LEAD, "participation_worker")
    case = ids["case_id"]
    answers = [
        http.post(f"{urls['intake']}/ui/cases/{case}/answer", data={"index": index, "accepted": "1"}, headers=counselor)
        for index in ("abc", "-1", "9" * 30, "１")
    ] + [
        http.post(f"{urls['participation']}/ui/supports/{case}/placements/{index}/review",
                  data={"outcome": "settled"}, headers=participation)
        for index in ("abc", "9" * 30, "-1")
    ] + [
        http.post(f"{urls['intake']}/cases/{case}/connections/{'9' * 30}/answer", json={"accepted": True},
                  headers=worker("intake")),
        http.post(f"{urls['participation']}/supports/{case}/placements/{'9' * 30}/review", json={"outcome": "settled"},
                  headers=worker("participation")),
    ]

    assert [r.status_code for r in answers] == [422] * len(answers), [(r.status_code, r.text[:200]) for r in answers]
    assert all(refusal(r) is None for r in answers)


@pytest.mark.parametrize("path", ["/ui/cases.csv?counter=nowhere"])
def test_issue6_an_unknown_counter_in_a_list_address_is_a_4xx(path: str, urls: dict[str, str],
                                                                http: httpx.Client) -> None:
    response = http.get(urls["intake"] + path, headers=signed_in("kouki-012", ELDERLY.division, "counselor"))

    assert response.status_code == 422, response.text[:300]
    assert refusal(response) is None


def test_issue6_a_malformed_referral_in_the_reception_form_is_a_4xx(urls: dict[str, str], http: httpx.Client) -> None:
    form = {"counter": ELDERLY.code, "channel": "窓口", "concerns": "高齢・介護", "name": "調布 五郎",
            "referral": "not-a-case-number", "confirm_new_person": "1"}

    response = http.post(urls["intake"] + "/ui/consultations", data=form,
                         headers=signed_in("kouki-012", ELDERLY.division, "counselor"))

    assert response.status_code == 422, response.text[:300]
    assert "referral" in response.text


def send_header(url: str, size: int) -> tuple[float, bytes]:
    """Send a request with one header of `size` bytes on a raw socket while reading the answer;
    (seconds until the first byte of the answer, the answer)."""
    where = urlsplit(url)
    answer = b""
    first: list[float] = []
    with socket.create_connection((where.hostname, where.port), timeout=30) as sock:
        began = time.monotonic()

        def read() -> None:
            nonlocal answer
            try:
                while chunk := sock.recv(65536):
                    if not first:
                        first.append(time.monotonic() - began)
                    answer += chunk
            except OSError:
                pass

        reader_thread = threading.Thread(target=read)
        reader_thread.start()
        try:
            sock.sendall(b"GET /readyz HTTP/1.1\r\nHost: jusou\r\nX-Large: " + b"a" * size + b"\r\n\r\n")
            sock.shutdown(socket.SHUT_WR)
        except OSError:
            pass  # the server closed after answering: what it answered is read below
        reader_thread.join(timeout=30)
    return (first[0] if first else float("inf")), answer


@pytest.mark.parametrize("size", [1_048_576, 48 * 1_048_576], ids=["1 MB", "48 MB"])
def test_issue6_request_headers_over_64_kib_are_refused_with_431_at_once(
        size: int, urls: dict[str, str], http: httpx.Client) -> None:
    seconds, answer = send_header(urls["outreach"], size)

    assert answer.startswith(b"HTTP/1.1 431 "), answer[:200]
    detail = json.loads(answer.split(b"\r\n\r\n", 1)[1])["detail"]
    assert has_japanese_and_english(detail), detail
    assert seconds < 1.0, f"answered after {seconds:.2f} s"
    began = time.monotonic()
    assert http.get(urls["outreach"] + "/readyz").status_code == 200
    assert time.monotonic() - began < 1.0


def test_issue6_a_large_body_then_a_pipelined_request_is_not_taken_for_large_headers(urls: dict[str, str]) -> None:
    body = json.dumps({"referred_by": "民生委員", "reason": "長" * 100_000}).encode()
    first = (b"POST /engagements HTTP/1.1\r\nHost: jusou\r\nContent-Type: application/json\r\n"
             + f"Authorization: {worker('outreach')['Authorization']}\r\nContent-Length: {len(body)}\r\n\r\n".encode()
             + body)
    second = b"GET /healthz HTTP/1.1\r\nHost: jusou\r\nConnection: close\r\n\r\n"
    where = urlsplit(urls["outreach"])
    with socket.create_connection((where.hostname, where.port), timeout=30) as sock:
        sock.sendall(first + second)
        answer = b""
        while chunk := sock.recv(65536):
            answer += chunk

    assert re.findall(rb"HTTP/1\.1 (\d{3}) ", answer) == [b"422", b"200"], answer[:300] + b"..." + answer[-300:]


def test_issue6_headers_under_64_kib_are_served(urls: dict[str, str], http: httpx.Client) -> None:
    response = http.get(urls["outreach"] + "/engagements", headers={"x-large": "a" * 60_000})

    assert response.status_code == 200, response.text[:200]


def test_issue6_a_stored_date_that_is_no_date_is_shown_as_it_is() -> None:
    from shared.domain.wareki import jst, wareki

    assert wareki("10000-01-01") == "10000-01-01" and wareki("1960-02-03") == "昭和35年2月3日 (1960-02-03)"
    assert jst("9999-12-31T23:00:00-05:00") == "9999-12-31T23:00:00-05:00"
