"""Upstream state for the UI tests, prepared over the services' HTTP APIs (the pages under test do the rest)."""

from __future__ import annotations

from typing import Any

import httpx
from support.auth import staff_headers
from support.journey import OUTREACH_WORKER, SECRETARIAT
from support.municipality import ELDERLY, HARDSHIP, LEAD, LEAD_NAME, partner
from support.poll import eventually

from jusou.runner import Suite

COMMUNITY_STAFF = staff_headers("chiiki-001", LEAD, "community_worker")


async def post(client: httpx.AsyncClient, url: str, body: dict[str, Any], headers: dict[str, str]) -> dict[str, Any]:
    response = await client.post(url, json=body, headers=headers)
    assert response.status_code in (200, 201), f"{url}: {response.status_code} {response.text}"
    result: dict[str, Any] = response.json()
    return result


async def hand_over_from_outreach(suite: Suite, client: httpx.AsyncClient) -> str:
    """Upstream, over HTTP: an outreach worker hands a person over to participation (D12)."""
    outreach = suite.url("outreach")
    case_id: str = (await post(client, f"{outreach}/engagements", {
        "referred_by": "民生委員・児童委員", "reason": "長くひきこもっている30代の方"}, OUTREACH_WORKER))["case_id"]
    await post(client, f"{outreach}/engagements/{case_id}/hand-over",
               {"to_program": "participation", "reason": "日中の居場所と就労体験を探したい"}, OUTREACH_WORKER)
    return case_id


async def resource_gap(suite: Suite, client: httpx.AsyncClient, case_id: str, need: str, area: str, description: str) -> None:
    """Upstream, over HTTP: a 重層的支援会議 records that no local resource meets a need (D8)."""
    meeting = await post(client, f"{suite.url('meeting')}/meetings", {
        "meeting_type": "jusou_shien_kaigi", "held_on": "2026-11-28",
        "attendees": [LEAD_NAME, ELDERLY.ja, HARDSHIP.ja]}, SECRETARIAT)
    await post(client, f"{suite.url('meeting')}/meetings/{meeting['meeting_id']}/resource-gaps",
               {"case_id": case_id, "need": need, "area": area, "description": description}, SECRETARIAT)


async def gap_answered_by_resources(suite: Suite, client: httpx.AsyncClient, case_id: str) -> str:
    """Upstream, over HTTP: the meeting records a resource gap (D8); community registers resources for it."""
    await resource_gap(suite, client, case_id, "若者が日中に通える居場所", "調布市東部",
                       "ひきこもりの若者が気軽に通える場が東部にない")

    async def issue() -> str | None:
        issues = (await client.get(f"{suite.url('community')}/issues")).json()
        return next((i["issue_id"] for i in issues if i["case_id"] == case_id), None)

    issue_id = await eventually(issue, "the regional issue to reach community")
    await post(client, f"{suite.url('community')}/resources", {
        "kind": "ibasho", "name": "若者のたまり場「ひだまり」", "provider": "NPO法人ひだまり", "area": "調布市東部（国領）",
        "capacity": 12, "issue_id": issue_id}, COMMUNITY_STAFF)
    await post(client, f"{suite.url('community')}/resources", {
        "kind": "shuro", "name": "就労体験「まちの本屋」", "provider": partner("saposute"), "area": "調布市中部",
        "capacity": 3}, COMMUNITY_STAFF)
    return issue_id
