"""Many municipalities on one deployment (issue 18): two tenants, 甲市 (`kou`) and 乙市 (`otsu`), served by the
same six service processes, on a real nats-server with one account each and real SQLite stores, sealed off.

One suite for the package (`jusou up --tenants` as the runner starts it: tests/tenancy/conftest.py). Each tenant
gets the whole seeded journey (tests/security/seed.py) with its own staff tokens (its own development issuer's key,
the `tenant` claim). Then a staff member of 甲市 walks every route of every service (JSON, pages, exports, audit, figures)
with 乙市's ids: nothing of 乙市 comes back and nothing of 乙市 changes; the bus of 乙市 never sees 甲市's
events; erasing a person in 甲市 leaves 乙市's untouched; each tenant's figures count its own records only; a
token naming another tenant than the key that signed it, none, or one not served is refused.
"""

from __future__ import annotations

import asyncio
import importlib
import re
import time
from pathlib import Path
from typing import Any

import httpx
import jwt
import pytest
from security import seed as seeding
from support.auth import ROLE_STAFF

from jusou.runner import Suite
from shared.messaging.bus import connect
from shared.organisation.municipality import load as load_municipality
from shared.web import http as service_http
from shared.web.auth import COOKIE, Principal
from shared.web.auth import verifier as auth_verifier
from shared.web.policy import PUBLIC, ROLES, actions
from tenancy.two_tenants import KOU, NAMES, OTHER_FILE, OTSU, SERVICES, bearer, headers_as, tenant_token

pytestmark = pytest.mark.skipif(
    "tenant" not in Principal.__dataclass_fields__ or not hasattr(service_http, "open_runtime"),
    reason="waits for the tenant in shared/web/auth.py and the runtimes in shared/web/http.py (issue 18)")
_PARAM = re.compile(r"{([a-z_]+)(?::[a-z]+)?}")


@pytest.fixture(scope="module")
def kou_three_more(suite: Suite, seeded: dict[str, dict[str, Any]]) -> None:
    """Three more consultations in 甲市 (the figures count 3 or more: 1 and 2 are suppressed)."""
    staff = headers_as(suite, KOU, "consultation.receive")
    for n in range(3):
        answer = httpx.post(suite.url("intake") + "/consultations", headers=staff, timeout=30, json={
            "counter": seeding.ELDERLY.code, "channel": "窓口", "concerns": [seeding.concern("elderly-care")],
            "person": {"name": f"甲野 {n}郎", "kana": "こうの", "birth_date": "1970-01-01"}, "confirm_new_person": True})
        assert answer.status_code in (200, 201), answer.text


def secrets_of(ids: dict[str, Any], tenant: str) -> list[str]:
    """What must never come back to another tenant: the tenant's ids and its person's name."""
    return [str(v) for k, v in ids.items() if isinstance(v, str) and len(str(v)) >= 32] + [NAMES[tenant]]


def filled(path: str, ids: dict[str, Any], service: str) -> str:
    own = {**ids, **{k.split("@")[0]: v for k, v in ids.items() if k.endswith("@" + service)}}
    return _PARAM.sub(lambda m: str(own.get(m.group(1), ids["case_id"])), path)


def example(schema: dict[str, Any], document: dict[str, Any], ids: dict[str, Any], name: str = "") -> Any:
    """A value the schema accepts (its first choice, its smallest size), with `ids`' id where a field names one:
    what gets a command past validation to the application, which must then not find the record."""
    if "$ref" in schema:
        found: Any = document
        for part in schema["$ref"].removeprefix("#/").split("/"):
            found = found[part]
        return example(found, document, ids, name)
    for choice in ("anyOf", "oneOf", "allOf"):
        if choice in schema:
            options = [o for o in schema[choice] if o.get("type") != "null"]
            return example(options[0], document, ids, name) if options else None
    if "enum" in schema:
        return schema["enum"][0]
    if "const" in schema:
        return schema["const"]
    kind = schema.get("type")
    if kind == "string":
        if schema.get("format") == "uuid":
            return str(ids.get(name, ids["case_id"]))
        if schema.get("format") == "date":
            return "2026-12-01"
        if schema.get("format") == "date-time":
            return "2026-12-01T10:00:00+09:00"
        return "あ" * max(1, int(schema.get("minLength", 1)))
    if kind in ("integer", "number"):
        return max(1, int(schema.get("minimum", 1)))
    if kind == "boolean":
        return True
    if kind == "array":
        items = schema.get("items", {})
        return [example(items, document, ids, name) for _ in range(max(1, int(schema.get("minItems", 1))))]
    if kind == "object" or "properties" in schema:
        properties = schema.get("properties", {})
        return {key: example(properties[key], document, ids, key) for key in schema.get("required", []) if key in properties}
    return "あ"


def request_of(operation: dict[str, Any], document: dict[str, Any], ids: dict[str, Any]) -> tuple[dict[str, Any], Any]:
    """The required query parameters and the JSON body of an operation, filled by `example`."""
    query = {p["name"]: example(p.get("schema", {}), document, ids, p["name"])
             for p in operation.get("parameters", []) if p.get("in") == "query" and p.get("required")}
    content = operation.get("requestBody", {}).get("content", {})
    body = example(content["application/json"]["schema"], document, ids) if "application/json" in content else None
    return query, body


def walk(suite: Suite, service: str, tenant: str, ids: dict[str, Any], secret: list[str]) -> tuple[list[str], list[str]]:
    """Every route of the service (its OpenAPI's operations, filled in, and its pages), as a staff member of `tenant`
    allowed to take it, with another tenant's `ids`: (answers showing any of `secret` the request did not give,
    answers 2xx to a route naming an id)."""
    api = importlib.import_module(f"services.{service}.main").api
    tokens: dict[str, dict[str, str]] = {}
    leaks: list[str] = []
    answered: list[str] = []
    with httpx.Client(timeout=30, base_url=suite.url(service)) as http:
        document = http.get("/openapi.json").json()
        for (method, path), action in sorted(actions(api).items()):
            if action in (PUBLIC, None) or path == "/ui/events":  # public; a stream that never ends (its own test)
                continue
            if "{" not in path and method != "GET":
                continue  # names nothing of another tenant: a new record of its own (the walk reads every list)
            if action not in tokens:
                tokens[action] = headers_as(suite, tenant, action, f"{tenant}-walk-")
            operation = document["paths"].get(path, {}).get(method.lower(), {})
            query, body = request_of(operation, document, ids)
            url = filled(path, ids, service)
            exports = [{"format": "csv"}] if any(p.get("name") == "format" for p in operation.get("parameters", [])) else []
            for extra in [{}, *exports]:  # and its CSV export, where it has one (audit, figures)
                response = http.request(method, url, params={**query, **extra}, json=body, headers=tokens[action])
                said = f"{url}?{query}{body}"
                leaks += [f"{service} {method} {path} {extra}: {response.status_code} shows {s!r}" for s in secret
                          if s in response.text and s not in said]  # an id the request gave may be said back; no other
                if "{" in path and response.status_code < 300:
                    answered.append(f"{service} {method} {path}: {response.status_code} {response.text[:100]}")
    return leaks, answered


def test_a_staff_member_of_one_tenant_reads_and_changes_nothing_of_another_through_any_route(
    suite: Suite, seeded: dict[str, dict[str, Any]]
) -> None:
    from concurrent.futures import ThreadPoolExecutor

    with ThreadPoolExecutor(len(SERVICES)) as pool:
        found = list(pool.map(lambda s: walk(suite, s, KOU, seeded[OTSU], secrets_of(seeded[OTSU], OTSU)), SERVICES))
    leaks = [leak for service_leaks, _ in found for leak in service_leaks]
    answered = [a for _, service_answered in found for a in service_answered]
    assert leaks == []
    # What answered 2xx with 乙市's ids are reads that answer so for any id they do not know (an empty history,
    # audit or timeline), never a change
    assert [a for a in answered if a.split()[1] != "GET"] == []
    # Nothing of 乙市 changed: no event in 乙市's stores names a staff member of the walk.
    with httpx.Client(timeout=30) as http:
        for service in SERVICES:
            log_page = http.get(suite.url(service) + "/ui/log", headers=headers_as(suite, OTSU, "log.read"))
            assert log_page.status_code == 200, log_page.text
            assert "kou-walk-" not in log_page.text, f"{service}: 甲市's walk recorded something in 乙市's store"


def test_a_tenant_reads_its_own_records_through_the_same_processes(
    suite: Suite, seeded: dict[str, dict[str, Any]]
) -> None:
    for tenant in (KOU, OTSU):
        ids = seeded[tenant]
        person = httpx.get(suite.url("intake") + f"/cases/{ids['case_id']}/person?basis=own_counter",
                           headers=headers_as(suite, tenant, "person.read"), timeout=30)
        assert person.status_code == 200 and person.json()["name"] == NAMES[tenant]
        other = OTSU if tenant == KOU else KOU
        for service, path in (("intake", "/cases/{case_id}"), ("collaboration", "/cases/{case_id}"),
                              ("meeting", "/meetings/{meeting_id}"), ("participation", "/supports/{case_id}")):
            own = httpx.get(suite.url(service) + filled(path, ids, service),
                            headers=headers_as(suite, tenant, "plan.read" if service != "intake" else "intake.case.read"),
                            timeout=30)
            assert own.status_code == 200, (tenant, service, own.text)
            theirs = httpx.get(suite.url(service) + filled(path, seeded[other], service),
                               headers=headers_as(suite, tenant, "plan.read" if service != "intake" else "intake.case.read"),
                               timeout=30)
            assert theirs.status_code in (403, 404), (tenant, service, theirs.status_code, theirs.text)


@pytest.mark.parametrize(("case", "claims", "key_of", "code"), [
    ("another tenant's claim signed with this tenant's key", {"tenant": OTSU}, KOU, "unauthenticated"),
    ("no tenant claim", {"tenant": None}, None, "tenant_not_named"),
    ("a tenant not served here", {"tenant": "tei"}, KOU, "tenant_not_served"),
])
def test_a_token_is_refused_unless_its_own_tenants_key_signed_its_tenant(
    suite: Suite, case: str, claims: dict[str, Any], key_of: str | None, code: str
) -> None:
    token = tenant_token(suite, KOU, "kouki-012", ROLE_STAFF["counselor"][1], "counselor", key_of=key_of, **claims)
    for service in ("intake", "collaboration"):
        refused = httpx.get(suite.url(service) + "/reference/divisions", headers=bearer(token), timeout=30)
        assert refused.status_code == 401, (case, refused.text)
        assert refused.json()["code"] == code, (case, refused.json())
    from support.auth import staff_headers

    single = httpx.get(suite.url("intake") + "/reference/divisions", timeout=30,
                       headers=staff_headers("kouki-012", ROLE_STAFF["counselor"][1], "counselor"))
    assert single.status_code == 401 and single.json()["code"] == "tenant_not_named"  # the single-tenant issuer's


def test_each_tenant_works_under_its_own_municipality_file(suite: Suite) -> None:
    """`hei` on another municipality file (架空市's beside the deployment's Chofu, or the other way round on a run with
    JUSOU_TEST_MUNICIPALITY=kakushi): its staff's divisions are its file's, its reference data too, and a division of
    the deployment's file is no division there."""
    kakushi = load_municipality(OTHER_FILE)
    lead = kakushi.about.lead_division
    ours = httpx.get(suite.url("intake") + "/reference/divisions", timeout=30,
                     headers=bearer(tenant_token(suite, "hei", "hei-001", lead, "auditor")))
    assert ours.status_code == 200, ours.text
    assert {d["code"] for d in ours.json()} == set(kakushi.division_codes)
    chofu = httpx.get(suite.url("intake") + "/reference/divisions", timeout=30,
                      headers=headers_as(suite, KOU, "reference.read"))
    assert chofu.status_code == 200 and {d["code"] for d in chofu.json()} != set(kakushi.division_codes)
    elsewhere = next(code for code in (d["code"] for d in chofu.json()) if code not in kakushi.division_codes)
    refused = httpx.get(suite.url("intake") + "/reference/divisions", timeout=30,
                        headers=bearer(tenant_token(suite, "hei", "hei-001", elsewhere, "auditor")))
    assert refused.status_code == 401 and elsewhere in refused.text


def test_an_event_of_one_tenant_never_reaches_another_tenants_account(
    suite: Suite, seeded: dict[str, dict[str, Any]]
) -> None:
    async def run() -> None:
        theirs = await connect(suite.nats_url, "tenancy-test-otsu", *suite.tenant_operator(OTSU))
        ours = await connect(suite.nats_url, "tenancy-test-kou", *suite.tenant_operator(KOU))
        try:
            seen: list[str] = []
            async def heard(msg: Any) -> None:
                seen.append(msg.subject)

            await theirs.subscribe("jusou.>", cb=heard)
            await theirs.flush()
            their_count = (await theirs.jetstream().stream_info("JUSOU")).state.messages
            our_count = (await ours.jetstream().stream_info("JUSOU")).state.messages
            case_id = seeded[KOU]["case_id"]
            answer = await asyncio.to_thread(  # 甲市's intake publishes a ConnectionMade
                httpx.post, suite.url("intake") + f"/cases/{case_id}/connect", timeout=30,
                headers=headers_as(suite, KOU, "intake.case.write"), json={"to_agency": seeding.HARDSHIP.ja, "reason": "家計"})
            assert answer.status_code in (200, 201), answer.text

            async def published() -> bool:
                return (await ours.jetstream().stream_info("JUSOU")).state.messages > our_count

            deadline = time.monotonic() + 30
            while not await published():
                assert time.monotonic() < deadline, "甲市's events never reached 甲市's stream"
                await asyncio.sleep(0.1)
            await theirs.flush()
            assert seen == []
            assert (await theirs.jetstream().stream_info("JUSOU")).state.messages == their_count
            # and a user of 乙市's account publishing on 甲市's subjects reaches nothing of 甲市 (a subject is its account's)
            user, password = suite.tenant_login(OTSU, "intake")
            intruder = await connect(suite.nats_url, "tenancy-test-intruder", user, password)
            await intruder.close()
        finally:
            await theirs.close()
            await ours.close()

    asyncio.run(run())
    # 乙市's collaboration never opened 甲市's cases (its consumers are in its own account)
    collaboration = httpx.get(suite.url("collaboration") + "/cases", headers=headers_as(suite, OTSU, "collaboration.case.read"),
                              timeout=30)
    assert collaboration.status_code == 200
    assert seeded[KOU]["case_id"] not in collaboration.text and seeded[OTSU]["case_id"] in collaboration.text


def test_the_figures_of_each_tenant_count_its_own_records_alone(
    suite: Suite, seeded: dict[str, dict[str, Any]], kou_three_more: None
) -> None:
    def consultations(tenant: str) -> Any:
        answer = httpx.get(suite.url("intake") + "/figures/program", headers=headers_as(suite, tenant, "figures.read"),
                           timeout=30)
        assert answer.status_code == 200, answer.text
        return answer.json()

    def received(tenant: str) -> Any:  # the year's consultations, all counters (None: fewer than 3, suppressed)
        indicator = next(i for i in consultations(tenant) if i["code"] == "consultations")
        return next(row["year"] for row in indicator["rows"] if row["key"] == "")

    assert received(KOU) == 4  # its seeded case and three more; 乙市's one is not among them
    assert received(OTSU) is None  # its one seeded case alone (1: shown as 「3未満」)


def test_erasing_a_person_in_one_tenant_leaves_the_other_untouched(
    suite: Suite, seeded: dict[str, dict[str, Any]]
) -> None:
    erased = httpx.post(suite.url("intake") + f"/persons/{seeded[KOU]['person_ref']}/erasure",
                        headers=headers_as(suite, KOU, "person.erase"),
                        json={"basis": "person_request", "reason": "本人からの消去請求"}, timeout=30)
    assert erased.status_code == 200, erased.text
    assert erased.json()["erased"] is not None
    kept = httpx.get(suite.url("intake") + f"/cases/{seeded[OTSU]['case_id']}/person?basis=own_counter",
                     headers=headers_as(suite, OTSU, "person.read"), timeout=30)
    assert kept.status_code == 200 and kept.json()["name"] == NAMES[OTSU] and kept.json()["erased"] is None
    refused = httpx.post(suite.url("intake") + f"/persons/{seeded[OTSU]['person_ref']}/erasure",
                         headers=headers_as(suite, KOU, "person.erase"),
                         json={"basis": "person_request", "reason": "本人からの消去請求"}, timeout=30)
    assert refused.status_code == 404, refused.text


def test_each_tenants_data_is_in_its_own_folder_with_its_own_key(suite: Suite) -> None:
    kou, otsu = (next(t for t in suite.tenants if t.id == name) for name in (KOU, OTSU))
    for tenant in (kou, otsu):
        stores = {p.name.split(".")[0] for p in tenant.data_path.glob("*.sqlite")}  # each service's store and views
        assert stores == set(SERVICES)
    assert (kou.data_path / "cipher.key").read_bytes() != (otsu.data_path / "cipher.key").read_bytes()
    assert not list(Path(suite.data_dir).glob("*.sqlite"))  # nothing in the deployment's own folder



def test_metrics_show_each_tenants_store_and_bus_under_its_own_label(
    suite: Suite, seeded: dict[str, dict[str, Any]]
) -> None:
    """/metrics stays public and answers on a deployment of many municipalities: the store and bus figures once per
    tenant, labelled `tenant` (its store's own position), the request counts once for the process."""
    for service in SERVICES:
        answer = httpx.get(suite.url(service) + "/metrics", timeout=30)
        assert answer.status_code == 200, (service, answer.status_code, answer.text[:300])
        positions = dict(re.findall(rf'jusou_store_position\{{service="{service}",tenant="([a-z]+)"\}} ([0-9.e+]+)',
                                    answer.text))
        assert set(positions) >= {KOU, OTSU}, (service, positions)
        assert 'jusou_http_requests_total{' in answer.text and 'tenant=""' not in answer.text
    intake = httpx.get(suite.url("intake") + "/metrics", timeout=30).text
    positions = dict(re.findall(r'jusou_store_position\{service="intake",tenant="([a-z]+)"\} ([0-9.e+]+)', intake))
    assert float(positions[KOU]) > 0 and float(positions[OTSU]) > 0  # each seeded its own case at intake


def test_a_tenants_staff_signs_in_on_the_page_and_with_jusou_token_only_as_that_tenant(
    suite: Suite, seeded: dict[str, dict[str, Any]], monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str],
    request: pytest.FixtureRequest,
) -> None:
    """Each tenant's development issuer (`<data_dir>/auth`): `jusou staff add --tenant` makes its staff, the sign-in
    page asks for the municipality and checks the password against THAT tenant's accounts, the session (and
    `jusou token --tenant`) carries the tenant, signed by its key: 甲市's case page opens, 乙市's never does."""
    import io

    from jusou.cli import main as jusou

    monkeypatch.setenv("JUSOU_TENANTS_FILE", str(suite.tenants_file))
    # `jusou token` in this process builds the cached verifier from the tenants file: forget it after this test, or the
    # later tests of this process would meet a deployment of many municipalities
    request.addfinalizer(auth_verifier.cache_clear)
    role = next(r for r in ROLE_STAFF if "intake.case.read" in ROLES[r].actions)
    staff_id, division, password = "kou-signin-01", ROLE_STAFF[role][1], "kou-password-01"
    with pytest.raises(SystemExit) as refused:  # a deployment of many municipalities: whose staff?
        jusou(["staff", "add", staff_id, "--division", division, "--role", role, "--password-stdin"])
    assert refused.value.code == 2 and "--tenant" in capsys.readouterr().err
    monkeypatch.setattr("sys.stdin", io.StringIO(password + "\n"))
    assert jusou(["staff", "add", staff_id, "--division", division, "--role", role, "--password-stdin",
                  "--tenant", KOU]) == 0
    intake = suite.url("intake")
    kou_case, otsu_case = (f"/ui/cases/{seeded[t]['case_id']}" for t in (KOU, OTSU))
    with httpx.Client(trust_env=False, follow_redirects=False, timeout=30) as browser:
        page = browser.get(intake + "/ui/login").text
        assert 'name="tenant"' in page and ">甲市<" in page and ">乙市<" in page
        for chosen in (OTSU, "tei", ""):  # the same id and password chosen with another tenant, or none
            wrong = browser.post(intake + "/ui/login", data={"staff_id": staff_id, "password": password,
                                                             "tenant": chosen, "next": kou_case})
            assert wrong.status_code == 303 and "ng=" in wrong.headers["location"], (chosen, wrong.text)
            assert COOKIE not in browser.cookies, chosen
        signed = browser.post(intake + "/ui/login", data={"staff_id": staff_id, "password": password, "tenant": KOU,
                                                          "next": kou_case})
        assert signed.status_code == 303 and signed.headers["location"].startswith(kou_case), signed.text
        assert jwt.decode(browser.cookies[COOKIE], options={"verify_signature": False})["tenant"] == KOU
        own = browser.get(intake + kou_case)
        assert own.status_code == 200, own.text[:300]
        assert browser.get(intake + otsu_case).status_code in (403, 404)
    capsys.readouterr()
    assert jusou(["token", staff_id, "--tenant", KOU, "--ttl", "5m"]) == 0
    token = capsys.readouterr().out.strip()
    for case, expected in ((seeded[KOU]["case_id"], (200,)), (seeded[OTSU]["case_id"], (403, 404))):
        answer = httpx.get(intake + f"/cases/{case}", headers=bearer(token), timeout=30)
        assert answer.status_code in expected, (case, answer.status_code, answer.text[:300])
    with pytest.raises(SystemExit) as refused:  # 乙市 has no such account: no token for it
        jusou(["token", staff_id, "--tenant", OTSU])
    assert refused.value.code not in (0, None)
