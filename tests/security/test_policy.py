"""The authorization policy (shared/web/policy.py) against the running suite: every role × every
endpoint of every service, the endpoints and the action each needs taken from the FastAPI apps
themselves (each route declares it where it is defined: `requires(...)` or `public()`).

A request counts as allowed when the answer is neither 401 nor a 403 of the policy (a 404 or 422
after the gate is allowed; a 403 of a domain rule, D9 D10, is the second gate); refused is the
policy's 403. Without a token every endpoint answers 401, or the sign-in page for /ui.
"""

from __future__ import annotations

import importlib
import re
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from functools import cache
from html.parser import HTMLParser
from pathlib import Path
from types import SimpleNamespace
from typing import Any
from uuid import uuid4

import httpx
import pytest
from fastapi import Depends, FastAPI
from fastapi.responses import JSONResponse
from fastapi.testclient import TestClient
from support.auth import ROLE_STAFF, staff_headers, token
from support.municipality import (
    CHILDCARE,
    DISABILITY,
    ELDERLY,
    HARDSHIP,
    LEAD,
    LEAD_NAME,
    SHAKYO,
    concern,
    counter_for,
    division_name,
    division_without_counter,
)

from jusou.runner import Suite
from security.conftest import SERVICES
from shared.domain.access import OutOfScope, require_in_scope
from shared.domain.plan import CLOSABLE, EDITABLE
from shared.kernel.journey import DomainError
from shared.organisation.scope import divisions_named, visible
from shared.web.auth import COOKIE, Principal
from shared.web.policy import (
    PROGRAM_DIVISIONS,
    PUBLIC,
    ROLES,
    actions,
    allowed,
    gate,
    permits,
    program_of,
    requires,
)


def apis() -> dict[str, Any]:
    return {service: importlib.import_module(f"services.{service}.main").api for service in SERVICES}


@cache
def table() -> dict[tuple[str, str, str], str | None]:
    """The policy table of the suite, read from the routes: (service, method, path template) → the
    action the route declares (PUBLIC for a public route, None for one that declares nothing)."""
    return {(service, method, path): action for service, api in apis().items()
            for (method, path), action in actions(api).items()}


def served() -> list[tuple[str, str, str]]:
    """(service, method, path template) of every route of every service's app."""
    return list(table())


def route_actions() -> set[str]:
    return {a for a in table().values() if a and a != PUBLIC}


def test_policy_every_route_of_every_service_declares_its_action() -> None:
    """Fail closed: a route that declares neither `requires(...)` nor `public()` is refused to everyone;
    this lists any such route."""
    missing = [f"{s} {m} {p}" for (s, m, p), action in table().items() if action is None]

    assert len(table()) > 150
    assert not missing, "routes that declare no action (refused to everyone):\n" + "\n".join(missing)


def test_policy_every_operation_of_the_openapi_document_names_its_action() -> None:
    """Integrators read what each operation needs from the OpenAPI document (`x-jusou-action`)."""
    wrong = []
    for service, api in apis().items():
        for path, operations in api.openapi()["paths"].items():
            for method, operation in operations.items():
                want = table().get((service, method.upper(), path))
                if operation.get("x-jusou-action") != want:
                    wrong.append(f"{service} {method.upper()} {path}: {operation.get('x-jusou-action')}, declared {want}")

    assert not wrong, "\n".join(wrong)


def test_policy_fail_closed_an_undeclared_route_and_a_route_without_the_gate_are_refused() -> None:
    """The gate refuses a route that declares no action, whoever asks; a route's `requires` refuses when
    its router is mounted on an app that does not run the gate, rather than being open."""
    def app(*dependencies: Any) -> FastAPI:
        api = FastAPI(dependencies=list(dependencies))
        api.state.runtime = SimpleNamespace(app=None)
        api.add_exception_handler(DomainError, lambda _, exc: JSONResponse(  # type: ignore[arg-type, attr-defined]
            {"detail": str(exc)}, status_code=exc.status, headers=exc.headers))  # type: ignore[attr-defined]
        api.get("/declared", dependencies=[requires("reference.read")])(lambda: {"ok": True})
        api.get("/undeclared")(lambda: {"ok": True})
        return api

    supervisor = staff_headers("kanri-001", LEAD, "supervisor")
    with TestClient(app(Depends(gate("intake")))) as gated, TestClient(app()) as bare:
        assert gated.get("/declared", headers=supervisor).status_code == 200
        undeclared = gated.get("/undeclared", headers=supervisor)
        assert refused_by_policy(undeclared) and "宣言" in undeclared.json()["detail"], undeclared.text  # type: ignore[arg-type]
        ungated = bare.get("/declared", headers=supervisor)
        assert refused_by_policy(ungated), ungated.text  # type: ignore[arg-type]


def test_policy_every_role_has_a_japanese_name_and_only_known_actions() -> None:
    known = route_actions()
    for role in ROLES.values():
        assert role.ja and role.en
        assert role.actions <= known | {"ui.open"}, (role.code, role.actions - known)
    assert not known - set().union(*(r.actions for r in ROLES.values())), "an action no role may take"


def expected(role: str, service: str, method: str, path: str) -> bool:
    staff_id, division = ROLE_STAFF[role]
    action = table()[(service, method, path)]
    assert action, (service, method, path)
    program = program_of(action, service)
    principal = Principal(staff_id, division, frozenset({role}))
    return allowed(principal, action, service) and (program is None or division in PROGRAM_DIVISIONS[program])


def url_of(base: str, path: str, ids: dict[str, Any], service: str = "") -> str:
    """The route with the seeded ids in it; an id kept as `name@service` is that service's `name`."""
    filled = {**ids, **{k.split("@")[0]: v for k, v in ids.items() if service and k.endswith("@" + service)},
              "action": "no-such-action"}
    for name, value in filled.items():
        path = path.replace("{" + name + "}", str(value))
    return base + path


def call(http: httpx.Client, method: str, url: str, headers: dict[str, str]) -> httpx.Response:
    """One request; a command gets a body the route refuses (422) after the gate, so nothing changes."""
    if method in ("POST", "PUT") and "/ui/" not in url:
        headers = {**headers, "content-type": "application/json"}
        content = b"[]"
    else:
        content = b""
    with http.stream(method, url, headers=headers, content=content) as response:  # /ui/events never ends
        response.read() if "/ui/events" not in url else None
        return response


def refused_by_policy(response: httpx.Response) -> bool:
    return response.status_code == 403 and response.headers.get("x-jusou-refused-by") == "policy"


#: How many requests the walks below have in flight at once (the six services answer in parallel; CI has two cores)
AT_ONCE = 8


def call_all(calls: list[tuple[str, str, dict[str, str]]]) -> list[httpx.Response]:
    """`call` for every (method, url, headers), AT_ONCE at a time instead of one after another; the answers in order."""
    with (httpx.Client(timeout=30, trust_env=False, follow_redirects=False,
                       limits=httpx.Limits(max_connections=AT_ONCE)) as http,
          ThreadPoolExecutor(AT_ONCE) as pool):
        return list(pool.map(lambda one: call(http, *one), calls))


def test_policy_every_role_on_every_endpoint_of_every_service(own_suite: Suite, seeded: dict[str, Any]) -> None:
    tokens = {role: staff_headers(*ROLE_STAFF[role], role) for role in ROLES}
    wrong: list[str] = []
    checked = 0
    outcomes = {True: 0, False: 0}
    routes = [(service, method, path, url_of(own_suite.url(service), path, seeded, service))
              for service, method, path in served() if table()[(service, method, path)] != PUBLIC]
    answers = iter(call_all([(method, url, headers) for _, method, _, url in routes
                             for headers in [{}, *(tokens[role] for role in ROLES)]]))
    # the answers, read in the order they were asked for: without a token, then as each role
    for service, method, path, url in routes:
        anonymous = next(answers)
        if path.startswith("/ui/"):
            ok = anonymous.status_code == 303 and anonymous.headers["location"].startswith("/ui/login?next=")
        else:
            ok = anonymous.status_code == 401 and anonymous.headers.get("www-authenticate", "").startswith("Bearer")
        if not ok:
            wrong.append(f"{service} {method} {path} without a token: {anonymous.status_code}")
        for role in ROLES:
            response = next(answers)
            checked += 1
            want = expected(role, service, method, path)
            got = response.status_code != 401 and not refused_by_policy(response)
            outcomes[got] += 1
            if want != got:
                wrong.append(f"{service} {method} {path} as {role}: {response.status_code}, "
                             f"policy says {'allowed' if want else 'refused'}")

    assert checked > 9 * 100 and min(outcomes.values()) > 100, (checked, outcomes)  # both answers were seen
    assert not wrong, f"{len(wrong)} of {checked} answers differ from shared/web/policy.py:\n" + "\n".join(wrong)


@pytest.fixture(scope="module")
def disability_case(own_suite: Suite) -> str:
    """A consultation received at the disability counter (e.g. Chofu's 障害者相談支援事業, 障害福祉課)."""
    response = httpx.post(own_suite.url("intake") + "/consultations", trust_env=False, json={
        "counter": DISABILITY.code, "channel": "窓口", "concerns": [concern("disability")],
        "person": {"name": "調布 三郎"}, "confirm_new_person": True},
        headers=staff_headers("shogai-004", DISABILITY.division, "counselor"))
    assert response.status_code == 201, response.text
    case_id: str = response.json()["case_id"]
    return case_id


def test_policy_a_childcare_counselor_cannot_read_a_disability_counters_case(own_suite: Suite,
                                                                              disability_case: str) -> None:
    intake = own_suite.url("intake")
    hoiku = staff_headers("hoiku-021", CHILDCARE.division, "counselor")
    shogai = staff_headers("shogai-004", DISABILITY.division, "counselor")

    refused = httpx.get(f"{intake}/cases/{disability_case}", headers=hoiku, trust_env=False)
    page = httpx.get(f"{intake}/ui/cases/{disability_case}", headers=hoiku, trust_env=False)
    history = httpx.get(f"{intake}/cases/{disability_case}/history", headers=hoiku, trust_env=False)
    listed = httpx.get(f"{intake}/cases", headers=hoiku, trust_env=False).json()
    own = httpx.get(f"{intake}/cases/{disability_case}", headers=shogai, trust_env=False)

    assert refused.status_code == 403 and division_name(DISABILITY.division) in refused.json()["detail"], refused.text
    assert page.status_code == 403 and history.status_code == 403
    assert disability_case not in [c["case_id"] for c in listed]
    assert own.status_code == 200 and own.json()["counter"] == DISABILITY.code
    auditor = httpx.get(f"{intake}/cases/{disability_case}", headers=staff_headers("kansa-001", LEAD, "auditor"),
                        trust_env=False)
    assert auditor.status_code == 200  # auditors read every division


def test_policy_a_case_connected_to_childcare_becomes_readable_there(own_suite: Suite, disability_case: str) -> None:
    """D3: つなぎ to 保育課 is the rule that lets that division read the case."""
    intake = own_suite.url("intake")
    hoiku = staff_headers("hoiku-021", CHILDCARE.division, "counselor")
    connected = httpx.post(f"{intake}/cases/{disability_case}/connect", trust_env=False,
                           json={"to_agency": division_name(CHILDCARE.division), "reason": "保育所の利用"},
                           headers=staff_headers("shogai-004", DISABILITY.division, "counselor"))
    assert connected.status_code == 200, connected.text

    assert httpx.get(f"{intake}/cases/{disability_case}", headers=hoiku, trust_env=False).status_code == 200


def test_policy_writing_needs_a_division_that_runs_the_program(own_suite: Suite) -> None:
    """A division with no intake counter (e.g. Chofu's 福祉総務課): its counselor-role staff cannot receive a consultation."""
    without = division_without_counter()
    response = httpx.post(own_suite.url("intake") + "/consultations", trust_env=False, json={
        "counter": ELDERLY.code, "channel": "窓口", "concerns": [concern("elderly-care")], "person": {"name": "調布 四郎"}},
        headers=staff_headers("fukushi-009", without, "counselor"))

    assert refused_by_policy(response) and division_name(without) in response.json()["detail"], response.text


def test_policy_d11_only_the_agency_connected_to_answers_and_the_case_page_shows_it_only_its_forms(
    own_suite: Suite,
) -> None:
    """A coordinator of 福祉総務課 may answer a connection to it (connection.answer) but not record consent,
    escalate or connect (intake.case.write): the case page offers exactly that, and the policy agrees."""
    intake = own_suite.url("intake")
    counselor = staff_headers("kouki-012", ELDERLY.division, "counselor")
    received = httpx.post(intake + "/consultations", trust_env=False, headers=counselor, json={
        "counter": ELDERLY.code, "channel": "窓口", "concerns": [concern("elderly-care")], "person": {"name": "調布 五郎"},
        "confirm_new_person": True})
    assert received.status_code == 201, received.text
    case_id = received.json()["case_id"]
    connected = httpx.post(f"{intake}/cases/{case_id}/connect", trust_env=False, headers=counselor,
                           json={"to_agency": LEAD_NAME, "reason": f"家計の相談を{LEAD_NAME}へ"})
    assert connected.status_code == 200, connected.text

    not_theirs = httpx.post(f"{intake}/cases/{case_id}/connections/0/answer", trust_env=False, headers=counselor,
                            json={"accepted": True, "reason": ""})
    assert not_theirs.status_code == 403 and f"{LEAD_NAME}の職員" in not_theirs.json()["detail"], not_theirs.text  # D11

    with httpx.Client(base_url=intake, trust_env=False, cookies={COOKIE: token("kyodo-007", LEAD,
                                                                               "coordinator")}) as browser:
        page = browser.get(f"/ui/cases/{case_id}")
        assert page.status_code == 200, page.text[:300]
        assert f'action="/ui/cases/{case_id}/answer"' in page.text
        for form in ("consent", "escalate", "connect"):
            assert f'action="/ui/cases/{case_id}/{form}"' not in page.text, form
        refused = browser.post(f"/ui/cases/{case_id}/consent", data={"scope": "会議", "method": "書面", "granted": "1"})
        assert refused.status_code == 403, refused.text[:300]
        csrf = re.search(r'name="csrf_token" value="([^"]+)"', page.text).group(1)  # type: ignore[union-attr]
        answered = browser.post(f"/ui/cases/{case_id}/answer", data={"index": "0", "accepted": "1", "reason": "受けます",
                                                                     "csrf_token": csrf})
        assert answered.status_code == 303 and "ok=" in answered.headers["location"], answered.headers

    case = httpx.get(f"{intake}/cases/{case_id}", trust_env=False, headers=counselor).json()
    assert case["connections"][0]["status"] == "accepted"
    page_for_counselor = httpx.get(f"{intake}/ui/cases/{case_id}", trust_env=False, cookies={
        COOKIE: token("kouki-012", ELDERLY.division, "counselor")})
    assert f'action="/ui/cases/{case_id}/consent"' in page_for_counselor.text  # the counter still records consent
    connected = httpx.post(f"{intake}/cases/{case_id}/connect", trust_env=False, headers=counselor,
                           json={"to_agency": division_name(DISABILITY.division), "reason": "障害の相談を担当課へ"})
    assert connected.status_code == 200, connected.text
    page_for_counselor = httpx.get(f"{intake}/ui/cases/{case_id}", trust_env=False, cookies={
        COOKIE: token("kouki-012", ELDERLY.division, "counselor")})
    assert f'action="/ui/cases/{case_id}/answer"' not in page_for_counselor.text  # 障害福祉課 answers, not the counter


class Page(HTMLParser):
    """What a page offers: its post forms (action), htmx posts, links and element ids."""

    def __init__(self) -> None:
        super().__init__()
        self.posts: list[str] = []
        self.hx: list[str] = []
        self.links: list[str] = []
        self.ids: set[str] = set()

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = {k: v or "" for k, v in attrs}
        if tag == "form" and a.get("method", "get").lower() == "post":
            self.posts.append(a.get("action", ""))
        self.hx += [f"{k}={v}" for k, v in a.items() if k in ("hx-post", "hx-put", "hx-patch", "hx-delete")]
        if tag == "a" and "href" in a:
            self.links.append(a["href"])
        if "id" in a:
            self.ids.add(a["id"])


def parsed(html: str) -> Page:
    page = Page()
    page.feed(html)
    return page


def action_of(service: str, method: str, url: str) -> str | None:
    """The policy's action for a path of `service` (None when no route of the table matches)."""
    path = url.split("#")[0].split("?")[0]
    for (s, m, template), action in table().items():
        if s == service and m == method and re.fullmatch(re.sub(r"\{[^}]+\}", "[^/]+", template), path):
            return action
    return None


#: The pages that offer forms (or links to a form page), with the role whose work they are and what it must see
#: (on the seeded case: an approved plan, a decided meeting, an engagement, a placement, an open issue).
WRITERS_SEE = {
    ("intake", "/ui/"): ("counselor", 'href="/ui/consultations/new'),
    ("intake", "/ui/consultations/new"): ("counselor", 'method="post"'),
    ("intake", "/ui/cases/{case_id}"): ("counselor", 'method="post"'),
    ("collaboration", "/ui/cases/{case_id}"): ("coordinator", '/plans/new"'),
    ("collaboration", "/ui/cases/{case_id}/plans/new"): ("coordinator", 'method="post"'),
    ("collaboration", "/ui/plans/{plan_id}"): ("coordinator", 'method="post"'),
    ("meeting", "/ui/"): ("secretariat", 'method="post"'),
    ("meeting", "/ui/meetings/{meeting_id}"): ("secretariat", 'method="post"'),
    ("outreach", "/ui/"): ("outreach_worker", 'method="post"'),
    ("outreach", "/ui/engagements/{case_id}"): ("outreach_worker", 'method="post"'),
    ("participation", "/ui/supports/{case_id}"): ("participation_worker", 'method="post"'),
    ("participation", "/ui/catalogue-table"): ("participation_worker", 'method="post"'),
    ("community", "/ui/"): ("community_worker", 'href="/ui/resources#register"'),
    ("community", "/ui/issues/{issue_id}"): ("community_worker", 'method="post"'),
    ("intake", "/ui/cases/{case_id}/casework"): ("counselor", 'method="post"'),
    ("collaboration", "/ui/cases/{case_id}/casework"): ("coordinator", 'method="post"'),
    ("outreach", "/ui/cases/{case_id}/casework"): ("outreach_worker", 'method="post"'),
    ("participation", "/ui/cases/{case_id}/casework"): ("participation_worker", 'method="post"'),
    ("community", "/ui/cases/{case_id}/casework"): ("community_worker", 'method="post"'),
    ("community", "/ui/resources"): ("community_worker", 'method="post"'),
    ("community", "/ui/places"): ("community_worker", 'method="post"'),
    ("participation", "/ui/catalogue"): ("participation_worker", 'action="/ui/catalogue/'),
    ("outreach", "/ui/cases/{case_id}/plans/new"): ("outreach_worker", 'method="post"'),
    ("outreach", "/ui/plans/{plan_id}"): ("outreach_worker", 'method="post"'),
    ("participation", "/ui/cases/{case_id}/plans/new"): ("participation_worker", 'method="post"'),
    ("participation", "/ui/plans/{plan_id}"): ("participation_worker", 'method="post"'),
    ("community", "/ui/activities"): ("community_worker", 'method="post"'),
    ("collaboration", "/ui/cases/{case_id}/strands/{strand_id}"): ("coordinator", 'method="post"'),
    ("collaboration", "/ui/council"): ("coordinator", 'action="/ui/council/sittings"'),
    ("collaboration", "/ui/council/sittings/{sitting_id}"): ("coordinator", 'method="post"'),
}


#: Pages whose forms depend on the record's state, which the tests before this one may have moved on (a plan
#: proposed or closed, an issue resolved): the read that says whether its staff should still see a form.
STATEFUL: dict[tuple[str, str], Callable[[Callable[[str, str], Any]], bool]] = {
    ("collaboration", "/ui/plans/{plan_id}"):
        lambda read: read("collaboration", "/plans/{plan_id}")["status"] in (*EDITABLE, *CLOSABLE),
    ("outreach", "/ui/plans/{plan_id}"):
        lambda read: read("outreach", "/plans/{plan_id}")["status"] in (*EDITABLE, *CLOSABLE),
    ("participation", "/ui/plans/{plan_id}"):
        lambda read: read("participation", "/plans/{plan_id}")["status"] in (*EDITABLE, *CLOSABLE),
    ("community", "/ui/issues/{issue_id}"):
        lambda read: read("community", "/issues/{issue_id}")["status"] != "resolved",
    # a match button for each resource of the catalogue the support has not matched yet
    ("participation", "/ui/catalogue-table"): lambda read: bool(
        {r["resource_id"] for r in read("participation", "/catalogue")}
        - {m["resource_id"] for m in read("participation", "/supports/{case_id}")["matches"]}),
}


def still_writable(own_suite: Suite, service: str, path: str, seeded: dict[str, Any]) -> bool:
    if (service, path) not in STATEFUL:
        return True

    def read(of: str, template: str) -> Any:
        response = httpx.get(url_of(own_suite.url(of), template, seeded, of), trust_env=False, timeout=30,
                             headers=staff_headers(*ROLE_STAFF["auditor"], "auditor"))
        assert response.status_code == 200, response.text
        return response.json()

    return STATEFUL[(service, path)](read)


#: Pages that need a query (a partial refreshed for one counter; the catalogue as a support's page shows it).
QUERIES = {("intake", "/ui/cases-table"): f"?counter={ELDERLY.code}",
           ("participation", "/ui/catalogue-table"): "?case_id={case_id}"}


def test_policy_every_page_shows_only_the_forms_its_reader_may_use(own_suite: Suite, seeded: dict[str, Any]) -> None:
    """Every /ui page as every role: each form posts to a route the policy lets that role use, each link to a
    form page opens one it may use, an in-page link finds its section; the auditor sees no form at all
    (only sign-in / sign-out); the staff whose work a page is still find its forms there."""
    pages = [(s, p) for s, m, p in served() if m == "GET" and p.startswith("/ui/") and table()[(s, m, p)] != PUBLIC
             and p != "/ui/events" and not p.endswith(".csv")]
    wrong: list[str] = []
    offered: set[tuple[str, str]] = set()
    auditor_read = 0

    def visit(role: str, service: str, path: str) -> tuple[httpx.Response, bool]:
        """The page as the role gets it, and whether its staff should find its form there."""
        query = QUERIES.get((service, path), "").format(**seeded)
        writer, _ = WRITERS_SEE.get((service, path), ("", ""))
        # the staff whose work the page is must find its form, if the record was writable throughout
        expect_form = role == writer and still_writable(own_suite, service, path, seeded)
        response = browsers[role].get(url_of(own_suite.url(service), path, seeded, service) + query)
        return response, expect_form and still_writable(own_suite, service, path, seeded)

    browsers = {role: httpx.Client(trust_env=False, timeout=30, cookies={COOKIE: token(*ROLE_STAFF[role], role)},
                                   limits=httpx.Limits(max_connections=AT_ONCE)) for role in ROLES}
    try:
        with ThreadPoolExecutor(AT_ONCE) as pool:  # every page as every role, AT_ONCE at a time; read in order below
            visited = list(pool.map(lambda one: visit(*one), [(role, s, p) for role in ROLES for s, p in pages]))
    finally:
        for client in browsers.values():
            client.close()
    answers = iter(visited)
    for role in ROLES:
        staff_id, division = ROLE_STAFF[role]
        principal = Principal(staff_id, division, frozenset({role}))
        for service, path in pages:
            _, marker = WRITERS_SEE.get((service, path), ("", ""))
            response, expect_form = next(answers)
            where = f"{service} {path} as {role}"
            if role == "auditor" and allowed(principal, table()[(service, "GET", path)] or ""):
                auditor_read += 1
                if response.status_code != 200:
                    wrong.append(f"{where}: {response.status_code} {response.text[:200]}")
            if response.status_code != 200:
                continue
            page = parsed(response.text)
            posts = [a for a in page.posts if a not in ("/ui/login", "/ui/logout")]
            if posts:
                offered.add((service, path))
            if role == "auditor" and (posts or page.hx):
                wrong.append(f"{where}: shows forms to a read-only auditor: {posts + page.hx}")
            for target in posts:
                action = action_of(service, "POST", target)
                if action is None:
                    wrong.append(f"{where}: a form posts to {target}, a route that declares no action")
                elif not permits(principal, action, service):
                    wrong.append(f"{where}: shows a form for {action} ({target}), which the policy refuses")
            for href in page.links:
                action = action_of(service, "GET", href) if href.startswith("/ui/") else None
                if action and program_of(action, service) and not permits(principal, action, service):
                    wrong.append(f"{where}: links to the form page {href} ({action}), which the policy refuses")
                if href.startswith("#") and len(href) > 1 and href[1:] not in page.ids:
                    wrong.append(f"{where}: links to #{href[1:]}, a section the page does not show")
            if expect_form and marker not in response.text:
                wrong.append(f"{where}: the staff whose work it is no longer see {marker}")

    assert auditor_read > 20, auditor_read  # the auditor read the pages: the check was not vacuous
    assert not wrong, f"{len(wrong)} answers differ from what the policy lets their reader do:\n" + "\n".join(wrong)
    unlisted = offered - set(WRITERS_SEE)
    assert not unlisted, f"pages offering forms, not in WRITERS_SEE (whose work are they?): {sorted(unlisted)}"


def test_policy_every_may_in_a_template_names_an_action_of_the_table() -> None:
    """A misspelt action in `may("…")` hides a form from everyone: every one must be an action a route declares."""
    root = Path(__file__).resolve().parents[2]
    templates = [*root.glob("services/*/templates/*.html"), *root.glob("shared/web/templates/*.html")]
    named = {(t.name, a) for t in templates for a in re.findall(r"""may\(["']([^"']+)["']\)""", t.read_text())}
    known = route_actions()

    assert len(named) > 10
    assert not [f"{t}: {a}" for t, a in named if a not in known]


# --- the division scope on plain values (shared/organisation/scope.py, below the kernel) ----------------


def test_policy_scope_a_list_shows_a_reader_only_the_cases_that_name_their_division() -> None:
    childcare_case, disability_case = uuid4(), uuid4()
    rows = [{"case_id": str(childcare_case)}, {"case_id": str(disability_case)}]
    childcare, disability = CHILDCARE.division, DISABILITY.division
    named = {childcare_case: frozenset({childcare}), disability_case: frozenset({disability})}.__getitem__

    assert visible(childcare, {"counselor"}, rows, named, "collaboration") == [rows[0]]
    assert visible(LEAD, {"coordinator"}, rows, named, "collaboration") == rows  # it runs the program
    assert visible(childcare, {"auditor"}, rows, named, "collaboration") == rows  # auditors: every division
    assert visible(None, (), rows, named, "collaboration") == []  # nobody signed in


def test_policy_scope_a_refusal_names_the_divisions_that_hold_the_record_and_is_marked_as_the_scopes() -> None:
    childcare, disability = CHILDCARE.division, DISABILITY.division
    with pytest.raises(OutOfScope) as refused:
        require_in_scope(childcare, {"counselor"}, {disability}, holders={disability})

    assert division_name(disability) in str(refused.value) and division_name(childcare) in str(refused.value)
    assert refused.value.status == 403 and refused.value.headers == {"X-Jusou-Refused-By": "scope"}
    require_in_scope(childcare, {"auditor"}, {disability})  # auditors read every division
    require_in_scope(childcare, {"counselor"}, {childcare, disability})  # named: in scope


def test_policy_scope_a_history_row_names_its_actor_upstream_and_agencies_by_division_code() -> None:
    upstream = counter_for("pregnancy").division  # e.g. Chofu's 健康推進課
    row = {"actor": {"division": CHILDCARE.division}, "upstream_divisions": [upstream, "not-a-division"],
           "fields": {"primary_agency": division_name(DISABILITY.division), "to_agency": ELDERLY.ja,
                      "roles": [{"agency": SHAKYO}], "member_divisions": [HARDSHIP.division, "nowhere"]}}

    assert divisions_named(row) == {CHILDCARE.division, upstream, DISABILITY.division, ELDERLY.division,
                                    HARDSHIP.division}  # a partner outside the city names no division


@pytest.mark.parametrize(("role", "service", "action", "may"), [
    ("community_worker", "intake", "casework.read", False),  # the review's find: intake's notes of a case it may not open
    ("community_worker", "community", "casework.write", True),
    ("participation_worker", "intake", "casework.read", False),
    ("participation_worker", "collaboration", "casework.write", False),  # no 担当者 of a case it may not open
    ("counselor", "intake", "casework.write", True),
    ("counselor", "collaboration", "casework.read", False),
    ("secretariat", "collaboration", "casework.read", True),
    ("secretariat", "collaboration", "casework.write", False),
    ("welfare_coordinator", "outreach", "casework.read", True),
    ("welfare_coordinator", "outreach", "casework.write", False),
    ("supervisor", "participation", "casework.read", True),
    ("supervisor", "intake", "casework.write", False),
])
def test_d17_a_programs_workers_and_notes_need_the_rights_on_its_cases(role: str, service: str, action: str,
                                                                       may: bool) -> None:
    principal = Principal(*ROLE_STAFF[role], frozenset({role}))
    assert allowed(principal, action) == (role != "supervisor" or action == "casework.read")  # the role's own set
    assert allowed(principal, action, service) is may
