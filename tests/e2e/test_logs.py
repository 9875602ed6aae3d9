"""Structured logs of a running suite: every line JSON, ids where they apply, no personal information.

A whole suite runs with `JUSOU_LOG_FORMAT=json`; a person with an unusual name, kana, phone and
address is received at the counter, searched for, refused as a duplicate, shown to staff, and
their case goes through escalation, a plan and a decision. Then the suite stops and every line of
every service's log (data/logs/<service>.log, stdout and stderr together) is read.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any
from urllib.parse import unquote_plus

import httpx
import pytest
from support.auth import reader
from support.journey import COUNTER_STAFF, Journey
from support.municipality import ELDERLY
from support.poll import eventually
from support.servers import free_port, nats_server

from jusou.runner import Suite
from shared.kernel.journey import journey_id

SERVICES = ("intake", "collaboration", "meeting", "outreach", "participation", "community")
PERSON = {
    "name": "鷺沼テスト花子",
    "kana": "さぎぬまてすとはなこ",
    "phone": "042-481-7359",
    "birth_date": "1951-08-23",
    "address": "調布市深大寺元町九丁目八十七番",
}
# What must never appear in a log line: each field, and the family name alone.
PERSONAL = (*PERSON.values(), "鷺沼", "さぎぬま")


@pytest.fixture(scope="module")
def json_suite(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Suite]:
    root = tmp_path_factory.mktemp("logs")
    ports = {name: free_port() for name in SERVICES}
    with nats_server(root / "nats") as nats, Suite(
        root / "data", nats_url=nats.url, ports=ports, extra_env={"JUSOU_LOG_FORMAT": "json"}
    ) as suite:
        yield suite


def log_lines(suite: Suite, service: str) -> list[str]:
    return suite.log_path(service).read_text(encoding="utf-8").splitlines()


def parsed(suite: Suite) -> dict[str, list[dict[str, Any]]]:
    """Every service's log lines as JSON objects; fails naming every line that is not one."""
    objects: dict[str, list[dict[str, Any]]] = {}
    broken = []
    for service in SERVICES:
        objects[service] = []
        for number, line in enumerate(log_lines(suite, service), 1):
            try:
                value = json.loads(line)
            except ValueError:
                broken.append(f"{service}.log:{number}: {line[:200]}")
                continue
            if not isinstance(value, dict):
                broken.append(f"{service}.log:{number}: not an object: {line[:200]}")
                continue
            objects[service].append(value)
    assert not broken, "log lines that are not JSON objects:\n" + "\n".join(broken)
    return objects


async def walk_the_journey(suite: Suite) -> str:
    urls = {name: suite.url(name) for name in suite.services}
    async with httpx.AsyncClient(timeout=10, headers=reader()) as client:
        journey = Journey(urls, client)
        intake = urls["intake"]
        search = await client.get(f"{intake}/persons/search", headers=COUNTER_STAFF,
                                  params={"name": PERSON["name"], "birth_date": PERSON["birth_date"]})
        assert search.status_code == 200 and search.json() == [], search.text
        consultation = {"counter": ELDERLY.code, "channel": "電話", "concerns": ["高齢・介護", "ひきこもり"],
                        "person": PERSON}
        case = await journey.post("intake", "/consultations", {**consultation, "confirm_new_person": True},
                                  COUNTER_STAFF)
        case_id: str = case["case_id"]
        # The same person again without confirming: refused, with the candidate shown to staff.
        duplicate = await client.post(f"{intake}/consultations", json=consultation, headers=COUNTER_STAFF)
        assert duplicate.status_code == 409 and PERSON["name"] in duplicate.text, duplicate.text
        shown = await client.get(f"{intake}/cases/{case_id}/person", params={"basis": "own_counter"},
                                 headers=COUNTER_STAFF)
        assert shown.status_code == 200 and PERSON["kana"] in shown.text, shown.text  # it did go through
        await journey.post("intake", f"/cases/{case_id}/consent",
                           {"scope": "重層的支援会議での情報共有", "granted": True, "method": "書面"}, COUNTER_STAFF)
        await journey.post("intake", f"/cases/{case_id}/escalate",
                           {"reason": "母の介護と本人のひきこもり", "primary_agency": ELDERLY.ja}, COUNTER_STAFF)
        plan_id = await journey.draft_and_propose(case_id)
        meeting_id = await journey.convene()
        await journey.decide(meeting_id, plan_id, 1, "approved", connect_to=["participation"])
        await journey.get_when("participation", f"/supports/{case_id}", lambda s: True, "participation to start")

    async def participation_logged() -> bool:
        return any(case_id in line and "inbox.applied" in line for line in log_lines(suite, "participation"))

    await eventually(participation_logged, "participation's inbox line for the case")
    return case_id


#: inbox lines about a consumer as a whole, not about one event: they name the consumer instead of an event's ids
CONSUMER_LINES = frozenset({"inbox.awaiting_redelivery", "inbox.redelivered", "inbox.pull_refused", "inbox.pull_failed",
                            "inbox.consumer_updated"})


async def test_every_log_line_is_json_with_ids_where_they_apply_and_no_personal_information(
    json_suite: Suite,
) -> None:
    case_id = await walk_the_journey(json_suite)
    json_suite.stop()  # shutdown lines too must be JSON
    logs = parsed(json_suite)

    for service, lines in logs.items():
        for line in lines:
            assert line.get("service") == service, line
            assert line.get("event") and line.get("level") and line.get("timestamp"), line

    correlation_id = str(journey_id(case_id))
    inbox = [line for lines in logs.values() for line in lines if str(line["event"]).startswith("inbox.")]
    assert inbox, "no inbox lines: the services logged nothing of the events they received"
    for line in inbox:
        if line["event"] in CONSUMER_LINES:  # about a consumer, not one event (e.g. a run waiting for a redelivery)
            assert line.get("consumer"), line
            continue
        assert line.get("case_id") and line.get("event_id") and line.get("correlation_id"), line
    escalation = [line for line in logs["collaboration"]
                  if line["event"] == "inbox.applied" and line.get("event_type") == "CaseEscalated"]
    assert [(line["case_id"], line["correlation_id"]) for line in escalation] == [(case_id, correlation_id)]

    published = [line for line in logs["intake"] if line["event"] == "relay.published" and line["case_id"] == case_id]
    assert {line["event_type"] for line in published} >= {"ConsultationReceived", "ConsentRecorded", "CaseEscalated"}
    assert all(line.get("event_id") and line["correlation_id"] == correlation_id for line in published)

    commands = [line for line in logs["intake"] if line["event"] == "http.command"]
    on_case = {line["route"]: line for line in commands if line.get("case_id") == case_id}
    assert {"/cases/{case_id}/consent", "/cases/{case_id}/escalate"} <= set(on_case), sorted(on_case)
    assert on_case["/cases/{case_id}/consent"]["correlation_id"] == correlation_id
    assert any(line["route"] == "/consultations" and line["status"] == 409 for line in commands)

    leaks = []
    for service in SERVICES:
        for number, raw in enumerate(log_lines(json_suite, service), 1):
            decoded = json.dumps(json.loads(raw), ensure_ascii=False)  # also \u-escaped text
            forms = (raw, decoded, unquote_plus(decoded))  # also percent-encoded (a logged URL)
            leaks += [f"{service}.log:{number} has {word!r}" for word in PERSONAL if any(word in f for f in forms)]
    assert not leaks, "\n".join(leaks)

