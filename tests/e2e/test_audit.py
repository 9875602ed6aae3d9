"""D15 audit over a running suite: the causation tree, state as of a moment, disclosures by person."""

from __future__ import annotations

import asyncio
import csv
import io
import json
import os
import sys
from datetime import datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit
from uuid import uuid4

from support.auth import ANONYMOUS, actor, staff_headers
from support.journey import COUNTER_STAFF, OUTREACH_WORKER, Journey
from support.municipality import CHILDCARE, DISABILITY, ELDERLY, LEAD, concern
from support.poll import eventually

from jusou.runner import Suite

OUTSIDER = staff_headers("hoiku-1", CHILDCARE.division, "counselor")
RELATED = staff_headers("fukushi-7", LEAD, "coordinator")  # reads the escalated case


def cli_env(suite: Suite) -> dict[str, str]:
    env = dict(os.environ)
    for name in suite.services:
        env[f"JUSOU_{name.upper()}_PORT"] = str(urlsplit(suite.url(name)).port)
    return env


async def jusou(suite: Suite, *args: str) -> tuple[int, str, str]:
    process = await asyncio.create_subprocess_exec(
        str(Path(sys.executable).parent / "jusou"), *args, env=cli_env(suite),
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
    out, err = await asyncio.wait_for(process.communicate(), timeout=60)
    return process.returncode or 0, out.decode(), err.decode()


async def audit(journey: Journey, case_id: str, service: str = "meeting", **params: str) -> Any:
    response = await journey.http.get(journey.urls[service] + f"/audit/cases/{case_id}", params=params)
    assert response.status_code == 200, response.text
    return response.json() if params.get("format", "json") == "json" else response.text


async def test_d15_audit_shows_every_program_as_a_causation_tree(journey: Journey) -> None:
    case_id, _ = await journey.whole()
    document = await audit(journey, case_id)
    events = document["events"]
    assert document["missing"] == []
    assert {e["service"] for e in events} >= {"intake", "collaboration", "meeting", "participation"}
    by_id = {e["event_id"]: e for e in events}
    escalated = next(e for e in events if e["event"] == "Case.Escalated")
    opened = next(e for e in events if e["event"] == "CollaborationCase.Opened")
    assert escalated["depth"] == 0 and escalated["actor"]["staff_id"] == actor(COUNTER_STAFF)["staff_id"]
    assert opened["caused_by"] == escalated["event_id"] and opened["depth"] == 1
    # every effect sits right under the event that caused it, in a depth-first order
    for i, event in enumerate(events):
        if event["depth"]:
            parent = by_id[event["caused_by"]]
            assert events.index(parent) < i and parent["depth"] == event["depth"] - 1
    plans = [s for s in document["states"] if s["service"] == "collaboration" and s["kind"] == "Plan"]
    assert [p["state"]["status"] for p in plans] == ["closed"]


async def test_d15_audit_as_of_rebuilds_each_programs_view_as_it_stood_then(journey: Journey) -> None:
    case_id, _ = await journey.whole()
    events = (await audit(journey, case_id))["events"]
    approved = next(e for e in events if e["service"] == "collaboration" and e["event"] == "Plan.DecisionRecorded"
                    and e["fields"].get("decision") == "approved")
    then = await audit(journey, case_id, service="intake", as_of=approved["occurred_at"])
    assert then["as_of"] == approved["occurred_at"]
    assert all(datetime.fromisoformat(e["occurred_at"]) <= datetime.fromisoformat(approved["occurred_at"])
               for e in then["events"])
    assert not any(e["event"] == "Plan.Closed" for e in then["events"])
    plan = next(s for s in then["states"] if s["service"] == "collaboration" and s["kind"] == "Plan")
    assert plan["state"]["status"] == "approved" and plan["state"]["revision"] == 2
    now = next(s for s in (await audit(journey, case_id))["states"] if s["aggregate_id"] == plan["aggregate_id"])
    assert now["state"]["status"] == "closed" and now["version"] > plan["version"]
    before_anything = await audit(journey, case_id, as_of="2020-01-01T00:00:00+09:00")
    assert before_anything["events"] == [] and before_anything["states"] == []


async def test_d15_audit_as_of_needs_a_time_zone(journey: Journey) -> None:
    case_id = await journey.receive_and_escalate()
    response = await journey.http.get(journey.urls["intake"] + f"/audit/cases/{case_id}",
                                      params={"as_of": "2026-11-29T12:00:00"})
    assert response.status_code == 422 and "タイムゾーン" in response.json()["detail"]


async def test_d15_audit_as_csv_and_text(journey: Journey) -> None:
    case_id = await journey.receive_and_escalate()
    await journey.get_when("collaboration", f"/cases/{case_id}", lambda c: c["status"] == "open", "collaboration")
    text = await audit(journey, case_id, format="csv")
    assert text.startswith("\ufeff")
    rows = list(csv.DictReader(io.StringIO(text.lstrip("\ufeff"))))
    assert [r["記録"] for r in rows][:2] == ["相談の受付", "本人同意の記録"]  # the office's words, no English event name
    assert any(r["service"] == "collaboration" and r["caused_by"] for r in rows)
    plain = await audit(journey, case_id, format="text")
    assert "└" in plain and "[collaboration] CollaborationCase.Opened by policy:collaboration" in plain


async def test_d10_audit_disclosures_lists_who_saw_a_person_on_what_basis(journey: Journey, running_suite: Suite) -> None:
    case_id = await journey.receive_and_escalate()
    intake = journey.urls["intake"]
    case = (await journey.http.get(intake + f"/cases/{case_id}")).json()
    person_ref = case["person_ref"]
    refused = await journey.http.get(intake + f"/cases/{case_id}/person", params={"basis": "own_counter"},
                                     headers=OUTSIDER)
    assert refused.status_code == 403
    await journey.post("intake", f"/cases/{case_id}/consent", {"scope": "関係機関との情報共有", "granted": True,
                                                               "method": "書面", "covers": ["related_agencies"]}, COUNTER_STAFF)
    shown = await journey.http.get(intake + f"/cases/{case_id}/person", params={"basis": "consent"}, headers=RELATED)
    assert shown.status_code == 200
    own = await journey.http.get(intake + f"/cases/{case_id}/person", params={"basis": "own_counter"},
                                 headers=COUNTER_STAFF)
    assert own.status_code == 200
    found = (await journey.http.get(intake + f"/audit/people/{person_ref}/disclosures")).json()
    assert [(r["staff_id"], r["division"], r["basis"], r["case_id"]) for r in found] == [
        ("fukushi-7", LEAD, "consent", case_id),
        (actor(COUNTER_STAFF)["staff_id"], actor(COUNTER_STAFF)["division"], "own_counter", case_id),
    ]
    code, out, err = await jusou(running_suite, "audit", "disclosures", person_ref, "--format", "json")
    assert code == 0, err
    assert [r["basis"] for r in json.loads(out)] == ["consent", "own_counter"]
    code, out, _ = await jusou(running_suite, "audit", "disclosures", person_ref)
    assert "本人同意" in out and "fukushi-7" in out
    # the disclosure is also part of the case's audit, with its legal basis
    plain = await audit(journey, case_id, format="text")
    assert "personal information shown, basis=本人同意" in plain


async def test_d15_audit_journey_cli_prints_each_programs_view_as_of_a_moment(
    journey: Journey, running_suite: Suite
) -> None:
    case_id, _ = await journey.whole()
    code, out, err = await jusou(running_suite, "audit", "journey", case_id, "--state")
    assert code == 0, err
    assert "CollaborationCase.Opened" in out and "each program's view as of now" in out and "status: closed" in out
    code, out, err = await jusou(running_suite, "audit", "journey", case_id, "--as-of", "2020-01-01T00:00:00+00:00",
                                 "--format", "json")
    assert code == 1 and json.loads(out)["events"] == [] and json.loads(out)["states"] == []


async def test_d10_searching_people_needs_staff_and_is_recorded(journey: Journey) -> None:
    intake = journey.urls["intake"]
    query = {"name": "調布 一郎", "birth_date": "1999-09-09"}
    anonymous = await journey.http.get(intake + "/persons/search", params=query, headers=ANONYMOUS)
    assert anonymous.status_code == 401 and anonymous.json()["detail"]
    await journey.post("intake", "/consultations", {
        "counter": ELDERLY.code, "channel": "窓口", "concerns": ["高齢・介護"],
        "person": {"name": "調布 一郎", "kana": "ちょうふ いちろう", "birth_date": "1999-09-09"},
        "confirm_new_person": True}, COUNTER_STAFF)
    found = (await journey.http.get(intake + "/persons/search", params=query, headers=OUTSIDER)).json()
    assert len(found) >= 1
    shown = (await journey.http.get(intake + f"/audit/people/{found[0]['person_ref']}/disclosures")).json()
    assert ("hoiku-1", "search_before_create") in [(r["staff_id"], r["basis"]) for r in shown]


# -- issue 17: intake's JSON lists paged ------------------------------------------------------------------------

async def _walk(journey: Journey, path: str, limit: int, headers: dict[str, str] | None = None,
                **query: str) -> list[dict[str, Any]]:
    """Every page of an intake list, following `X-Next-Cursor` (and its `Link`)."""
    rows: list[dict[str, Any]] = []
    cursor = ""
    while True:
        answer = await journey.http.get(journey.urls["intake"] + path, headers=headers,
                                        params={**query, "limit": limit, **({"cursor": cursor} if cursor else {})})
        assert answer.status_code == 200 and len(answer.json()) <= limit, answer.text
        rows += answer.json()
        cursor = answer.headers.get("X-Next-Cursor", "")
        if not cursor:
            assert "Link" not in answer.headers
            return rows
        assert f"cursor={cursor}" in answer.headers["Link"] and answer.headers["Link"].endswith('rel="next"')


async def _whole(journey: Journey, path: str, headers: dict[str, str] | None = None, **query: str) -> list[dict[str, Any]]:
    answer = await journey.http.get(journey.urls["intake"] + path, headers=headers, params=query)
    assert answer.status_code == 200 and "X-Next-Cursor" not in answer.headers, answer.text
    rows: list[dict[str, Any]] = answer.json()
    return rows


async def test_intakes_lists_paged_by_two_are_the_whole_lists_and_a_search_page_records_only_its_people(
        journey: Journey) -> None:
    birth = f"19{uuid4().int % 90 + 10}-08-08"
    hoiku, shogai = staff_headers("hoiku-001", CHILDCARE.division, "counselor"), staff_headers("shogai-002", DISABILITY.division,
                                                                                          "counselor")
    cases = [(await journey.post("intake", "/consultations", {
        "counter": ELDERLY.code, "channel": "窓口", "concerns": ["高齢・介護"],
        "person": {"name": "調布 七郎", "kana": "ちょうふ しちろう", "birth_date": birth},
        "confirm_new_person": True}, COUNTER_STAFF))["case_id"] for _ in range(3)]
    engagements = [(await journey.post("outreach", "/engagements", {"referred_by": "民生委員", "reason": "訪問を希望"},
                                       OUTREACH_WORKER))["case_id"] for _ in range(3)]
    for case_id in engagements:
        await journey.post("outreach", f"/engagements/{case_id}/hand-over",
                           {"to_program": "intake", "reason": "本人が相談を希望", "counter": ELDERLY.code}, OUTREACH_WORKER)

    # /persons/search (a keyset by person_ref): a page shows, and so records, only its own candidates
    query = {"name": "調布 七郎", "birth_date": birth}
    people = [p["person_ref"] for p in await _whole(journey, "/persons/search", hoiku, **query)]
    assert len(people) == 3 and people == sorted(people)
    assert [p["person_ref"] for p in await _walk(journey, "/persons/search", 2, hoiku, **query)] == people
    glimpse = await journey.http.get(journey.urls["intake"] + "/persons/search", params={**query, "limit": 2},
                                     headers=staff_headers("hoiku-009", CHILDCARE.division, "counselor"))
    assert [p["person_ref"] for p in glimpse.json()] == people[:2], glimpse.text
    for n, ref in enumerate(people):
        shown = (await journey.http.get(journey.urls["intake"] + f"/audit/people/{ref}/disclosures")).json()
        assert ("hoiku-009" in [r["staff_id"] for r in shown]) == (n < 2), (n, shown)

    # the recent-basis road (issue 13) for each person, at two more counters: rows for recent-basis and the trend
    for ref, staff, counter in zip(people, (hoiku, hoiku, shogai), (CHILDCARE.code, CHILDCARE.code, DISABILITY.code),
                                   strict=True):
        second = await journey.post("intake", "/consultations", {"counter": counter, "channel": "電話", "concerns": [concern("childcare")],
                                                                 "person_ref": ref}, staff)
        read = await journey.http.get(journey.urls["intake"] + f"/cases/{second['case_id']}/person",
                                      params={"basis": "own_counter"}, headers=staff)
        assert read.status_code == 200, read.text

    async def referred() -> list[dict[str, Any]] | None:
        rows = await _whole(journey, "/referrals")
        return rows if set(engagements) <= {r["case_id"] for r in rows} else None

    await eventually(referred, "the three referrals at intake")
    for path in ("/cases", "/referrals", "/reports/trend", "/audit/disclosures/recent-basis"):
        whole = await _whole(journey, path)  # an auditor: every division
        assert len(whole) >= 3, (path, whole)
        assert await _walk(journey, path, 2) == whole, path
    assert set(cases) <= {c["case_id"] for c in await _whole(journey, "/cases")}

    for path, cursor in (("/cases", "bm90LWpzb24"), ("/referrals", "12"), ("/reports/trend", "WyJ4Il0"),
                         ("/persons/search", "WzFd"), ("/audit/disclosures/recent-basis", "Wzld")):
        refused = await journey.http.get(journey.urls["intake"] + path, headers=hoiku if "persons" in path else None,
                                         params={**(query if "persons" in path else {}), "limit": 2, "cursor": cursor})
        assert refused.status_code == 422 and refused.json()["code"] == "cursor_unreadable", (path, refused.text)
