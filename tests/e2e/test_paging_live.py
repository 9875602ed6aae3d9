"""Paging on a running suite (issue 17): real lists of collaboration, meeting, community, outreach and
participation walked by `limit` and `cursor` are the unpaged list, and a keyset cursor holds while the list
changes between two pages (a plan decided leaves the agenda; a newer sitting comes at the top of a newest-first
list; an engagement started after the first page comes at the end)."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from support.auth import headers_for
from support.journey import OUTREACH_WORKER, PARTICIPATION_STAFF, Journey
from support.municipality import LEAD_NAME, SHAKYO
from support.poll import eventually

pytestmark = pytest.mark.own_suite  # an empty suite: the walks compare whole lists and where a page ends


async def walk(journey: Journey, service: str, path: str, headers: dict[str, str], limit: int,
               between: Any = None) -> list[dict[str, Any]]:
    """Every page of a list, following `X-Next-Cursor`; `between()` runs once, after the first page."""
    rows: list[dict[str, Any]] = []
    cursor = ""
    while True:
        answer = await journey.http.get(journey.urls[service] + path, headers=headers,
                                        params={"limit": limit, **({"cursor": cursor} if cursor else {})})
        assert answer.status_code == 200, answer.text
        assert len(answer.json()) <= limit
        rows += answer.json()
        cursor = answer.headers.get("X-Next-Cursor", "")
        if not cursor:
            return rows
        assert f"cursor={cursor}" in answer.headers["Link"]
        if between is not None:
            await between()
            between = None


async def whole(journey: Journey, service: str, path: str, headers: dict[str, str]) -> list[dict[str, Any]]:
    answer = await journey.http.get(journey.urls[service] + path, headers=headers)
    assert answer.status_code == 200 and "X-Next-Cursor" not in answer.headers, answer.text
    rows: list[dict[str, Any]] = answer.json()
    return rows


async def test_lists_of_collaboration_meeting_and_community_page_to_the_whole_list(journey: Journey) -> None:
    cases = await asyncio.gather(*(journey.receive_and_escalate() for _ in range(3)))
    plans = [await journey.draft_and_propose(case_id) for case_id in cases]

    # collaboration: the cases, oldest first
    reading = headers_for("collaboration", "GET", "/cases")
    assert [c["case_id"] for c in await walk(journey, "collaboration", "/cases", reading, 2)] == \
        [c["case_id"] for c in await whole(journey, "collaboration", "/cases", reading)]

    # meeting: the agenda; the first plan is decided after the first page (it leaves the agenda), yet the walk
    # goes on at the third plan (a position cursor would skip it)
    agenda = headers_for("meeting", "GET", "/agenda")
    await journey.get_when("meeting", f"/agenda/{plans[2]}", lambda r: r["status"] == "proposed", "the third plan")
    assert [r["plan_id"] for r in await whole(journey, "meeting", "/agenda", agenda)] == plans
    meeting_id = await journey.convene()

    async def decide_the_first() -> None:
        await journey.decide(meeting_id, plans[0], 1, "approved")
        await journey.get_when("meeting", f"/agenda/{plans[0]}", lambda r: r["status"] == "approved", "the decision")

    assert [r["plan_id"] for r in await walk(journey, "meeting", "/agenda", agenda, 2, decide_the_first)] == plans
    assert [r["plan_id"] for r in await whole(journey, "meeting", "/agenda", agenda)] == plans[1:]

    # collaboration: the council's sittings, newest first; a newer sitting recorded after the first page
    convening = headers_for("collaboration", "POST", "/council/sittings")
    for day in ("2026-11-01", "2026-11-02", "2026-11-03"):
        await journey.post("collaboration", "/council/sittings", {"held_on": day, "attendees": [LEAD_NAME]}, convening)
    sittings = headers_for("collaboration", "GET", "/council/sittings")

    async def a_newer_sitting() -> None:
        await journey.post("collaboration", "/council/sittings", {"held_on": "2026-11-04", "attendees": [LEAD_NAME]},
                           convening)

    walked = [s["held_on"] for s in await walk(journey, "collaboration", "/council/sittings", sittings, 2, a_newer_sitting)]
    assert walked == ["2026-11-03", "2026-11-02", "2026-11-01"]
    assert [s["held_on"] for s in await whole(journey, "collaboration", "/council/sittings", sittings)] == \
        ["2026-11-04", *walked]

    # community: the places, oldest first
    registering = headers_for("community", "POST", "/places")
    for name in ("ふれあいの家", "みんなの居場所", "国領サロン"):
        await journey.post("community", "/places", {"program": "chiiki-zukuri", "name": name, "area": "国領町",
                                                    "opened_on": "2026-04-01"}, registering)
    places = headers_for("community", "GET", "/places")
    walked = [p["name"] for p in await walk(journey, "community", "/places", places, 2)]
    assert walked == [p["name"] for p in await whole(journey, "community", "/places", places)]
    assert walked == ["ふれあいの家", "みんなの居場所", "国領サロン"]

    refused = await journey.http.get(journey.urls["community"] + "/places", headers=places, params={"cursor": "12"})
    assert refused.status_code == 422 and refused.json()["code"] == "cursor_unreadable", refused.text
    assert "最初のページから" in refused.json()["detail"]


async def test_lists_of_outreach_and_participation_page_to_the_whole_list(journey: Journey) -> None:
    async def start(reason: str) -> str:
        started = await journey.post("outreach", "/engagements", {"referred_by": "民生委員", "reason": reason},
                                     OUTREACH_WORKER)
        case_id: str = started["case_id"]
        return case_id

    cases = [await start(f"訪問しても会えない {n}") for n in range(3)]
    later: list[str] = []

    async def one_more() -> None:
        later.append(await start("あとから始めた関わり"))

    # outreach: the engagements, oldest first; one started after the first page comes at the walk's end
    walked = [e["case_id"] for e in await walk(journey, "outreach", "/engagements", OUTREACH_WORKER, 2, one_more)]
    assert walked == [e["case_id"] for e in await whole(journey, "outreach", "/engagements", OUTREACH_WORKER)]
    assert [c for c in walked if c in cases + later] == [*cases, *later]

    # participation: the supports (outreach hands the people over), oldest first
    for case_id in cases:
        await journey.post("outreach", f"/engagements/{case_id}/hand-over",
                           {"to_program": "participation", "reason": "居場所への参加を希望"}, OUTREACH_WORKER)
    for case_id in cases:
        await journey.get_when("participation", f"/supports/{case_id}", lambda s: True, "participation to start")
    walked = [s["case_id"] for s in await walk(journey, "participation", "/supports", PARTICIPATION_STAFF, 2)]
    assert walked == [s["case_id"] for s in await whole(journey, "participation", "/supports", PARTICIPATION_STAFF)]
    assert [c for c in walked if c in cases] == cases

    # participation: the catalogue (community registers the resources), oldest first
    registering = headers_for("community", "POST", "/resources")
    resources = [(await journey.post("community", "/resources", {
        "kind": "居場所", "name": name, "provider": SHAKYO, "area": "調布市東部", "capacity": 10},
        registering))["resource_id"] for name in ("夜のたまり場", "朝のカフェ", "畑の会")]

    async def all_in_catalogue() -> list[dict[str, Any]] | None:
        rows = await whole(journey, "participation", "/catalogue", PARTICIPATION_STAFF)
        return rows if {r["resource_id"] for r in rows} >= set(resources) else None

    entries = await eventually(all_in_catalogue, "the three resources in participation's catalogue")
    walked = [r["resource_id"] for r in await walk(journey, "participation", "/catalogue", PARTICIPATION_STAFF, 2)]
    assert walked == [r["resource_id"] for r in entries]
    assert [r for r in walked if r in resources] == resources

    refused = await journey.http.get(journey.urls["participation"] + "/supports", headers=PARTICIPATION_STAFF,
                                     params={"limit": 2, "cursor": "bm90LWpzb24"})
    assert refused.status_code == 422 and refused.json()["code"] == "cursor_unreadable", refused.text
