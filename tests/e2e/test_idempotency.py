"""Commands safe to retry with `Idempotency-Key` (shared/kernel/idempotency.py), on a real intake service:
its own nats-server, a SQLite store (and one test on PostgreSQL)."""

from __future__ import annotations

import asyncio
import json
import os
import re
import subprocess
import sys
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx
import nats
import pytest
from support.auth import reader, staff_headers, token, worker
from support.journey import PLAN, Journey
from support.municipality import ELDERLY, LEAD_NAME
from support.poll import eventually
from support.servers import Nats, Postgres, free_port, nats_server

from jusou.runner import Suite
from jusou.verify import open_store
from shared.contract.events import STREAM
from shared.kernel.idempotency import fingerprint_of, marking, request_id_of
from shared.web.auth import COOKIE

COUNSELOR = staff_headers("kouki-012", ELDERLY.division, "counselor")
OTHER_COUNSELOR = staff_headers("kouki-031", ELDERLY.division, "counselor")
READER = reader()


def consultation(name: str = "調布 花子") -> dict[str, Any]:
    return {"counter": ELDERLY.code, "channel": "電話", "concerns": ["高齢・介護"],
            "person": {"name": name, "kana": "ちょうふ はなこ", "birth_date": "1950-04-01"},
            "confirm_new_person": True}


@pytest.fixture(scope="module")
def intake(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Suite, Nats]]:
    root = tmp_path_factory.mktemp("idempotency")
    with nats_server(root / "nats") as server, Suite(root / "data", nats_url=server.url, services=("intake",),
                                                     ports={"intake": free_port()}) as running:
        yield running, server


@pytest.fixture
async def http(intake: tuple[Suite, Nats]) -> AsyncIterator[httpx.AsyncClient]:
    suite, _ = intake
    async with httpx.AsyncClient(base_url=suite.url("intake"), timeout=20) as client:
        yield client


async def head(http: httpx.AsyncClient) -> int:
    """The intake store's position: how many events it holds."""
    position: int = (await http.get("/readyz")).json()["store_position"]
    return position


async def case_count(http: httpx.AsyncClient) -> int:
    return len((await http.get("/cases", headers=READER)).json())


def keyed(headers: dict[str, str], key: str) -> dict[str, str]:
    return {**headers, "Idempotency-Key": key}


async def test_the_same_key_twice_records_one_consultation_and_answers_the_same(http: httpx.AsyncClient) -> None:
    key = str(uuid.uuid4())
    before, cases = await head(http), await case_count(http)
    first = await http.post("/consultations", json=consultation(), headers=keyed(COUNSELOR, key))
    after_first = await head(http)
    again = await http.post("/consultations", json=consultation(), headers=keyed(COUNSELOR, key))
    assert first.status_code == 201, first.text
    assert "Idempotent-Replayed" not in first.headers
    assert again.status_code == 201 and again.content == first.content
    assert again.headers["Idempotent-Replayed"] == "true"
    assert await head(http) == after_first > before  # the retry recorded nothing
    assert await case_count(http) == cases + 1


async def test_without_a_key_nothing_changes(http: httpx.AsyncClient) -> None:
    cases = await case_count(http)
    one = await http.post("/consultations", json=consultation(), headers=COUNSELOR)
    two = await http.post("/consultations", json=consultation(), headers=COUNSELOR)
    assert one.status_code == two.status_code == 201 and one.json() != two.json()
    assert "Idempotent-Replayed" not in two.headers
    assert await case_count(http) == cases + 2


async def test_the_same_key_with_another_body_is_refused_with_422_and_records_nothing(http: httpx.AsyncClient) -> None:
    key = str(uuid.uuid4())
    assert (await http.post("/consultations", json=consultation(), headers=keyed(COUNSELOR, key))).status_code == 201
    before = await head(http)
    other = await http.post("/consultations", json=consultation("調布 次郎"), headers=keyed(COUNSELOR, key))
    assert other.status_code == 422
    assert "同じ Idempotency-Key で別の内容が送られました" in other.json()["detail"]
    assert await head(http) == before


async def test_a_key_that_is_empty_or_too_long_is_refused_with_400(http: httpx.AsyncClient) -> None:
    before = await head(http)
    for bad in ("", "k" * 256):
        refused = await http.post("/consultations", json=consultation(), headers=keyed(COUNSELOR, bad))
        assert refused.status_code == 400, (bad, refused.text)
        assert "Idempotency-Key" in refused.json()["detail"] and "255" in refused.json()["detail"]
    assert await head(http) == before
    longest = await http.post("/consultations", json=consultation(), headers=keyed(COUNSELOR, "k" * 255))
    assert longest.status_code == 201


async def test_concurrent_requests_with_the_same_key_record_one_effect(http: httpx.AsyncClient) -> None:
    key = str(uuid.uuid4())
    cases = await case_count(http)
    answers = await asyncio.gather(*(http.post("/consultations", json=consultation(), headers=keyed(COUNSELOR, key))
                                     for _ in range(6)))
    assert {a.status_code for a in answers} == {201}, [a.text for a in answers]
    assert len({a.content for a in answers}) == 1
    assert sum("Idempotent-Replayed" not in a.headers for a in answers) == 1
    assert await case_count(http) == cases + 1


async def test_a_key_is_scoped_per_staff_member(http: httpx.AsyncClient) -> None:
    key = str(uuid.uuid4())
    cases = await case_count(http)
    mine = await http.post("/consultations", json=consultation(), headers=keyed(COUNSELOR, key))
    mine_again = await http.post("/consultations", json=consultation(), headers=keyed(COUNSELOR, key))
    assert mine_again.headers.get("Idempotent-Replayed") == "true" and mine_again.content == mine.content
    theirs = await http.post("/consultations", json=consultation(), headers=keyed(OTHER_COUNSELOR, key))
    assert mine.status_code == theirs.status_code == 201
    assert mine.json() != theirs.json() and "Idempotent-Replayed" not in theirs.headers
    assert await case_count(http) == cases + 2


async def test_a_key_is_scoped_per_route_and_checks_the_path(http: httpx.AsyncClient) -> None:
    key = str(uuid.uuid4())
    one = (await http.post("/consultations", json=consultation(), headers=COUNSELOR)).json()["case_id"]
    two = (await http.post("/consultations", json=consultation(), headers=COUNSELOR)).json()["case_id"]
    consent = {"scope": "重層的支援会議での情報共有", "granted": True, "method": "書面"}
    first = await http.post(f"/cases/{one}/consent", json=consent, headers=keyed(COUNSELOR, key))
    assert first.status_code == 200
    elsewhere = await http.post(f"/cases/{two}/consent", json=consent, headers=keyed(COUNSELOR, key))
    assert elsewhere.status_code == 422  # the same route with another case: another request
    escalate = {"reason": "介護と家計の課題が重なる", "primary_agency": ELDERLY.ja}
    other_route = await http.post(f"/cases/{one}/escalate", json=escalate, headers=keyed(COUNSELOR, key))
    assert other_route.status_code == 200 and "Idempotent-Replayed" not in other_route.headers


async def test_d9_a_retried_refusal_after_a_search_gives_its_message_but_not_the_candidates_again(
    http: httpx.AsyncClient
) -> None:
    known = consultation("調布 四郎")
    assert (await http.post("/consultations", json=known, headers=COUNSELOR)).status_code == 201
    key, unsure = str(uuid.uuid4()), {**known, "confirm_new_person": False}
    first = await http.post("/consultations", json=unsure, headers=keyed(COUNSELOR, key))
    assert first.status_code == 409 and first.json()["candidates"]  # search before create: Person.Shown recorded
    before = await head(http)
    again = await http.post("/consultations", json=unsure, headers=keyed(COUNSELOR, key))
    assert again.status_code == 409 and again.headers["Idempotent-Replayed"] == "true"
    assert again.json() == {"detail": first.json()["detail"], "code": first.json()["code"]}  # the people listed stay under their own keys
    assert await head(http) == before


@pytest.fixture
def store_of_intake(intake: tuple[Suite, Nats], monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    suite, _ = intake
    monkeypatch.setenv("JUSOU_DATA_DIR", str(suite.data_dir))
    monkeypatch.setenv("JUSOU_STORE", "sqlite")
    with open_store("intake") as app:
        yield app


def committed_without_an_answer(app: Any, staff_id: str, key: str, body: dict[str, Any]) -> str:
    """What a command that committed and then lost its answer leaves behind (the process died, or the
    connection broke at commit time and the client got a 503): its effect and its key's record."""
    request_id = request_id_of("intake", staff_id, "POST", "/consultations", key)
    fingerprint = fingerprint_of("POST", "/consultations", json.dumps(body).encode())
    actor = {"staff_id": staff_id, "division": ELDERLY.division}
    with marking(request_id, "POST /consultations", fingerprint):
        case_id = app.receive_consultation(actor, ELDERLY.code, ELDERLY.division, body["channel"], body["concerns"],
                                           body["person"], None, True)
    return str(case_id)


async def test_a_retry_after_a_commit_whose_answer_was_lost_gives_the_recorded_outcome(
    http: httpx.AsyncClient, store_of_intake: Any
) -> None:
    key, body = str(uuid.uuid4()), consultation()
    cases = await case_count(http)
    case_id = await asyncio.to_thread(committed_without_an_answer, store_of_intake, "kouki-012", key, body)
    before = await head(http)
    retry = await http.post("/consultations", json=body, headers=keyed(COUNSELOR, key))
    assert retry.status_code == 200, retry.text
    assert retry.headers["Idempotent-Replayed"] == "true"
    answer = retry.json()
    assert "既に記録されています" in answer["detail"] and "already recorded" in answer["detail"]
    assert case_id in answer["recorded"]
    assert await head(http) == before
    assert await case_count(http) == cases + 1


async def test_the_ui_form_carries_a_key_and_a_double_submit_records_once(http: httpx.AsyncClient) -> None:
    http.cookies.set(COOKIE, token("kouki-012", ELDERLY.division, "counselor"))
    page = await http.get("/ui/consultations/new")
    keys = re.findall(r'name="idempotency_key" value="([^"]+)"', page.text)
    assert len(keys) == 1
    form = {"counter": ELDERLY.code, "channel": "窓口", "concerns": "高齢・介護", "name": "調布 三郎",
            "birth_date": "1961-07-07", "confirm_new_person": "1", "idempotency_key": keys[0],
            "csrf_token": re.findall(r'name="csrf_token" value="([^"]+)"', page.text)[0]}
    cases = await case_count(http)
    first, second = await asyncio.gather(*(http.post("/ui/consultations", data=form)
                                           for _ in range(2)))
    assert first.status_code == second.status_code == 303
    assert first.headers["location"] == second.headers["location"]
    assert await case_count(http) == cases + 1
    # signed in again (a new session, so a new CSRF token), the same form sent again is the same command
    http.cookies.set(COOKIE, token("kouki-012", ELDERLY.division, "counselor"))
    again = await http.get("/ui/consultations/new")
    resent = await http.post("/ui/consultations", data={
        **form, "csrf_token": re.findall(r'name="csrf_token" value="([^"]+)"', again.text)[0]})
    assert resent.status_code == 303 and resent.headers["location"] == first.headers["location"], resent.text[:300]
    assert await case_count(http) == cases + 1
    assert re.findall(r'name="idempotency_key" value="([^"]+)"', again.text) != keys  # a new key per render
    log = await http.get("/ui/log")  # 記録: what happened, not the keys' bookkeeping
    assert log.status_code == 200 and 'data-event="Case.' in log.text, log.text[:500]
    assert "IdempotentRequest" not in log.text


async def test_every_services_openapi_names_the_key_on_every_command_and_on_no_read(journey: Journey) -> None:
    for service, url in journey.urls.items():
        document = (await journey.http.get(url + "/openapi.json")).json()
        commands = reads = 0
        for path, operations in document["paths"].items():
            for method, operation in operations.items():
                names = [p["name"] for p in operation.get("parameters", [])]
                if method in ("post", "put", "patch", "delete"):
                    commands += 1
                    assert names.count("Idempotency-Key") == 1, (service, method, path, names)
                else:
                    reads += 1
                    assert "Idempotency-Key" not in names, (service, method, path)
        assert commands and reads, service


async def test_commands_of_the_other_services_and_the_shared_plan_routes_are_safe_to_retry(journey: Journey) -> None:
    case_id = await journey.receive_and_escalate()
    await journey.get_when("collaboration", f"/cases/{case_id}", lambda c: c["status"] == "open",
                           "collaboration to open the case")
    commands = [
        ("collaboration", f"/cases/{case_id}/plans", PLAN, "plan_id"),
        ("meeting", "/meetings", {"meeting_type": "jusou_shien_kaigi", "held_on": "2026-12-03",
                                  "attendees": [LEAD_NAME, ELDERLY.ja]}, "meeting_id"),
        ("outreach", "/engagements", {"referred_by": "民生委員", "reason": "長く外出していない"}, "case_id"),
        ("community", "/resources", {"kind": "居場所", "name": "つつじヶ丘の居場所", "provider": "社会福祉協議会",
                                     "area": "つつじヶ丘"}, "resource_id"),
    ]
    for service, path, body, id_field in commands:
        key = str(uuid.uuid4())
        url = journey.urls[service] + path
        first = await journey.http.post(url, json=body, headers=keyed(worker(service), key))
        again = await journey.http.post(url, json=body, headers=keyed(worker(service), key))
        assert first.status_code == 201 and id_field in first.json(), (service, first.text)
        assert again.status_code == 201 and again.content == first.content, service  # the same new id: one effect
        assert again.headers["Idempotent-Replayed"] == "true"


def jusou(suite: Suite, server: Nats, *args: str) -> tuple[int, Any, str]:
    env = dict(os.environ, JUSOU_DATA_DIR=str(suite.data_dir), NATS_URL=server.url, JUSOU_STORE="sqlite")
    env |= {f"JUSOU_{n.upper()}_PORT": str(urlsplit(suite.url(n)).port) for n in suite.services}
    done = subprocess.run([str(Path(sys.executable).parent / "jusou"), *args], env=env, capture_output=True,
                          text=True, timeout=120, check=False)
    return done.returncode, json.loads(done.stdout) if "--json" in args else done.stdout, done.stderr


async def test_d15_the_key_record_is_not_published_and_verify_agrees(
    http: httpx.AsyncClient, intake: tuple[Suite, Nats]
) -> None:
    suite, server = intake
    key = str(uuid.uuid4())
    for _ in range(2):
        sent = await http.post("/consultations", json=consultation(), headers=keyed(COUNSELOR, key))
        assert sent.status_code == 201

    async def settled() -> bool | None:
        ready = (await http.get("/readyz")).json()
        return True if ready["relay_position"] == ready["store_position"] else None

    await eventually(settled, "the relay to publish everything")
    nc = await nats.connect(server.url)
    try:
        js = nc.jetstream()
        info = await js.stream_info(STREAM)
        published = []
        for seq in range(info.state.first_seq, info.state.last_seq + 1):
            msg = await js.get_msg(STREAM, seq)
            published.append((msg.subject, json.loads(msg.data)["event_type"]))
    finally:
        await nc.close()
    assert published and all(s == f"jusou.intake.{t}" for s, t in published)
    assert not any("Idempotent" in s for s, _ in published)
    code, result, err = jusou(suite, server, "audit", "verify", "--json", "--service", "intake")
    assert code == 0 and result["ok"] is True, (result, err)
    report = result["reports"][0]
    assert report["integration_events"] == report["on_stream"] < report["store_events"]
    assert report["problems"] == 0 and report["unsealed"] == 0 and report["unreadable"] == []


@pytest.mark.postgres
async def test_on_postgres_the_same_key_sent_at_once_or_after_a_lost_answer_records_once(
    postgres: Postgres, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    prefix = f"i{uuid.uuid4().hex[:8]}_"
    try:
        with nats_server(tmp_path / "nats") as server, Suite(
            tmp_path / "data", nats_url=server.url, services=("intake",), ports={"intake": free_port()},
            extra_env=postgres.env(prefix),
        ) as running:
            async with httpx.AsyncClient(base_url=running.url("intake"), timeout=20) as http:
                key = str(uuid.uuid4())
                answers = await asyncio.gather(*(http.post("/consultations", json=consultation(),
                                                           headers=keyed(COUNSELOR, key)) for _ in range(4)))
                assert {a.status_code for a in answers} == {201}, [a.text for a in answers]
                assert len({a.content for a in answers}) == 1
                again = await http.post("/consultations", json=consultation(), headers=keyed(COUNSELOR, key))
                assert again.content == answers[0].content and again.headers["Idempotent-Replayed"] == "true"
                assert await case_count(http) == 1
                other = await http.post("/consultations", json=consultation("別 人"), headers=keyed(COUNSELOR, key))
                assert other.status_code == 422
                assert await case_count(http) == 1
                for name, value in {**postgres.env(prefix), "JUSOU_DATA_DIR": str(running.data_dir)}.items():
                    monkeypatch.setenv(name, value)
                lost = str(uuid.uuid4())
                with open_store("intake") as app:  # committed, and the answer lost (a 503 at commit time)
                    case_id = await asyncio.to_thread(committed_without_an_answer, app, "kouki-012", lost,
                                                      consultation())
                retry = await http.post("/consultations", json=consultation(), headers=keyed(COUNSELOR, lost))
                assert retry.status_code == 200 and case_id in retry.json()["recorded"], retry.text
                assert await case_count(http) == 2
    finally:
        postgres.drop_schemas(prefix)
